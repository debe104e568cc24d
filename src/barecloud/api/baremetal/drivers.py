"""/v1/drivers."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from barecloud.api import accepts as declared
from barecloud.api.baremetal import params
from barecloud.api.baremetal.inputs import accepts
from barecloud.api.common import JSONResponse, base_url, context, runtime
from barecloud.services import policy
from barecloud.services.baremetal import drivers, raid
from barecloud.services.baremetal import schemas as bm

router = declared.router(prefix="/baremetal/v1/drivers")


# The version that added each interface to a driver's detail (Ironic's driver.py).
_INTERFACE_SINCE = {"storage": (1, 33), "rescue": (1, 38), "bios": (1, 40),
                    "firmware": (1, 86)}


def _shown(key: str, version: tuple[int, int]) -> bool:
    iface = key.removeprefix("default_").removeprefix("enabled_").split("_interface")[0]
    if iface == key:
        return True
    return version >= _INTERFACE_SINCE.get(iface, (1, 30))


def _render(d: dict[str, Any], base: str, detail: bool,
            version: tuple[int, int] = (1, 1)) -> dict[str, Any]:
    keys = [k for k in d if _shown(k, version)] if detail else ["name", "hosts", "type"]
    out = {k: d[k] for k in keys}
    out["links"] = [
        {"href": f"{base}/baremetal/v1/drivers/{d['name']}", "rel": "self"},
        {"href": f"{base}/baremetal/drivers/{d['name']}", "rel": "bookmark"},
    ]
    out["properties"] = [
        {"href": f"{base}/baremetal/v1/drivers/{d['name']}/properties", "rel": "self"},
        {"href": f"{base}/baremetal/drivers/{d['name']}/properties", "rel": "bookmark"},
    ]
    return out


@router.get("")
@accepts(query=bm.LIST_DRIVERS_QUERY)
async def list_drivers(request: Request) -> JSONResponse:
    policy.authorize(context(request), "baremetal:driver:get")
    q = params.query(request)
    kind, detail = q.get("type"), bool(q.get("detail"))
    found = [] if kind == "classic" else await drivers.list_drivers(runtime(request))
    base = base_url(request)
    v = params.version(request)
    return JSONResponse({"drivers": [_render(d, base, detail, v) for d in found]})


@router.get("/{name}")
@accepts()
async def show_driver(name: str, request: Request) -> JSONResponse:
    policy.authorize(context(request), "baremetal:driver:get")
    d = await drivers.get_driver(runtime(request), name)
    return JSONResponse(_render(d, base_url(request), True, params.version(request)))


@router.get("/{name}/properties")
@accepts()
async def driver_properties(name: str, request: Request) -> JSONResponse:
    policy.authorize(context(request), "baremetal:driver:get")
    return JSONResponse(drivers.properties(name))


@router.get("/{name}/raid/logical_disk_properties")
@accepts()
async def logical_disk_properties(name: str, request: Request) -> JSONResponse:
    """Ironic's RAID properties of a driver (1.12), of its default RAID interface:
    a driver without one (``no-raid``) answers UnsupportedDriverExtension."""
    params.require_acceptable(request, (1, 12))
    policy.authorize(context(request), "baremetal:driver:get_raid_logical_disk_properties")
    await drivers.get_driver(runtime(request), name)
    return JSONResponse(raid.logical_disk_properties(name))


@router.get("/{name}/schema")
@accepts()
async def driver_schema(name: str, request: Request) -> JSONResponse:
    """barecloud's extension: the driver's settings as data, for forms."""
    policy.authorize(context(request), "baremetal:driver:get")
    return JSONResponse({"settings": drivers.schema(name)})
