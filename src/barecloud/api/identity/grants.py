"""Role assignments: PUT/HEAD/GET/DELETE .../<users|groups>/{id}/roles/{r} on a project,
a domain or the system, and GET /v3/role_assignments."""

from __future__ import annotations

from fastapi import Request, Response

from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.identity import inputs, params, render
from barecloud.api.identity.inputs import accepts
from barecloud.services.identity import assignments, schemas
from barecloud.services.identity.assignments import Actor
from barecloud.services.identity.subjects import SYSTEM_ID, ScopeKind

router = inputs.router(prefix="/identity/v3")

TARGETS: dict[str, ScopeKind] = {"projects": "project", "domains": "domain"}
ACTORS: dict[str, Actor] = {"users": "user", "groups": "group"}


def _kind(request: Request) -> ScopeKind:
    """project or domain, from /identity/v3/<projects|domains>/..."""
    return TARGETS[request.url.path.split("/")[3]]


def _actor(request: Request) -> Actor:
    """user or group, from .../<users|groups>/{id}/roles..."""
    parts = request.url.path.split("/")
    return ACTORS[parts[4] if parts[3] == "system" else parts[5]]


@router.put("/projects/{target_id}/users/{actor_id}/roles/{role_id}", status_code=204)
@router.put("/projects/{target_id}/groups/{actor_id}/roles/{role_id}", status_code=204)
@router.put("/domains/{target_id}/users/{actor_id}/roles/{role_id}", status_code=204)
@router.put("/domains/{target_id}/groups/{actor_id}/roles/{role_id}", status_code=204)
@accepts()
async def grant(target_id: str, actor_id: str, role_id: str, request: Request) -> Response:
    kind = _kind(request)
    await assignments.grant(runtime(request), context(request), kind, target_id, actor_id,
                            role_id, actor=_actor(request))
    return Response(status_code=204)


@router.api_route("/projects/{target_id}/users/{actor_id}/roles/{role_id}",
                  methods=["GET", "HEAD"], status_code=204)
@router.api_route("/projects/{target_id}/groups/{actor_id}/roles/{role_id}",
                  methods=["GET", "HEAD"], status_code=204)
@router.api_route("/domains/{target_id}/users/{actor_id}/roles/{role_id}",
                  methods=["GET", "HEAD"], status_code=204)
@router.api_route("/domains/{target_id}/groups/{actor_id}/roles/{role_id}",
                  methods=["GET", "HEAD"], status_code=204)
@accepts()
async def check(target_id: str, actor_id: str, role_id: str, request: Request) -> Response:
    kind = _kind(request)
    await assignments.check(runtime(request), context(request), kind, target_id, actor_id,
                            role_id, actor=_actor(request))
    return Response(status_code=204)


@router.delete("/projects/{target_id}/users/{actor_id}/roles/{role_id}", status_code=204)
@router.delete("/projects/{target_id}/groups/{actor_id}/roles/{role_id}", status_code=204)
@router.delete("/domains/{target_id}/users/{actor_id}/roles/{role_id}", status_code=204)
@router.delete("/domains/{target_id}/groups/{actor_id}/roles/{role_id}", status_code=204)
@accepts()
async def revoke(target_id: str, actor_id: str, role_id: str, request: Request) -> Response:
    kind = _kind(request)
    await assignments.revoke(runtime(request), context(request), kind, target_id, actor_id,
                             role_id, actor=_actor(request))
    return Response(status_code=204)


@router.get("/projects/{target_id}/users/{actor_id}/roles")
@router.get("/projects/{target_id}/groups/{actor_id}/roles")
@router.get("/domains/{target_id}/users/{actor_id}/roles")
@router.get("/domains/{target_id}/groups/{actor_id}/roles")
@accepts()
async def list_grants(target_id: str, actor_id: str, request: Request) -> JSONResponse:
    kind = _kind(request)
    found = await assignments.roles_of(runtime(request), context(request), kind, target_id,
                                       actor_id, actor=_actor(request))
    v3 = params.v3(request)
    return JSONResponse(render.collection("roles", [render.role(r, v3) for r in found],
                                          params.self_url(request)))


@router.put("/system/users/{actor_id}/roles/{role_id}", status_code=204)
@router.put("/system/groups/{actor_id}/roles/{role_id}", status_code=204)
@accepts()
async def grant_system(actor_id: str, role_id: str, request: Request) -> Response:
    await assignments.grant(runtime(request), context(request), "system", SYSTEM_ID, actor_id,
                            role_id, actor=_actor(request))
    return Response(status_code=204)


@router.api_route("/system/users/{actor_id}/roles/{role_id}", methods=["GET", "HEAD"],
                  status_code=204)
@router.api_route("/system/groups/{actor_id}/roles/{role_id}", methods=["GET", "HEAD"],
                  status_code=204)
@accepts()
async def check_system(actor_id: str, role_id: str, request: Request) -> Response:
    await assignments.check(runtime(request), context(request), "system", SYSTEM_ID, actor_id,
                            role_id, actor=_actor(request))
    return Response(status_code=204)


@router.delete("/system/users/{actor_id}/roles/{role_id}", status_code=204)
@router.delete("/system/groups/{actor_id}/roles/{role_id}", status_code=204)
@accepts()
async def revoke_system(actor_id: str, role_id: str, request: Request) -> Response:
    await assignments.revoke(runtime(request), context(request), "system", SYSTEM_ID,
                             actor_id, role_id, actor=_actor(request))
    return Response(status_code=204)


@router.get("/system/users/{actor_id}/roles")
@router.get("/system/groups/{actor_id}/roles")
@accepts()
async def list_system_grants(actor_id: str, request: Request) -> JSONResponse:
    found = await assignments.roles_of(runtime(request), context(request), "system",
                                       SYSTEM_ID, actor_id, actor=_actor(request))
    v3 = params.v3(request)
    return JSONResponse(render.collection("roles", [render.role(r, v3) for r in found],
                                          params.self_url(request)))


@router.get("/role_assignments")
@accepts(query=schemas.ROLE_ASSIGNMENTS_QUERY)
async def role_assignments(request: Request) -> JSONResponse:
    rt, ctx = runtime(request), context(request)
    filters = assignments.Filters(
        user_id=params.query(request, "user.id"), role_id=params.query(request, "role.id"),
        project_id=params.query(request, "scope.project.id"),
        domain_id=params.query(request, "scope.domain.id"),
        system=params.query(request, "scope.system"),
        group_id=params.query(request, "group.id"),
        effective=bool(params.flag(request, "effective")),
        inherited=params.query(request, "scope.OS-INHERIT:inherited_to") is not None,
    )
    found = await assignments.list_assignments(rt, ctx, filters)
    names = await assignments.names_for(rt, found) if params.flag(
        request, "include_names") else None
    v3 = params.v3(request)
    return JSONResponse(render.collection(
        "role_assignments", [render.assignment(a, v3, names) for a in found],
        params.self_url(request)))
