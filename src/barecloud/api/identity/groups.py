"""/v3/groups, their members, and /v3/users/{id}/groups."""

from __future__ import annotations

from fastapi import Request, Response

from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.identity import inputs, params, render
from barecloud.api.identity.inputs import accepts
from barecloud.services.identity import groups, schemas

router = inputs.router(prefix="/identity/v3")


@router.get("/groups")
@accepts(query=schemas.LIST_GROUPS_QUERY)
async def list_groups(request: Request) -> JSONResponse:
    found = await groups.list_groups(runtime(request), context(request),
                                     name=params.query(request, "name"),
                                     domain_id=params.query(request, "domain_id"))
    v3 = params.v3(request)
    return JSONResponse(render.collection("groups", [render.group(g, v3) for g in found],
                                          params.self_url(request)))


@router.post("/groups", status_code=201)
@accepts(body=schemas.CREATE_GROUP)
async def create_group(request: Request) -> JSONResponse:
    g = await groups.create(runtime(request), context(request), request.state.body)
    return JSONResponse({"group": render.group(g, params.v3(request))}, status_code=201)


@router.get("/groups/{group_id}")
@accepts()
async def show_group(group_id: str, request: Request) -> JSONResponse:
    g = await groups.get(runtime(request), context(request), group_id)
    return JSONResponse({"group": render.group(g, params.v3(request))})


@router.patch("/groups/{group_id}")
@accepts(body=schemas.UPDATE_GROUP)
async def update_group(group_id: str, request: Request) -> JSONResponse:
    g = await groups.update(runtime(request), context(request), group_id, request.state.body)
    return JSONResponse({"group": render.group(g, params.v3(request))})


@router.delete("/groups/{group_id}", status_code=204)
@accepts()
async def delete_group(group_id: str, request: Request) -> Response:
    await groups.remove(runtime(request), context(request), group_id)
    return Response(status_code=204)


@router.get("/groups/{group_id}/users")
@accepts(query=schemas.LIST_GROUP_USERS_QUERY)
async def list_members(group_id: str, request: Request) -> JSONResponse:
    found = await groups.members(runtime(request), context(request), group_id)
    v3 = params.v3(request)
    return JSONResponse(render.collection("users", [render.user(u, v3) for u in found],
                                          params.self_url(request)))


@router.put("/groups/{group_id}/users/{user_id}", status_code=204)
@accepts()
async def add_member(group_id: str, user_id: str, request: Request) -> Response:
    await groups.add_member(runtime(request), context(request), group_id, user_id)
    return Response(status_code=204)


@router.api_route("/groups/{group_id}/users/{user_id}", methods=["GET", "HEAD"],
                  status_code=204)
@accepts()
async def check_member(group_id: str, user_id: str, request: Request) -> Response:
    await groups.check_member(runtime(request), context(request), group_id, user_id)
    return Response(status_code=204)


@router.delete("/groups/{group_id}/users/{user_id}", status_code=204)
@accepts()
async def remove_member(group_id: str, user_id: str, request: Request) -> Response:
    await groups.remove_member(runtime(request), context(request), group_id, user_id)
    return Response(status_code=204)


@router.get("/users/{user_id}/groups")
@accepts()
async def user_groups(user_id: str, request: Request) -> JSONResponse:
    found = await groups.of_user(runtime(request), context(request), user_id)
    v3 = params.v3(request)
    return JSONResponse(render.collection("groups", [render.group(g, v3) for g in found],
                                          params.self_url(request)))
