"""A server's password, answered as Nova answers it for a driver whose guests post none
(its Ironic driver's), and its diagnostics: the node's own figures
(services/compute/diagnostics.py)."""

from __future__ import annotations

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.compute import params
from barecloud.api.compute.errors import error_response
from barecloud.api.compute.inputs import accepts
from barecloud.services import policy
from barecloud.services.compute import diagnostics as diag
from barecloud.services.compute import queries

router = declared.router(prefix="/servers")
STANDARD = (2, 48)  # diagnostics in Nova's standard format


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
    """Nova's standard format from 2.48, the driver's flat object before it."""
    try:
        found = await diag.of(runtime(request), context(request), server_id)
    except diag.NotSupported:
        return error_response(501, "The requested functionality is not supported.")
    if params.version(request) >= STANDARD:
        return JSONResponse(diag.standard(found))
    return JSONResponse(diag.legacy(found))
