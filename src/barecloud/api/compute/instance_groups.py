"""/os-server-groups: server groups as Nova shows them per microversion."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.compute import params
from barecloud.api.compute.inputs import accepts, by_version
from barecloud.services.compute import instance_groups, schemas

router = declared.router(prefix="/os-server-groups")
POLICY, OWNERS = (2, 64), (2, 13)


def _group(request: Request, found: instance_groups.Group) -> dict[str, Any]:
    g, v = found.group, params.version(request)
    body: dict[str, Any] = {"id": g.uuid, "name": g.name}
    if v >= POLICY:
        body.update({"policy": g.policy, "rules": dict(g.rules or {})})
    else:
        body.update({"policies": [g.policy], "metadata": {}})
    body["members"] = found.members
    if v >= OWNERS:
        body.update({"project_id": g.project_id, "user_id": g.user_id})
    return body


@router.get("")
@accepts(query=schemas.SERVER_GROUPS_QUERY)
async def list_groups(request: Request) -> JSONResponse:
    q = params.query(request)
    found = await instance_groups.list_groups(
        runtime(request), context(request), "all_projects" in q, params.limit(request),
        q.get("offset"))
    return JSONResponse({"server_groups": [_group(request, g) for g in found]})


@router.post("")
@by_version(body=schemas.CREATE_SERVER_GROUP)
async def create_group(request: Request) -> JSONResponse:
    body = request.state.body["server_group"]
    if params.version(request) >= POLICY:
        policy, rules = body["policy"], body.get("rules") or {}
    else:
        policy, rules = body["policies"][0], {}
    rules = {k: int(v) for k, v in rules.items()}
    made = await instance_groups.create(runtime(request), context(request), body["name"],
                                        policy, rules)
    return JSONResponse({"server_group": _group(request, made)})


@router.get("/{group_id}")
@accepts()
async def show_group(group_id: str, request: Request) -> JSONResponse:
    found = await instance_groups.get(runtime(request), context(request), group_id)
    return JSONResponse({"server_group": _group(request, found)})


@router.delete("/{group_id}", status_code=204)
@accepts()
async def delete_group(group_id: str, request: Request) -> Response:
    await instance_groups.delete(runtime(request), context(request), group_id)
    return Response(status_code=204)
