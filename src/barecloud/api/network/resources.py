"""/networks, /subnets, /ports, /rbac-policies, /routers, /floatingips,
/security-groups and /security-group-rules: the same five verbs for each.

Each handler parses, calls one service function and renders; the table
``RESOURCES`` says which service functions and which renderer.  POST takes
one resource (``{"network": {...}}``) or a bulk (``{"networks": [...]}``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response

from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.network import inputs, params, render
from barecloud.api.network.inputs import accepts
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.network import (
    floatingips,
    networks,
    ports,
    rbac,
    routers,
    schemas,
    security_groups,
    subnets,
)
from barecloud.services.network.common import ListQuery, Page
from barecloud.services.validation import Schema

Render = Callable[[RequestContext, Any], dict[str, Any]]


@dataclass(frozen=True)
class Resource:
    member: str
    collection: str
    render: Render
    list_: Callable[[Runtime, RequestContext, ListQuery], Awaitable[Page]]
    get: Callable[[Runtime, RequestContext, str], Awaitable[Any]]
    create: Callable[[Runtime, RequestContext, dict[str, Any]], Awaitable[Any]]
    create_many: Callable[[Runtime, RequestContext, list[dict[str, Any]]], Awaitable[list[Any]]]
    update: Callable[[Runtime, RequestContext, str, dict[str, Any]], Awaitable[Any]]
    remove: Callable[[Runtime, RequestContext, str], Awaitable[None]]
    create_body: Schema
    update_body: Schema
    list_query: Schema


async def _rbac_many(rt: Runtime, ctx: RequestContext, items: list[dict[str, Any]]
                     ) -> list[Any]:
    return [await rbac.create(rt, ctx, item) for item in items]


RESOURCES = (
    Resource("network", "networks", render.network, networks.list_networks, networks.get,
             networks.create, networks.create_many, networks.update, networks.remove,
             schemas.CREATE_NETWORK, schemas.UPDATE_NETWORK, schemas.LIST_NETWORKS_QUERY),
    Resource("subnet", "subnets", lambda ctx, s: render.subnet(s), subnets.list_subnets,
             subnets.get, subnets.create, subnets.create_many, subnets.update,
             subnets.remove, schemas.CREATE_SUBNET, schemas.UPDATE_SUBNET,
             schemas.LIST_SUBNETS_QUERY),
    Resource("port", "ports", render.port, ports.list_ports, ports.get, ports.create,
             ports.create_many, ports.update, ports.remove, schemas.CREATE_PORT,
             schemas.UPDATE_PORT, schemas.LIST_PORTS_QUERY),
    Resource("rbac_policy", "rbac-policies", lambda ctx, r: render.rbac_policy(r),
             rbac.list_policies, rbac.get, rbac.create, _rbac_many, rbac.update, rbac.remove,
             schemas.CREATE_RBAC_POLICY, schemas.UPDATE_RBAC_POLICY,
             schemas.LIST_RBAC_POLICIES_QUERY),
    Resource("security_group", "security-groups", render.security_group,
             security_groups.list_groups, security_groups.get, security_groups.create,
             security_groups.create_many, security_groups.update, security_groups.remove,
             schemas.CREATE_SECURITY_GROUP, schemas.UPDATE_SECURITY_GROUP,
             schemas.LIST_SECURITY_GROUPS_QUERY),
    Resource("security_group_rule", "security-group-rules",
             lambda ctx, r: render.security_group_rule(r), security_groups.list_rules,
             security_groups.get_rule, security_groups.create_rule,
             security_groups.create_rules, security_groups.update_rule,
             security_groups.remove_rule, schemas.CREATE_SECURITY_GROUP_RULE,
             schemas.UPDATE_SECURITY_GROUP_RULE, schemas.LIST_SECURITY_GROUP_RULES_QUERY),
    Resource("router", "routers", render.router, routers.list_routers, routers.get,
             routers.create, routers.create_many, routers.update, routers.remove,
             schemas.CREATE_ROUTER, schemas.UPDATE_ROUTER, schemas.LIST_ROUTERS_QUERY),
    Resource("floatingip", "floatingips", lambda ctx, f: render.floatingip(f),
             floatingips.list_floatingips, floatingips.get, floatingips.create,
             floatingips.create_many, floatingips.update, floatingips.remove,
             schemas.CREATE_FLOATINGIP, schemas.UPDATE_FLOATINGIP,
             schemas.LIST_FLOATINGIPS_QUERY),
)


def _router(res: Resource) -> APIRouter:
    router = inputs.router(prefix=f"/network/v2.0/{res.collection}")
    collection = res.collection.replace("-", "_")

    @router.get("")
    @accepts(query=res.list_query)
    async def list_all(request: Request) -> JSONResponse:
        rt, ctx = runtime(request), context(request)
        query = params.list_query(request)
        found = await res.list_(rt, ctx, query)
        wanted = params.fields(request)
        body: dict[str, Any] = {collection: [
            params.only(res.render(ctx, row), wanted) for row in found.items]}
        links = params.links(request, res.collection, found, query)
        if links:
            body[f"{collection}_links"] = links
        return JSONResponse(body)

    @router.get("/{item_id}")
    @accepts(query=schemas.SHOW_QUERY)
    async def show(item_id: str, request: Request) -> JSONResponse:
        ctx = context(request)
        row = await res.get(runtime(request), ctx, item_id)
        return JSONResponse({res.member: params.only(res.render(ctx, row),
                                                     params.fields(request))})

    @router.post("", status_code=201)
    @accepts(body=res.create_body)
    async def create(request: Request) -> JSONResponse:
        rt, ctx = runtime(request), context(request)
        body = request.state.body
        if res.member not in body:  # a bulk: {"<collection>": [...]}
            made = await res.create_many(rt, ctx, body[collection])
            return JSONResponse({collection: [res.render(ctx, row) for row in made]},
                                status_code=201)
        row = await res.create(rt, ctx, body[res.member])
        return JSONResponse({res.member: res.render(ctx, row)}, status_code=201)

    @router.put("/{item_id}")
    @accepts(body=res.update_body)
    async def update(item_id: str, request: Request) -> JSONResponse:
        rt, ctx = runtime(request), context(request)
        row = await res.update(rt, ctx, item_id, request.state.body[res.member])
        return JSONResponse({res.member: res.render(ctx, row)})

    @router.delete("/{item_id}", status_code=204)
    @accepts()
    async def delete(item_id: str, request: Request) -> Response:
        await res.remove(runtime(request), context(request), item_id)
        return Response(status_code=204)

    return router


ROUTERS = tuple(_router(res) for res in RESOURCES)
