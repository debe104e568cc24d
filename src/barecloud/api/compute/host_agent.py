"""/compute/barecloud-host-agent/v1: what a host agent calls (its credential, no token)."""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from fastapi import Request, Response, WebSocket
from starlette.datastructures import Headers
from starlette.websockets import WebSocketDisconnect

from barecloud.api import accepts as declared
from barecloud.api.common import JSONResponse, runtime
from barecloud.api.compute import params
from barecloud.api.compute.inputs import accepts
from barecloud.db.hypervisor_models import Hypervisor
from barecloud.errors import InvalidParameter, NotFound, Unauthorized
from barecloud.services.compute import (
    host_reports,
    host_schemas,
    vm_console_relay,
    vm_consoles,
    vm_hosts,
)

F = TypeVar("F", bound=Callable[..., Awaitable[Any]])
PREFIX = "/compute/barecloud-host-agent/v1"
router = declared.router(prefix=PREFIX)


# The agent's leg says so when it could not reach the VM's console (then closes).
CONSOLE_ERROR = "x-barecloud-console-error"
REFUSED, NOT_FOUND = 4401, 4404  # close codes of a leg refused before any byte


def _credential(headers: Headers) -> str | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else None


def authenticated(handler: F) -> F:
    """The host's credential first (``request.state.hypervisor``), its input after:
    a caller without one learns nothing, not even what a good body looks like."""
    @functools.wraps(handler)
    async def checked(request: Request, *args: Any, **kwargs: Any) -> Any:
        request.state.hypervisor = await vm_hosts.authenticate(runtime(request),
                                                               _credential(request.headers))
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


@router.get("/consoles")
@authenticated
@accepts(query=vm_console_relay.CONSOLES_QUERY)
async def consoles(request: Request) -> JSONResponse:
    """Long-poll: the console sessions waiting for this host's agent to open them."""
    q = params.query(request)
    wait = float(q.get("wait", 0))
    if not math.isfinite(wait):
        raise InvalidParameter(f"wait must be a number of seconds, not {wait!r}.")
    return JSONResponse(await vm_console_relay.wanted(runtime(request), _host(request),
                                                      int(q.get("since", 0)), wait))


@router.websocket("/vms/{server_uuid}/console/{session}")
async def console_leg(websocket: WebSocket, server_uuid: str, session: str) -> None:
    """The agent's leg of a console session: binary messages are the console's
    bytes both ways.  The credential, the VM (this host's) and the session (open,
    for that VM; in this process or handed to the one that owns it) are checked
    first; a leg that fails is closed (4401, 4404) before any byte."""
    rt = websocket.app.state.runtime
    try:
        host = await vm_hosts.authenticate(rt, _credential(websocket.headers))
        found = await vm_console_relay.find(rt, host, server_uuid, session,
                                            websocket.headers.get(CONSOLE_ERROR))
    except (Unauthorized, NotFound) as exc:
        await websocket.accept()
        await websocket.close(REFUSED if isinstance(exc, Unauthorized) else NOT_FOUND,
                              exc.message[:120])
        return
    await websocket.accept()
    if found is None:  # the agent could not reach the console: its caller was told
        await websocket.close()
        return

    async def receive() -> bytes | None:
        try:
            message = await websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return None
        if message["type"] == "websocket.disconnect":
            return None
        data = message.get("bytes")
        return data if data is not None else str(message.get("text") or "").encode()

    await vm_console_relay.carry(found, receive, websocket.send_bytes)
    with contextlib.suppress(RuntimeError, OSError, WebSocketDisconnect):
        await websocket.close()
