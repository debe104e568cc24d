"""/v1/ports."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from barecloud.api.baremetal import params, render
from barecloud.api.common import JSONResponse, base_url, context, json_body, runtime
from barecloud.services.baremetal import ports

router = APIRouter(prefix="/baremetal/v1/ports")


async def _list(request: Request, detail: bool) -> JSONResponse:
    v = params.version(request)
    fields = params.fields(request)
    render.check_fields(fields, render.PORT_FIELDS, v)
    if params.boolean(request, "detail"):
        params.require(request, (1, 43))
        detail = True
    rows, more = await ports.list_ports(
        runtime(request), context(request),
        node=request.query_params.get("node") or request.query_params.get("node_uuid"),
        address=request.query_params.get("address"),
        limit=params.limit(request),
        marker=request.query_params.get("marker"),
        sort_key=request.query_params.get("sort_key", "id"),
        sort_dir=request.query_params.get("sort_dir", "asc"),
    )
    base = base_url(request)
    body: dict[str, object] = {
        "ports": [render.port(p, nu, v, base, fields=fields, detail=detail) for p, nu in rows]
    }
    if more and rows:
        body["next"] = params.next_link(request, "ports", rows[-1][0].uuid)
    return JSONResponse(body)


@router.get("")
async def list_ports(request: Request) -> JSONResponse:
    return await _list(request, detail=False)


@router.get("/detail")
async def list_ports_detail(request: Request) -> JSONResponse:
    return await _list(request, detail=True)


@router.post("", status_code=201)
async def create_port(request: Request) -> JSONResponse:
    v = params.version(request)
    body = await json_body(request)
    render.reject_newer_input(body, render.PORT_FIELDS, v)
    p, node_uuid = await ports.create(runtime(request), context(request), body)
    base = base_url(request)
    return JSONResponse(render.port(p, node_uuid, v, base),
                        status_code=201,
                        headers={"Location": f"{base}/baremetal/v1/ports/{p.uuid}"})


@router.get("/{ident}")
async def show_port(ident: str, request: Request) -> JSONResponse:
    v = params.version(request)
    fields = params.fields(request)
    render.check_fields(fields, render.PORT_FIELDS, v)
    p, node_uuid = await ports.get(runtime(request), context(request), ident)
    return JSONResponse(render.port(p, node_uuid, v, base_url(request), fields=fields))


@router.patch("/{ident}")
async def update_port(ident: str, request: Request) -> JSONResponse:
    v = params.version(request)
    ops = await json_body(request)
    render.reject_newer_patch(ops, render.PORT_FIELDS, v)
    p, node_uuid = await ports.update(runtime(request), context(request), ident, ops)
    return JSONResponse(render.port(p, node_uuid, v, base_url(request)))


@router.delete("/{ident}", status_code=204)
async def delete_port(ident: str, request: Request) -> Response:
    await ports.remove(runtime(request), context(request), ident)
    return Response(status_code=204)
