"""The VM's end of one of its console sockets (serial or VNC), played by a test:
what the host agent connects to where the driver says the socket is."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path


class Guest:
    """Says ``hello`` to whoever connects, keeps what it is sent."""

    def __init__(self, hello: bytes) -> None:
        self.hello = hello
        self.received = bytearray()
        self.clients = 0
        self.connected = asyncio.Event()
        self.hung_up = asyncio.Event()  # the agent closed its end
        self.writer: asyncio.StreamWriter | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.clients += 1
        self.hung_up.clear()
        self.connected.set()
        writer.write(self.hello)
        await writer.drain()
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                self.received += data
        self.hung_up.set()


@contextlib.asynccontextmanager
async def guest_at(path: Path, hello: bytes = b"\r\nvm login: ") -> AsyncIterator[Guest]:
    guest = Guest(hello)
    server = await asyncio.start_unix_server(guest.handle, path=path)
    try:
        yield guest
    finally:
        server.close()
        if guest.writer is not None:
            guest.writer.close()
