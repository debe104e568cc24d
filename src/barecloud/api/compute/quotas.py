"""/os-quota-sets and /limits."""

from __future__ import annotations

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.compute import params
from barecloud.api.compute.inputs import accepts, by_version
from barecloud.services.compute import quotas, schemas
from barecloud.services.tenancy import project_of

router = declared.router()


@router.get("/os-quota-sets/{project_id}")
@accepts()
async def show_quotas(project_id: str, request: Request) -> JSONResponse:
    values = await quotas.show(runtime(request), context(request), project_id,
                               params.version(request))
    return JSONResponse({"quota_set": {"id": project_id, **values}})


@router.get("/os-quota-sets/{project_id}/defaults")
@accepts()
async def default_quotas(project_id: str, request: Request) -> JSONResponse:
    values = quotas.view(await quotas.default_limits(runtime(request)),
                         params.version(request))
    return JSONResponse({"quota_set": {"id": project_id, **values}})


@router.get("/os-quota-sets/{project_id}/detail")
@accepts()
async def detail_quotas(project_id: str, request: Request) -> JSONResponse:
    values = await quotas.detail(runtime(request), context(request), project_id,
                                 params.version(request))
    return JSONResponse({"quota_set": {"id": project_id, **values}})


@router.put("/os-quota-sets/{project_id}")
@by_version(body=schemas.UPDATE_QUOTAS)
async def update_quotas(project_id: str, request: Request) -> JSONResponse:
    body = request.state.body
    values = await quotas.update(runtime(request), context(request), project_id, body,
                                 params.version(request))
    return JSONResponse({"quota_set": values})


@router.delete("/os-quota-sets/{project_id}", status_code=202)
@accepts()
async def revert_quotas(project_id: str, request: Request) -> Response:
    await quotas.revert(runtime(request), context(request), project_id)
    return Response(status_code=202)


@router.get("/limits")
@accepts(query=schemas.LIMITS_QUERY)
async def limits(request: Request) -> JSONResponse:
    ctx = context(request)
    project = params.query(request).get("tenant_id") if ctx.is_admin else None
    absolute = await quotas.absolute_limits(runtime(request), ctx, project or project_of(ctx),
                                            params.version(request))
    return JSONResponse({"limits": {"rate": [], "absolute": absolute}})


@router.get("/os-quota-class-sets/{class_name}")
@accepts()
async def show_quota_class(class_name: str, request: Request) -> JSONResponse:
    values = await quotas.class_show(runtime(request), context(request), class_name,
                                     params.version(request))
    return JSONResponse({"quota_class_set": {"id": class_name, **values}})


@router.put("/os-quota-class-sets/{class_name}")
@by_version(body=schemas.UPDATE_QUOTA_CLASS)
async def update_quota_class(class_name: str, request: Request) -> JSONResponse:
    values = await quotas.class_update(runtime(request), context(request), class_name,
                                       request.state.body, params.version(request))
    return JSONResponse({"quota_class_set": values})
