"""/os-aggregates: the groups barecloud's hosts fall in, and an admin's own aggregates.

A VM host's availability zone and its owner (the project whose leased
machines it is) are what Nova expresses with aggregates (an aggregate per
zone with ``availability_zone`` metadata, one per project with
``filter_tenant_id``): those are listed, read-only.  An admin may also make
aggregates of their own (services/compute/aggregates.py), listed after them.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.compute import params
from barecloud.api.compute.inputs import accepts
from barecloud.api.compute.render import iso
from barecloud.db.compute_models import Aggregate
from barecloud.errors import InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.compute import aggregates, schemas, vm_hosts

router = declared.router(prefix="/os-aggregates")
READ_ONLY = ("barecloud's zones and its projects' own hosts are aggregates derived from "
             "the hosts: set a hypervisor's zone or owner instead.")
UUIDS = (2, 41)


async def _derived(request: Request) -> list[dict[str, Any]]:
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


def _own(request: Request, a: Aggregate, full: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": a.id + aggregates.ID_BASE, "name": a.name, "availability_zone": None,
        "created_at": iso(a.created_at), "updated_at": iso(a.updated_at) if a.updated_at
        else None, "deleted": False, "deleted_at": None}
    if params.version(request) >= UUIDS:
        body["uuid"] = a.uuid
    if full:  # Nova's create answers without them
        body.update(hosts=list(a.hosts or []), metadata=dict(a.meta or {}))
    return body


@router.get("")
@accepts()
async def list_aggregates(request: Request) -> JSONResponse:
    own = await aggregates.list_rows(runtime(request), context(request))
    return JSONResponse({"aggregates": [*await _derived(request),
                                        *(_own(request, a) for a in own)]})


@router.get("/{ident}")
@accepts()
async def show_aggregate(ident: str, request: Request) -> JSONResponse:
    policy.authorize(context(request), "compute:aggregates:show")
    if aggregates.row_id(ident) is not None:
        found = await aggregates.get(runtime(request), context(request), ident)
        return JSONResponse({"aggregate": _own(request, found)})
    for aggregate in await _derived(request):
        if str(aggregate["id"]) == ident:
            return JSONResponse({"aggregate": aggregate})
    raise NotFound(f"Aggregate {ident} could not be found.")


async def _own_id(request: Request, ident: str) -> str:
    """An admin's aggregate id; a derived one's cannot change (400), others are 404."""
    if aggregates.row_id(ident) is None:
        if any(str(a["id"]) == ident for a in await _derived(request)):
            raise InvalidParameter(READ_ONLY)
        raise NotFound(f"Aggregate {ident} could not be found.")
    return ident


@router.post("")
@accepts(body=schemas.CREATE_AGGREGATE)
async def create_aggregate(request: Request) -> JSONResponse:
    made = await aggregates.create(runtime(request), context(request),
                                   request.state.body["aggregate"])
    return JSONResponse({"aggregate": _own(request, made, full=False)})


@router.put("/{ident}")
@accepts(body=schemas.UPDATE_AGGREGATE)
async def update_aggregate(ident: str, request: Request) -> JSONResponse:
    policy.authorize(context(request), "compute:aggregates:update")
    own = await _own_id(request, ident)
    changed = await aggregates.update(runtime(request), context(request), own,
                                      request.state.body["aggregate"])
    return JSONResponse({"aggregate": _own(request, changed)})


@router.delete("/{ident}")
@accepts()
async def delete_aggregate(ident: str, request: Request) -> Response:
    policy.authorize(context(request), "compute:aggregates:delete")
    await aggregates.delete(runtime(request), context(request), await _own_id(request, ident))
    return Response(status_code=200)


@router.post("/{ident}/action")
@accepts(body=schemas.AGGREGATE_ACTION)
async def aggregate_action(ident: str, request: Request) -> JSONResponse:
    rt, ctx = runtime(request), context(request)
    (name, args), = request.state.body.items()
    policy.authorize(ctx, f"compute:aggregates:{name}")
    ident = await _own_id(request, ident)
    if name == "add_host":
        changed = await aggregates.add_host(rt, ctx, ident, args["host"])
    elif name == "remove_host":
        changed = await aggregates.remove_host(rt, ctx, ident, args["host"])
    else:
        changed = await aggregates.set_metadata(rt, ctx, ident, args["metadata"])
    return JSONResponse({"aggregate": _own(request, changed)})
