"""The QMP client against a small fake QEMU monitor on a Unix socket."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from barecloud.hostagent.qmp import (
    QmpClient,
    QmpCommandError,
    QmpConnectionError,
    QmpTimeout,
)

GREETING = {"QMP": {"version": {"qemu": {"micro": 0, "minor": 2, "major": 7}},
                    "capabilities": ["oob"]}}


class FakeQemu:
    """Greets, wants qmp_capabilities first, answers a few commands (some late, some
    out of order), sends events, hangs up on ``quit``."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.writers: list[asyncio.StreamWriter] = []
        self.held: list[dict[str, Any]] = []  # "hold" commands, answered after "flush"
        self.holding = asyncio.Event()

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writers.append(writer)

        def send(message: dict[str, Any]) -> None:
            writer.write(json.dumps(message).encode() + b"\r\n")

        send(GREETING)
        negotiated = False
        while line := await reader.readline():
            msg = json.loads(line)
            self.received.append(msg)
            cmd, ident = msg.get("execute"), msg.get("id")
            if cmd == "qmp_capabilities":
                negotiated = True
                send({"return": {}, "id": ident})
            elif not negotiated:
                send({"error": {"class": "CommandNotFound", "desc": "capabilities first"},
                      "id": ident})
            elif cmd == "query-status":
                send({"return": {"status": "running", "running": True}, "id": ident})
            elif cmd == "system_powerdown":
                send({"event": "POWERDOWN", "timestamp": {"seconds": 1, "microseconds": 0}})
                send({"return": {}, "id": ident})
            elif cmd == "hold":
                self.held.append(msg)
                self.holding.set()
            elif cmd == "flush":  # answer the held ones last-first, then this one
                for held in reversed(self.held):
                    send({"return": held["arguments"], "id": held["id"]})
                self.held.clear()
                send({"return": "flushed", "id": ident})
            elif cmd == "silent":
                pass
            elif cmd == "quit":
                send({"return": {}, "id": ident})
                await writer.drain()
                writer.close()
                return
            else:
                send({"error": {"class": "CommandNotFound",
                                "desc": f"The command {cmd} has not been found"}, "id": ident})
            await writer.drain()


@pytest.fixture
async def fake(tmp_path: Path) -> AsyncIterator[tuple[FakeQemu, Path]]:
    qemu = FakeQemu()
    path = tmp_path / "qmp.sock"
    server = await asyncio.start_unix_server(qemu.serve, path)
    try:
        yield qemu, path
    finally:
        for w in qemu.writers:
            w.close()
        server.close()
        await server.wait_closed()


async def test_handshake_then_commands(fake: tuple[FakeQemu, Path]) -> None:
    qemu, path = fake
    client = await QmpClient.connect(path)
    try:
        assert client.greeting["QMP"]["version"]["qemu"]["major"] == 7
        assert qemu.received[0]["execute"] == "qmp_capabilities"
        assert await client.execute("query-status") == {"status": "running", "running": True}
        assert qemu.received[-1]["id"] != qemu.received[0]["id"]
    finally:
        await client.close()


async def test_answers_are_matched_by_id(fake: tuple[FakeQemu, Path]) -> None:
    qemu, path = fake
    client = await QmpClient.connect(path)
    try:
        first = asyncio.create_task(client.execute("hold", {"n": 1}))
        second = asyncio.create_task(client.execute("hold", {"n": 2}))
        while len(qemu.held) < 2:
            qemu.holding.clear()
            await asyncio.wait_for(qemu.holding.wait(), 2)
        assert await client.execute("flush") == "flushed"
        assert await first == {"n": 1}
        assert await second == {"n": 2}
    finally:
        await client.close()


async def test_error_answer(fake: tuple[FakeQemu, Path]) -> None:
    _, path = fake
    client = await QmpClient.connect(path)
    try:
        with pytest.raises(QmpCommandError) as caught:
            await client.execute("no-such-command")
        assert caught.value.error_class == "CommandNotFound"
        assert "no-such-command" in caught.value.desc
        assert await client.execute("query-status")  # still usable
    finally:
        await client.close()


async def test_timeout_leaves_the_connection_usable(fake: tuple[FakeQemu, Path]) -> None:
    _, path = fake
    client = await QmpClient.connect(path)
    try:
        with pytest.raises(QmpTimeout):
            await client.execute("silent", timeout=0.2)
        assert not client.closed
        assert (await client.execute("query-status"))["status"] == "running"
    finally:
        await client.close()


async def test_events_are_queued(fake: tuple[FakeQemu, Path]) -> None:
    _, path = fake
    client = await QmpClient.connect(path)
    try:
        await client.execute("system_powerdown")
        event = await client.wait_event("POWERDOWN", timeout=2)
        assert event["event"] == "POWERDOWN"
        assert client.events() == []
        await client.execute("system_powerdown")
        await client.execute("query-status")
        assert [e["event"] for e in client.events()] == ["POWERDOWN"]
        with pytest.raises(QmpTimeout):
            await client.wait_event("SHUTDOWN", timeout=0.2)
    finally:
        await client.close()


async def test_hang_up_fails_pending_commands(fake: tuple[FakeQemu, Path]) -> None:
    _, path = fake
    client = await QmpClient.connect(path)
    try:
        pending = asyncio.create_task(client.execute("silent"))
        await asyncio.sleep(0.05)
        assert await client.execute("quit") == {}
        with pytest.raises(QmpConnectionError):
            await asyncio.wait_for(pending, 2)
        assert client.closed
        with pytest.raises(QmpConnectionError):
            await client.execute("query-status")
    finally:
        await client.close()


async def test_no_monitor(tmp_path: Path) -> None:
    with pytest.raises(QmpConnectionError):
        await QmpClient.connect(tmp_path / "nothing.sock", timeout=1)


async def test_socket_path_longer_than_sun_path(tmp_path: Path) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    path = deep / "qmp.sock"
    assert len(str(path)) > 108
    qemu = FakeQemu()
    # Bind through the directory too: the server side has the same limit.
    cwd = os.getcwd()
    os.chdir(deep)
    try:
        server = await asyncio.start_unix_server(qemu.serve, "qmp.sock")
    finally:
        os.chdir(cwd)
    try:
        client = await QmpClient.connect(path)
        assert (await client.execute("query-status"))["running"] is True
        await client.close()
    finally:
        for w in qemu.writers:
            w.close()
        server.close()
        await server.wait_closed()
