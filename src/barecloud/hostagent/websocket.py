"""A WebSocket client (RFC 6455) over asyncio streams, standard library only.

The host agent carries a VM's console to the service over a websocket it
opens itself (it only calls out: docs/design/remote-consoles.md), and the
hypervisor image has no ``websockets`` to install, so this is the protocol's
client side in a few dozen lines: the handshake (its ``Sec-WebSocket-Accept``
checked), masked frames out, and in: binary and text messages (text handed
over as its UTF-8 bytes), fragmented ones reassembled, pings answered,
the close handshake.  No extensions, no subprotocols.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import ssl
import struct
import urllib.parse
from collections.abc import Mapping

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
MAX_MESSAGE = 16 * 2**20
MAX_HEAD = 64 * 2**10
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
NORMAL, PROTOCOL_ERROR, TOO_BIG = 1000, 1002, 1009
NO_STATUS = 1005  # a close frame without a code (never sent)


class WebSocketError(Exception):
    """The handshake failed, or the peer broke the protocol."""


class _Violation(WebSocketError):
    """What the peer sent breaks the protocol: close with ``code``."""

    def __init__(self, code: int, why: str) -> None:
        super().__init__(why)
        self.code = code


def accept_key(key: str) -> str:
    """The ``Sec-WebSocket-Accept`` a server must answer to ``key``."""
    return base64.b64encode(hashlib.sha1(key.encode() + GUID).digest()).decode()


def mask(data: bytes, key: bytes) -> bytes:
    """``data`` XOR the 4-byte ``key`` repeated (as one big integer: no byte loop)."""
    if not data:
        return data
    n = len(data)
    keys = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "big") ^ int.from_bytes(keys, "big")).to_bytes(n, "big")


class WebSocket:
    """One client connection: :meth:`send`, :meth:`receive`, :meth:`close`."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *,
                 max_message: int = MAX_MESSAGE) -> None:
        self._reader, self._writer = reader, writer
        self.max_message = max_message
        self.close_code: int | None = None  # the peer's, once it closed
        self.close_reason = ""
        self._closing = False  # our close frame is sent
        self._lock = asyncio.Lock()  # frames go out whole, pongs among messages
        self._receiving = False  # a task is in receive(): close() leaves it the reading
        self._peer_close = asyncio.Event()

    @classmethod
    async def connect(cls, url: str, headers: Mapping[str, str] | None = None, *,
                      timeout: float = 30.0, max_message: int = MAX_MESSAGE) -> WebSocket:
        """Open ``url`` (ws, wss, or http(s) taken as those) and do the handshake."""
        parts = urllib.parse.urlsplit(url)
        secure = parts.scheme in ("wss", "https")
        if parts.scheme not in ("ws", "wss", "http", "https") or not parts.hostname:
            raise ValueError(f"not a websocket URL: {url!r}")
        port = parts.port or (443 if secure else 80)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc.rpartition('@')[2]}",
                 "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                 "Sec-WebSocket-Version: 13"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        writer = None
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    parts.hostname, port, ssl=ssl.create_default_context() if secure else None,
                    limit=MAX_HEAD)
                writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
                await writer.drain()
                status, answer = await _read_head(reader)
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError) as exc:
            if writer is not None:
                writer.close()
            raise WebSocketError(f"{url.split('?')[0]}: no handshake answer ({exc!r})") from None
        except BaseException:
            if writer is not None:
                writer.close()
            raise
        problem = None
        if status != 101:
            problem = f"the server answered {status}, not 101"
        elif answer.get("upgrade", "").lower() != "websocket" or "upgrade" not in [
                t.strip() for t in answer.get("connection", "").lower().split(",")]:
            problem = "the server did not upgrade to websocket"
        elif answer.get("sec-websocket-accept") != accept_key(key):
            problem = "wrong Sec-WebSocket-Accept"
        if problem:
            writer.close()
            raise WebSocketError(f"{url.split('?')[0]}: {problem}")
        return cls(reader, writer, max_message=max_message)

    @property
    def closed(self) -> bool:
        return self.close_code is not None or self._writer.is_closing()

    async def send(self, data: bytes) -> None:
        """One binary message; ConnectionError once the connection is closing."""
        await self._send_frame(BINARY, data)

    async def receive(self) -> bytes | None:
        """The next message's bytes; None once the peer closed (``close_code`` says how).

        Raises WebSocketError when the peer breaks the protocol (after closing
        with 1002 or 1009), ConnectionError or IncompleteReadError when the
        connection is lost without a close."""
        if self.close_code is not None:
            return None
        self._receiving = True
        try:
            return await self._receive()
        except _Violation as exc:
            self._receiving = False
            await self.close(exc.code, str(exc)[:100], timeout=1.0)
            self.close_code = self.close_code or exc.code
            raise WebSocketError(str(exc)) from None
        finally:
            self._receiving = False

    async def _receive(self) -> bytes | None:
        pieces: list[bytes] = []
        size = 0
        started = False
        while True:
            fin, opcode, payload = await self._read_frame()
            if opcode >= CLOSE:  # control frames: also between a message's fragments
                if opcode == PING:
                    await self._send_frame(PONG, payload, quiet=True)
                elif opcode == CLOSE:
                    await self._peer_closed(payload)
                    return None
                continue
            if opcode not in (CONTINUATION, TEXT, BINARY):
                raise _Violation(PROTOCOL_ERROR, f"unknown opcode {opcode:#x}")
            if (opcode == CONTINUATION) != started:
                raise _Violation(PROTOCOL_ERROR, "a new message inside a fragmented one"
                                 if started else "a continuation of no message")
            started = True
            size += len(payload)
            if size > self.max_message:
                raise _Violation(TOO_BIG, f"a message over {self.max_message} bytes")
            pieces.append(payload)
            if fin:
                return b"".join(pieces)

    async def close(self, code: int = NORMAL, reason: str = "", *,
                    timeout: float = 5.0) -> None:
        """Send a close frame (once) and wait a little for the peer's, then hang up."""
        try:
            if not self._closing and not self._writer.is_closing():
                await self._send_frame(CLOSE, struct.pack("!H", code) + reason.encode()[:123],
                                       quiet=True)
            async with asyncio.timeout(timeout):
                if self._receiving:  # that task reads the peer's close
                    await self._peer_close.wait()
                while self.close_code is None:
                    _, opcode, payload = await self._read_frame()
                    if opcode == CLOSE:
                        self.close_code, self.close_reason = _close_payload(payload)
        except (OSError, EOFError, asyncio.IncompleteReadError, TimeoutError, WebSocketError):
            pass
        finally:
            self._writer.close()

    def abort(self) -> None:
        """Drop the connection without a close handshake."""
        self._writer.close()

    # -- frames ----------------------------------------------------------------

    async def _read_frame(self) -> tuple[bool, int, bytes]:
        first, second = await self._reader.readexactly(2)
        if first & 0x70:
            raise _Violation(PROTOCOL_ERROR, "reserved bits set (no extension was agreed)")
        if second & 0x80:
            raise _Violation(PROTOCOL_ERROR, "a masked frame from the server")
        fin, opcode, length = bool(first & 0x80), first & 0x0F, second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self._reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self._reader.readexactly(8))
        if opcode >= CLOSE and (length > 125 or not fin):
            raise _Violation(PROTOCOL_ERROR, "a fragmented or long control frame")
        if length > self.max_message:
            raise _Violation(TOO_BIG, f"a frame over {self.max_message} bytes")
        return fin, opcode, await self._reader.readexactly(length)

    async def _send_frame(self, opcode: int, payload: bytes, *, quiet: bool = False) -> None:
        async with self._lock:
            if self._closing or self._writer.is_closing():
                if quiet:
                    return
                raise ConnectionResetError("the websocket is closing")
            n = len(payload)
            if n < 126:
                head = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
            elif n < 2**16:
                head = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
            else:
                head = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
            key = os.urandom(4)
            if opcode == CLOSE:
                self._closing = True
            self._writer.write(head + key + mask(payload, key))
            try:
                await self._writer.drain()
            except (OSError, RuntimeError):
                if not quiet:
                    raise

    async def _peer_closed(self, payload: bytes) -> None:
        self.close_code, self.close_reason = _close_payload(payload)
        self._peer_close.set()
        code = self.close_code if self.close_code != NO_STATUS else NORMAL
        await self._send_frame(CLOSE, struct.pack("!H", code), quiet=True)  # echo it
        self._writer.close()



def _close_payload(payload: bytes) -> tuple[int, str]:
    if len(payload) < 2:
        return NO_STATUS, ""
    return struct.unpack("!H", payload[:2])[0], payload[2:].decode("utf-8", "replace")


async def _read_head(reader: asyncio.StreamReader) -> tuple[int, dict[str, str]]:
    """The handshake answer's status and headers (lower-case names)."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise WebSocketError(f"bad status line {lines[0][:100]!r}")
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return int(parts[1]), headers
