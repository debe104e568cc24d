"""/console/serial and /console/vnc: the websockets console URLs open
(docs/design/remote-consoles.md).

The token is the only credential (as Nova's console proxies take it): it
names one server (Nova's remote consoles) or one node (Ironic's console
API), one kind of console (a serial token opens no VNC, and the other way
round), and expires.  A bad one is told so in the close frame (4401)
before any byte of a console flows; one console at a time has a writer
(4409 for a second).  Serial: binary messages carry the serial bytes both
ways (text messages typed by a browser are taken as UTF-8), and any number
of read-only watchers (``mode=watch``) see what it prints.  VNC (VMs only,
for noVNC): binary messages carry raw RFB both ways, as websockify does;
no watchers (RFB is a conversation, not a stream to join midway).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from sqlalchemy import select

from barecloud.db.compute_models import Server
from barecloud.db.hypervisor_models import Hypervisor
from barecloud.errors import BarecloudError, Conflict, NotFound
from barecloud.services import console_tokens, pumps
from barecloud.services.baremetal import serial_console
from barecloud.services.compute import vm_console_relay
from barecloud.services.context import Runtime

log = logging.getLogger(__name__)
router = APIRouter()

UNAUTHORIZED, NOT_FOUND, IN_USE, UNAVAILABLE = 4401, 4404, 4409, 4503
SERIAL, VNC = vm_console_relay.SERIAL, vm_console_relay.VNC


class Stream(Protocol):
    async def read(self) -> bytes: ...

    async def write(self, data: bytes) -> None: ...

    async def close(self) -> None: ...


class Refused(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


async def _open(rt: Runtime, server_uuid: str, kind: str = SERIAL) -> Stream:
    async with rt.db.session() as s:
        server = await s.scalar(select(Server).where(Server.uuid == server_uuid,
                                                     Server.deleted.is_(False)))
        host = await s.get(Hypervisor, server.hypervisor_id) if server and \
            server.hypervisor_id else None
    if server is None:
        raise Refused(NOT_FOUND, f"Instance {server_uuid} could not be found.")
    try:
        if host is not None:
            return await vm_console_relay.open_session(rt, host, server_uuid, kind)
        if server.node_uuid is not None and kind == SERIAL:
            return await serial_console.open_console(rt, server.node_uuid)
    except vm_console_relay.ConsoleInUse as exc:
        raise Refused(IN_USE, exc.message) from None
    except vm_console_relay.ConsoleNotOpened as exc:  # a Conflict, but no one holds it
        raise Refused(UNAVAILABLE, exc.message) from None
    except vm_console_relay.ConsoleUnavailable as exc:  # the agent's words: a close
        raise Refused(UNAVAILABLE, f"Not available on its host: {exc.reason}") from None
    except Conflict as exc:  # SOL: another session holds the BMC's console
        raise Refused(IN_USE, exc.message) from None
    except BarecloudError as exc:
        raise Refused(UNAVAILABLE, exc.message) from None
    raise Refused(UNAVAILABLE, f"Instance {server_uuid} has no "
                               f"{vm_console_relay.LABELS[kind]} to attach to.")


async def _open_node(rt: Runtime, node_uuid: str) -> Stream:
    try:
        return await serial_console.open_node_console(rt, node_uuid)
    except NotFound as exc:
        raise Refused(NOT_FOUND, exc.message) from None
    except Conflict as exc:
        raise Refused(IN_USE, exc.message) from None
    except BarecloudError as exc:
        raise Refused(UNAVAILABLE, exc.message) from None


class _Watchers:
    """The read-only attachments of one console: what its writer's stream prints
    goes to each of them too (a slow one loses output, never slows the writer)."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue[bytes | None]] = set()

    def show(self, data: bytes | None) -> None:
        for queue in self.queues:
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait(data)


# The consoles with a writer in this process, by (server or node, kind).
_attached: dict[tuple[str, str], _Watchers] = {}


@router.websocket("/console/serial")
async def serial(websocket: WebSocket) -> None:
    await _attach(websocket, SERIAL)


@router.websocket("/console/vnc")
async def vnc(websocket: WebSocket) -> None:
    """noVNC's websocket (``vnc_lite.html?path=console/vnc%3Ftoken%3D…``): a VM's VNC."""
    await _attach(websocket, VNC)


async def _attach(websocket: WebSocket, kind: str) -> None:
    rt: Runtime = websocket.app.state.runtime
    offered = websocket.scope.get("subprotocols") or []
    await websocket.accept(subprotocol="binary" if "binary" in offered else None)
    grant = await console_tokens.check(rt, websocket.query_params.get("token"), kind)
    if grant is None or (kind != SERIAL and grant.server_uuid is None):
        await websocket.close(UNAUTHORIZED, "The console token is not valid or has expired.")
        return
    uuid = grant.server_uuid or grant.node_uuid or ""
    if websocket.query_params.get("mode") == "watch":
        if kind == SERIAL:
            await _watch(websocket, uuid)
        else:
            await websocket.close(NOT_FOUND, "A VNC console has no watchers: attach "
                                             "without mode=watch.")
        return
    if (uuid, kind) in _attached:
        watch = " (watch it with mode=watch)" if kind == SERIAL else ""
        await websocket.close(IN_USE, f"The {vm_console_relay.LABELS[kind]} of {uuid} is "
                                      f"in use{watch}.")
        return
    _attached[uuid, kind] = watchers = _Watchers()
    try:
        try:
            stream = await (_open(rt, uuid, kind) if grant.server_uuid
                            else _open_node(rt, uuid))
        except Refused as exc:
            await websocket.close(exc.code, _fit(exc.reason))
            return
        await _splice(websocket, stream, watchers)
    finally:
        del _attached[uuid, kind]
        watchers.show(None)


def _fit(reason: str) -> str:
    """``reason`` cut to what a close frame holds (123 bytes of UTF-8): a longer
    one is a protocol error to the client, which then hears no code at all."""
    return reason.encode()[:123].decode(errors="ignore")


async def _watch(websocket: WebSocket, uuid: str) -> None:
    """Read-only: the output of the serial console its writer holds in this process."""
    watchers = _attached.get((uuid, SERIAL))
    if watchers is None:
        await websocket.close(NOT_FOUND, f"Nobody is attached to the console of {uuid}: "
                                         "attach without mode=watch.")
        return
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=256)
    watchers.queues.add(queue)
    try:
        while (data := await queue.get()) is not None:
            await websocket.send_bytes(data)
    except (WebSocketDisconnect, RuntimeError):
        return
    finally:
        watchers.queues.discard(queue)
    with contextlib.suppress(Exception):
        await websocket.close()


async def _splice(websocket: WebSocket, stream: Stream, watchers: _Watchers) -> None:
    """Bytes both ways until either side ends; then both are closed."""

    async def upstream() -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    return
                data = message.get("bytes") or (message.get("text") or "").encode()
                if data:
                    await stream.write(data)

    async def downstream() -> None:
        while data := await stream.read():
            watchers.show(data)
            await websocket.send_bytes(data)

    try:
        await pumps.until_either(upstream(), downstream())
    finally:
        await stream.close()
        with contextlib.suppress(Exception):
            await websocket.close()
