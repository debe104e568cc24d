"""/v1/allocations (API 1.52+)."""

from __future__ import annotations

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.baremetal import params, render
from barecloud.api.baremetal.inputs import accepts
from barecloud.api.common import JSONResponse, base_url, context, runtime
from barecloud.errors import InvalidParameter, NotAcceptable, NotFound
from barecloud.services.baremetal import allocations, allocator, nodes
from barecloud.services.baremetal import schemas as bm

router = declared.router(prefix="/baremetal/v1")


@router.get("/allocations")
@accepts(query=bm.LIST_ALLOCATIONS_QUERY)
async def list_allocations(request: Request) -> JSONResponse:
    v = params.require(request, (1, 52))
    fields = params.fields(request)
    q = params.query(request)
    if q.get("owner") is not None and v < OWNER:
        raise NotAcceptable("Filtering allocations by owner needs API version 1.60 or later.")
    rows, more = await allocations.list_allocations(
        runtime(request), context(request),
        node=q.get("node"), resource_class=q.get("resource_class"), state=q.get("state"),
        owner=q.get("owner"), limit=q.get("limit"), marker=q.get("marker"),
    )
    base = base_url(request)
    body: dict[str, object] = {
        "allocations": [render.allocation(a, nu, base, fields, v) for a, nu in rows]
    }
    if more and rows:
        body["next"] = params.next_link(request, "allocations", rows[-1][0].uuid)
    return JSONResponse(body)


BACKFILL = (1, 58)  # "node" in the create body
OWNER = (1, 60)  # "owner": in the body, the filter, the fields


@router.post("/allocations", status_code=201)
@accepts(body=bm.CREATE_ALLOCATION)
async def create_allocation(request: Request) -> JSONResponse:
    """201 with the allocation ``allocating`` (the allocator takes a node
    meanwhile), or already ``active``/``error`` for a backfill, as Ironic."""
    v = params.require_write(request, (1, 52))
    body = request.state.body
    if body.get("owner") is not None and v < OWNER:
        raise NotAcceptable("Allocation owner needs API version 1.60 or later.")
    if body.get("node") is not None and v < BACKFILL:
        raise InvalidParameter("Cannot set node when creating an allocation in this API "
                               "version")
    a, node_uuid = await allocations.create(runtime(request), context(request), body)
    allocator.wake()
    base = base_url(request)
    return JSONResponse(render.allocation(a, node_uuid, base, version=v), status_code=201,
                        headers={"Location": f"{base}/baremetal/v1/allocations/{a.uuid}"})


@router.get("/allocations/{ident}")
@accepts(query=bm.SHOW_QUERY)
async def show_allocation(ident: str, request: Request) -> JSONResponse:
    v = params.require(request, (1, 52))
    a, node_uuid = await allocations.get(runtime(request), context(request), ident)
    return JSONResponse(render.allocation(a, node_uuid, base_url(request),
                                          params.fields(request), v))


@router.patch("/allocations/{ident}")
@accepts(body=bm.PATCH)
async def update_allocation(ident: str, request: Request) -> JSONResponse:
    v = params.require_write(request, (1, 57))
    ops = request.state.body
    a, node_uuid = await allocations.update_allocation(runtime(request), context(request),
                                                       ident, ops)
    return JSONResponse(render.allocation(a, node_uuid, base_url(request), version=v))


@router.delete("/allocations/{ident}", status_code=204)
@accepts()
async def delete_allocation(ident: str, request: Request) -> Response:
    params.require_write(request, (1, 52))
    await allocations.remove(runtime(request), context(request), ident)
    return Response(status_code=204)


@router.get("/nodes/{ident}/allocation")
@accepts(query=bm.SHOW_QUERY)
async def node_allocation(ident: str, request: Request) -> JSONResponse:
    """As Ironic's: an unknown node is a bad request (400), one the caller may not
    see 404, a node without an allocation 404."""
    v = params.require(request, (1, 52))
    try:
        n = await nodes.show(runtime(request), context(request), ident)
    except NotFound as exc:
        if not await nodes.exists(runtime(request), ident):
            raise InvalidParameter(exc.message) from None
        raise
    if not n.allocation_uuid:
        raise NotFound(f"Allocation for node {ident} was not found")
    a, node_uuid = await allocations.get(runtime(request), context(request), n.allocation_uuid)
    return JSONResponse(render.allocation(a, node_uuid, base_url(request),
                                          params.fields(request), v))
