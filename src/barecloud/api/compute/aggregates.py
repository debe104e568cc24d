"""/os-aggregates: the groups barecloud's hosts fall in, as Nova shows aggregates.

There is nothing to create: a VM host's availability zone and its owner
(the project whose leased machines it is) are what Nova expresses with
aggregates (an aggregate per zone with ``availability_zone`` metadata, one
per project with ``filter_tenant_id``), so those are listed, read-only.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.compute.inputs import accepts
from barecloud.api.compute.render import iso
from barecloud.errors import InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.compute import vm_hosts

router = declared.router(prefix="/os-aggregates")
READ_ONLY = ("barecloud's aggregates are its availability zones and its projects' own "
             "hosts: set a hypervisor's zone or owner instead.")


async def _aggregates(request: Request) -> list[dict[str, Any]]:
    policy.authorize(context(request), "compute:hypervisors:list")
    hosts = await vm_hosts.list_all(runtime(request), context(request))
    groups: dict[tuple[str, str], list[Any]] = {}
    for h in hosts:
        groups.setdefault(("zone", h.availability_zone), []).append(h)
        if h.owner:
            groups.setdefault(("project", h.owner), []).append(h)
    found = []
    for i, ((kind, name), members) in enumerate(sorted(groups.items()), start=1):
        zone = name if kind == "zone" else None
        meta = {"availability_zone": name} if zone else {"filter_tenant_id": name}
        found.append({
            "id": i, "uuid": None, "name": name if zone else f"project-{name}",
            "availability_zone": zone, "hosts": [h.hostname for h in members],
            "metadata": meta, "created_at": iso(min(h.created_at for h in members)),
            "updated_at": None, "deleted": False, "deleted_at": None})
    return found


@router.get("")
@accepts()
async def list_aggregates(request: Request) -> JSONResponse:
    return JSONResponse({"aggregates": await _aggregates(request)})


@router.get("/{ident}")
@accepts()
async def show_aggregate(ident: str, request: Request) -> JSONResponse:
    for aggregate in await _aggregates(request):
        if str(aggregate["id"]) == ident:
            return JSONResponse({"aggregate": aggregate})
    raise NotFound(f"Aggregate {ident} could not be found.")


@router.post("")
@accepts()
async def create_aggregate(request: Request) -> JSONResponse:
    policy.authorize(context(request), "compute:hypervisors:create")
    raise InvalidParameter(READ_ONLY)
