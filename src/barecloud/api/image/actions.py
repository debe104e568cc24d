"""/image/v2/images/{id}/actions (an admin deactivates and reactivates an image)
and /import (a staged image is imported)."""

from __future__ import annotations

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.common import context, runtime
from barecloud.api.image.inputs import accepts
from barecloud.services.image import actions, schemas, staging

router = declared.router(prefix="/image/v2/images")


@router.post("/{image_id}/actions/deactivate", status_code=204)
@router.post("/{image_id}/actions/reactivate", status_code=204)
@accepts()
async def act(image_id: str, request: Request) -> Response:
    action = request.url.path.rstrip("/").rsplit("/", 1)[-1]
    await actions.act(runtime(request), context(request), image_id, action)
    return Response(status_code=204)


@router.post("/{image_id}/import", status_code=202)
@accepts(body=schemas.IMPORT_IMAGE)
async def import_image(image_id: str, request: Request) -> Response:
    await staging.start_import(runtime(request), context(request), image_id,
                               request.state.body)
    return Response(status_code=202)
