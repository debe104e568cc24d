"""A server's password and diagnostics, answered as Nova answers them for a driver that
has neither (its Ironic driver's): no password posted, diagnostics not supported."""

from __future__ import annotations

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.compute.errors import error_response
from barecloud.api.compute.inputs import accepts
from barecloud.services import policy
from barecloud.services.compute import queries

router = declared.router(prefix="/servers")


@router.get("/{server_id}/os-server-password")
@accepts()
async def show_password(server_id: str, request: Request) -> JSONResponse:
    """No guest posts an encrypted password to barecloud (there is no metadata
    service): always empty, as Nova's for a server whose guest posted none."""
    await queries.get(runtime(request), context(request), server_id)
    return JSONResponse({"password": ""})


@router.delete("/{server_id}/os-server-password", status_code=204)
@accepts()
async def clear_password(server_id: str, request: Request) -> Response:
    ctx = context(request)
    view = await queries.get(runtime(request), ctx, server_id)
    policy.authorize(ctx, "compute:servers:update", {"project_id": view.server.project_id})
    return Response(status_code=204)


@router.get("/{server_id}/diagnostics")
@accepts()
async def diagnostics(server_id: str, request: Request) -> JSONResponse:
    ctx = context(request)
    view = await queries.get(runtime(request), ctx, server_id)
    policy.authorize(ctx, "compute:servers:diagnostics", {"project_id": view.server.project_id})
    return error_response(501, "The requested functionality is not supported.")
