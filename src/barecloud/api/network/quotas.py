"""/quotas: Neutron's per-project limits, their defaults and their usage."""

from __future__ import annotations

from fastapi import Request, Response

from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.network import inputs
from barecloud.api.network.inputs import accepts
from barecloud.services.network import quotas, schemas
from barecloud.services.tenancy import project_of

router = inputs.router(prefix="/network/v2.0/quotas")


def _strip(project_id: str) -> str:
    """Neutron accepts a ``.json`` format suffix on any path."""
    return project_id.removesuffix(".json")


@router.get("")
@accepts()
async def list_quotas(request: Request) -> JSONResponse:
    found = await quotas.list_all(runtime(request), context(request))
    return JSONResponse({"quotas": [{**limits, "project_id": p, "tenant_id": p}
                                    for p, limits in found.items()]})


@router.get("/tenant")
@router.get("/project")
@accepts()
async def my_project(request: Request) -> JSONResponse:
    mine = project_of(context(request))
    return JSONResponse({"tenant": {"tenant_id": mine}, "project": {"project_id": mine}})


@router.get("/{project_id}/default")
@router.get("/{project_id}/default.json")
@accepts()
async def default_quotas(project_id: str, request: Request) -> JSONResponse:
    return JSONResponse({"quota": dict(quotas.DEFAULTS)})


@router.get("/{project_id}/details")
@router.get("/{project_id}/details.json")
@accepts()
async def quota_details(project_id: str, request: Request) -> JSONResponse:
    values = await quotas.details(runtime(request), context(request), _strip(project_id))
    return JSONResponse({"quota": values})


@router.get("/{project_id}")
@accepts()
async def show_quota(project_id: str, request: Request) -> JSONResponse:
    values = await quotas.show(runtime(request), context(request), _strip(project_id))
    return JSONResponse({"quota": values})


@router.put("/{project_id}")
@accepts(body=schemas.UPDATE_QUOTA)
async def update_quota(project_id: str, request: Request) -> JSONResponse:
    values = await quotas.update(runtime(request), context(request), _strip(project_id),
                                 request.state.body["quota"])
    return JSONResponse({"quota": values})


@router.delete("/{project_id}", status_code=204)
@accepts()
async def reset_quota(project_id: str, request: Request) -> Response:
    await quotas.reset(runtime(request), context(request), _strip(project_id))
    return Response(status_code=204)
