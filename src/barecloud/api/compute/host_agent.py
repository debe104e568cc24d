"""/compute/barecloud-host-agent/v1: what a host agent calls (its credential, no token)."""

from __future__ import annotations

import math

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, runtime
from barecloud.api.compute import params
from barecloud.api.compute.inputs import accepts
from barecloud.errors import InvalidParameter
from barecloud.services.compute import host_reports, host_schemas, vm_consoles, vm_hosts

PREFIX = "/compute/barecloud-host-agent/v1"
router = declared.router(prefix=PREFIX)


def _credential(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


@router.post("/report")
@accepts(body=host_schemas.HOST_REPORT)
async def report(request: Request) -> JSONResponse:
    rt = runtime(request)
    host = await vm_hosts.authenticate(rt, _credential(request))
    return JSONResponse(await host_reports.report(rt, host, request.state.body))


@router.get("/desired")
@accepts(query=host_schemas.DESIRED_QUERY)
async def desired(request: Request) -> JSONResponse:
    """Long-poll: the host's whole desired list once its generation is above ``since``."""
    rt = runtime(request)
    host = await vm_hosts.authenticate(rt, _credential(request))
    q = params.query(request)
    wait = float(q.get("wait", 0))
    if not math.isfinite(wait):
        raise InvalidParameter(f"wait must be a number of seconds, not {wait!r}.")
    return JSONResponse(await host_reports.desired(rt, host, int(q.get("since", 0)), wait))


@router.put("/vms/{server_uuid}/console", status_code=204)
@accepts()
async def console(server_uuid: str, request: Request) -> Response:
    """The VM's console log (its last 100 KiB, as text)."""
    rt = runtime(request)
    host = await vm_hosts.authenticate(rt, _credential(request))
    await vm_consoles.save(rt, host, server_uuid, await request.body())
    return Response(status_code=204)
