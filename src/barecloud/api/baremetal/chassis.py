"""/v1/chassis: Ironic's chassis resource, and the nodes of a chassis."""

from __future__ import annotations

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.baremetal import nodes as node_routes
from barecloud.api.baremetal import params, render
from barecloud.api.baremetal.inputs import accepts
from barecloud.api.common import JSONResponse, base_url, context, runtime
from barecloud.errors import InvalidParameter
from barecloud.services.baremetal import chassis
from barecloud.services.baremetal import schemas as bm

router = declared.router(prefix="/baremetal/v1/chassis")


async def _list(request: Request, detail: bool) -> JSONResponse:
    fields = params.fields(request)
    render.check_chassis_fields(fields)
    q = params.query(request)
    if fields is not None and detail:
        raise InvalidParameter("Can not specify ?fields when listing chassis/detail")
    if q.get("detail") is not None and not detail:
        params.require(request, (1, 43))
        detail = bool(q["detail"])
    rows, more = await chassis.list_chassis(
        runtime(request), context(request), limit=q.get("limit"), marker=q.get("marker"),
        sort_key=q.get("sort_key", "id"), sort_dir=q.get("sort_dir", "asc"))
    base = base_url(request)
    body: dict[str, object] = {
        "chassis": [render.chassis(c, base, fields=fields, detail=detail) for c in rows]}
    if more and rows:
        body["next"] = params.next_link(
            request, "chassis/detail" if request.url.path.endswith("/detail") else "chassis",
            rows[-1].uuid)
    return JSONResponse(body)


@router.get("")
@accepts(query=bm.LIST_CHASSIS_QUERY)
async def list_chassis(request: Request) -> JSONResponse:
    return await _list(request, detail=False)


@router.get("/detail")
@accepts(query=bm.LIST_CHASSIS_QUERY)
async def list_chassis_detail(request: Request) -> JSONResponse:
    return await _list(request, detail=True)


@router.post("", status_code=201)
@accepts(body=bm.CREATE_CHASSIS)
async def create_chassis(request: Request) -> JSONResponse:
    c = await chassis.create(runtime(request), context(request), request.state.body)
    base = base_url(request)
    return JSONResponse(render.chassis(c, base), status_code=201,
                        headers={"Location": f"{base}/baremetal/v1/chassis/{c.uuid}"})


@router.get("/{ident}")
@accepts(query=bm.SHOW_QUERY)
async def show_chassis(ident: str, request: Request) -> JSONResponse:
    fields = params.fields(request)
    c = await chassis.get(runtime(request), context(request), ident)
    return JSONResponse(render.chassis(c, base_url(request), fields=fields))


@router.patch("/{ident}")
@accepts(body=bm.PATCH)
async def update_chassis(ident: str, request: Request) -> JSONResponse:
    c = await chassis.update(runtime(request), context(request), ident, request.state.body)
    return JSONResponse(render.chassis(c, base_url(request)))


@router.delete("/{ident}", status_code=204)
@accepts()
async def delete_chassis(ident: str, request: Request) -> Response:
    await chassis.remove(runtime(request), context(request), ident)
    return Response(status_code=204)


async def _nodes(ident: str, request: Request, detail: bool) -> JSONResponse:
    """As Ironic's: the nodes list (its filters, fields, pages and the caller's
    view of nodes) of an existing chassis."""
    async with runtime(request).db.session() as s:
        found = await chassis.find(s, ident)
    return await node_routes.listing(request, detail, chassis_uuid=found.uuid,
                                     path=f"chassis/{found.uuid}/nodes")


@router.get("/{ident}/nodes")
@accepts(query=bm.LIST_NODES_QUERY)
async def chassis_nodes(ident: str, request: Request) -> JSONResponse:
    return await _nodes(ident, request, detail=False)


@router.get("/{ident}/nodes/detail")
@accepts(query=bm.LIST_NODES_QUERY)
async def chassis_nodes_detail(ident: str, request: Request) -> JSONResponse:
    return await _nodes(ident, request, detail=True)
