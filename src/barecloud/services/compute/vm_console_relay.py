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

A session's stream lives in the memory of the process that made it (the
owner: it holds the user's websocket).  Alone on its database (all-in-one on
SQLite) that is all there is: the long-poll and the leg reach the owner.
Over PostgreSQL each API process also runs :class:`Shared`
(docs/design/remote-consoles.md, "Several API processes"): the owner
announces the session in the database (console_sessions.py: one row per
session, unique per VM and kind, so a second writer is refused whatever
process it reached), NOTIFY wakes every process's long-polls of that host,
which list the database's sessions; a process that gets the agent's leg of
a session it does not own hands it to the owner over the processes' own
channel (console_peers.py: the owner's address from the row, a key the
processes share), and carries bytes between the two.  The owner renews its
rows' lease while it holds them: a dead owner's sessions expire, a leg
handed to it fails (4404), and a new session of that VM probes it and takes
its place.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
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
from barecloud.services import pumps
from barecloud.services.baremetal.agent import poll_recheck
from barecloud.services.compute import console_peers, console_sessions
from barecloud.services.context import Runtime
from barecloud.services.validation import Schema

log = logging.getLogger(__name__)

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
    shared: Shared | None = None  # announced to the other API processes
    created: float = field(default_factory=time.monotonic)
    attached: asyncio.Future[None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())

    def entry(self) -> dict[str, Any]:
        """What the agent's long-poll says of it."""
        return _entry(self.id, self.vm, self.kind)


def _entry(sid: str, vm: str, kind: str) -> dict[str, Any]:
    return {"session": sid, "vm": vm, "kind": kind, "url": f"/vms/{vm}/console/{sid}"}


@dataclass(eq=False)
class Remote:
    """The agent's leg of a session another process owns, joined to the owner."""

    id: str
    vm: str
    link: console_peers.Link


class _Registry:
    """This process's sessions, by id."""

    def __init__(self) -> None:
        self.sessions: dict[str, Session] = {}
        self._seq = itertools.count(1)
        self.last = 0  # the seq of the newest session

    def add(self, host: str, vm: str, kind: str, shared: Shared | None = None) -> Session:
        if any(s.host == host and s.vm == vm and s.kind == kind
               for s in self.sessions.values()):
            raise _in_use(vm, kind)
        self.last = next(self._seq)
        sid = secrets.token_urlsafe(18)
        session = Session(sid, host, vm, kind, self.last, ConsoleStream(sid, vm), shared)
        self.sessions[sid] = session
        if shared is None:  # else once the database has it (Shared.announce)
            MAILBOX.notify(KEY + host)
        return session

    def discard(self, sid: str) -> None:
        session = self.sessions.pop(sid, None)
        if session is None:
            return
        if not session.attached.done():
            session.attached.cancel()
        if session.shared is not None:
            session.shared.forget(sid)

    def pending(self, host: str) -> list[Session]:
        return sorted((s for s in self.sessions.values()
                       if s.host == host and not s.attached.done()), key=lambda s: s.seq)


_REGISTRY = _Registry()


def _in_use(vm: str, kind: str) -> ConsoleInUse:
    return ConsoleInUse(f"The {LABELS[kind]} of instance {vm} is in use.")


def _shared(rt: Runtime) -> Shared | None:
    relay = rt.console_relay
    return relay if isinstance(relay, Shared) else None


async def open_session(rt: Runtime, hypervisor: Hypervisor, server_uuid: str,
                       kind: str = SERIAL, timeout: float = OPEN_TIMEOUT) -> ConsoleStream:
    """A byte stream to the console of ``kind`` (serial: its serial port; vnc: its
    VNC server's RFB) of VM ``server_uuid`` on ``hypervisor``, once its host agent
    has opened its leg; ConsoleNotOpened (409) if it does not within ``timeout``
    seconds, ConsoleUnavailable (409) if it cannot reach the console, ConsoleInUse
    (409) while another session (of any API process) has that VM's console of
    that kind.  The caller closes the stream."""
    if kind not in KINDS:
        raise ValueError(f"no console kind {kind!r}")
    shared = _shared(rt)
    session = _REGISTRY.add(hypervisor.uuid, server_uuid, kind, shared)
    try:
        if shared is not None:
            await shared.announce(session)
        async with asyncio.timeout(timeout):
            await asyncio.shield(session.attached)
    except TimeoutError:
        _REGISTRY.discard(session.id)
        raise ConsoleNotOpened(f"The host of instance {server_uuid} did not open its "
                               f"{LABELS[kind]} within {timeout:g} s.") from None
    except BaseException:
        _REGISTRY.discard(session.id)
        raise
    if shared is not None:
        await shared.attached(session)
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
    if _shared(rt) is not None:
        return await _wanted_shared(rt, host, since, until)
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


async def _wanted_shared(rt: Runtime, host: Hypervisor, since: int, until: float
                         ) -> dict[str, Any]:
    """:func:`wanted` over the database's sessions: any process's.  A NOTIFY wakes
    it when another process announces one; it reads the table again every few
    seconds all the same (every second if it hears no NOTIFY), as the host's
    desired-list long-poll does."""
    recheck = poll_recheck(rt)
    with MAILBOX.listening(KEY + host.uuid) as changed:
        while True:
            changed.clear()
            last, pending = await console_sessions.pending(rt.db, host.uuid)
            left = until - time.monotonic()
            if any(a.seq > since for a in pending) or since > last or left <= 0 \
                    or MAILBOX.closed:
                break
            with contextlib.suppress(TimeoutError):
                async with admission.paused(), asyncio.timeout(min(left, recheck)):
                    await changed.wait()
    return {"seq": last, "consoles": [_entry(a.session, a.vm, a.kind) for a in pending]}


async def find(rt: Runtime, host: Hypervisor, server_uuid: str, sid: str,
               error: str | None = None) -> Session | Remote | None:
    """The session an agent's leg names, if the VM is that host's and the session
    waits for it; NotFound otherwise (the leg is refused before any byte).  A
    session another process owns: the leg joined to it there (:class:`Remote`).
    ``error`` (the agent could not reach the console): the session's caller is
    told, wherever it waits, and there is nothing to carry (None)."""
    async with rt.db.session() as s:
        here = await s.scalar(select(Server.id).where(
            Server.uuid == server_uuid, Server.hypervisor_id == host.id,
            Server.deleted.is_(False)))
    if here is None:
        raise NotFound(f"Instance {server_uuid} is not on this host.")
    gone = NotFound(f"No console session {sid} waits for instance {server_uuid}.")
    session = _REGISTRY.sessions.get(sid)
    if session is not None:
        if session.vm != server_uuid or session.host != host.uuid or session.attached.done():
            raise gone
        if error is not None:
            unavailable(session, error)
            return None
        return session
    shared = _shared(rt)
    if shared is None:
        raise gone
    return await shared.hand_over(host, server_uuid, sid, error, gone)


def unavailable(session: Session, reason: str) -> None:
    """The agent could not reach the VM's console: the waiting caller hears why."""
    if not session.attached.done():
        session.attached.set_exception(ConsoleUnavailable(
            f"The {LABELS.get(session.kind, 'console')} of instance {session.vm} is not "
            f"available on its host: {reason[:200]}", reason[:200]))
    _REGISTRY.discard(session.id)


async def carry(session: Session | Remote, receive: Callable[[], Awaitable[bytes | None]],
                send: Callable[[bytes], Awaitable[None]]) -> None:
    """Join the agent's leg (``receive``: the next message, None once it closed;
    ``send``) to the session's stream until either side ends (to its owner, for
    a :class:`Remote` one).  A second leg for a session already carried returns
    at once."""
    if isinstance(session, Remote):
        await console_peers.splice(session.link, receive, send)
        return
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

    try:
        await pumps.until_either(from_guest(), to_guest())
    finally:
        stream.closed = True
        _drain(stream._to_guest)
        stream._to_guest.put_nowait(None)
        if not told:  # the leg failed: the reader hears of it, at a message's cost
            if stream._from_guest.full():
                stream._from_guest.get_nowait()
            stream._from_guest.put_nowait(None)
        _REGISTRY.discard(session.id)


class Shared:
    """This process's part in VM consoles across API processes (over PostgreSQL):
    its sessions announced in the database, its listener for the legs other
    processes hand it, and the leases of its sessions.  :meth:`start` sets
    ``rt.console_relay``; :meth:`stop`."""

    def __init__(self, rt: Runtime) -> None:
        settings = rt.settings
        bind = settings.console_relay_host or settings.host
        self.rt = rt
        self.key = console_peers.load_key(settings.data_dir)
        self.listener = console_peers.Listener(
            self.key, self._serve, bind, settings.console_relay_port,
            advertised=console_peers.advertised_host(bind, rt.db.url))
        self._renewer: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def address(self) -> str:
        return self.listener.address

    async def start(self) -> None:
        await self.listener.start()
        self._renewer = asyncio.create_task(self._renew(), name="console-leases")
        self.rt.console_relay = self
        log.info("console relay: peers reach this process at %s", self.address)

    async def stop(self) -> None:
        if self.rt.console_relay is self:
            self.rt.console_relay = None
        if self._renewer is not None:
            self._renewer.cancel()
            await asyncio.gather(self._renewer, return_exceptions=True)
        await self.listener.stop()
        for session in [s for s in _REGISTRY.sessions.values() if s.shared is self]:
            await session.stream.close()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def held(self) -> list[str]:
        return [sid for sid, s in _REGISTRY.sessions.items() if s.shared is self]

    async def _renew(self) -> None:
        while True:
            await asyncio.sleep(console_sessions.LEASE / 3)
            try:
                await console_sessions.renew(self.rt.db, self.held())
            except Exception as exc:  # the leases run on; the next round may do it
                log.warning("console relay: could not renew the sessions' leases: %s", exc)

    def forget(self, sid: str) -> None:
        """The session ended here: its row goes (in the background)."""
        task = asyncio.create_task(self._forget(sid))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _forget(self, sid: str) -> None:
        try:
            await console_sessions.forget(self.rt.db, sid)
        except Exception as exc:  # its lease ends it
            log.warning("console relay: the row of a closed session stays until its "
                        "lease ends: %s", exc)

    async def announce(self, session: Session) -> None:
        """The session's row, so that any process's long-poll lists it; ConsoleInUse
        if a live session of another process holds that console.  A holder that
        does not answer for its session (it died, or ended it) gives way."""
        for _ in range(3):
            try:
                await console_sessions.announce(
                    self.rt.db, session.id, session.host, session.vm, session.kind,
                    self.address, KEY + session.host)
            except console_sessions.Taken as taken:
                holder = taken.holder
                if holder is not None and not await self._gone(holder):
                    raise _in_use(session.vm, session.kind) from None
                if holder is not None:
                    await console_sessions.forget(self.rt.db, holder.session)
                continue
            MAILBOX.notify(KEY + session.host)
            return
        raise _in_use(session.vm, session.kind)

    async def _gone(self, holder: console_sessions.Announced) -> bool:
        if holder.relay == self.address:
            return holder.session not in _REGISTRY.sessions
        try:
            return await console_peers.ask(holder.relay, self.key, console_peers.Ask(
                console_peers.PROBE, holder.session)) is None
        except console_peers.Unreachable as exc:
            log.warning("console relay: the owner of a session of instance %s does not "
                        "answer (%s): the session is taken as ended", holder.vm, exc)
            return True

    async def attached(self, session: Session) -> None:
        """The agent's leg came: the long-polls stop listing the session."""
        try:
            await console_sessions.attached(self.rt.db, session.id)
        except Exception as exc:  # listed a little longer: the agent has it already
            log.warning("console relay: could not mark a session attached: %s", exc)

    async def hand_over(self, host: Hypervisor, vm: str, sid: str, error: str | None,
                        gone: NotFound) -> Remote | None:
        """The agent's leg of a session another process owns: joined to its owner
        (or, with ``error``, the owner told), else ``gone`` raised."""
        announced = await console_sessions.waiting(self.rt.db, sid, host.uuid, vm)
        if announced is None or announced.relay == self.address:
            raise gone
        asked = console_peers.Ask(console_peers.JOIN if error is None
                                  else console_peers.UNAVAILABLE, sid, (error or "")[:200])
        try:
            link = await console_peers.ask(announced.relay, self.key, asked)
        except console_peers.Unreachable as exc:
            log.warning("console relay: the owner of a session of instance %s does not "
                        "answer (%s): its session is dropped", vm, exc)
            await console_sessions.forget(self.rt.db, sid)
            raise gone from None
        if link is None:
            raise gone
        return Remote(sid, vm, link) if error is None else None

    async def _serve(self, asked: console_peers.Ask,
                     answer: Callable[[bool], Awaitable[None]],
                     link: console_peers.Link) -> None:
        """A peer hands this process a leg of one of its sessions (or asks of it)."""
        session = _REGISTRY.sessions.get(asked.session)
        if session is not None and session.shared is not self:
            session = None
        if asked.op == console_peers.PROBE:
            await answer(session is not None)
            return
        if session is None or session.attached.done():
            await answer(False)
            return
        if asked.op == console_peers.UNAVAILABLE:
            unavailable(session, asked.reason)
            await answer(True)
            return
        await answer(True)
        await carry(session, link.receive, link.send)
