"""GET /os-instance-usage-audit-log[/{before}]: Nova's usage audit report (admin only)."""

from __future__ import annotations

from urllib.parse import unquote

from fastapi import Request

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, context, runtime
from barecloud.api.compute.inputs import accepts
from barecloud.services.compute import usage_audit_log as audit

router = declared.router(prefix="/os-instance_usage_audit_log")  # Nova's spelling


@router.get("")
@accepts()
async def list_audit_logs(request: Request) -> JSONResponse:
    return JSONResponse({"instance_usage_audit_logs": await audit.report(
        runtime(request), context(request))})


@router.get("/{before}")
@accepts()
async def show_audit_log(before: str, request: Request) -> JSONResponse:
    ctx = context(request)
    audit.authorize(ctx)  # as Nova's: the policy before the input
    found = await audit.report(runtime(request), ctx, audit.parse_before(unquote(before)))
    return JSONResponse({"instance_usage_audit_log": found})
