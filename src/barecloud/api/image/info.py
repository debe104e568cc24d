"""/image/v2/info: what this Image API offers (import methods; stores are 404).

Glance answers ``/info/stores`` 404 when it has no multiple stores; barecloud
has one store, its own directory, so it answers the same.
"""

from __future__ import annotations

from fastapi import Request

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, runtime
from barecloud.api.image.inputs import accepts
from barecloud.errors import NotFound
from barecloud.services.image import staging

router = declared.router(prefix="/image/v2/info")


@router.get("/import")
@accepts()
async def import_methods(request: Request) -> JSONResponse:
    return JSONResponse({"import-methods": {
        "description": "Import methods available.", "type": "array",
        "value": list(staging.import_methods(runtime(request).settings))}})


@router.get("/stores")
@accepts()
async def stores(request: Request) -> JSONResponse:
    raise NotFound("Multi backend is not supported at this site.")
