"""/os-services (read) and /os-hosts (below 2.43): barecloud's processes and compute hosts
as Nova shows its services and hosts (services/compute/nova_services.py says which).

A host's update and power actions are Nova's answers for its Ironic driver, which
implements neither: checked (input, admin, a known host), then 501.  A compute
service is disabled here through the node's maintenance or the VM host's
``enabled`` (Bare Metal API, ``barecloud-hypervisors``)."""

from __future__ import annotations

from typing import Any

from fastapi import Request

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.compute import params, render
from barecloud.api.compute.errors import error_response
from barecloud.api.compute.inputs import accepts
from barecloud.errors import NotFound
from barecloud.services.compute import nova_services, schemas

router = declared.router()
FORCED_DOWN, UUIDS, HOSTS_REMOVED = (2, 11), (2, 53), (2, 43)


def _service(request: Request, x: nova_services.Service) -> dict[str, Any]:
    v = params.version(request)
    body: dict[str, Any] = {
        "id": x.uuid if v >= UUIDS else x.id, "binary": x.binary, "host": x.host,
        "zone": x.zone, "status": "enabled" if x.enabled else "disabled",
        "state": "up" if x.up else "down", "updated_at": render.iso(x.updated_at),
        "disabled_reason": x.disabled_reason}
    if v >= FORCED_DOWN:
        body["forced_down"] = False
    return body


@router.get("/os-services")
@accepts(query=schemas.SERVICES_QUERY)
async def list_services(request: Request) -> JSONResponse:
    q = params.query(request)
    found = await nova_services.list_services(runtime(request), context(request),
                                              q.get("host"), q.get("binary"))
    return JSONResponse({"services": [_service(request, x) for x in found]})


def _before_removal(request: Request) -> None:
    v = params.version(request)
    if v >= HOSTS_REMOVED:
        raise NotFound(f"API version {v[0]}.{v[1]} is not supported on this method.")


@router.get("/os-hosts")
@accepts(query=schemas.HOSTS_QUERY)
async def list_hosts(request: Request) -> JSONResponse:
    _before_removal(request)
    zone = params.query(request).get("zone")
    found = await nova_services.list_services(runtime(request), context(request))
    return JSONResponse({"hosts": [
        {"host_name": x.host, "service": x.binary.removeprefix("nova-"), "zone": x.zone}
        for x in found if not zone or x.zone == zone]})  # Nova: a blank zone, no filter


@router.get("/os-hosts/{host_name}")
@accepts()
async def show_host(host_name: str, request: Request) -> JSONResponse:
    _before_removal(request)
    rt, ctx = runtime(request), context(request)
    usage = await nova_services.host_usage(rt, ctx, host_name)
    if usage is None:
        raise NotFound(f"Compute host {host_name} could not be found.")
    return JSONResponse({"host": [{"resource": {"host": host_name, "project": project,
                                                "cpu": cpu, "memory_mb": mem,
                                                "disk_gb": disk}}
                                  for project, (cpu, mem, disk) in usage.items()]})


async def _known_host(request: Request, host_name: str) -> None:
    _before_removal(request)
    if not await nova_services.list_services(runtime(request), context(request),
                                             host=host_name, binary="nova-compute"):
        raise NotFound(f"Compute host {host_name} could not be found.")


@router.put("/os-hosts/{host_name}")
@accepts(body=schemas.UPDATE_HOST)
async def update_host(host_name: str, request: Request) -> JSONResponse:
    await _known_host(request, host_name)
    body = request.state.body
    if body.get("status") is not None:
        return error_response(501, "Virt driver does not implement host disabled status.")
    return error_response(501, "Virt driver does not implement host maintenance mode.")


@router.get("/os-hosts/{host_name}/{action}")
@accepts()
async def host_power_action(host_name: str, action: str, request: Request) -> JSONResponse:
    if action not in ("reboot", "shutdown", "startup"):
        raise NotFound("The resource could not be found.")
    await _known_host(request, host_name)
    return error_response(501, "Virt driver does not implement host power management.")
