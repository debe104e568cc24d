"""The channel API processes hand each other console legs through: nobody without
the processes' key opens a session, nor poses as its owner; a recorded request
opens nothing again; a join carries bytes both ways."""

from __future__ import annotations

import asyncio
import json
import logging
import stat
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from barecloud.services.compute import console_peers as peers

KEY = b"k" * 64


class Owner:
    def __init__(self) -> None:
        self.asked: list[peers.Ask] = []

    async def handle(self, ask: peers.Ask, answer: Callable[[bool], Awaitable[None]],
                     link: peers.Link) -> None:
        self.asked.append(ask)
        if ask.session != "s1":
            await answer(False)
            return
        await answer(True)
        if ask.op == peers.JOIN:
            while (data := await link.receive()) is not None:
                await link.send(data.upper())


@pytest.fixture
async def owner() -> AsyncIterator[tuple[Owner, peers.Listener]]:
    handler = Owner()
    listener = peers.Listener(KEY, handler.handle, "127.0.0.1")
    await listener.start()
    try:
        yield handler, listener
    finally:
        await listener.stop()


async def test_a_join_carries_bytes_and_a_probe_answers(
        owner: tuple[Owner, peers.Listener]) -> None:
    handler, listener = owner
    link = await peers.ask(listener.address, KEY, peers.Ask(peers.JOIN, "s1"))
    assert link is not None
    await link.send(b"hello")
    assert await asyncio.wait_for(link.receive(), 5) == b"HELLO"
    await link.close()
    assert await peers.ask(listener.address, KEY, peers.Ask(peers.PROBE, "s1")) is not None
    assert await peers.ask(listener.address, KEY, peers.Ask(peers.PROBE, "s2")) is None
    assert await peers.ask(listener.address, KEY, peers.Ask(peers.JOIN, "s2")) is None
    assert [a.op for a in handler.asked] == [peers.JOIN, peers.PROBE, peers.PROBE, peers.JOIN]


async def test_without_the_key_nothing_is_opened_nor_said(
        owner: tuple[Owner, peers.Listener], caplog: pytest.LogCaptureFixture) -> None:
    handler, listener = owner
    with caplog.at_level(logging.DEBUG), pytest.raises(peers.Unreachable):
        await peers.ask(listener.address, b"x" * 64, peers.Ask(peers.JOIN, "s1"))
    assert handler.asked == []
    assert "without the key" in caplog.text
    assert KEY.decode() not in caplog.text


async def test_a_recorded_request_opens_nothing_again(
        owner: tuple[Owner, peers.Listener]) -> None:
    """The request is bound to the owner's nonce of that connection."""
    handler, listener = owner
    host, port = peers.split_address(listener.address)
    reader, writer = await asyncio.open_connection(host, port)
    nonce = json.loads(await reader.readline())["nonce"]
    mine = "ab" * 16
    request = {"op": peers.JOIN, "session": "s1", "reason": "", "nonce": mine,
               "mac": peers._mac(KEY, "ask", nonce, mine, peers.JOIN, "s1", "")}
    writer.write(json.dumps(request).encode() + b"\n")
    assert json.loads(await reader.readline())["ok"] is True
    writer.close()
    # The same line on a new connection: another nonce, refused without a word.
    reader, writer = await asyncio.open_connection(host, port)
    await reader.readline()
    writer.write(json.dumps(request).encode() + b"\n")
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()
    assert len(handler.asked) == 1


async def test_an_impostor_owner_is_given_no_leg() -> None:
    """Something at the owner's address without the key: its answer is not believed."""

    async def impostor(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b'{"nonce": "00"}\n')
        await reader.readline()
        writer.write(b'{"ok": true, "mac": "' + b"0" * 64 + b'"}\n')
        await writer.drain()
        await reader.read()

    server = await asyncio.start_server(impostor, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(peers.Unreachable, match="without the key"):
            await peers.ask(f"127.0.0.1:{port}", KEY, peers.Ask(peers.JOIN, "s1"))
        # Nobody listening: Unreachable too.
        server.close()
        await server.wait_closed()
        with pytest.raises(peers.Unreachable):
            await peers.ask(f"127.0.0.1:{port}", KEY, peers.Ask(peers.PROBE, "s1"))
    finally:
        server.close()


def test_the_key_is_made_once_and_private(tmp_path: Path) -> None:
    key = peers.load_key(tmp_path)
    assert len(key) == 64 and peers.load_key(tmp_path) == key
    mode = (tmp_path / peers.KEY_FILE).stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_addresses() -> None:
    assert peers.join_address("::1", 5) == "[::1]:5"
    assert peers.split_address("[::1]:5") == ("::1", 5)
    assert peers.split_address("10.0.0.1:6") == ("10.0.0.1", 6)
    assert peers.advertised_host("10.0.0.7", "postgresql+asyncpg://db/x") == "10.0.0.7"
    assert peers.advertised_host("0.0.0.0", "postgresql+asyncpg://127.0.0.1/x") == "127.0.0.1"
