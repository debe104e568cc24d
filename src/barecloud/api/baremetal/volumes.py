"""/v1/volume: Ironic's volume connectors and targets (API 1.32), and a node's."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.baremetal import params, render
from barecloud.api.baremetal.inputs import accepts
from barecloud.api.common import JSONResponse, base_url, context, json_body, runtime
from barecloud.errors import InvalidParameter, NotFound
from barecloud.services.baremetal import nodes, volumes
from barecloud.services.baremetal import schemas as bm

router = declared.router(prefix="/baremetal/v1")
SINCE = (1, 32)


def _kind(request: Request, kind: str) -> volumes.Kind:
    """The kind named in the path; before 1.32 there is no volume resource (404)."""
    params.require(request, SINCE)
    if kind not in volumes.KINDS:
        raise NotFound("The resource could not be found.")
    return volumes.KINDS[kind]


def _links(base: str, path: str, names: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {"links": render.links(base, path, "").copy()}
    for name in names:
        out[name] = render.links(base, path, name)
    return out


async def _list(request: Request, kind: str, node: str | None, detail: bool) -> JSONResponse:
    k = _kind(request, kind)
    q = params.query(request)
    fields = params.fields(request)
    render.check_volume_fields(kind, fields)
    if fields is not None and detail:
        raise InvalidParameter(f"Can not specify ?fields when listing {kind}/detail")
    if q.get("detail") is not None and not request.url.path.endswith("/detail"):
        detail = bool(q["detail"])
    if node is not None and q.get("node"):
        raise InvalidParameter("Can not specify node when listing the volumes of a node")
    rows, more = await volumes.list_records(
        runtime(request), context(request), k, node=node or q.get("node"),
        limit=q.get("limit"), marker=q.get("marker"), sort_key=q.get("sort_key", "id"),
        sort_dir=q.get("sort_dir", "asc"))
    base = base_url(request)
    body: dict[str, Any] = {kind: [render.volume(kind, r, n, base, fields=fields, detail=detail)
                                   for r, n in rows]}
    if more and rows:
        path = request.url.path.split("/baremetal/v1/", 1)[1]
        body["next"] = params.next_link(request, path, rows[-1][0].uuid)
    return JSONResponse(body)


@router.get("/volume")
@router.get("/volume/")
@accepts()
async def volume_root(request: Request) -> JSONResponse:
    params.require(request, SINCE)
    return JSONResponse(_links(base_url(request), "volume", ("connectors", "targets")))


@router.get("/volume/{kind}")
@accepts(query=bm.LIST_VOLUME_QUERY)
async def list_volumes(kind: str, request: Request) -> JSONResponse:
    return await _list(request, kind, None, detail=False)


@router.get("/volume/{kind}/detail")
@accepts(query=bm.LIST_VOLUME_QUERY)
async def list_volumes_detail(kind: str, request: Request) -> JSONResponse:
    return await _list(request, kind, None, detail=True)


@router.post("/volume/{kind}", status_code=201)
@accepts()
async def create_volume(kind: str, request: Request) -> JSONResponse:
    k = _kind(request, kind)
    # The declaration depends on the kind in the path: the service checks the body.
    r, node_uuid = await volumes.create(runtime(request), context(request), k,
                                        await json_body(request))
    base = base_url(request)
    return JSONResponse(render.volume(kind, r, node_uuid, base), status_code=201,
                        headers={"Location": f"{base}/baremetal/v1/volume/{kind}/{r.uuid}"})


@router.get("/volume/{kind}/{ident}")
@accepts(query=bm.SHOW_QUERY)
async def show_volume(kind: str, ident: str, request: Request) -> JSONResponse:
    k = _kind(request, kind)
    fields = params.fields(request)
    r, node_uuid = await volumes.get(runtime(request), context(request), k, ident)
    return JSONResponse(render.volume(kind, r, node_uuid, base_url(request), fields=fields))


@router.patch("/volume/{kind}/{ident}")
@accepts(body=bm.PATCH)
async def update_volume(kind: str, ident: str, request: Request) -> JSONResponse:
    k = _kind(request, kind)
    r, node_uuid = await volumes.update(runtime(request), context(request), k, ident,
                                        request.state.body)
    return JSONResponse(render.volume(kind, r, node_uuid, base_url(request)))


@router.delete("/volume/{kind}/{ident}", status_code=204)
@accepts()
async def delete_volume(kind: str, ident: str, request: Request) -> Response:
    k = _kind(request, kind)
    await volumes.remove(runtime(request), context(request), k, ident)
    return Response(status_code=204)


@router.get("/nodes/{node}/volume")
@accepts()
async def node_volume(node: str, request: Request) -> JSONResponse:
    params.require(request, SINCE)
    found = await nodes.show(runtime(request), context(request), node)
    return JSONResponse(_links(base_url(request), f"nodes/{found.uuid}/volume",
                               ("connectors", "targets")))


@router.get("/nodes/{node}/volume/{kind}")
@accepts(query=bm.LIST_VOLUME_QUERY)
async def node_volumes(node: str, kind: str, request: Request) -> JSONResponse:
    _kind(request, kind)
    found = await nodes.show(runtime(request), context(request), node)
    return await _list(request, kind, found.uuid, detail=False)
