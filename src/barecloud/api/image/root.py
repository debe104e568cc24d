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
from barecloud.api.common import JSONResponse, base_url, runtime
from barecloud.api.image import (
    actions,
    cache,
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

# Glance's list without multiple stores (its versions.py): 2.17 (the location API
# of services/image/locations.py) CURRENT, 2.15, 2.9 and 2.7..2.0; with the image
# cache, 2.14..2.16 too (its API).  Not 2.8 and 2.10-2.13 (multiple stores), nor
# 2.18 (the cache's clean and prune), which are not served; 2.12's
# /images/{id}/tasks is, but Glance announces 2.12 with multiple stores only.
BASE_VERSIONS = [*((f"2.{n}", "SUPPORTED") for n in range(7, -1, -1))]


def announced(cache: bool) -> list[tuple[str, str]]:
    if cache:
        return [("2.17", "CURRENT"), ("2.16", "SUPPORTED"), ("2.15", "SUPPORTED"),
                ("2.14", "SUPPORTED"), ("2.9", "SUPPORTED"), *BASE_VERSIONS]
    return [("2.15", "SUPPORTED"), ("2.9", "SUPPORTED"), ("2.17", "CURRENT"),
            *BASE_VERSIONS]


METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


def versions(request: Request) -> dict[str, Any]:
    href = f"{base_url(request)}/image/v2/"
    return {"versions": [{"id": f"v{v}", "status": status,
                          "links": [{"rel": "self", "href": href}]}
                         for v, status in announced(runtime(request).settings.image_cache)]}


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
    allowed = sorted({m for module in (actions, cache, data, images, info, members,
                                     metadefs, schemas, tasks)
                      for route in module.router.routes
                      if isinstance(route, APIRoute) and route.path_regex.match(request.url.path)
                      for m in route.methods or ()})
    if allowed:
        return error_response(
            405, f"The method {request.method} is not allowed for this resource.",
            {"Allow": ", ".join(allowed)},
        )
    raise NotFound("The resource could not be found.")
