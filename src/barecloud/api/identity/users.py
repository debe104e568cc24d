"""/v3/users, a user's password and projects."""

from __future__ import annotations

from fastapi import Request, Response

from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.identity import inputs, params, render
from barecloud.api.identity.inputs import accepts
from barecloud.services.identity import projects, schemas, users

router = inputs.router(prefix="/identity/v3/users")


@router.get("")
@accepts(query=schemas.LIST_USERS_QUERY)
async def list_users(request: Request) -> JSONResponse:
    found = await users.list_users(runtime(request), context(request),
                                   name=params.query(request, "name"),
                                   domain_id=params.query(request, "domain_id"),
                                   enabled=params.flag(request, "enabled"))
    v3 = params.v3(request)
    return JSONResponse(render.collection("users", [render.user(u, v3) for u in found],
                                          params.self_url(request)))


@router.post("", status_code=201)
@accepts(body=schemas.CREATE_USER)
async def create_user(request: Request) -> JSONResponse:
    u = await users.create(runtime(request), context(request), request.state.body)
    return JSONResponse({"user": render.user(u, params.v3(request))}, status_code=201)


@router.get("/{user_id}")
@accepts()
async def show_user(user_id: str, request: Request) -> JSONResponse:
    u = await users.get(runtime(request), context(request), user_id)
    return JSONResponse({"user": render.user(u, params.v3(request))})


@router.patch("/{user_id}")
@accepts(body=schemas.UPDATE_USER)
async def update_user(user_id: str, request: Request) -> JSONResponse:
    u = await users.update(runtime(request), context(request), user_id,
                           request.state.body)
    return JSONResponse({"user": render.user(u, params.v3(request))})


@router.delete("/{user_id}", status_code=204)
@accepts()
async def delete_user(user_id: str, request: Request) -> Response:
    await users.remove(runtime(request), context(request), user_id)
    return Response(status_code=204)


@router.post("/{user_id}/password", status_code=204)
@accepts(body=schemas.CHANGE_PASSWORD)
async def change_password(user_id: str, request: Request) -> Response:
    await users.change_password(runtime(request), context(request), user_id,
                                request.state.body)
    return Response(status_code=204)


@router.get("/{user_id}/projects")
@accepts()
async def user_projects(user_id: str, request: Request) -> JSONResponse:
    found = await projects.of_user(runtime(request), context(request), user_id)
    v3 = params.v3(request)
    return JSONResponse(render.collection("projects", [render.project(p, v3) for p in found],
                                          params.self_url(request)))
