"""/v3/projects."""

from __future__ import annotations

from fastapi import Request, Response

from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.identity import inputs, params, render
from barecloud.api.identity.inputs import accepts
from barecloud.services.identity import domain_projects, projects, schemas

router = inputs.router(prefix="/identity/v3/projects")


@router.get("")
@accepts(query=schemas.LIST_PROJECTS_QUERY)
async def list_projects(request: Request) -> JSONResponse:
    v3 = params.v3(request)
    if params.flag(request, "is_domain"):
        found_domains = await domain_projects.list_domains(
            runtime(request), context(request), params.query(request, "name"),
            params.flag(request, "enabled"))
        return JSONResponse(render.collection(
            "projects", [render.domain_project(d, v3) for d in found_domains],
            params.self_url(request)))
    found = await projects.list_projects(
        runtime(request), context(request), name=params.query(request, "name"),
        domain_id=params.query(request, "domain_id"), enabled=params.flag(request, "enabled"),
        parent_id=params.query(request, "parent_id"),
        is_domain=params.flag(request, "is_domain"),
        tags=projects.TagFilter(params.query(request, "tags"),
                                params.query(request, "tags-any"),
                                params.query(request, "not-tags"),
                                params.query(request, "not-tags-any")))
    return JSONResponse(render.collection("projects", [render.project(p, v3) for p in found],
                                          params.self_url(request)))


@router.post("", status_code=201)
@accepts(body=schemas.CREATE_PROJECT)
async def create_project(request: Request) -> JSONResponse:
    if request.state.body["project"].get("is_domain"):
        d = await domain_projects.create(runtime(request), context(request),
                                         request.state.body)
        return JSONResponse({"project": render.domain_project(d, params.v3(request))},
                            status_code=201)
    p = await projects.create(runtime(request), context(request), request.state.body)
    return JSONResponse({"project": render.project(p, params.v3(request))}, status_code=201)


@router.get("/{project_id}")
@accepts()
async def show_project(project_id: str, request: Request) -> JSONResponse:
    d = await domain_projects.get(runtime(request), context(request), project_id)
    if d is not None:
        return JSONResponse({"project": render.domain_project(d, params.v3(request))})
    p = await projects.get(runtime(request), context(request), project_id)
    return JSONResponse({"project": render.project(p, params.v3(request))})


@router.patch("/{project_id}")
@accepts(body=schemas.UPDATE_PROJECT)
async def update_project(project_id: str, request: Request) -> JSONResponse:
    d = await domain_projects.update(runtime(request), context(request), project_id,
                                     request.state.body)
    if d is not None:
        return JSONResponse({"project": render.domain_project(d, params.v3(request))})
    p = await projects.update(runtime(request), context(request), project_id,
                              request.state.body)
    return JSONResponse({"project": render.project(p, params.v3(request))})


@router.delete("/{project_id}", status_code=204)
@accepts()
async def delete_project(project_id: str, request: Request) -> Response:
    if not await domain_projects.remove(runtime(request), context(request), project_id):
        await projects.remove(runtime(request), context(request), project_id)
    return Response(status_code=204)


def _tags(tags: list[str], request: Request) -> JSONResponse:
    return JSONResponse({"tags": tags, "links": {"self": params.self_url(request)}})


@router.get("/{project_id}/tags")
@accepts()
async def list_tags(project_id: str, request: Request) -> JSONResponse:
    return _tags(await projects.tags_of(runtime(request), context(request), project_id),
                 request)


@router.put("/{project_id}/tags")
@accepts(body=schemas.UPDATE_PROJECT_TAGS)
async def replace_tags(project_id: str, request: Request) -> JSONResponse:
    return _tags(await projects.set_tags(runtime(request), context(request), project_id,
                                         request.state.body["tags"]), request)


@router.delete("/{project_id}/tags", status_code=204)
@accepts()
async def delete_tags(project_id: str, request: Request) -> Response:
    await projects.remove_tag(runtime(request), context(request), project_id, None)
    return Response(status_code=204)


@router.api_route("/{project_id}/tags/{tag}", methods=["GET", "HEAD"], status_code=204)
@accepts()
async def check_tag(project_id: str, tag: str, request: Request) -> Response:
    await projects.has_tag(runtime(request), context(request), project_id, tag)
    return Response(status_code=204)


@router.put("/{project_id}/tags/{tag}", status_code=201)
@accepts()
async def add_tag(project_id: str, tag: str, request: Request) -> Response:
    await projects.add_tag(runtime(request), context(request), project_id, tag)
    return Response(status_code=201, headers={
        "Location": f"{params.v3(request)}/projects/{project_id}/tags/{tag}"})


@router.delete("/{project_id}/tags/{tag}", status_code=204)
@accepts()
async def delete_tag(project_id: str, tag: str, request: Request) -> Response:
    await projects.remove_tag(runtime(request), context(request), project_id, tag)
    return Response(status_code=204)
