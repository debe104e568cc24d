"""IPMI nodes driven by a real conductor over SQLite and PostgreSQL: workflows, power sync."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from typing import Any

from sqlalchemy import select

from barecloud import states
from barecloud.conductor.engine import Conductor
from barecloud.config import Settings
from barecloud.db.models import Node
from barecloud.db.session import Database
from barecloud.drivers import ipmi
from barecloud.errors import NodeLocked
from barecloud.services.baremetal import node_states, nodes
from barecloud.services.context import Runtime
from barecloud.wire.ipmi.commands import DeviceId
from barecloud.wire.ipmi.server import BmcServer, raise_open_files_limit
from tests.conductor.conftest import running
from tests.conductor.helpers import CTX, act, drive, history, load, wait_state
from tests.drivers.conftest import USERS, Machine, ipmi_info, view

FLEET = 500


async def _enroll(rt: Runtime, info: dict[str, Any], initial: str = states.ENROLL) -> str:
    node = await nodes.create(
        rt, CTX, {"driver": "ipmi", "name": f"ipmi-{uuid.uuid4().hex[:10]}",
                  "driver_info": info}, initial=initial)
    return node.uuid


def _conductor(rt: Runtime) -> Conductor:
    assert isinstance(rt.local_conductor, Conductor)
    return rt.local_conductor


async def test_manage_and_power_actions_through_the_conductor(
    rt: Runtime, bmcs: BmcServer
) -> None:
    machine = Machine(power_on=True, delay=0.05)
    bmc = await bmcs.add(machine, USERS)
    n = await _enroll(rt, ipmi_info(bmc.port))

    node = await drive(rt, n, "manage", states.MANAGEABLE)
    assert node.power_state == states.POWER_ON and node.last_error is None

    await node_states.set_power_state(rt, CTX, n, states.POWER_OFF, None)
    node = await _settled_power(rt, n)
    assert node.power_state == states.POWER_OFF and not machine.power_on
    await node_states.set_power_state(rt, CTX, n, states.REBOOT, 5)
    node = await _settled_power(rt, n)
    assert node.power_state == states.POWER_ON and machine.boots == 1 and not node.last_error


async def test_bad_credentials_and_missing_address_fail_verification(
    rt: Runtime, bmcs: BmcServer
) -> None:
    bmc = await bmcs.add(Machine(), USERS)
    wrong = await _enroll(rt, ipmi_info(bmc.port, ipmi_password="guessed-wrong"))
    await act(rt, wrong, "manage")
    node = await wait_state(rt, wrong, states.ENROLL)
    assert node.last_error is not None
    assert node.last_error.startswith(
        f"IPMI authentication to 127.0.0.1:{bmc.port} failed: wrong password")
    rows = await history(rt.db, wrong)
    assert all("guessed-wrong" not in (r.event or "") for r in rows)

    missing = await _enroll(rt, {"ipmi_username": "admin"})
    result = await nodes.validate(rt, CTX, missing)
    assert result["power"] == {"result": False, "reason": (
        "Missing the following IPMI settings in node's driver_info: ipmi_address.")}
    assert result["management"]["result"] is False
    await act(rt, missing, "manage")
    node = await wait_state(rt, missing, states.ENROLL)
    assert node.last_error is not None and "ipmi_address" in node.last_error


async def _settled_power(rt: Runtime, n: str, timeout: float = 10.0) -> Node:
    deadline = time.monotonic() + timeout
    while True:
        node = await load(rt.db, n)
        if node.workflow is None and node.reservation is None:
            return node
        assert time.monotonic() < deadline, f"power action on {n} did not end"
        await asyncio.sleep(0.02)


# The BMCs answer from the test's own event loop, which also runs the 500 log-ins'
# cryptography: on a busy machine a 1 s timeout failed 53 of the first sweep's 500.
TIMEOUT = 3.0


async def test_power_sync_of_500_bmcs(rt: Runtime, bmcs: BmcServer) -> None:
    """Every node's power state comes from its own BMC, over sessions kept open."""
    raise_open_files_limit(4 * FLEET + 256)
    rng = random.Random(7)
    machines = [Machine(power_on=rng.random() < 0.5) for _ in range(FLEET)]
    ports = [(await bmcs.add(m, USERS)).port for m in machines]

    started = time.monotonic()
    async with rt.db.session() as s:
        for port in ports:
            s.add(Node(driver="ipmi", name=f"bmc-{port}",
                       driver_info=ipmi_info(port, ipmi_timeout=TIMEOUT),
                       provision_state=states.MANAGEABLE, maintenance=False))
    enrolled = time.monotonic() - started

    def expected() -> dict[str | None, str | None]:
        return {f"bmc-{p}": states.POWER_ON if m.power_on else states.POWER_OFF
                for p, m in zip(ports, machines, strict=True)}

    async def in_db() -> dict[str | None, str | None]:
        async with rt.db.session() as s:
            return dict((await s.execute(
                select(Node.name, Node.power_state).where(Node.driver == "ipmi"))).tuples().all())

    sync = _conductor(rt).reconcilers.sync_power
    first = await sync()
    assert (first.checked, first.changed, first.failed) == (FLEET, FLEET, 0)
    assert await in_db() == expected()

    # Someone flips 50 machines behind barecloud's back.
    for m in rng.sample(machines, 50):
        m.power_on = not m.power_on
    second = await sync()
    assert (second.checked, second.changed, second.failed) == (FLEET, 50, 0)
    assert await in_db() == expected()
    # One log-in per BMC for both sweeps.
    assert ipmi.open_sessions() == FLEET
    assert {ipmi.session_of(view("ipmi", ipmi_info(p, ipmi_timeout=TIMEOUT))).logins
            for p in ports} == {1}

    # A BMC dies: it fails alone, in its own timeout; the others are still read.
    bmcs.remove(bmcs.bmcs[0])
    machines[-1].power_on = not machines[-1].power_on
    third = await sync()
    assert (third.changed, third.failed) == (1, 1)
    assert TIMEOUT <= third.seconds < 3 * TIMEOUT
    dead = await load(rt.db, await _uuid(rt, f"bmc-{ports[0]}"))
    assert dead.power_sync_failures == 1 and dead.power_state == expected()[dead.name or ""]
    print(f"\n{FLEET} BMCs ({rt.db.url.split(':')[0]}): enroll {enrolled:.2f} s; sync with "
          f"log-ins {first.seconds:.2f} s, on open sessions {second.seconds:.2f} s, "
          f"with one dead BMC ({TIMEOUT:g} s timeout) {third.seconds:.2f} s")


async def _uuid(rt: Runtime, name: str) -> str:
    async with rt.db.session() as s:
        found = await s.scalar(select(Node.uuid).where(Node.name == name))
        assert found is not None
        return found


class CountingMachine(Machine):
    """Notes when Get Device ID, the keep-alive's command, is asked."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[float] = []

    def device_id(self) -> DeviceId:
        self.asked.append(time.monotonic())
        return super().device_id()


async def test_periodic_power_sync_stays_warm_and_forgets_deleted_nodes(
    database: Database, settings: Settings
) -> None:
    """The conductor's own power sync every 2 s, BMCs that end sessions idle for
    1.5 s: keep-alives (every 0.2 s) keep one session, logged in once, across
    every sweep.  A deleted node's session is logged out after
    ipmi_session_max_idle; its BMC hears no more.  That is 3 s here: at 2 s, no
    more than the sweeps' period, the pool logged out the live node's session
    whenever a sweep came late (its next sweep logged in on a new session: CI
    runs on PostgreSQL)."""
    server = BmcServer(idle_timeout=1.5)
    kept_machine, gone_machine = CountingMachine(), CountingMachine()
    kept = await server.add(kept_machine, USERS)
    gone = await server.add(gone_machine, USERS)
    fast = settings.model_copy(update={"power_sync_interval": 2.0,
                                       "ipmi_keepalive_interval": 0.2,
                                       "ipmi_session_max_idle": 3.0})
    kept_view = view("ipmi", ipmi_info(kept.port))
    try:
        async with running(database, fast) as rt:
            await _enroll(rt, ipmi_info(kept.port), initial=states.MANAGEABLE)
            gone_uuid = await _enroll(rt, ipmi_info(gone.port), initial=states.MANAGEABLE)
            await asyncio.sleep(2.5)  # the first sweep has logged in
            warm = ipmi.session_of(kept_view)
            await asyncio.sleep(4.5)  # two more sweeps, the BMCs' timeout between them
            assert (await load(rt.db, gone_uuid)).power_state == states.POWER_OFF
            assert ipmi.session_of(kept_view) is warm and warm.logins == 1
            assert warm.keepalives >= 5
            for _ in range(50):  # a sweep may hold the node a moment
                try:
                    await nodes.remove(rt, CTX, gone_uuid)
                    break
                except NodeLocked:
                    await asyncio.sleep(0.05)
            await asyncio.sleep(4.5)  # past ipmi_session_max_idle, and a turn of the ring
            assert ipmi.open_sessions() == 1 and gone.sessions == {}
            heard = len(gone_machine.asked)
            await asyncio.sleep(1.0)
            assert len(gone_machine.asked) == heard
            assert ipmi.session_of(kept_view) is warm and warm.logins == 1
            assert len(kept.sessions) == 1
    finally:
        await ipmi.close_sessions()
        await server.close()
        defaults = Settings()
        ipmi.configure(defaults.ipmi_keepalive_interval, defaults.ipmi_session_max_idle)
