"""/v1/portgroups: Ironic's port groups (API 1.23), their ports and a node's (1.24)."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.baremetal import params, render
from barecloud.api.baremetal import ports as port_routes
from barecloud.api.baremetal.inputs import accepts
from barecloud.api.common import JSONResponse, base_url, context, runtime
from barecloud.errors import InvalidParameter, NotAcceptable
from barecloud.services.baremetal import nodes, portgroups
from barecloud.services.baremetal import schemas as bm

router = declared.router(prefix="/baremetal/v1")
SINCE, SUBRESOURCES, MODE = (1, 23), (1, 24), (1, 26)


async def listing(request: Request, detail: bool, node: str | None = None,
                  path: str = "portgroups") -> JSONResponse:
    v = params.require(request, SINCE)
    q = params.query(request)
    fields = params.fields(request)
    render.check_fields(fields, render.PORTGROUP_FIELDS, v)
    if fields is not None and detail:
        raise InvalidParameter("Can not specify ?fields when listing portgroups/detail")
    if q.get("detail") is not None and not detail:
        params.require(request, (1, 43))
        detail = bool(q["detail"])
    rows, more = await portgroups.list_portgroups(
        runtime(request), context(request), node=node or q.get("node"),
        address=q.get("address"), limit=q.get("limit"), marker=q.get("marker"),
        sort_key=q.get("sort_key", "id"), sort_dir=q.get("sort_dir", "asc"))
    base = base_url(request)
    body: dict[str, Any] = {"portgroups": [
        render.portgroup(g, n, v, base, fields=fields, detail=detail) for g, n in rows]}
    if more and rows:
        kind = f"{path}/detail" if request.url.path.endswith("/detail") else path
        body["next"] = params.next_link(request, kind, rows[-1][0].uuid)
    return JSONResponse(body)


def _mode_needs_1_26(request: Request, doc: Any) -> None:
    """``mode`` and ``properties`` came in 1.26 (406 before, as Ironic)."""
    if params.version(request) < MODE and isinstance(doc, dict) and (
            doc.get("mode") is not None or doc.get("properties") is not None):
        raise NotAcceptable("mode and properties need API version 1.26 or later.")


@router.get("/portgroups")
@accepts(query=bm.LIST_PORTGROUPS_QUERY)
async def list_portgroups(request: Request) -> JSONResponse:
    return await listing(request, detail=False)


@router.get("/portgroups/detail")
@accepts(query=bm.LIST_PORTGROUPS_QUERY)
async def list_portgroups_detail(request: Request) -> JSONResponse:
    return await listing(request, detail=True)


@router.post("/portgroups", status_code=201)
@accepts(body=bm.CREATE_PORTGROUP)
async def create_portgroup(request: Request) -> JSONResponse:
    v = params.require(request, SINCE)
    _mode_needs_1_26(request, request.state.body)
    g, node_uuid = await portgroups.create(runtime(request), context(request),
                                           request.state.body)
    base = base_url(request)
    return JSONResponse(render.portgroup(g, node_uuid, v, base), status_code=201,
                        headers={"Location": f"{base}/baremetal/v1/portgroups/{g.uuid}"})


@router.get("/portgroups/{ident}")
@accepts(query=bm.SHOW_QUERY)
async def show_portgroup(ident: str, request: Request) -> JSONResponse:
    v = params.require(request, SINCE)
    fields = params.fields(request)
    render.check_fields(fields, render.PORTGROUP_FIELDS, v)
    g, node_uuid = await portgroups.get(runtime(request), context(request), ident)
    return JSONResponse(render.portgroup(g, node_uuid, v, base_url(request), fields=fields))


@router.patch("/portgroups/{ident}")
@accepts(body=bm.PATCH)
async def update_portgroup(ident: str, request: Request) -> JSONResponse:
    v = params.require(request, SINCE)
    for op in request.state.body:
        if params.version(request) < MODE and op["path"].split("/")[1] in ("mode",
                                                                           "properties"):
            raise NotAcceptable("mode and properties need API version 1.26 or later.")
    g, node_uuid = await portgroups.update(runtime(request), context(request), ident,
                                           request.state.body)
    return JSONResponse(render.portgroup(g, node_uuid, v, base_url(request)))


@router.delete("/portgroups/{ident}", status_code=204)
@accepts()
async def delete_portgroup(ident: str, request: Request) -> Response:
    params.require(request, SINCE)
    await portgroups.remove(runtime(request), context(request), ident)
    return Response(status_code=204)


async def _ports(ident: str, request: Request, detail: bool) -> JSONResponse:
    params.require(request, SUBRESOURCES)
    g, _ = await portgroups.get(runtime(request), context(request), ident)
    return await port_routes.listing(request, detail, portgroup=g.uuid,
                                     path=f"portgroups/{g.uuid}/ports")


@router.get("/portgroups/{ident}/ports")
@accepts(query=bm.LIST_PORTS_QUERY)
async def portgroup_ports(ident: str, request: Request) -> JSONResponse:
    return await _ports(ident, request, detail=False)


@router.get("/portgroups/{ident}/ports/detail")
@accepts(query=bm.LIST_PORTS_QUERY)
async def portgroup_ports_detail(ident: str, request: Request) -> JSONResponse:
    return await _ports(ident, request, detail=True)


async def _node_portgroups(node: str, request: Request, detail: bool) -> JSONResponse:
    params.require(request, SUBRESOURCES)
    found = await nodes.show(runtime(request), context(request), node)
    return await listing(request, detail, node=found.uuid,
                         path=f"nodes/{found.uuid}/portgroups")


@router.get("/nodes/{node}/portgroups")
@accepts(query=bm.LIST_PORTGROUPS_QUERY)
async def node_portgroups(node: str, request: Request) -> JSONResponse:
    return await _node_portgroups(node, request, detail=False)


@router.get("/nodes/{node}/portgroups/detail")
@accepts(query=bm.LIST_PORTGROUPS_QUERY)
async def node_portgroups_detail(node: str, request: Request) -> JSONResponse:
    return await _node_portgroups(node, request, detail=True)
