"""A VM's consoles, carried by its host agent: the service's end of the relay.

Two kinds, one path: ``serial`` (the VM's serial port) and ``vnc`` (QEMU's
VNC server, raw RFB for noVNC).  The service cannot reach a hypervisor (its
agent only calls out: docs/design/host-agent-protocol.md), so
:func:`open_session` registers a session of a kind, wakes the host's
console long-poll (``GET …/consoles``, :func:`wanted`) and waits for the
agent to open its leg, a websocket to ``…/vms/<uuid>/console/<session>``
(api/compute/host_agent.py), which :func:`carry` then joins to the
:class:`ConsoleStream` the caller got.  A VM has one session of each kind
at a time (its serial port and the relay's VNC take one client each).

Sessions live in the memory of the process that made them.  With one API
process (all-in-one) the agent's long-poll and its leg reach it; with
several behind one URL they need not (a long-poll sees only its own
process's sessions, and the leg's URL is relative to the agent's service
URL): not solved yet, for no process knows a URL of its own (``public_url``
is the whole service's).  The agent takes an absolute URL as well, so
naming the process in it later changes nothing on hypervisors.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select

from barecloud.conductor.mailbox import MAILBOX
from barecloud.db import admission
from barecloud.db.compute_models import Server
from barecloud.db.hypervisor_models import Hypervisor
from barecloud.errors import Conflict, NotFound
from barecloud.services.context import Runtime
from barecloud.services.validation import Schema

SERIAL, VNC = "serial", "vnc"
KINDS = (SERIAL, VNC)
LABELS = {SERIAL: "console", VNC: "VNC console"}  # in messages: "The {label} of ..."
OPEN_TIMEOUT = 20.0
MAX_WAIT = 30.0  # the longest a console long-poll waits
BUFFERED = 256  # messages queued each way before the sender waits
KEY = "hv-console:"  # the mailbox key of a host's console long-polls

CONSOLES_QUERY: Schema = {"type": "object", "properties": {
    "since": {"type": "integer", "minimum": 0, "default": 0,
              "description": "The seq of the last answer; answer when a newer session comes"},
    "wait": {"type": "number", "minimum": 0, "default": 0,
             "description": "Seconds to wait for a new session (at most 30)"},
}}


class ConsoleNotOpened(Conflict):
    """The host agent did not open its leg in time (down, old, or cut off)."""


class ConsoleUnavailable(Conflict):
    """The host agent came, but could not reach the VM's console (``reason``: its
    words)."""

    def __init__(self, message: str, reason: str = "") -> None:
        super().__init__(message)
        self.reason = reason or message


class ConsoleInUse(Conflict):
    """A VM's console of a kind takes one session at a time (QEMU's serial chardev:
    one client; its VNC: one through the relay)."""


class ConsoleClosed(ConnectionError):
    """Writing to a console whose session has ended."""


class ConsoleStream:
    """The caller's end: the guest's bytes in :meth:`read`, :meth:`write` to it."""

    def __init__(self, session: str, vm: str) -> None:
        self.session = session
        self.vm = vm
        self.closed = False  # by close(), or the agent's leg ended
        self._from_guest: asyncio.Queue[bytes | None] = asyncio.Queue(BUFFERED)
        self._to_guest: asyncio.Queue[bytes | None] = asyncio.Queue(BUFFERED)
        self._eof = False

    async def read(self) -> bytes:
        """The next bytes from the guest; b"" once the session has ended."""
        if self._eof:
            return b""
        data = await self._from_guest.get()
        if data is None:
            self._eof = True
            return b""
        return data

    async def write(self, data: bytes) -> None:
        """Send ``data`` to the guest's console; ConsoleClosed once ended."""
        if self.closed:
            raise ConsoleClosed(f"the console session of instance {self.vm} has ended")
        if data:
            await self._to_guest.put(bytes(data))

    async def close(self) -> None:
        """End the session (the agent's leg is closed, the VM's console freed)."""
        self.closed = True
        for queue in (self._from_guest, self._to_guest):
            _drain(queue)  # unread bytes go; a writer waiting for room wakes
            queue.put_nowait(None)
        _REGISTRY.discard(self.session)


def _drain(queue: asyncio.Queue[bytes | None]) -> None:
    while not queue.empty():
        queue.get_nowait()


@dataclass(eq=False)
class Session:
    id: str
    host: str  # the hypervisor's uuid
    vm: str
    kind: str
    seq: int
    stream: ConsoleStream
    created: float = field(default_factory=time.monotonic)
    attached: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())

    def entry(self) -> dict[str, Any]:
        """What the agent's long-poll says of it."""
        return {"session": self.id, "vm": self.vm, "kind": self.kind,
                "url": f"/vms/{self.vm}/console/{self.id}"}


class _Registry:
    """This process's sessions, by id."""

    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}
        self._seq = itertools.count(1)
        self.last = 0  # the seq of the newest session

    def add(self, host: str, vm: str, kind: str) -> Session:
        if any(s.host == host and s.vm == vm and s.kind == kind
               for s in self.sessions.values()):
            raise ConsoleInUse(f"The {LABELS[kind]} of instance {vm} is in use.")
        self.last = next(self._seq)
        sid = secrets.token_urlsafe(18)
        session = Session(sid, host, vm, kind, self.last, ConsoleStream(sid, vm))
        self.sessions[sid] = session
        MAILBOX.notify(KEY + host)
        return session

    def discard(self, sid: str) -> None:
        session = self.sessions.pop(sid, None)
        if session is not None and not session.attached.done():
            session.attached.cancel()

    def pending(self, host: str) -> list[Session]:
        return sorted((s for s in self.sessions.values()
                       if s.host == host and not s.attached.done()), key=lambda s: s.seq)


_REGISTRY = _Registry()


async def open_session(rt: Runtime, hypervisor: Hypervisor, server_uuid: str,
                       kind: str = SERIAL, timeout: float = OPEN_TIMEOUT) -> ConsoleStream:
    """A byte stream to the console of ``kind`` (serial: its serial port; vnc: its
    VNC server's RFB) of VM ``server_uuid`` on ``hypervisor``, once its host agent
    has opened its leg; ConsoleNotOpened (409) if it does not within ``timeout``
    seconds, ConsoleUnavailable (409) if it cannot reach the console, ConsoleInUse
    (409) while another session of this process has that VM's console of that
    kind.  The caller closes the stream."""
    if kind not in KINDS:
        raise ValueError(f"no console kind {kind!r}")
    session = _REGISTRY.add(hypervisor.uuid, server_uuid, kind)
    try:
        async with asyncio.timeout(timeout):
            await asyncio.shield(session.attached)
    except TimeoutError:
        _REGISTRY.discard(session.id)
        raise ConsoleNotOpened(f"The host of instance {server_uuid} did not open its "
                               f"{LABELS[kind]} within {timeout:g} s.") from None
    except BaseException:
        _REGISTRY.discard(session.id)
        raise
    return session.stream


async def open_serial(rt: Runtime, hypervisor: Hypervisor, server_uuid: str,
                      timeout: float = OPEN_TIMEOUT) -> ConsoleStream:
    """:func:`open_session` of the VM's serial console."""
    return await open_session(rt, hypervisor, server_uuid, SERIAL, timeout)


async def wanted(rt: Runtime, host: Hypervisor, since: int, wait: float) -> dict[str, Any]:
    """The long-poll's answer: the sessions waiting for ``host``'s agent, once one
    newer than ``since`` is there (or after ``wait`` seconds).  A ``since`` above
    this process's newest (it restarted) answers at once."""
    until = time.monotonic() + min(max(wait, 0.0), MAX_WAIT)
    with MAILBOX.listening(KEY + host.uuid) as changed:
        while True:
            changed.clear()
            pending = _REGISTRY.pending(host.uuid)
            left = until - time.monotonic()
            if any(s.seq > since for s in pending) or since > _REGISTRY.last \
                    or left <= 0 or MAILBOX.closed:
                break
            with contextlib.suppress(TimeoutError):
                async with admission.paused(), asyncio.timeout(left):
                    await changed.wait()
    return {"seq": _REGISTRY.last, "consoles": [s.entry() for s in pending]}


async def find(rt: Runtime, host: Hypervisor, server_uuid: str, sid: str) -> Session:
    """The session an agent's leg names, if the VM is that host's and the session
    waits for it; NotFound otherwise (the leg is refused before any byte)."""
    async with rt.db.session() as s:
        here = await s.scalar(select(Server.id).where(
            Server.uuid == server_uuid, Server.hypervisor_id == host.id,
            Server.deleted.is_(False)))
    if here is None:
        raise NotFound(f"Instance {server_uuid} is not on this host.")
    session = _REGISTRY.sessions.get(sid)
    if session is None or session.vm != server_uuid or session.host != host.uuid \
            or session.attached.done():
        raise NotFound(f"No console session {sid} waits for instance {server_uuid}.")
    return session


def unavailable(session: Session, reason: str) -> None:
    """The agent could not reach the VM's console: the waiting caller hears why."""
    if not session.attached.done():
        session.attached.set_exception(ConsoleUnavailable(
            f"The {LABELS.get(session.kind, 'console')} of instance {session.vm} is not "
            f"available on its host: {reason[:200]}", reason[:200]))
    _REGISTRY.discard(session.id)


async def carry(session: Session, receive: Callable[[], Awaitable[bytes | None]],
                send: Callable[[bytes], Awaitable[None]]) -> None:
    """Join the agent's leg (``receive``: the next message, None once it closed;
    ``send``) to the session's stream until either side ends.  A second leg for
    a session already carried returns at once."""
    if session.attached.done():
        return
    session.attached.set_result(None)
    stream = session.stream
    told = False  # the reader was told of the end

    async def from_guest() -> None:
        nonlocal told
        while (data := await receive()) is not None:
            if stream.closed:
                return
            if data:
                await stream._from_guest.put(data)
        await stream._from_guest.put(None)  # after what the guest said last
        told = True

    async def to_guest() -> None:
        while (data := await stream._to_guest.get()) is not None:
            await send(data)

    pumps = [asyncio.create_task(from_guest()), asyncio.create_task(to_guest())]
    try:
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in pumps:
            task.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
        stream.closed = True
        _drain(stream._to_guest)
        stream._to_guest.put_nowait(None)
        if not told:  # the leg failed: the reader hears of it, at a message's cost
            if stream._from_guest.full():
                stream._from_guest.get_nowait()
            stream._from_guest.put_nowait(None)
        _REGISTRY.discard(session.id)
