"""/v3/OS-EP-FILTER/endpoint_groups and their projects."""

from __future__ import annotations

from typing import Any

from fastapi import Request, Response

from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.identity import inputs, params, render
from barecloud.api.identity.inputs import accepts
from barecloud.db.identity_models import EndpointGroup
from barecloud.services.identity import endpoint_groups, schemas

router = inputs.router(prefix="/identity/v3/OS-EP-FILTER")


def _one(row: EndpointGroup, request: Request) -> dict[str, Any]:
    return {"endpoint_group": render.endpoint_group(row, params.v3(request))}


@router.post("/endpoint_groups", status_code=201)
@accepts(body=schemas.CREATE_ENDPOINT_GROUP)
async def create(request: Request) -> JSONResponse:
    row = await endpoint_groups.create(runtime(request), context(request), request.state.body)
    return JSONResponse(_one(row, request), status_code=201)


@router.get("/endpoint_groups")
@accepts(query=schemas.query("name"))
async def list_groups(request: Request) -> JSONResponse:
    found = await endpoint_groups.list_groups(runtime(request), context(request),
                                              params.query(request, "name"))
    v3 = params.v3(request)
    return JSONResponse(render.collection(
        "endpoint_groups", [render.endpoint_group(g, v3) for g in found],
        params.self_url(request)))


@router.get("/endpoint_groups/{group_id}")
@accepts()
async def show(group_id: str, request: Request) -> JSONResponse:
    row = await endpoint_groups.get(runtime(request), context(request), group_id)
    return JSONResponse(_one(row, request))


@router.head("/endpoint_groups/{group_id}", status_code=200)
@accepts()
async def check(group_id: str, request: Request) -> Response:
    await endpoint_groups.get(runtime(request), context(request), group_id)
    return Response(status_code=200)


@router.patch("/endpoint_groups/{group_id}")
@accepts(body=schemas.UPDATE_ENDPOINT_GROUP)
async def update(group_id: str, request: Request) -> JSONResponse:
    row = await endpoint_groups.update(runtime(request), context(request), group_id,
                                       request.state.body)
    return JSONResponse(_one(row, request))


@router.delete("/endpoint_groups/{group_id}", status_code=204)
@accepts()
async def delete(group_id: str, request: Request) -> Response:
    await endpoint_groups.remove(runtime(request), context(request), group_id)
    return Response(status_code=204)


@router.get("/endpoint_groups/{group_id}/projects")
@accepts()
async def projects_of(group_id: str, request: Request) -> JSONResponse:
    found = await endpoint_groups.projects_of(runtime(request), context(request), group_id)
    v3 = params.v3(request)
    return JSONResponse(render.collection("projects", [render.project(p, v3) for p in found],
                                          params.self_url(request)))


@router.put("/endpoint_groups/{group_id}/projects/{project_id}", status_code=204)
@accepts()
async def associate(group_id: str, project_id: str, request: Request) -> Response:
    await endpoint_groups.associate(runtime(request), context(request), group_id, project_id)
    return Response(status_code=204)


@router.get("/endpoint_groups/{group_id}/projects/{project_id}")
@accepts()
async def show_association(group_id: str, project_id: str, request: Request) -> JSONResponse:
    await endpoint_groups.association(runtime(request), context(request), group_id,
                                      project_id)
    rows = await endpoint_groups.projects_of(runtime(request), context(request), group_id)
    found = next(p for p in rows if p.id == project_id)
    return JSONResponse({"project": render.project(found, params.v3(request))})


@router.head("/endpoint_groups/{group_id}/projects/{project_id}", status_code=200)
@accepts()
async def check_association(group_id: str, project_id: str, request: Request) -> Response:
    await endpoint_groups.association(runtime(request), context(request), group_id,
                                      project_id)
    return Response(status_code=200)


@router.delete("/endpoint_groups/{group_id}/projects/{project_id}", status_code=204)
@accepts()
async def dissociate(group_id: str, project_id: str, request: Request) -> Response:
    await endpoint_groups.dissociate(runtime(request), context(request), group_id,
                                     project_id)
    return Response(status_code=204)


@router.get("/projects/{project_id}/endpoint_groups")
@accepts()
async def groups_of(project_id: str, request: Request) -> JSONResponse:
    found = await endpoint_groups.groups_of(runtime(request), context(request), project_id)
    v3 = params.v3(request)
    return JSONResponse(render.collection(
        "endpoint_groups", [render.endpoint_group(g, v3) for g in found],
        params.self_url(request)))
