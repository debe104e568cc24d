"""Version discovery at /compute, /compute/v2.1 and /compute/v2, shaped as Nova's."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, base_url
from barecloud.api.compute import microversion
from barecloud.api.compute.inputs import accepts

router = declared.router()


def _versions(base: str) -> dict[str, dict[str, Any]]:
    return {
        "v2.0": {
            "id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "",
            "updated": "2011-01-21T11:33:21Z",
            "links": [{"rel": "self", "href": f"{base}/compute/v2/"}],
        },
        "v2.1": {
            "id": "v2.1", "status": "CURRENT", "version": microversion.fmt(microversion.MAX),
            "min_version": microversion.fmt(microversion.MIN),
            "updated": "2013-07-23T11:33:21Z",
            "links": [{"rel": "self", "href": f"{base}/compute/v2.1/"}],
        },
    }


@router.get("/compute")
@router.get("/compute/")
@accepts()
async def versions(request: Request) -> JSONResponse:
    return JSONResponse({"versions": list(_versions(base_url(request)).values())})


def _document(request: Request, which: str) -> JSONResponse:
    base = base_url(request)
    version = dict(_versions(base)[which])
    version["links"] = [*version["links"], {"rel": "describedby", "type": "text/html",
                                            "href": "http://docs.openstack.org/"}]
    version["media-types"] = [{
        "base": "application/json",
        "type": f"application/vnd.openstack.compute+json;version={which[1:]}",
    }]
    return JSONResponse({"version": version})


@router.get("/compute/v2.1")
@router.get("/compute/v2.1/")
@accepts()
async def v21(request: Request) -> JSONResponse:
    return _document(request, "v2.1")


@router.get("/compute/v2")
@router.get("/compute/v2/")
@accepts()
async def v20(request: Request) -> JSONResponse:
    return _document(request, "v2.0")
