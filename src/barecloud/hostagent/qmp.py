"""A small asyncio client for QEMU's QMP (the JSON monitor on a Unix socket).

The host agent reads each VM's state from its QEMU and drives its lifecycle
(powerdown, reset, quit) through this socket; no libvirt in between.  One
reader task per connection matches answers to commands by ``id`` (so
commands may be issued concurrently) and keeps the asynchronous events
(``SHUTDOWN``, ``RESET``, ``POWERDOWN``, ...) in a bounded queue, because
nobody may be reading them when they come.  Standard library only.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import os
import socket
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT = 10.0
# Longest Unix socket path that connect() takes (sun_path is 108 bytes with its NUL).
_MAX_SUN_PATH = 107


class QmpError(Exception):
    """Anything that went wrong talking to a QEMU monitor."""


class QmpConnectionError(QmpError):
    """No monitor at that path, a refused handshake, or the connection was lost."""


class QmpTimeout(QmpError):
    """QEMU did not answer in time."""


class QmpCommandError(QmpError):
    """QEMU answered a command with an error (``{"error": {"class", "desc"}}``)."""

    def __init__(self, command: str, error_class: str, desc: str) -> None:
        super().__init__(f"{command}: {error_class}: {desc}")
        self.command = command
        self.error_class = error_class
        self.desc = desc


class QmpClient:
    """One QMP connection, after the ``qmp_capabilities`` handshake (:meth:`connect`)."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 greeting: dict[str, Any], *, max_events: int = 256) -> None:
        self.greeting = greeting
        self._reader = reader
        self._writer = writer
        self._ids = itertools.count(1)
        self._pending: dict[str, asyncio.Future[Any]] = {}
        self._events: collections.deque[dict[str, Any]] = collections.deque(maxlen=max_events)
        self._event_arrived = asyncio.Event()
        self._lost: QmpError | None = None
        self._task: asyncio.Task[None] | None = None

    @classmethod
    async def connect(cls, path: str | os.PathLike[str], *,
                      timeout: float = DEFAULT_TIMEOUT, max_events: int = 256) -> QmpClient:
        """Connect, read the greeting and leave capabilities negotiation mode."""
        try:
            reader, writer = await asyncio.wait_for(_open(Path(path)), timeout)
        except TimeoutError:
            raise QmpTimeout(f"no QMP greeting from {path} in {timeout} s") from None
        except OSError as exc:
            raise QmpConnectionError(f"cannot connect to QMP at {path}: {exc}") from None
        try:
            greeting = await asyncio.wait_for(_read_message(reader), timeout)
            if not isinstance(greeting, dict) or "QMP" not in greeting:
                raise QmpConnectionError(f"{path} did not greet as QMP: {greeting!r}")
            client = cls(reader, writer, greeting, max_events=max_events)
            client._task = asyncio.create_task(client._read_loop(), name=f"qmp {path}")
            await client.execute("qmp_capabilities", timeout=timeout)
        except TimeoutError:
            writer.close()
            raise QmpTimeout(f"no QMP greeting from {path} in {timeout} s") from None
        except OSError as exc:  # seen: EINVAL reading the greeting of a QEMU still starting
            writer.close()
            raise QmpConnectionError(f"QMP at {path} failed at the greeting: {exc}") from None
        except BaseException:
            writer.close()
            raise
        return client

    @property
    def closed(self) -> bool:
        """True once the connection is lost or closed: make a new one."""
        return self._lost is not None

    async def execute(self, command: str, arguments: dict[str, Any] | None = None, *,
                      timeout: float = DEFAULT_TIMEOUT) -> Any:
        """Run ``command`` and return its ``return`` value; :class:`QmpCommandError` on
        QEMU's error, :class:`QmpTimeout`, :class:`QmpConnectionError`."""
        if self._lost is not None:
            raise self._lost
        ident = f"bc-{next(self._ids)}"
        message: dict[str, Any] = {"execute": command, "id": ident}
        if arguments:
            message["arguments"] = arguments
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._pending[ident] = future
        try:
            self._writer.write(json.dumps(message).encode() + b"\n")
            await self._writer.drain()
            answer = await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            raise QmpTimeout(f"{command}: no answer from QEMU in {timeout} s") from None
        except OSError as exc:
            raise QmpConnectionError(f"{command}: QMP connection lost: {exc}") from None
        finally:
            self._pending.pop(ident, None)
        if "error" in answer:
            error = answer["error"] if isinstance(answer["error"], dict) else {}
            raise QmpCommandError(command, str(error.get("class", "GenericError")),
                                  str(error.get("desc", answer["error"])))
        return answer.get("return")

    def events(self) -> list[dict[str, Any]]:
        """The events received since the last call (oldest first), and forget them."""
        out = list(self._events)
        self._events.clear()
        return out

    async def wait_event(self, *names: str, timeout: float = DEFAULT_TIMEOUT) -> dict[str, Any]:
        """The first queued or coming event named one of ``names`` (any event if none);
        events before it are dropped."""
        async def wait() -> dict[str, Any]:
            while True:
                while self._events:
                    event = self._events.popleft()
                    if not names or event.get("event") in names:
                        return event
                if self._lost is not None:
                    raise self._lost
                self._event_arrived.clear()
                await self._event_arrived.wait()
        try:
            return await asyncio.wait_for(wait(), timeout)
        except TimeoutError:
            raise QmpTimeout(f"no {'/'.join(names) or 'QMP'} event in {timeout} s") from None

    async def close(self) -> None:
        """Close the connection (QEMU keeps running)."""
        self._fail(QmpConnectionError("QMP connection closed"))
        self._writer.close()
        with contextlib.suppress(OSError):
            await self._writer.wait_closed()
        if self._task is not None and self._task is not asyncio.current_task():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _read_loop(self) -> None:
        reason: QmpError = QmpConnectionError("QEMU closed the QMP connection")
        try:
            while True:
                message = await _read_message(self._reader)
                if message is None:
                    break
                if not isinstance(message, dict):
                    continue
                if "event" in message:
                    self._events.append(message)
                    self._event_arrived.set()
                    continue
                future = self._pending.get(str(message.get("id")))
                if future is None and len(self._pending) == 1 and "id" not in message:
                    # An error QEMU could not tie to a command (bad JSON): the only one.
                    future = next(iter(self._pending.values()))
                if future is not None and not future.done():
                    future.set_result(message)
        except (OSError, QmpError) as exc:
            reason = QmpConnectionError(f"QMP connection lost: {exc}")
        finally:
            self._fail(reason)

    def _fail(self, reason: QmpError) -> None:
        if self._lost is None:
            self._lost = reason
        for future in self._pending.values():
            if not future.done():
                future.set_exception(self._lost)
        self._pending.clear()
        self._event_arrived.set()


async def _open(path: Path) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """Connect to a Unix socket, also one whose path is too long for ``sun_path``
    (through ``/proc/self/fd`` and a descriptor of its directory)."""
    if len(os.fsencode(path)) <= _MAX_SUN_PATH:
        return await asyncio.open_unix_connection(path, limit=2**20)
    dir_fd = os.open(path.parent, os.O_PATH | os.O_DIRECTORY)
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(
                sock, f"/proc/self/fd/{dir_fd}/{path.name}")
        except BaseException:
            sock.close()
            raise
    finally:
        os.close(dir_fd)
    return await asyncio.open_unix_connection(sock=sock, limit=2**20)


async def _read_message(reader: asyncio.StreamReader) -> Any:
    """One JSON message (QMP sends one per line), or None at the end of the stream."""
    while True:
        try:
            line = await reader.readline()
        except ValueError as exc:  # a line over the limit
            raise QmpConnectionError(f"QMP message too long: {exc}") from None
        if not line:
            return None
        if not line.strip():
            continue
        try:
            return json.loads(line)
        except ValueError:
            raise QmpConnectionError(f"QEMU sent something that is not JSON: "
                                     f"{line[:200]!r}") from None
