"""The VM console relay end to end: the service's app (in this process, so the
test can call ``vm_console_relay.open_session`` as the console API does), the
real host agent with the fake driver, and a "guest": a Unix socket server the
test runs where the driver says the VM's console (or VNC server) is."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from barecloud.api.app import create_app
from barecloud.config import Settings
from barecloud.db.compute_models import Server
from barecloud.db.hypervisor_models import Hypervisor
from barecloud.db.session import Database
from barecloud.hostagent.fake import FakeDriver
from barecloud.hostagent.http import HttpClient, Unauthorized
from barecloud.hostagent.loop import PREFIX, HostAgent
from barecloud.hostagent.websocket import WebSocket
from barecloud.services.compute import host_credentials
from barecloud.services.compute import status as st
from barecloud.services.compute import vm_console_relay as relay
from barecloud.services.context import Runtime
from tests import support
from tests.hostagent.asgi import serving
from tests.hostagent.conftest import CAPACITY, eventually
from tests.hostagent.guest import guest_at


@dataclass
class Cloud:
    url: str
    rt: Runtime
    hosts: dict[str, tuple[Hypervisor, str]] = field(default_factory=dict)  # credential

    async def host(self, name: str) -> tuple[Hypervisor, str]:
        async with self.rt.db.session() as s:
            row = Hypervisor(hostname=name, enabled=True)
            credential = await host_credentials.enrol(s, row)
        self.hosts[name] = (row, credential)
        return row, credential

    async def vm(self, host: Hypervisor) -> str:
        """A server on ``host``, kept out of its desired list (``networking``): the
        fake agent does not try to build it, the relay does not care."""
        vm = str(uuid.uuid4())
        async with self.rt.db.session() as s:
            s.add(Server(uuid=vm, name="vm", project_id="p", user_id="u", flavor_id="f",
                         image_ref=str(uuid.uuid4()), reservation_id="r-1",
                         vm_state=st.ACTIVE, task_state=st.NETWORKING,
                         hypervisor_id=host.id))
        return vm


@pytest.fixture
async def cloud(tmp_path: Path) -> AsyncIterator[Cloud]:
    shutil.copyfile(support.migrated_sqlite(), tmp_path / "db.sqlite")
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    settings = Settings(data_dir=tmp_path, auth_strategy="noauth",
                        conductor_name="test-console-relay")
    rt = Runtime(db=db, settings=settings)
    try:
        async with serving(create_app(rt)) as url:
            yield Cloud(url, rt)
    finally:
        await db.dispose()


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """The fake hypervisor's directory: a Unix socket's path must be short."""
    path = Path(tempfile.mkdtemp(prefix="bc-hv-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def agent(cloud: Cloud, short_dir: Path, tmp_path: Path
                ) -> AsyncIterator[Callable[[str], HostAgent]]:
    tasks: list[tuple[HostAgent, asyncio.Task[None]]] = []

    def start(credential: str) -> HostAgent:
        running = HostAgent(cloud.url, credential, FakeDriver(CAPACITY, state_dir=short_dir),
                            tmp_path / f"state-{len(tasks)}", poll_wait=2.0)
        tasks.append((running, asyncio.create_task(running.run())))
        return running

    yield start
    for running, task in tasks:
        running.stop()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 10)


async def read_until(stream: relay.ConsoleStream, wanted: bytes, timeout: float = 10.0
                     ) -> bytes:
    got = b""
    async with asyncio.timeout(timeout):
        while wanted not in got:
            data = await stream.read()
            assert data, f"the stream ended with {got[-200:]!r}"
            got += data
    return got


async def test_bytes_flow_both_ways_through_the_host_agent(
        cloud: Cloud, agent: Callable[[str], HostAgent], short_dir: Path) -> None:
    host, credential = await cloud.host("hv1")
    vm = await cloud.vm(host)
    running = agent(credential)
    await asyncio.wait_for(running.registered.wait(), 10)
    async with guest_at(FakeDriver(state_dir=short_dir).console_socket(vm)) as guest:
        stream = await relay.open_serial(cloud.rt, host, vm, timeout=15)
        assert await read_until(stream, b"vm login: ")
        await stream.write(b"root\n")
        await eventually(lambda: guest.received == b"root\n", 10, "the guest gets the keys")
        # Much, in order, both ways.
        big = os.urandom(3 * 2**20)
        assert guest.writer is not None
        guest.writer.write(big)
        got = await read_until(stream, big[-64:], timeout=30)
        assert got == big
        typed = os.urandom(2**20)
        for i in range(0, len(typed), 4096):
            await stream.write(typed[i:i + 4096])
        await eventually(lambda: len(guest.received) >= 5 + len(typed), 30)
        assert bytes(guest.received[5:]) == typed
        # The user leaving hangs up the guest's port, and frees the console.
        await stream.close()
        await asyncio.wait_for(guest.hung_up.wait(), 10)
        assert await stream.read() == b""
        with pytest.raises(relay.ConsoleClosed):
            await stream.write(b"late")
        await eventually(lambda: vm not in _splices(), 10, "the agent's splice ended")
        # Again: a second session on the same VM works once the first has ended.
        guest.connected.clear()
        again = await relay.open_serial(cloud.rt, host, vm, timeout=15)
        assert await read_until(again, b"vm login: ")
        # The guest hanging up ends the user's stream.
        assert guest.writer is not None
        guest.writer.close()
        async with asyncio.timeout(10):
            while await again.read():
                pass
        await again.close()


def _splices() -> set[str]:
    """The VMs whose console the agent is carrying now (from its task names)."""
    return {t.get_name().split()[1] for t in asyncio.all_tasks()
            if t.get_name().startswith("console ") and not t.done()}


def _kinds(vm: str) -> set[str]:
    """The kinds of the VM's consoles the agent is carrying now."""
    return {t.get_name().split()[3] for t in asyncio.all_tasks()
            if t.get_name().startswith(f"console {vm} ") and not t.done()}


class VncServer:
    """QEMU's VNC server, as far as the relay can tell: it speaks first."""

    def __init__(self) -> None:
        self.received = bytearray()
        self.clients = 0
        self.hung_up = asyncio.Event()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.clients += 1
        writer.write(b"RFB 003.008\n")
        await writer.drain()
        while data := await reader.read(65536):
            self.received += data
        self.hung_up.set()
        writer.close()


async def test_a_vnc_session_beside_a_serial_one(
        cloud: Cloud, agent: Callable[[str], HostAgent], short_dir: Path) -> None:
    """A "vnc" entry: the agent connects the driver's vnc_socket; a serial session
    of the same VM runs beside it, and neither ends the other."""
    host, credential = await cloud.host("hv-vnc")
    vm = await cloud.vm(host)
    running = agent(credential)
    await asyncio.wait_for(running.registered.wait(), 10)
    fake = FakeDriver(state_dir=short_dir)
    server = VncServer()
    vnc_at = await asyncio.start_unix_server(server.handle, path=fake.vnc_socket(vm))
    try:
        async with guest_at(fake.console_socket(vm)) as guest:
            vnc = await relay.open_session(cloud.rt, host, vm, relay.VNC, timeout=15)
            assert await read_until(vnc, b"RFB 003.008\n")
            serial = await relay.open_session(cloud.rt, host, vm, relay.SERIAL, timeout=15)
            assert await read_until(serial, b"vm login: ")
            assert _kinds(vm) == {"serial", "vnc"}
            # One session of a kind at a time.
            with pytest.raises(relay.ConsoleInUse, match="The VNC console of instance"):
                await relay.open_session(cloud.rt, host, vm, relay.VNC, timeout=1)
            await vnc.write(b"RFB 003.008\n")
            await serial.write(b"root\n")
            await eventually(lambda: server.received == b"RFB 003.008\n", 10)
            await eventually(lambda: guest.received == b"root\n", 10)
            # The serial session ending leaves the VNC one carried, and the other way.
            await serial.close()
            await asyncio.wait_for(guest.hung_up.wait(), 10)
            await eventually(lambda: _kinds(vm) == {"vnc"}, 10, "the serial splice ended")
            await vnc.write(b"\x01")
            await eventually(lambda: server.received.endswith(b"\x01"), 10)
            again = await relay.open_session(cloud.rt, host, vm, relay.SERIAL, timeout=15)
            assert await read_until(again, b"vm login: ")
            await vnc.close()
            await asyncio.wait_for(server.hung_up.wait(), 10)
            await eventually(lambda: _kinds(vm) == {"serial"}, 10, "the VNC splice ended")
            await again.write(b"ls\n")
            await eventually(lambda: guest.received == b"root\nls\n", 10)
            await again.close()
            assert server.clients == 1
    finally:
        vnc_at.close()


async def test_a_console_nobody_opens_times_out(cloud: Cloud) -> None:
    host, _ = await cloud.host("hv-silent")
    vm = await cloud.vm(host)
    with pytest.raises(relay.ConsoleNotOpened) as caught:
        await relay.open_serial(cloud.rt, host, vm, timeout=0.3)
    assert caught.value.code == 409
    assert caught.value.message == (f"The host of instance {vm} did not open its console "
                                    "within 0.3 s.")
    # The session is gone: a new one is not "in use".
    with pytest.raises(relay.ConsoleNotOpened):
        await relay.open_serial(cloud.rt, host, vm, timeout=0.1)


async def test_a_console_the_agent_cannot_reach_fails_at_once(
        cloud: Cloud, agent: Callable[[str], HostAgent]) -> None:
    host, credential = await cloud.host("hv-no-guest")
    vm = await cloud.vm(host)
    running = agent(credential)  # nothing listens on the VM's console socket
    await asyncio.wait_for(running.registered.wait(), 10)
    with pytest.raises(relay.ConsoleUnavailable, match="not available on its host: cannot "
                       "connect to its console") as caught:
        async with asyncio.timeout(10):
            await relay.open_serial(cloud.rt, host, vm, timeout=15)
    assert caught.value.code == 409


async def test_the_long_poll_lists_sessions_and_the_leg_checks_who_opens_it(
        cloud: Cloud) -> None:
    """The test plays the agent: /consoles names the session; a leg with a wrong
    credential (4401), another host's (4404), or for another session (4404) is
    refused before any byte; the right one is carried."""
    host, credential = await cloud.host("hv-a")
    _, other = await cloud.host("hv-b")
    vm = await cloud.vm(host)
    poll = HttpClient(cloud.url + PREFIX, credential)
    bad = HttpClient(cloud.url + PREFIX, credential[:-2] + "xx")
    try:
        first = await poll.call("GET", "/consoles?since=0&wait=0")
        assert first["consoles"] == []
        with pytest.raises(Unauthorized):
            await bad.call("GET", "/consoles?since=0&wait=0")
        waiting = asyncio.create_task(poll.call("GET", f"/consoles?since={first['seq']}&wait=20"))
        await asyncio.sleep(0.2)
        assert not waiting.done()
        opening = asyncio.create_task(relay.open_serial(cloud.rt, host, vm, timeout=20))
        answer = await asyncio.wait_for(waiting, 5)  # woken by the new session
        (entry,) = answer["consoles"]
        assert entry["vm"] == vm and entry["kind"] == "serial"
        assert entry["url"] == f"/vms/{vm}/console/{entry['session']}"
        assert answer["seq"] > first["seq"]
        with pytest.raises(relay.ConsoleInUse):
            await relay.open_serial(cloud.rt, host, vm, timeout=1)

        leg = cloud.url.replace("http", "ws") + PREFIX + entry["url"]
        for who, url, code in [
                (credential[:-2] + "xx", leg, 4401),
                ("not-even-a-credential", leg, 4401),
                (other, leg, 4404),
                (credential, leg[:-3] + "abc", 4404)]:
            ws = await WebSocket.connect(url, {"Authorization": f"Bearer {who}"})
            assert await ws.receive() is None, who
            assert ws.close_code == code, (who, ws.close_reason)
            await ws.close()
        assert not opening.done()

        ws = await WebSocket.connect(leg, {"Authorization": f"Bearer {credential}"})
        stream = await asyncio.wait_for(opening, 5)
        await ws.send(b"from the guest")
        assert await read_until(stream, b"from the guest")
        await stream.write(b"to the guest")
        assert await asyncio.wait_for(ws.receive(), 5) == b"to the guest"
        # Once opened, the session is no longer listed, nor open to a second leg.
        assert (await poll.call("GET", "/consoles?since=0&wait=0"))["consoles"] == []
        second = await WebSocket.connect(leg, {"Authorization": f"Bearer {credential}"})
        assert await second.receive() is None and second.close_code == 4404
        await ws.close()
        assert await asyncio.wait_for(stream.read(), 5) == b""
        await stream.close()
    finally:
        await poll.close()
        await bad.close()
