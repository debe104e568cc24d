"""Version discovery at /identity and /identity/v3, shaped as Keystone's.

keystoneauth reads ``versions.values`` (300 at the root) or ``version`` (at
/v3) and follows the ``self`` link.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from barecloud.api.common import JSONResponse, base_url
from barecloud.api.identity import inputs
from barecloud.api.identity.inputs import accepts

router = inputs.router(prefix="/identity")

VERSION = "v3.14"
UPDATED = "2020-04-07T00:00:00Z"


def _v3(request: Request) -> dict[str, Any]:
    return {
        "id": VERSION, "status": "stable", "updated": UPDATED,
        "links": [{"rel": "self", "href": f"{base_url(request)}/identity/v3/"}],
        "media-types": [{"base": "application/json",
                         "type": "application/vnd.openstack.identity-v3+json"}],
    }


@router.get("", include_in_schema=False)
@router.get("/")
@accepts()
async def versions(request: Request) -> JSONResponse:
    return JSONResponse({"versions": {"values": [_v3(request)]}}, status_code=300)


@router.get("/v3", include_in_schema=False)
@router.get("/v3/")
@accepts()
async def v3(request: Request) -> JSONResponse:
    return JSONResponse({"version": _v3(request)})
