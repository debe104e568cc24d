"""Version discovery at /reservation, and the v1 root.

Blazar answers its root with 300 Multiple Choices and a ``versions`` list
whose v1 link is the versioned endpoint.  Blazar has no ``GET /v1``; no
client asks for it (python-blazarclient takes the catalog's URL as is), so
it answers v1's own version document instead of a bare 404.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, base_url
from barecloud.api.reservation.inputs import accepts
from barecloud.api.reservation.microversion import VERSION

router = declared.router()


def _v1(request: Request) -> dict[str, Any]:
    return {"id": "v1.0", "status": "CURRENT",
            "links": [{"href": f"{base_url(request)}/reservation/v1", "rel": "self"}],
            "min_version": VERSION, "max_version": VERSION}


@router.get("/reservation")
@router.get("/reservation/")
@accepts()
async def versions(request: Request) -> JSONResponse:
    return JSONResponse({"versions": [_v1(request)]}, status_code=300)


@router.get("/reservation/v1")
@router.get("/reservation/v1/")
@accepts()
async def v1(request: Request) -> JSONResponse:
    return JSONResponse({"version": _v1(request)})
