"""/os-availability-zone and /os-hypervisors: what Compute sees of nodes and VM hosts."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.compute import params
from barecloud.api.compute.errors import error_response
from barecloud.api.compute.inputs import accepts
from barecloud.db.hypervisor_models import Hypervisor
from barecloud.db.models import Node
from barecloud.errors import NotFound
from barecloud.services import policy
from barecloud.services.compute import hypervisors, schemas

router = declared.router()


@router.get("/os-availability-zone")
@accepts()
async def zones(request: Request) -> JSONResponse:
    policy.authorize(context(request), "compute:availability_zones:list")
    names = await hypervisors.zones(runtime(request))
    return JSONResponse({"availabilityZoneInfo": [
        {"zoneName": z, "zoneState": {"available": True}, "hosts": None} for z in names]})


@router.get("/os-availability-zone/detail")
@accepts()
async def zones_detail(request: Request) -> JSONResponse:
    hosts = await hypervisors.zone_hosts(runtime(request), context(request))
    by_zone: dict[str, dict[str, Any]] = {}
    for h in hosts:
        by_zone.setdefault(h.zone, {})[h.host] = {"nova-compute": {
            "available": h.available, "active": True, "updated_at": h.updated_at}}
    return JSONResponse({"availabilityZoneInfo": [
        {"zoneName": z, "zoneState": {"available": True}, "hosts": found}
        for z, found in sorted(by_zone.items())]})


def _cpu_info(v: tuple[int, int]) -> str | dict[str, Any]:
    """What barecloud knows of a hypervisor's CPU is nothing more than its counts: Nova's
    empty ``cpu_info``, text below 2.28 and an object from then (until 2.88 drops it)."""
    return {} if v >= (2, 28) else ""


def _vm_host(request: Request, h: Hypervisor, detail: bool) -> dict[str, Any]:
    v = params.version(request)
    ident: str | int = h.uuid if v >= (2, 53) else h.id + hypervisors.VM_HOST_ID_BASE
    body: dict[str, Any] = {"id": ident, "hypervisor_hostname": h.hostname,
                            "state": h.state if h.state in ("up", "down") else "down",
                            "status": "enabled" if h.enabled else "disabled"}
    if detail:
        body.update({"hypervisor_type": h.hypervisor_type,
                     "hypervisor_version": h.hypervisor_version, "host_ip": h.host_ip,
                     "service": {"host": h.hostname, "id": ident,
                                 "disabled_reason": h.disabled_reason}})
        if v < (2, 88):
            body.update({
                "vcpus": h.vcpus, "memory_mb": h.memory_mb, "local_gb": h.disk_gb,
                "vcpus_used": h.vcpus_used, "memory_mb_used": h.memory_mb_used,
                "local_gb_used": h.disk_gb_used, "free_ram_mb": h.memory_mb - h.memory_mb_used,
                "free_disk_gb": h.disk_gb - h.disk_gb_used, "current_workload": 0,
                "running_vms": h.running_vms,
                "disk_available_least": h.disk_gb - h.disk_gb_used, "cpu_info": _cpu_info(v),
            })
        else:
            body["uptime"] = h.uptime
    return body


def _hypervisor(request: Request, n: Node | Hypervisor, detail: bool) -> dict[str, Any]:
    if isinstance(n, Hypervisor):
        return _vm_host(request, n, detail)
    v = params.version(request)
    body: dict[str, Any] = {
        "id": n.uuid if v >= (2, 53) else n.id, "hypervisor_hostname": n.uuid,
        "state": "down" if n.fault else "up",
        "status": "disabled" if n.maintenance or n.retired else "enabled",
    }
    if not detail:
        return body
    props = n.properties or {}
    body.update({
        "hypervisor_type": "ironic", "hypervisor_version": 1, "host_ip": None,
        "service": {"host": hypervisors.host_of(n),
                    "id": n.uuid if v >= (2, 53) else n.id,
                    "disabled_reason": n.maintenance_reason},
    })
    if v < (2, 88):
        used = n.instance_uuid is not None
        cpus, mem, disk = (int(props.get(k) or 0) for k in ("cpus", "memory_mb", "local_gb"))
        body.update({
            "vcpus": cpus, "memory_mb": mem, "local_gb": disk,
            "vcpus_used": cpus if used else 0, "memory_mb_used": mem if used else 0,
            "local_gb_used": disk if used else 0, "free_ram_mb": 0 if used else mem,
            "free_disk_gb": 0 if used else disk, "current_workload": 0,
            "running_vms": 1 if used else 0, "disk_available_least": 0 if used else disk,
            "cpu_info": _cpu_info(v),
        })
    else:
        body["uptime"] = None
    if v >= (2, 53) and n.instance_uuid and params_bool(request, "with_servers"):
        body["servers"] = [{"uuid": n.instance_uuid, "name": n.instance_uuid}]
    return body


def params_bool(request: Request, name: str) -> bool:
    return str(params.query(request).get(name, "")).lower() in ("1", "true", "yes", "on")


async def _list(request: Request, detail: bool) -> JSONResponse:
    rt = runtime(request)
    q = params.query(request)
    limit = params.limit(request)
    found = await hypervisors.list_hosts(rt, context(request),
                                         pattern=q.get("hypervisor_hostname_pattern"),
                                         limit=limit, marker=q.get("marker"))
    body: dict[str, Any] = {"hypervisors": [_hypervisor(request, n, detail) for n in found]}
    more = params.next_links(request, "os-hypervisors/detail" if detail else "os-hypervisors",
                             found, found[-1].uuid if found else "", limit,
                             rt.settings.api_max_limit)
    if more:
        body["hypervisors_links"] = more
    return JSONResponse(body)


@router.get("/os-hypervisors")
@accepts(query=schemas.LIST_HYPERVISORS_QUERY)
async def list_hypervisors(request: Request) -> JSONResponse:
    return await _list(request, detail=False)


@router.get("/os-hypervisors/detail")
@accepts(query=schemas.LIST_HYPERVISORS_QUERY)
async def list_hypervisors_detail(request: Request) -> JSONResponse:
    return await _list(request, detail=True)


STATISTICS = ("vcpus", "memory_mb", "local_gb", "vcpus_used", "memory_mb_used",
              "local_gb_used", "free_ram_mb", "free_disk_gb", "current_workload",
              "running_vms", "disk_available_least")


@router.get("/os-hypervisors/statistics")
@accepts()
async def hypervisor_statistics(request: Request) -> JSONResponse:
    """Every host's counts summed (below 2.88), as Nova's."""
    v = params.version(request)
    if v >= (2, 88):
        raise NotFound(f"API version {v[0]}.{v[1]} is not supported on this method.")
    rt, ctx = runtime(request), context(request)
    found, marker = [], None
    while True:  # every host, a page at a time
        page = await hypervisors.list_hosts(rt, ctx, marker=marker)
        found.extend(page)
        if len(page) < rt.settings.api_max_limit:
            break
        marker = page[-1].uuid
    shown = [_hypervisor(request, h, detail=True) for h in found]
    totals = {k: sum(int(h.get(k) or 0) for h in shown) for k in STATISTICS}
    return JSONResponse({"hypervisor_statistics": {"count": len(shown), **totals}})


async def _matching(request: Request, pattern: str) -> list[Hypervisor | Node]:
    v = params.version(request)
    if v >= (2, 53):
        raise NotFound(f"API version {v[0]}.{v[1]} is not supported on this method.")
    found = await hypervisors.list_hosts(runtime(request), context(request), pattern=pattern)
    if not found:
        raise NotFound(f"No hypervisor matching '{pattern}' could be found.")
    return found


@router.get("/os-hypervisors/{pattern}/search")
@accepts()
async def search_hypervisors(pattern: str, request: Request) -> JSONResponse:
    found = await _matching(request, pattern)
    return JSONResponse({"hypervisors": [_hypervisor(request, h, False) for h in found]})


@router.get("/os-hypervisors/{pattern}/servers")
@accepts()
async def hypervisor_servers(pattern: str, request: Request) -> JSONResponse:
    found = await _matching(request, pattern)
    on = await hypervisors.servers_on(runtime(request), found)
    shown = []
    for h in found:
        body = _hypervisor(request, h, False)
        if on[h.uuid]:  # Nova leaves the key out of a host with none
            body["servers"] = [{"uuid": u, "name": n} for u, n in on[h.uuid]]
        shown.append(body)
    return JSONResponse({"hypervisors": shown})


@router.get("/os-hypervisors/{ident}")
@accepts(query=schemas.SHOW_HYPERVISOR_QUERY)
async def show_hypervisor(ident: str, request: Request) -> JSONResponse:
    host = await hypervisors.get_host(runtime(request), context(request), ident)
    return JSONResponse({"hypervisor": _hypervisor(request, host, detail=True)})


@router.get("/os-hypervisors/{ident}/uptime")
@accepts()
async def hypervisor_uptime(ident: str, request: Request) -> JSONResponse:
    """A VM host's uptime as its agent last reported it; for a node, Nova's answer
    for a driver that keeps none (Ironic's): 501, which clients take as "not
    known"."""
    host = await hypervisors.get_host(runtime(request), context(request), ident)
    if not isinstance(host, Hypervisor):
        return error_response(501, "Virt driver does not implement host uptime function.")
    view = _vm_host(request, host, detail=False)
    return JSONResponse({"hypervisor": {**view, "uptime": host.uptime or ""}})
