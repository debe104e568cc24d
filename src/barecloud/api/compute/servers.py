"""/servers: create, list, show, update, delete; actions live in actions.py."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.compute import params, render
from barecloud.api.compute.inputs import accepts, by_version
from barecloud.services.compute import actions as server_actions
from barecloud.services.compute import queries, schemas, servers, sync

router = declared.router(prefix="/servers")

# Filters every user may give; Nova ignores the rest.
FILTERS = (*schemas.FILTERS, "changes-since", "changes-before")


async def _list(request: Request, detail: bool) -> Response:
    rt, ctx = runtime(request), context(request)
    q = params.query(request)
    all_tenants = "all_tenants" in q and (q["all_tenants"] == "" or
                                          params.query_bool("all_tenants", q["all_tenants"]))
    query = queries.ServerQuery(
        filters={k: q[k] for k in FILTERS if k in q}, all_tenants=all_tenants,
        limit=params.limit(request), marker=q.get("marker"),
        sort_key=q.get("sort_key", "created_at"), sort_dir=q.get("sort_dir", "desc"),
        version=params.version(request))
    page = await queries.list_servers(rt, ctx, query, detail)
    found, facts, groups, shown = page.servers, page.facts, page.security_groups, \
        render.Servers(request, ctx)
    # Each server serialized as soon as it is rendered: a page's 1,000 bodies (~20,000
    # dicts and lists) never live at once for the collector to walk and promote (kept,
    # they cost a page 15 % more CPU, or twice as much at CPython's default thresholds).
    items = b",".join([orjson.dumps(shown.server(s, facts.get(s.id),
                                                 groups.get(s.uuid))) for s in found]
                      if detail else [orjson.dumps(shown.summary(s)) for s in found])
    more = params.next_links(request, "servers/detail" if detail else "servers", found,
                             found[-1].uuid if found else "", query.limit,
                             rt.settings.api_max_limit)
    # What orjson.dumps({"servers": [...], "servers_links": more}) writes.
    links = b',"servers_links":' + orjson.dumps(more) if more else b""
    return Response(b'{"servers":[' + items + b"]" + links + b"}",
                    media_type=JSONResponse.media_type)


@router.get("")
@by_version(query=schemas.LIST_SERVERS_QUERY)
async def list_servers(request: Request) -> Response:
    return await _list(request, detail=False)


@router.get("/detail")
@by_version(query=schemas.LIST_SERVERS_QUERY)
async def list_servers_detail(request: Request) -> Response:
    return await _list(request, detail=True)


@router.post("", status_code=202)
@by_version(body=schemas.CREATE_SERVER)
async def create_server(request: Request) -> JSONResponse:
    body = request.state.body
    created = await servers.create(runtime(request), context(request), body,
                                   params.version(request))
    sync.wake()
    if created.return_reservation_id:
        return JSONResponse({"reservation_id": created.reservation_id}, status_code=202)
    first = created.servers[0]
    shown: dict[str, Any] = {
        "id": first.uuid, "links": params.links(request, "servers", first.uuid),
        "OS-DCF:diskConfig": body["server"].get("OS-DCF:diskConfig") or "MANUAL"}
    networks = body["server"].get("networks")
    if isinstance(networks, list) and networks:
        # As Nova's: the groups asked for (``default`` if none), which its ports are
        # made in; a server with no port (``networks: none``) claims none.
        asked = [g["name"] for g in body["server"].get("security_groups") or []
                 if g.get("name")]
        shown["security_groups"] = [{"name": n} for n in dict.fromkeys(asked or ["default"])]
    return JSONResponse({"server": shown}, status_code=202,
                        headers={"Location": f"{params.root(request)}/servers/{first.uuid}"})


@router.get("/{server_id}")
@accepts()
async def show_server(server_id: str, request: Request) -> JSONResponse:
    ctx = context(request)
    view = await queries.get(runtime(request), ctx, server_id)
    return JSONResponse({"server": render.server(request, ctx, view)})


@router.put("/{server_id}")
@by_version(body=schemas.UPDATE_SERVER)
async def update_server(server_id: str, request: Request) -> JSONResponse:
    rt, ctx = runtime(request), context(request)
    body = request.state.body
    await server_actions.update_server(rt, ctx, server_id, body)
    view = await queries.get(rt, ctx, server_id)
    return JSONResponse({"server": render.server(request, ctx, view, "update")})


@router.delete("/{server_id}", status_code=204)
@accepts()
async def delete_server(server_id: str, request: Request) -> Response:
    await server_actions.delete(runtime(request), context(request), server_id)
    return Response(status_code=204)
