"""The channel between API processes for VM consoles: the process that gets a
host agent's leg of a session another process owns hands the leg to the owner
through here (docs/design/remote-consoles.md, "Several API processes").

Each process that carries consoles over PostgreSQL listens on a TCP port of
its own (:class:`Listener`; ``console_relay_host`` and ``console_relay_port``,
0: any free one) and writes that address in the console_sessions rows it owns.
A connection says what it wants in one line of JSON, after a challenge both
ways, before any console byte:

1. the owner sends ``{"nonce": N1}`` (16 random bytes, hex);
2. the caller ``{"op", "session", "reason", "nonce": N2, "mac"}``, the mac an
   HMAC-SHA256 of the owner's nonce, its own and the request under the key the
   processes share (``<data_dir>/console-relay.key``, 0600, made once);
3. the owner checks it (a wrong one: the connection closes, nothing said) and
   answers ``{"ok", "mac"}``, its mac over both nonces and ``ok``, which the
   caller checks in turn (an impostor at the address learns nothing and is
   given no leg).

``op``: ``join`` (then the console's bytes flow both ways, raw, until either
side closes), ``unavailable`` (the agent could not reach the console:
``reason``) or ``probe`` (``ok``: the owner still holds the session).  A
nonce per connection: a recorded request opens nothing again.  Neither the
key nor a mac is logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import secrets
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from barecloud import keyfiles
from barecloud.services import pumps

log = logging.getLogger(__name__)

KEY_FILE = "console-relay.key"
JOIN, UNAVAILABLE, PROBE = "join", "unavailable", "probe"
OPS = (JOIN, UNAVAILABLE, PROBE)
HANDSHAKE_TIMEOUT = 5.0
CHUNK = 64 * 1024


class Unreachable(Exception):
    """The owner did not answer as an owner does (down, gone, or not one of us)."""


def load_key(data_dir: Path) -> bytes:
    """The key the processes of one data directory share (made on first use)."""
    path = data_dir / KEY_FILE
    if not path.exists():
        keyfiles.create_once(path, secrets.token_hex(32).encode())
    key = path.read_bytes().strip()
    if len(key) < 32:
        raise RuntimeError(f"{path} holds no usable key (remove it to make one)")
    return key


def _mac(key: bytes, *parts: str) -> str:
    return hmac.new(key, json.dumps(parts).encode(), hashlib.sha256).hexdigest()


def _line(message: dict[str, Any]) -> bytes:
    return json.dumps(message).encode() + b"\n"


async def _read_line(reader: asyncio.StreamReader) -> dict[str, Any]:
    try:
        line = await reader.readuntil(b"\n")
        message = json.loads(line)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
        raise Unreachable(f"no answer: {type(exc).__name__}") from None
    if not isinstance(message, dict):
        raise Unreachable("not an answer")
    return message


@dataclass(frozen=True)
class Ask:
    op: str
    session: str
    reason: str = ""


class Link:
    """One connection, once the handshake is over: the console's bytes both ways."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def receive(self) -> bytes | None:
        """The next bytes; None once the other side closed."""
        try:
            data = await self.reader.read(CHUNK)
        except (OSError, asyncio.IncompleteReadError):
            return None
        return data or None

    async def send(self, data: bytes) -> None:
        self.writer.write(data)
        await self.writer.drain()

    async def close(self) -> None:
        self.writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.writer.wait_closed(), 2.0)


# The owner's side: (what was asked, answer(ok), the link) -> None.  The handler
# answers first; after a join answered ok it carries the link until it ends.
Handler = Callable[[Ask, Callable[[bool], Awaitable[None]], Link], Awaitable[None]]


class Listener:
    """This process's end of the channel: :meth:`start`, :attr:`address`, :meth:`stop`."""

    def __init__(self, key: bytes, handler: Handler, host: str, port: int = 0,
                 advertised: str = "") -> None:
        self.key, self.handler = key, handler
        self.host, self.port, self.advertised = host, port, advertised
        self.address = ""  # "host:port" where the other processes reach it
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, self.host or None, self.port)
        port = self._server.sockets[0].getsockname()[1]
        self.address = join_address(self.advertised or self.host, port)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._connections):
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 5.0)
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._connections.add(task)
        link = Link(reader, writer)
        try:
            asked = await self._handshake(reader, writer)
            if asked is None:
                return
            ask, mine, theirs = asked

            async def answer(ok: bool) -> None:
                writer.write(_line({"ok": ok, "mac": _mac(self.key, "answer", mine, theirs,
                                                          str(ok))}))
                await writer.drain()

            await self.handler(ask, answer, link)
        except (OSError, Unreachable):
            pass
        except Exception:  # a bug here must not pass unseen, nor end the listener
            log.exception("console relay: a peer's connection failed")
        finally:
            await link.close()
            if task is not None:
                self._connections.discard(task)

    async def _handshake(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                         ) -> tuple[Ask, str, str] | None:
        mine = secrets.token_hex(16)
        writer.write(_line({"nonce": mine}))
        await writer.drain()
        async with asyncio.timeout(HANDSHAKE_TIMEOUT):
            request = await _read_line(reader)
        op, session = request.get("op"), request.get("session")
        reason, theirs = request.get("reason", ""), request.get("nonce")
        if not (op in OPS and isinstance(session, str) and isinstance(reason, str)
                and isinstance(theirs, str) and isinstance(request.get("mac"), str)):
            return None
        wanted = _mac(self.key, "ask", mine, theirs, op, session, reason)
        if not hmac.compare_digest(wanted, request["mac"]):
            log.warning("console relay: a connection from %s without the key was refused",
                        writer.get_extra_info("peername"))
            return None
        return Ask(str(op), session, reason), mine, theirs


async def ask(address: str, key: bytes, asked: Ask,
              timeout: float = HANDSHAKE_TIMEOUT) -> Link | None:
    """Ask the owner at ``address``: its link if it answered yes (still open for a
    join, closed otherwise), None if no; Unreachable if it did not answer as an
    owner with the key does."""
    host, port = split_address(address)
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
    except (OSError, TimeoutError, ValueError) as exc:
        raise Unreachable(f"{address}: {exc or type(exc).__name__}") from None
    link = Link(reader, writer)
    try:
        async with asyncio.timeout(timeout):
            theirs = (await _read_line(reader)).get("nonce")
            if not isinstance(theirs, str):
                raise Unreachable(f"{address}: no challenge")
            mine = secrets.token_hex(16)
            writer.write(_line({"op": asked.op, "session": asked.session,
                                "reason": asked.reason, "nonce": mine,
                                "mac": _mac(key, "ask", theirs, mine, asked.op, asked.session,
                                            asked.reason)}))
            await writer.drain()
            answer = await _read_line(reader)
    except (OSError, TimeoutError) as exc:
        await link.close()
        raise Unreachable(f"{address}: {exc or type(exc).__name__}") from None
    except BaseException:
        await link.close()
        raise
    ok = answer.get("ok")
    mac = answer.get("mac")
    if not isinstance(ok, bool) or not isinstance(mac, str) or not hmac.compare_digest(
            mac, _mac(key, "answer", theirs, mine, str(ok))):
        await link.close()
        raise Unreachable(f"{address}: an answer without the key")
    if not ok or asked.op != JOIN:
        await link.close()
        return link if ok else None
    return link


async def splice(link: Link, receive: Callable[[], Awaitable[bytes | None]],
                 send: Callable[[bytes], Awaitable[None]]) -> None:
    """An agent's leg (``receive``, ``send``) to the owner's ``link``, both ways,
    until either ends; then the link is closed (the leg is the caller's)."""

    async def to_owner() -> None:
        while (data := await receive()) is not None:
            if data:
                await link.send(data)

    async def to_agent() -> None:
        while (data := await link.receive()) is not None:
            await send(data)

    try:
        await pumps.until_either(to_owner(), to_agent())
    finally:
        await link.close()


def join_address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def split_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host.strip("[]"), int(port)


WILDCARDS = ("", "0.0.0.0", "::")


def advertised_host(bind: str, database_url: str) -> str:
    """Where the other processes reach a listener bound to ``bind``: that address,
    or for a wildcard this host's address on the route to the database (the
    processes all reach it, so they are likely to reach each other there)."""
    if bind not in WILDCARDS:
        return bind
    db_host = make_url(database_url).host or "127.0.0.1"
    try:
        family = socket.getaddrinfo(db_host, 5432, type=socket.SOCK_DGRAM)[0]
        with socket.socket(family[0], socket.SOCK_DGRAM) as probe:
            probe.connect(family[4])  # a route lookup: no packet is sent
            return str(probe.getsockname()[0])
    except OSError:
        return socket.gethostname()
