"""/v3/projects."""

from __future__ import annotations

from fastapi import Request, Response

from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.identity import inputs, params, render
from barecloud.api.identity.inputs import accepts
from barecloud.services.identity import projects, schemas

router = inputs.router(prefix="/identity/v3/projects")


@router.get("")
@accepts(query=schemas.LIST_PROJECTS_QUERY)
async def list_projects(request: Request) -> JSONResponse:
    found = await projects.list_projects(
        runtime(request), context(request), name=params.query(request, "name"),
        domain_id=params.query(request, "domain_id"), enabled=params.flag(request, "enabled"),
        parent_id=params.query(request, "parent_id"),
        is_domain=params.flag(request, "is_domain"))
    v3 = params.v3(request)
    return JSONResponse(render.collection("projects", [render.project(p, v3) for p in found],
                                          params.self_url(request)))


@router.post("", status_code=201)
@accepts(body=schemas.CREATE_PROJECT)
async def create_project(request: Request) -> JSONResponse:
    p = await projects.create(runtime(request), context(request), request.state.body)
    return JSONResponse({"project": render.project(p, params.v3(request))}, status_code=201)


@router.get("/{project_id}")
@accepts()
async def show_project(project_id: str, request: Request) -> JSONResponse:
    p = await projects.get(runtime(request), context(request), project_id)
    return JSONResponse({"project": render.project(p, params.v3(request))})


@router.patch("/{project_id}")
@accepts(body=schemas.UPDATE_PROJECT)
async def update_project(project_id: str, request: Request) -> JSONResponse:
    p = await projects.update(runtime(request), context(request), project_id,
                              request.state.body)
    return JSONResponse({"project": render.project(p, params.v3(request))})


@router.delete("/{project_id}", status_code=204)
@accepts()
async def delete_project(project_id: str, request: Request) -> Response:
    await projects.remove(runtime(request), context(request), project_id)
    return Response(status_code=204)
