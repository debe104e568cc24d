"""The host agent's RFC 6455 client against real servers: Starlette's (what the
service runs, under uvicorn), the ``websockets`` library's (fragmented messages),
and a few hand-made frames for what neither sends (a ping inside a fragmented
message, a masked frame, a wrong accept key)."""

from __future__ import annotations

import asyncio
import os
import struct
from collections.abc import AsyncIterator
from typing import Any

import pytest
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket as ServerSocket
from websockets.asyncio.server import ServerConnection, serve

from barecloud.hostagent.websocket import (
    PROTOCOL_ERROR,
    WebSocket,
    WebSocketError,
    accept_key,
    mask,
)
from tests.hostagent.asgi import serving


class Seen:
    headers: dict[str, str]
    close_code: int | None = None


@pytest.fixture
async def starlette() -> AsyncIterator[tuple[str, Seen]]:
    """Echo (reversed) each binary message; ``close-please`` closes with 4321."""
    seen = Seen()

    async def echo(ws: ServerSocket) -> None:
        seen.headers = dict(ws.headers)
        await ws.accept()
        while True:
            message = await ws.receive()
            if message["type"] == "websocket.disconnect":
                seen.close_code = message.get("code")
                return
            data = message.get("bytes") or b""
            if data == b"close-please":
                await ws.close(4321, "as asked")
                return
            await ws.send_bytes(data[::-1])

    async def refuse(ws: ServerSocket) -> None:
        await ws.close()  # before accepting: the handshake is refused

    app = Starlette(routes=[WebSocketRoute("/echo", echo), WebSocketRoute("/refuse", refuse)])
    async with serving(app) as url:
        yield url.replace("http://", "ws://"), seen


async def test_handshake_headers_and_messages_both_ways(starlette: tuple[str, Seen]) -> None:
    url, seen = starlette
    ws = await WebSocket.connect(url + "/echo?x=1", {"Authorization": "Bearer hv.x.y"})
    await ws.send(b"hello")
    assert await ws.receive() == b"olleh"
    assert seen.headers["authorization"] == "Bearer hv.x.y"
    await ws.send(b"")  # an empty message is a message
    assert await ws.receive() == b""
    await ws.close()
    assert ws.close_code == 1000  # the server's answer to ours
    for _ in range(100):
        if seen.close_code is not None:
            break
        await asyncio.sleep(0.01)
    assert seen.close_code == 1000


async def test_large_messages(starlette: tuple[str, Seen]) -> None:
    """Lengths of 7, 16 and 64 bits, masked both ways right."""
    url, _ = starlette
    ws = await WebSocket.connect(url + "/echo")
    for size in (125, 126, 65535, 65536, 5 * 2**20 + 3):
        data = os.urandom(size)
        await ws.send(data)
        assert await ws.receive() == data[::-1], size
    await ws.close()


async def test_the_server_closing_ends_receive(starlette: tuple[str, Seen]) -> None:
    url, _ = starlette
    ws = await WebSocket.connect(url + "/echo")
    await ws.send(b"close-please")
    assert await ws.receive() is None
    assert (ws.close_code, ws.close_reason) == (4321, "as asked")
    assert await ws.receive() is None
    with pytest.raises(ConnectionError):
        await ws.send(b"too late")


async def test_a_refused_handshake_is_an_error(starlette: tuple[str, Seen]) -> None:
    url, _ = starlette
    with pytest.raises(WebSocketError, match="403"):
        await WebSocket.connect(url + "/refuse")


async def test_fragmented_messages_from_the_websockets_library() -> None:
    async def handler(conn: ServerConnection) -> None:
        await conn.send([b"frag", b"men", b"ted"])  # an iterable: one message, 3 frames
        await conn.send(["tex", "t \u00e9"])
        pong = await conn.ping(b"are you there")
        await asyncio.wait_for(pong, 5)  # answered while the client waits in receive()
        await conn.send(b"pong seen")
        await conn.close(4000, "bye")

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        ws = await WebSocket.connect(f"ws://127.0.0.1:{port}/")
        assert await ws.receive() == b"fragmented"
        assert await ws.receive() == "text \u00e9".encode()
        assert await ws.receive() == b"pong seen"
        assert await ws.receive() is None
        assert ws.close_code == 4000


# -- hand-made frames ------------------------------------------------------------


def frame(opcode: int, payload: bytes, *, fin: bool = True, masked: bool = False) -> bytes:
    head = bytes([(0x80 if fin else 0) | opcode])
    key = os.urandom(4) if masked else b""
    n = len(payload)
    length = bytes([n | (0x80 if masked else 0)]) if n < 126 else \
        bytes([126 | (0x80 if masked else 0)]) + struct.pack("!H", n)
    return head + length + key + (mask(payload, key) if masked else payload)


async def read_client_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """A frame the client sent: (opcode, unmasked payload); it must be masked."""
    first, second = await reader.readexactly(2)
    assert second & 0x80, "client frames are masked"
    n = second & 0x7F
    if n == 126:
        (n,) = struct.unpack("!H", await reader.readexactly(2))
    key = await reader.readexactly(4)
    return first & 0x0F, mask(await reader.readexactly(n), key)


async def raw_server(script: Any, *, accept: str | None = None
                     ) -> tuple[str, asyncio.Server, asyncio.Event]:
    """A server that does the handshake (with ``accept``, default the right one), then
    runs ``script(reader, writer)``; the event is set when the script has ended."""
    ended = asyncio.Event()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        key = next(line.split(":", 1)[1].strip() for line in head.split("\r\n")
                   if line.lower().startswith("sec-websocket-key:"))
        writer.write(("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\n"
                      f"Sec-WebSocket-Accept: {accept or accept_key(key)}\r\n\r\n").encode())
        try:
            await script(reader, writer)
        finally:
            writer.close()
            ended.set()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/", server, ended


async def test_a_ping_between_fragments_is_answered() -> None:
    pongs: list[tuple[int, bytes]] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(frame(0x2, b"one ", fin=False) + frame(0x9, b"ping!")
                     + frame(0x0, b"two ", fin=False) + frame(0x0, b"three"))
        pongs.append(await read_client_frame(reader))
        writer.write(frame(0x8, struct.pack("!H", 1001) + b"going away"))
        pongs.append(await read_client_frame(reader))  # the client's echo of the close

    url, server, ended = await raw_server(script)
    async with server:
        ws = await WebSocket.connect(url)
        assert await ws.receive() == b"one two three"
        assert await ws.receive() is None
        assert (ws.close_code, ws.close_reason) == (1001, "going away")
        await asyncio.wait_for(ended.wait(), 5)
    assert pongs == [(0xA, b"ping!"), (0x8, struct.pack("!H", 1001))]


async def test_a_masked_server_frame_is_a_protocol_error() -> None:
    closes: list[tuple[int, bytes]] = []

    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(frame(0x2, b"masked", masked=True))
        closes.append(await read_client_frame(reader))

    url, server, ended = await raw_server(script)
    async with server:
        ws = await WebSocket.connect(url)
        with pytest.raises(WebSocketError, match="masked"):
            await ws.receive()
        await asyncio.wait_for(ended.wait(), 5)
    assert closes and closes[0][0] == 0x8
    assert struct.unpack("!H", closes[0][1][:2])[0] == PROTOCOL_ERROR


async def test_a_wrong_accept_key_is_refused() -> None:
    async def script(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()

    url, server, _ = await raw_server(script, accept=accept_key("not the key sent"))
    async with server:
        with pytest.raises(WebSocketError, match="Sec-WebSocket-Accept"):
            await WebSocket.connect(url)
