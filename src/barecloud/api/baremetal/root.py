"""Version discovery at /baremetal and /baremetal/v1, shaped as Ironic's."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from barecloud.api import accepts as declared
from barecloud.api.baremetal import microversion, params
from barecloud.api.baremetal.inputs import accepts
from barecloud.api.common import JSONResponse, base_url, context, runtime
from barecloud.conductor.recovery import live_conductors
from barecloud.services import policy

router = declared.router(prefix="/baremetal")

RESOURCES = ("nodes", "ports", "drivers", "chassis", "allocations", "conductors",
             "deploy_templates", "lookup", "heartbeat")


def _version(base: str) -> dict[str, Any]:
    return {
        "id": "v1",
        "links": [{"href": f"{base}/baremetal/v1/", "rel": "self"}],
        "status": "CURRENT",
        "min_version": microversion.fmt(microversion.MIN),
        "version": microversion.fmt(microversion.MAX),
    }


@router.get("")
@router.get("/")
@accepts()
async def root(request: Request) -> JSONResponse:
    base = base_url(request)
    v = _version(base)
    return JSONResponse({
        "name": "OpenStack Ironic API",
        "description": "barecloud's Bare Metal API, compatible with OpenStack Ironic's v1.",
        "default_version": v,
        "versions": [v],
    })


@router.get("/v1")
@router.get("/v1/")
@accepts()
async def v1(request: Request) -> JSONResponse:
    base = base_url(request)
    body: dict[str, Any] = {
        "id": "v1",
        "links": [
            {"href": f"{base}/baremetal/v1/", "rel": "self"},
            {"href": "https://docs.openstack.org/ironic/latest/contributor/webapi.html",
             "rel": "describedby", "type": "text/html"},
        ],
        "media_types": [{"base": "application/json",
                         "type": "application/vnd.openstack.ironic.v1+json"}],
        "version": _version(base),
    }
    for name in RESOURCES:
        body[name] = [
            {"href": f"{base}/baremetal/v1/{name}/", "rel": "self"},
            {"href": f"{base}/baremetal/{name}/", "rel": "bookmark"},
        ]
    return JSONResponse(body)


@router.get("/v1/conductors")
@accepts()
async def conductors(request: Request) -> JSONResponse:
    params.require(request, (1, 49))
    policy.authorize(context(request), "baremetal:conductor:get")
    rt = runtime(request)
    live = await live_conductors(rt.db, rt.settings.conductor_heartbeat_timeout)
    base = base_url(request)
    from barecloud.drivers.hardware import HARDWARE_TYPES

    return JSONResponse({"conductors": [
        {"hostname": h, "conductor_group": g, "alive": True,
         "drivers": sorted(HARDWARE_TYPES),
         "links": [{"href": f"{base}/baremetal/v1/conductors/{h}", "rel": "self"}]}
        for h, g in live
    ]})
