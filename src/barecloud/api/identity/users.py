"""/v3/users, a user's password and projects."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from barecloud.api.common import JSONResponse, context, json_body, runtime
from barecloud.api.identity import params, render
from barecloud.services.identity import projects, users

router = APIRouter(prefix="/identity/v3/users")


@router.get("")
async def list_users(request: Request) -> JSONResponse:
    found = await users.list_users(runtime(request), context(request),
                                   name=params.query(request, "name"),
                                   domain_id=params.query(request, "domain_id"),
                                   enabled=params.flag(request, "enabled"))
    v3 = params.v3(request)
    return JSONResponse(render.collection("users", [render.user(u, v3) for u in found],
                                          params.self_url(request)))


@router.post("", status_code=201)
async def create_user(request: Request) -> JSONResponse:
    u = await users.create(runtime(request), context(request), await json_body(request))
    return JSONResponse({"user": render.user(u, params.v3(request))}, status_code=201)


@router.get("/{user_id}")
async def show_user(user_id: str, request: Request) -> JSONResponse:
    u = await users.get(runtime(request), context(request), user_id)
    return JSONResponse({"user": render.user(u, params.v3(request))})


@router.patch("/{user_id}")
async def update_user(user_id: str, request: Request) -> JSONResponse:
    u = await users.update(runtime(request), context(request), user_id,
                           await json_body(request))
    return JSONResponse({"user": render.user(u, params.v3(request))})


@router.delete("/{user_id}", status_code=204)
async def delete_user(user_id: str, request: Request) -> Response:
    await users.remove(runtime(request), context(request), user_id)
    return Response(status_code=204)


@router.post("/{user_id}/password", status_code=204)
async def change_password(user_id: str, request: Request) -> Response:
    await users.change_password(runtime(request), context(request), user_id,
                                await json_body(request))
    return Response(status_code=204)


@router.get("/{user_id}/projects")
async def user_projects(user_id: str, request: Request) -> JSONResponse:
    found = await projects.of_user(runtime(request), context(request), user_id)
    v3 = params.v3(request)
    return JSONResponse(render.collection("projects", [render.project(p, v3) for p in found],
                                          params.self_url(request)))
