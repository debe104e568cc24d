"""Version discovery at /baremetal and /baremetal/v1, shaped as Ironic's."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from barecloud.api import accepts as declared
from barecloud.api.baremetal import microversion, params
from barecloud.api.baremetal.inputs import accepts
from barecloud.api.common import JSONResponse, base_url, context, runtime
from barecloud.conductor.recovery import live_conductors
from barecloud.errors import NotFound
from barecloud.services import policy

router = declared.router(prefix="/baremetal")

LIST_CONDUCTORS_QUERY = {"type": "object", "properties": {"detail": {"type": "boolean"}}}
RESOURCES = ("nodes", "ports", "portgroups", "drivers", "chassis", "allocations", "conductors",
             "deploy_templates", "volume", "lookup", "heartbeat")
# Resources newer than 1.78, linked from the versions that serve them (Ironic's
# VERSIONED_CONTROLLERS).
NEWER_RESOURCES = {"shards": (1, 82), "continue_inspection": (1, 84), "runbooks": (1, 92)}


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
    version = params.version(request)
    for name in (*RESOURCES, *(n for n, v in NEWER_RESOURCES.items() if version >= v)):
        body[name] = [
            {"href": f"{base}/baremetal/v1/{name}/", "rel": "self"},
            {"href": f"{base}/baremetal/{name}/", "rel": "bookmark"},
        ]
    return JSONResponse(body)


def _conductor(base: str, hostname: str, group: str, alive: bool,
               detail: bool = True) -> dict[str, Any]:
    """Ironic's conductor: ``drivers`` only in detail (and show)."""
    from barecloud.drivers.hardware import HARDWARE_TYPES

    extra = {"drivers": sorted(HARDWARE_TYPES)} if detail else {}
    return {"hostname": hostname, "conductor_group": group, "alive": alive, **extra,
            "links": [{"href": f"{base}/baremetal/v1/conductors/{hostname}", "rel": "self"},
                      {"href": f"{base}/baremetal/conductors/{hostname}", "rel": "bookmark"}]}


@router.get("/v1/conductors")
@accepts(query=LIST_CONDUCTORS_QUERY)
async def conductors(request: Request) -> JSONResponse:
    params.require(request, (1, 49))
    policy.authorize(context(request), "baremetal:conductor:get")
    rt = runtime(request)
    live = await live_conductors(rt.db, rt.settings.conductor_heartbeat_timeout)
    base = base_url(request)
    detail = bool(params.query(request).get("detail"))
    return JSONResponse({"conductors": [_conductor(base, h, g, True, detail) for h, g in live]})


@router.get("/v1/conductors/{hostname}")
@accepts()
async def conductor(hostname: str, request: Request) -> JSONResponse:
    """One conductor of the list (Ironic's show; barecloud lists the live ones)."""
    params.require(request, (1, 49))
    policy.authorize(context(request), "baremetal:conductor:get")
    rt = runtime(request)
    live = dict(await live_conductors(rt.db, rt.settings.conductor_heartbeat_timeout))
    if hostname not in live:
        raise NotFound(f"Conductor {hostname} could not be found.")
    return JSONResponse(_conductor(base_url(request), hostname, live[hostname], True))
