"""/v1/ports."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.baremetal import params, render
from barecloud.api.baremetal.inputs import accepts
from barecloud.api.common import JSONResponse, base_url, context, runtime
from barecloud.errors import InvalidParameter
from barecloud.services.baremetal import ports
from barecloud.services.baremetal import schemas as bm

router = declared.router(prefix="/baremetal/v1/ports")
PORT_NAME = (1, 88)


async def listing(request: Request, detail: bool, portgroup: str | None = None,
                  path: str = "ports") -> JSONResponse:
    """A page of ports (``portgroup``: of that port group, at ``path``: its ports)."""
    v = params.version(request)
    fields = params.fields(request)
    render.check_fields(fields, render.PORT_FIELDS, v)
    q = params.query(request)
    if q.get("detail"):
        params.require(request, (1, 43))
        detail = True
    rows, more = await ports.list_ports(
        runtime(request), context(request),
        node=q.get("node") or q.get("node_uuid"),
        address=q.get("address"),
        portgroup=portgroup or _portgroup_filter(request),
        limit=q.get("limit"),
        marker=q.get("marker"),
        sort_key=q.get("sort_key", "id"),
        sort_dir=q.get("sort_dir", "asc"),
        shards=_shard_filter(request),
    )
    base = base_url(request)
    body: dict[str, object] = {
        "ports": [render.port(p, nu, v, base, fields=fields, detail=detail) for p, nu in rows]
    }
    if more and rows:
        kind = f"{path}/detail" if request.url.path.endswith("/detail") else path
        body["next"] = params.next_link(request, kind, rows[-1][0].uuid)
    return JSONResponse(body)


def _uuid(ident: str, request: Request) -> None:
    """Before 1.88 Ironic names ports by UUID only; from 1.88 by name too."""
    if not bm.UUID_RE.match(ident) and params.version(request) < PORT_NAME:
        raise InvalidParameter(f"Expected a UUID but received {ident}.")


def _vtep_gate(request: Request, values: Any) -> None:
    """OVN VTEP names in ``local_link_connection`` need 1.90 (406 before)."""
    text = json.dumps(values)
    if any(f'"{k}"' in text or f"/{k}" in text for k in bm.VTEP_KEYS):
        params.require_acceptable(request, (1, 90))


def _shard_filter(request: Request) -> list[str] | None:
    """``?shard=`` (1.82; 406 before, as Ironic): ports of nodes in those shards."""
    raw: str | None = params.query(request).get("shard")
    if raw is None:
        return None
    params.require_acceptable(request, (1, 82))
    return [x.strip() for x in raw.split(",") if x.strip()]


def _portgroup_filter(request: Request) -> str | None:
    """``?portgroup=`` (1.24; 406 before, as Ironic)."""
    group: str | None = params.query(request).get("portgroup")
    if group is not None:
        params.require_acceptable(request, (1, 24))
    return group


@router.get("")
@accepts(query=bm.LIST_PORTS_QUERY)
async def list_ports(request: Request) -> JSONResponse:
    return await listing(request, detail=False)


@router.get("/detail")
@accepts(query=bm.LIST_PORTS_QUERY)
async def list_ports_detail(request: Request) -> JSONResponse:
    return await listing(request, detail=True)


@router.post("", status_code=201)
@accepts(body=bm.CREATE_PORT)
async def create_port(request: Request) -> JSONResponse:
    v = params.version(request)
    body = request.state.body
    render.reject_newer_input(body, render.PORT_FIELDS, v)
    _vtep_gate(request, body.get("local_link_connection"))
    p, node_uuid = await ports.create(runtime(request), context(request), body)
    base = base_url(request)
    return JSONResponse(render.port(p, node_uuid, v, base),
                        status_code=201,
                        headers={"Location": f"{base}/baremetal/v1/ports/{p.uuid}"})


@router.get("/{ident}")
@accepts(query=bm.SHOW_QUERY)
async def show_port(ident: str, request: Request) -> JSONResponse:
    _uuid(ident, request)
    v = params.version(request)
    fields = params.fields(request)
    render.check_fields(fields, render.PORT_FIELDS, v)
    p, node_uuid = await ports.get(runtime(request), context(request), ident)
    return JSONResponse(render.port(p, node_uuid, v, base_url(request), fields=fields))


@router.patch("/{ident}")
@accepts(body=bm.PATCH)
async def update_port(ident: str, request: Request) -> JSONResponse:
    _uuid(ident, request)
    v = params.version(request)
    ops = request.state.body
    render.reject_newer_patch(ops, render.PORT_FIELDS, v)
    _vtep_gate(request, [op for op in ops if str(op.get("path", "")).startswith(
        "/local_link_connection")])
    p, node_uuid = await ports.update(runtime(request), context(request), ident, ops)
    return JSONResponse(render.port(p, node_uuid, v, base_url(request)))


@router.delete("/{ident}", status_code=204)
@accepts()
async def delete_port(ident: str, request: Request) -> Response:
    _uuid(ident, request)
    await ports.remove(runtime(request), context(request), ident)
    return Response(status_code=204)
