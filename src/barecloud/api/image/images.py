"""/image/v2/images and their tags: parse, call one service function, render."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, base_url, context, runtime
from barecloud.api.image import params, render
from barecloud.api.image.errors import error_response
from barecloud.api.image.inputs import accepts
from barecloud.db.models import Image
from barecloud.services.image import (
    images,
    location_import,
    locations,
    queries,
    schemas,
    staging,
)
from barecloud.services.image import patch as image_patch

router = declared.router(prefix="/image/v2/images")


def _view(request: Request, image: Image) -> dict[str, Any]:
    shown = locations.shown(runtime(request).settings, context(request), image)
    return render.image(image, shown)


@router.post("", status_code=201)
@accepts(body=schemas.CREATE_IMAGE)
async def create_image(request: Request) -> JSONResponse:
    image = await images.create(runtime(request), context(request), request.state.body)
    # Glance names its import methods on a create; openstacksdk imports only if listed.
    return JSONResponse(_view(request, image), status_code=201, headers={
        "Location": f"{base_url(request)}/image/v2/images/{image.uuid}",
        "OpenStack-image-import-methods":
            ",".join(staging.import_methods(runtime(request).settings))})


@router.get("")
@accepts(query=schemas.LIST_IMAGES_QUERY)
async def list_images(request: Request) -> JSONResponse:
    query = list(request.query_params.multi_items())  # for the links, as sent
    page = await queries.list_images(runtime(request), context(request), request.state.query)
    kept = [(k, v) for k, v in query if k != "marker"]
    body = {"images": [_view(request, i) for i in page.images],
            "first": "/v2/images" + (f"?{urlencode(kept)}" if kept else ""),
            "schema": "/v2/schemas/images"}
    if page.more:
        body["next"] = f"/v2/images?{urlencode([*kept, ('marker', page.images[-1].uuid)])}"
    return JSONResponse(body)


@router.get("/{image_id}")
@accepts()
async def show_image(image_id: str, request: Request) -> JSONResponse:
    return JSONResponse(_view(request, await images.get(runtime(request), context(request),
                                                        image_id)))


@router.patch("/{image_id}")
@accepts(body=schemas.UPDATE_IMAGE, content_type=schemas.PATCH_MEDIA_TYPE)
async def update_image(image_id: str, request: Request) -> JSONResponse:
    kind = params.media_type(request)
    draft = image_patch.MEDIA_TYPES.get(kind or "")
    if draft is None:
        accepted = ", ".join(sorted(image_patch.MEDIA_TYPES))
        return error_response(
            415, f"Unsupported media type {kind}: a patch is one of {accepted}.",
            {"Accept-Patch": accepted})
    image = await images.update(runtime(request), context(request), image_id,
                                request.state.body, draft)
    return JSONResponse(_view(request, image))


@router.delete("/{image_id}", status_code=204)
@accepts()
async def delete_image(image_id: str, request: Request) -> Response:
    await images.remove(runtime(request), context(request), image_id)
    return Response(status_code=204)


@router.put("/{image_id}/tags/{tag}", status_code=204)
@accepts()
async def add_tag(image_id: str, tag: str, request: Request) -> Response:
    await images.set_tag(runtime(request), context(request), image_id, tag, present=True)
    return Response(status_code=204)


@router.delete("/{image_id}/tags/{tag}", status_code=204)
@accepts()
async def delete_tag(image_id: str, tag: str, request: Request) -> Response:
    await images.set_tag(runtime(request), context(request), image_id, tag, present=False)
    return Response(status_code=204)


@router.post("/{image_id}/locations", status_code=202)
@accepts(body=schemas.ADD_LOCATION)
async def add_location(image_id: str, request: Request) -> Response:
    """Glance 2.17's location API (services/image/location_import.py)."""
    await location_import.add(runtime(request), context(request), image_id,
                              request.state.body)
    return Response(status_code=202)


@router.get("/{image_id}/locations")
@accepts()
async def list_locations(image_id: str, request: Request) -> JSONResponse:
    return JSONResponse(await location_import.listed(runtime(request), context(request),
                                                     image_id))
