"""/os-quota-sets and /limits."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from barecloud.api.common import JSONResponse, context, json_body, runtime
from barecloud.api.compute import params
from barecloud.services.compute import quotas
from barecloud.services.tenancy import project_of

router = APIRouter()


@router.get("/os-quota-sets/{project_id}")
async def show_quotas(project_id: str, request: Request) -> JSONResponse:
    values = await quotas.show(runtime(request), context(request), project_id,
                               params.version(request))
    return JSONResponse({"quota_set": {"id": project_id, **values}})


@router.get("/os-quota-sets/{project_id}/defaults")
async def default_quotas(project_id: str, request: Request) -> JSONResponse:
    values = quotas.view(quotas.DEFAULTS, params.version(request))
    return JSONResponse({"quota_set": {"id": project_id, **values}})


@router.get("/os-quota-sets/{project_id}/detail")
async def detail_quotas(project_id: str, request: Request) -> JSONResponse:
    values = await quotas.detail(runtime(request), context(request), project_id,
                                 params.version(request))
    return JSONResponse({"quota_set": {"id": project_id, **values}})


@router.put("/os-quota-sets/{project_id}")
async def update_quotas(project_id: str, request: Request) -> JSONResponse:
    body = await json_body(request)
    values = await quotas.update(runtime(request), context(request), project_id, body,
                                 params.version(request))
    return JSONResponse({"quota_set": values})


@router.delete("/os-quota-sets/{project_id}", status_code=202)
async def revert_quotas(project_id: str, request: Request) -> Response:
    await quotas.revert(runtime(request), context(request), project_id)
    return Response(status_code=202)


@router.get("/limits")
async def limits(request: Request) -> JSONResponse:
    ctx = context(request)
    project = request.query_params.get("tenant_id") if ctx.is_admin else None
    absolute = await quotas.absolute_limits(runtime(request), ctx, project or project_of(ctx),
                                            params.version(request))
    return JSONResponse({"limits": {"rate": [], "absolute": absolute}})
