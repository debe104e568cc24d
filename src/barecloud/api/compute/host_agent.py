"""/compute/barecloud-host-agent/v1: what a host agent calls (its credential, no token)."""

from __future__ import annotations

import functools
import math
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Request, Response

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, runtime
from barecloud.api.compute import params
from barecloud.api.compute.inputs import accepts
from barecloud.db.hypervisor_models import Hypervisor
from barecloud.errors import InvalidParameter
from barecloud.services.compute import host_reports, host_schemas, vm_consoles, vm_hosts

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
PREFIX = "/compute/barecloud-host-agent/v1"
router = declared.router(prefix=PREFIX)


def _credential(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def authenticated(handler: F) -> F:
    """The host's credential first (``request.state.hypervisor``), its input after:
    a caller without one learns nothing, not even what a good body looks like."""
    @functools.wraps(handler)
    async def checked(request: Request, *args: Any, **kwargs: Any) -> Any:
        request.state.hypervisor = await vm_hosts.authenticate(runtime(request),
                                                               _credential(request))
        return await handler(request, *args, **kwargs)
    return checked  # type: ignore[return-value]


def _host(request: Request) -> Hypervisor:
    host: Hypervisor = request.state.hypervisor
    return host


@router.post("/report")
@authenticated
@accepts(body=host_schemas.HOST_REPORT)
async def report(request: Request) -> JSONResponse:
    return JSONResponse(await host_reports.report(runtime(request), _host(request),
                                                  request.state.body))


@router.get("/desired")
@authenticated
@accepts(query=host_schemas.DESIRED_QUERY)
async def desired(request: Request) -> JSONResponse:
    """Long-poll: the host's whole desired list once its generation is above ``since``."""
    rt, host = runtime(request), _host(request)
    q = params.query(request)
    wait = float(q.get("wait", 0))
    if not math.isfinite(wait):
        raise InvalidParameter(f"wait must be a number of seconds, not {wait!r}.")
    return JSONResponse(await host_reports.desired(rt, host, int(q.get("since", 0)), wait))


@router.put("/vms/{server_uuid}/console", status_code=204)
@authenticated
@accepts()
async def console(request: Request, server_uuid: str) -> Response:
    """The VM's console log (its last 100 KiB, as text)."""
    await vm_consoles.save(runtime(request), _host(request), server_uuid,
                           await request.body())
    return Response(status_code=204)
