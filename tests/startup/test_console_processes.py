"""VM consoles across API processes: two ``barecloud api`` processes and a
``barecloud conductor`` on PostgreSQL, the real host agent (the fake driver)
and a "guest" the test serves where the driver says the VM's console is.

The user's websocket reaches one API process, the agent's long-poll and leg
the other (and the other way round): the bytes flow both ways all the same; a
second writer on the other process is refused (4409); the process that owns a
session dying closes the agent's leg, and a new session works through the
survivor; a session whose owner died fails the agent's leg cleanly (4404).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from barecloud.config import Settings
from barecloud.db.compute_models import Server
from barecloud.db.console_models import ConsoleSession
from barecloud.db.hypervisor_models import Hypervisor
from barecloud.db.models import utcnow
from barecloud.db.session import Database
from barecloud.hostagent.fake import FakeDriver
from barecloud.hostagent.http import HttpClient
from barecloud.hostagent.loop import PREFIX, HostAgent
from barecloud.hostagent.websocket import WebSocket
from barecloud.services import console_tokens
from barecloud.services.compute import host_credentials
from barecloud.services.compute import status as st
from barecloud.services.context import Runtime
from tests import support
from tests.cluster import Proc
from tests.hostagent.conftest import CAPACITY, eventually
from tests.hostagent.guest import guest_at

pytestmark = pytest.mark.slow


@dataclass
class Processes:
    db_url: str
    data_dir: Path
    api: list[Proc]
    conductor: Proc

    def url(self, i: int) -> str:
        return self.api[i].url

    def ws(self, i: int) -> str:
        return self.api[i].url.replace("http://", "ws://")


def _ready(p: Proc, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not p.alive():
            raise RuntimeError(f"{p.name} exited:\n{p.log.read_text(errors='replace')[-3000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{p.url}/baremetal/v1", timeout=2).status_code == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"{p.name} did not answer:\n{p.log.read_text(errors='replace')[-3000:]}")


@pytest.fixture(scope="module")
def processes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Processes]:
    why = support.pg_available()
    if why:
        pytest.skip(why)
    root = tmp_path_factory.mktemp("consoles")
    (root / "data").mkdir()
    db_url, db_name = support.pg_create_database()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(support.REPO / "src"), *filter(None, [env.get("PYTHONPATH")])])
    env.update({"BARECLOUD_DATABASE_URL": db_url, "BARECLOUD_DATA_DIR": str(root / "data"),
                "BARECLOUD_HOST": "127.0.0.1", "BARECLOUD_AUTH_STRATEGY": "noauth",
                "BARECLOUD_CONDUCTOR_HEARTBEAT_INTERVAL": "1",
                "BARECLOUD_CONDUCTOR_HEARTBEAT_TIMEOUT": "6",
                "BARECLOUD_DB_POOL_SIZE": "5"})
    procs: list[Proc] = []
    try:
        subprocess.run([sys.executable, "-m", "barecloud", "db", "upgrade"], env=env,
                       check=True, capture_output=True)
        apis = []
        for i in range(2):
            port = support.free_port()
            apis.append(Proc(f"api-{i + 1}", "api", [sys.executable, "-m", "barecloud", "api"],
                             dict(env, BARECLOUD_PORT=str(port)), root / f"api-{i + 1}.log",
                             url=f"http://127.0.0.1:{port}"))
        conductor = Proc("conductor", "conductor", [sys.executable, "-m", "barecloud",
                                                    "conductor", "--name", "c1"],
                         env, root / "conductor.log")
        procs = [*apis, conductor]
        for p in procs:
            p.start()
        for p in apis:
            _ready(p)
        yield Processes(db_url, root / "data", apis, conductor)
    finally:
        for p in procs:
            p.stop()
        support.pg_drop_database(db_name)


@dataclass
class Vm:
    rt: Runtime
    host: Hypervisor
    credential: str
    uuid: str
    driver: FakeDriver

    async def token(self, kind: str = "serial") -> str:
        return await console_tokens.mint(self.rt, kind=kind, project_id="p",
                                         server_uuid=self.uuid, ttl=600)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """The fake hypervisor's directory: a Unix socket's path must be short."""
    path = Path(tempfile.mkdtemp(prefix="bc-cp-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def vm(processes: Processes, short_dir: Path) -> AsyncIterator[Vm]:
    """A host and a VM on it, kept out of its desired list (``networking``): the
    fake agent does not build it, the relay does not care."""
    db = Database(processes.db_url)
    rt = Runtime(db=db, settings=Settings(data_dir=processes.data_dir, auth_strategy="noauth",
                                          database_url=processes.db_url))
    async with db.session() as s:
        host = Hypervisor(hostname=f"hv-{uuid.uuid4().hex[:6]}", enabled=True)
        credential = await host_credentials.enrol(s, host)
    server = str(uuid.uuid4())
    async with db.session() as s:
        s.add(Server(uuid=server, name="vm", project_id="p", user_id="u", flavor_id="f",
                     image_ref=str(uuid.uuid4()), reservation_id="r-1", vm_state=st.ACTIVE,
                     task_state=st.NETWORKING, hypervisor_id=host.id))
    try:
        yield Vm(rt, host, credential, server, FakeDriver(CAPACITY, state_dir=short_dir))
    finally:
        await db.dispose()


@contextlib.asynccontextmanager
async def agent_at(url: str, vm: Vm, state: Path) -> AsyncIterator[HostAgent]:
    """The host's agent, long-polling (and opening its legs at) ``url``."""
    running = HostAgent(url, vm.credential, vm.driver, state, poll_wait=2.0)
    task = asyncio.create_task(running.run())
    try:
        await asyncio.wait_for(running.registered.wait(), 20)
        yield running
    finally:
        running.stop()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 15)


async def receive(ws: ClientConnection, wanted: bytes, timeout: float = 20.0) -> bytes:
    got = b""
    async with asyncio.timeout(timeout):
        while wanted not in got:
            message = await ws.recv()
            assert isinstance(message, bytes), message
            got += message
    return got


async def refused(url: str) -> tuple[int | None, str]:
    async with connect(url, open_timeout=10) as ws:
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 30)
        return ws.close_code, ws.close_reason or ""


async def rows(vm: Vm) -> list[ConsoleSession]:
    async with vm.rt.db.session() as s:
        return list((await s.scalars(select(ConsoleSession).where(
            ConsoleSession.server_uuid == vm.uuid))).all())


async def no_rows(vm: Vm, timeout: float) -> None:
    """Until the VM's console sessions are gone from the table."""
    for _ in range(int(timeout / 0.2)):
        if not await rows(vm):
            return
        await asyncio.sleep(0.2)
    assert await rows(vm) == []


@pytest.mark.parametrize(("user", "agent"), [(0, 1), (1, 0)], ids=["user-A-agent-B",
                                                                 "user-B-agent-A"])
async def test_a_console_whatever_process_each_leg_reaches(
        processes: Processes, vm: Vm, tmp_path: Path, user: int, agent: int) -> None:
    """The user's websocket on one process, the agent's long-poll and leg on the
    other: keys reach the guest, its output comes back; a second writer on the
    agent's process is refused (4409); VNC takes the same path."""
    async with agent_at(processes.url(agent), vm, tmp_path / "agent"), \
            guest_at(vm.driver.console_socket(vm.uuid)) as guest:
        token = await vm.token()
        url = f"{processes.ws(user)}/console/serial?token={token}"
        async with connect(url, open_timeout=10) as ws:
            assert await receive(ws, b"vm login: ")
            await ws.send(b"root\n")
            await eventually(lambda: guest.received == b"root\n", 20, "the guest gets the keys")
            assert guest.writer is not None
            big = os.urandom(256 * 1024)
            guest.writer.write(big)
            assert (await receive(ws, big[-64:]))[-len(big):] == big
            typed = os.urandom(128 * 1024)
            await ws.send(typed)
            await eventually(lambda: bytes(guest.received[5:]) == typed, 20)
            # A second writer on the other process: the console is in use.
            second = f"{processes.ws(agent)}/console/serial?token={await vm.token()}"
            code, reason = await refused(second)
            assert code == 4409, reason
            assert "is in use" in reason
            (row,) = await rows(vm)
            assert row.attached
        # The user leaving hangs up the guest's port, and the session's row goes.
        await asyncio.wait_for(guest.hung_up.wait(), 20)
        await no_rows(vm, 20)
        # VNC: the same path, the other console socket.
        async with guest_at(vm.driver.vnc_socket(vm.uuid), b"RFB 003.008\n") as vnc:
            url = f"{processes.ws(user)}/console/vnc?token={await vm.token('vnc')}"
            async with connect(url, open_timeout=10, subprotocols=["binary"]) as ws:  # type: ignore[list-item]
                assert await receive(ws, b"RFB 003.008\n")
                await ws.send(b"RFB 003.008\n")
                await eventually(lambda: vnc.received == b"RFB 003.008\n", 20)


@pytest.mark.parametrize(("poll", "leg"), [(0, 0), (0, 1), (1, 0), (1, 1)])
async def test_the_long_poll_and_the_leg_on_any_process(
        processes: Processes, vm: Vm, poll: int, leg: int) -> None:
    """The test plays the agent: the user's websocket on A, the long-poll on
    ``poll``, the leg on ``leg``.  The leg is checked wherever it lands (a wrong
    credential 4401), carries both ways, and is the session's only one (a
    second leg, on either process, 4404)."""
    client = HttpClient(processes.url(poll) + PREFIX, vm.credential)
    try:
        first = await client.call("GET", "/consoles?since=0&wait=0")
        waiting = asyncio.create_task(
            client.call("GET", f"/consoles?since={first['seq']}&wait=20"))
        url = f"{processes.ws(0)}/console/serial?token={await vm.token()}"
        async with connect(url, open_timeout=10) as ws:
            answer = await asyncio.wait_for(waiting, 15)  # woken by the new session
            (entry,) = answer["consoles"]
            assert entry["vm"] == vm.uuid and entry["kind"] == "serial"
            at = processes.ws(leg) + PREFIX + entry["url"]
            bad = await WebSocket.connect(at, {"Authorization": f"Bearer {vm.credential}x"})
            assert await bad.receive() is None and bad.close_code == 4401
            agent = await WebSocket.connect(at, {"Authorization": f"Bearer {vm.credential}"})
            await agent.send(b"\r\nvm login: ")
            assert await receive(ws, b"vm login: ")
            await ws.send(b"root\n")
            assert await asyncio.wait_for(agent.receive(), 15) == b"root\n"
            for other in (0, 1):
                again = processes.ws(other) + PREFIX + entry["url"]
                second = await WebSocket.connect(
                    again, {"Authorization": f"Bearer {vm.credential}"})
                assert await second.receive() is None and second.close_code == 4404
            assert (await client.call("GET", "/consoles?since=0&wait=0"))["consoles"] == []
            await agent.close()
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 15)  # the agent's end ends the user's
        await no_rows(vm, 20)
    finally:
        await client.close()


async def test_the_owner_dying_closes_the_agents_leg_and_the_survivor_serves(
        processes: Processes, vm: Vm, tmp_path: Path) -> None:
    """The session's owner (the user's process) is SIGKILLed: the agent's leg,
    handed over by the other process, closes; the dead owner's row does not block
    the next session, which works through the survivor; a session the dead owner
    announced fails the agent's leg cleanly (4404) and is dropped."""
    owner, survivor = processes.api[0], processes.api[1]
    async with agent_at(survivor.url, vm, tmp_path / "agent") as running, \
            guest_at(vm.driver.console_socket(vm.uuid)) as guest:
        url = f"{processes.ws(0)}/console/serial?token={await vm.token()}"
        ws = await connect(url, open_timeout=10)
        try:
            assert await receive(ws, b"vm login: ")
            (row,) = await rows(vm)
            dead_relay = row.relay
            owner.signal(signal.SIGKILL)
            assert owner.wait_exit(10)
            await asyncio.wait_for(guest.hung_up.wait(), 20)  # the agent's leg closed
        finally:
            with contextlib.suppress(Exception):
                await ws.close()
        assert await rows(vm)  # the dead owner's row, still there
        # A new session through the survivor: the dead owner's row gives way.
        url = f"{processes.ws(1)}/console/serial?token={await vm.token()}"
        async with connect(url, open_timeout=10) as ws:
            assert await receive(ws, b"vm login: ")
            await ws.send(b"again\n")
            await eventually(lambda: guest.received.endswith(b"again\n"), 20)
        await asyncio.wait_for(guest.hung_up.wait(), 20)
        await no_rows(vm, 20)  # the survivor's session row goes once it ends
        # A session the dead owner announced (as if it died before the leg came):
        # the survivor's long-poll lists it, the leg it hands over fails (4404),
        # and the row goes; nothing waits on it.
        async with vm.rt.db.session() as s:
            s.add(ConsoleSession(session="dead-owners-session", hypervisor_uuid=vm.host.uuid,
                                 server_uuid=vm.uuid, kind="serial", relay=dead_relay,
                                 attached=False,
                                 expires_at=utcnow() + dt.timedelta(seconds=60)))
        await no_rows(vm, 30)
        assert guest.clients == 3  # the agent connected for the dead one's leg
        await asyncio.wait_for(guest.hung_up.wait(), 20)  # and let go when it failed
        assert running.registered.is_set()
    owner.start()
    _ready(owner)
