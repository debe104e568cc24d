"""/barecloud-hypervisors: enrol, drain, re-key and remove the hosts VMs run on."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.compute.inputs import accepts
from barecloud.api.compute.render import iso
from barecloud.db.hypervisor_models import Hypervisor
from barecloud.services.compute import host_schemas, hypervisor_nodes, vm_hosts

router = declared.router(prefix="/barecloud-hypervisors")


def view(h: Hypervisor) -> dict[str, Any]:
    return {
        "id": h.uuid, "hostname": h.hostname, "node_uuid": h.node_uuid, "owner": h.owner,
        "availability_zone": h.availability_zone, "state": h.state,
        "status": "enabled" if h.enabled else "disabled",
        "disabled_reason": h.disabled_reason, "fault": h.fault,
        "hypervisor_type": h.hypervisor_type, "hypervisor_version": h.hypervisor_version,
        "host_ip": h.host_ip, "vcpus": h.vcpus, "memory_mb": h.memory_mb,
        "local_gb": h.disk_gb, "vcpus_used": h.vcpus_used,
        "memory_mb_used": h.memory_mb_used, "local_gb_used": h.disk_gb_used,
        "running_vms": h.running_vms, "reported_at": iso(h.reported_at),
        "created_at": iso(h.created_at),
    }


@router.post("", status_code=201)
@accepts(body=host_schemas.CREATE_HYPERVISOR)
async def create(request: Request) -> JSONResponse:
    """A host as it is: its credential is in this answer only (the service keeps its
    digest).  Nodes: deployed as hypervisors, 202; their credentials go in their
    config drives, never in an answer."""
    data = request.state.body["hypervisor"]
    if "nodes" in data:
        hosts = await hypervisor_nodes.create_on_nodes(runtime(request), context(request),
                                                       data)
        return JSONResponse({"hypervisors": [view(h) for h in hosts]}, status_code=202)
    made = await vm_hosts.create(runtime(request), context(request), data)
    return JSONResponse({"hypervisor": {**view(made.hypervisor),
                                        "credential": made.credential}}, status_code=201)


@router.get("")
@accepts()
async def list_all(request: Request) -> JSONResponse:
    return JSONResponse({"hypervisors": [view(h) for h in await vm_hosts.list_all(
        runtime(request), context(request))]})


@router.get("/{ident}")
@accepts()
async def show(ident: str, request: Request) -> JSONResponse:
    return JSONResponse({"hypervisor": view(await vm_hosts.get(runtime(request),
                                                                 context(request), ident))})


@router.put("/{ident}")
@accepts(body=host_schemas.UPDATE_HYPERVISOR)
async def update(ident: str, request: Request) -> JSONResponse:
    data = request.state.body["hypervisor"]
    rt, ctx = runtime(request), context(request)
    host = await vm_hosts.get(rt, ctx, ident)
    enabled = data.get("status", "enabled" if host.enabled else "disabled") == "enabled"
    host = await vm_hosts.set_enabled(rt, ctx, ident, enabled, data.get("disabled_reason"))
    return JSONResponse({"hypervisor": view(host)})


@router.post("/{ident}/credential", status_code=201)
@accepts()
async def rekey(ident: str, request: Request) -> JSONResponse:
    """A new credential; the old one is refused from now on."""
    made = await vm_hosts.revoke(runtime(request), context(request), ident)
    return JSONResponse({"hypervisor": {**view(made.hypervisor),
                                        "credential": made.credential}}, status_code=201)


@router.delete("/{ident}", status_code=204)
@accepts()
async def delete(ident: str, request: Request) -> Response:
    await vm_hosts.delete(runtime(request), context(request), ident)
    return Response(status_code=204)
