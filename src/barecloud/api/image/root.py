"""Version discovery at /image, shaped as Glance's.

``/image`` (and any path whose first segment names no version) answers 300
with the versions; ``/image/versions`` answers the same with 200.  Paths
under ``/image/v2`` that name no resource are 404, as Glance's v2 router.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.routing import APIRoute

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, base_url
from barecloud.api.image import (
    actions,
    data,
    images,
    info,
    members,
    metadefs,
    schemas,
    tasks,
)
from barecloud.api.image.errors import error_response
from barecloud.api.image.inputs import accepts
from barecloud.errors import NotFound

router = declared.router(prefix="/image")

# v2.7 brought os_hidden and the os_hash_* fields, the newest things served here
# (with 2.6's import, glance-direct only); later versions add multiple stores,
# copy-image and caching, which are not (2.12's /images/{id}/tasks is served).
VERSIONS = [("2.7", "CURRENT"), *((f"2.{n}", "SUPPORTED") for n in range(6, -1, -1))]
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


def versions(request: Request) -> dict[str, Any]:
    href = f"{base_url(request)}/image/v2/"
    return {"versions": [{"id": f"v{v}", "status": status,
                          "links": [{"rel": "self", "href": href}]}
                         for v, status in VERSIONS]}


@router.get("/versions")
@accepts()
async def explicit(request: Request) -> JSONResponse:
    return JSONResponse(versions(request))


@router.api_route("", methods=METHODS, include_in_schema=False)
@router.api_route("/{rest:path}", methods=METHODS, include_in_schema=False)
@accepts()
async def choices(request: Request, rest: str = "") -> JSONResponse:
    if rest.split("/")[0] != "v2":
        return JSONResponse(versions(request), status_code=300)
    allowed = sorted({m for module in (actions, data, images, info, members, metadefs,
                                     schemas, tasks)
                      for route in module.router.routes
                      if isinstance(route, APIRoute) and route.path_regex.match(request.url.path)
                      for m in route.methods or ()})
    if allowed:
        return error_response(
            405, f"The method {request.method} is not allowed for this resource.",
            {"Allow": ", ".join(allowed)},
        )
    raise NotFound("The resource could not be found.")
