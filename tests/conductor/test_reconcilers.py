"""Reconcilers: power state sync, and the take-over of a dead conductor's nodes."""

from __future__ import annotations

import asyncio
import datetime as dt

from sqlalchemy import select, update

from barecloud import states
from barecloud.conductor import locks, recovery
from barecloud.conductor.engine import Conductor
from barecloud.conductor.reconcilers import POWER_FAILURE
from barecloud.db.models import Conductor as ConductorRow
from barecloud.db.models import Node, utcnow
from barecloud.db.transitions import apply_event
from barecloud.drivers import fake
from barecloud.services.baremetal import node_states
from barecloud.services.context import Runtime
from tests.conductor.conftest import RuntimeFactory
from tests.conductor.helpers import (
    CTX,
    drive,
    history,
    load,
    make_available,
    set_driver_info,
)


def _conductor(rt: Runtime) -> Conductor:
    assert isinstance(rt.local_conductor, Conductor)
    return rt.local_conductor


async def _lock(rt: Runtime, n: str, holder: str) -> None:
    node = await load(rt.db, n)
    async with rt.db.session() as s:
        assert await locks.reserve(s, node.id, holder)


async def _unlock(rt: Runtime, n: str, holder: str) -> None:
    node = await load(rt.db, n)
    async with rt.db.session() as s:
        assert await locks.release(s, node.id, holder)


# --- power sync -------------------------------------------------------------------
async def test_drift_is_recorded(rt: Runtime) -> None:
    n = await make_available(rt)
    assert (await load(rt.db, n)).power_state == states.POWER_OFF
    fake.MACHINES[n].power_state = states.POWER_ON  # someone pressed the button

    report = await _conductor(rt).reconcilers.sync_power()
    assert report.checked >= 1 and report.changed == 1 and report.failed == 0
    node = await load(rt.db, n)
    assert node.power_state == states.POWER_ON
    last = (await history(rt.db, n))[-1]
    assert last.event_type == "power"
    assert "outside barecloud" in last.event
    assert "power off" in last.event and "power on" in last.event
    # The "record" policy trusts the hardware: it changed nothing there.
    assert fake.MACHINES[n].power_state == states.POWER_ON
    # Converged: the next sweep has nothing to say.
    rows = len(await history(rt.db, n))
    report = await _conductor(rt).reconcilers.sync_power()
    assert report.changed == 0
    assert len(await history(rt.db, n)) == rows


async def test_enforce_restores_the_expected_state(make_runtime: RuntimeFactory) -> None:
    async with make_runtime(power_state_change_policy="enforce") as rt:
        n = await make_available(rt)
        node = await drive(rt, n, "active", states.ACTIVE)
        assert node.expected_power_state == states.POWER_ON
        fake.MACHINES[n].power_state = states.POWER_OFF

        await _conductor(rt).reconcilers.sync_power()
        assert fake.MACHINES[n].power_state == states.POWER_ON
        assert fake.MACHINES[n].log[-1] == "set power power on"
        node = await load(rt.db, n)
        assert node.power_state == states.POWER_ON
        assert node.maintenance is False
        last = (await history(rt.db, n))[-1]
        assert "outside barecloud" in last.event and "restored to power on" in last.event

        # What barecloud last set on purpose is what is enforced.
        await node_states.set_power_state(rt, CTX, n, states.POWER_OFF, None)
        for _ in range(200):
            node = await load(rt.db, n)
            if node.reservation is None and node.workflow is None:
                break
            await asyncio.sleep(0.02)
        assert node.expected_power_state == states.POWER_OFF
        fake.MACHINES[n].power_state = states.POWER_ON
        await _conductor(rt).reconcilers.sync_power()
        assert fake.MACHINES[n].power_state == states.POWER_OFF
        assert (await load(rt.db, n)).power_state == states.POWER_OFF


async def test_repeated_failures_put_the_node_in_maintenance_and_back(rt: Runtime) -> None:
    limit = rt.settings.power_sync_max_failures
    assert limit >= 2
    n = await make_available(rt)
    sync = _conductor(rt).reconcilers.sync_power
    # verify and clean need power too, so the BMC "breaks" once the node is available.
    await set_driver_info(rt.db, n, fake_fail="power")
    for i in range(1, limit):
        report = await sync()
        assert report.failed == 1 and report.to_maintenance == 0
        node = await load(rt.db, n)
        assert node.power_sync_failures == i
        assert node.maintenance is False and node.fault is None

    report = await sync()
    assert report.to_maintenance == 1
    node = await load(rt.db, n)
    assert node.maintenance is True
    assert node.fault == POWER_FAILURE
    assert node.power_state is None
    assert node.maintenance_reason is not None
    assert f"max retries ({limit}) exceeded" in node.maintenance_reason
    assert "fake_fail=power" in node.maintenance_reason
    assert node.last_error == node.maintenance_reason
    last = (await history(rt.db, n))[-1]
    assert last.severity == "ERROR" and "maintenance" in last.event

    # Still broken: stays in maintenance, is not sent there twice.
    report = await sync()
    assert report.failed == 1 and report.to_maintenance == 0
    assert (await load(rt.db, n)).maintenance is True

    # The BMC answers again: the next sweep takes the node out by itself.
    await set_driver_info(rt.db, n, fake_fail=None)
    report = await sync()
    assert report.recovered == 1
    node = await load(rt.db, n)
    assert node.maintenance is False
    assert node.fault is None and node.maintenance_reason is None
    assert node.power_sync_failures == 0
    assert node.power_state == states.POWER_OFF
    assert any("leaving maintenance" in r.event for r in await history(rt.db, n))
    # And it can be deployed again.
    await drive(rt, n, "active", states.ACTIVE)


async def test_operator_maintenance_is_left_alone(rt: Runtime) -> None:
    n = await make_available(rt)
    await node_states.set_maintenance(rt, CTX, n, True, "replacing a DIMM")
    fake.MACHINES[n].power_state = states.POWER_ON
    await set_driver_info(rt.db, n, fake_fail="power")
    for _ in range(rt.settings.power_sync_max_failures + 1):
        await _conductor(rt).reconcilers.sync_power()
    node = await load(rt.db, n)
    assert (node.maintenance, node.maintenance_reason, node.fault) == (
        True, "replacing a DIMM", None)
    assert node.power_sync_failures == 0
    assert node.power_state == states.POWER_OFF


async def test_locked_nodes_are_skipped(rt: Runtime) -> None:
    n = await make_available(rt)
    await _lock(rt, n, "someone-else")
    fake.MACHINES[n].power_state = states.POWER_ON
    await set_driver_info_locked(rt, n, fake_fail="power")
    for _ in range(rt.settings.power_sync_max_failures + 1):
        report = await _conductor(rt).reconcilers.sync_power()
        assert report.checked == 0
    node = await load(rt.db, n)
    assert node.power_state == states.POWER_OFF
    assert node.power_sync_failures == 0 and node.maintenance is False
    await _unlock(rt, n, "someone-else")
    await set_driver_info(rt.db, n, fake_fail=None)
    report = await _conductor(rt).reconcilers.sync_power()
    assert report.checked == 1 and report.changed == 1
    assert (await load(rt.db, n)).power_state == states.POWER_ON


async def set_driver_info_locked(rt: Runtime, n: str, **info: object) -> None:
    async with rt.db.session() as s:
        node = await s.scalar(select(Node).where(Node.uuid == n))
        assert node is not None
        await s.execute(update(Node).where(Node.id == node.id).values(
            driver_info={**node.driver_info, **info}))


async def test_a_node_locked_during_the_sweep_is_not_written(rt: Runtime) -> None:
    n = await make_available(rt)
    await set_driver_info(rt.db, n, fake_delay=0.6)
    fake.MACHINES[n].power_state = states.POWER_ON
    sweep = asyncio.create_task(_conductor(rt).reconcilers.sync_power())
    await asyncio.sleep(0.25)  # the BMC is being asked
    await _lock(rt, n, "someone-else")
    report = await sweep
    assert report.checked == 1 and report.changed == 0
    assert (await load(rt.db, n)).power_state == states.POWER_OFF
    await _unlock(rt, n, "someone-else")


async def test_enforce_never_acts_on_a_node_locked_during_the_sweep(
    make_runtime: RuntimeFactory,
) -> None:
    async with make_runtime(power_state_change_policy="enforce") as rt:
        n = await make_available(rt)
        await drive(rt, n, "active", states.ACTIVE)
        await set_driver_info(rt.db, n, fake_delay=0.6)
        fake.MACHINES[n].power_state = states.POWER_OFF
        sweep = asyncio.create_task(_conductor(rt).reconcilers.sync_power())
        await asyncio.sleep(0.25)  # the BMC is being asked; then a workflow takes the node
        await _lock(rt, n, "someone-else")
        report = await sweep
        assert report.checked == 1
        # The workflow owns the machine now: the sweep must not power it on under it.
        assert fake.MACHINES[n].power_state == states.POWER_OFF
        assert fake.MACHINES[n].log[-1] == "get power state"
        node = await load(rt.db, n)
        assert (node.power_state, node.reservation) == (states.POWER_ON, "someone-else")
        await _unlock(rt, n, "someone-else")


# --- dead conductors -------------------------------------------------------------------
async def _held_by_dead_conductor(rt: Runtime, *, heartbeat_age: float) -> tuple[str, str]:
    n = await make_available(rt)
    dead = "dead-conductor"
    async with rt.db.session() as s:
        s.add(ConductorRow(hostname=dead, online=True,
                           updated_at=utcnow() - dt.timedelta(seconds=heartbeat_age)))
        node = await s.scalar(select(Node).where(Node.uuid == n))
        assert node is not None
        s.add(apply_event(node, "deploy", conductor=dead))
        node.reservation = dead
        node.workflow, node.workflow_step = "deploy", 3
    return n, dead


async def test_dead_conductor_nodes_are_taken_over(rt: Runtime) -> None:
    n, dead = await _held_by_dead_conductor(rt, heartbeat_age=3600)
    # A power action the dead conductor had begun on an active node.
    m = await make_available(rt)
    await drive(rt, m, "active", states.ACTIVE)
    async with rt.db.session() as s:
        await s.execute(update(Node).where(Node.uuid == m).values(
            reservation=dead, workflow="power", target_power_state=states.POWER_OFF,
            workflow_args={"target": states.POWER_OFF}))

    taken = await recovery.take_over_dead(rt.db, rt.settings.conductor_name, 60)
    assert taken == [dead]
    node = await load(rt.db, n)
    assert node.provision_state == states.DEPLOYFAIL
    assert node.target_provision_state is None
    assert node.reservation is None
    assert (node.workflow, node.workflow_step) == (None, 0)
    assert node.last_error is not None
    assert f"Conductor {dead} stopped answering" in node.last_error
    assert "deploying" in node.last_error
    last = (await history(rt.db, n))[-1]
    assert (last.from_state, last.to_state, last.severity) == (
        states.DEPLOYING, states.DEPLOYFAIL, "ERROR")

    power = await load(rt.db, m)
    assert (power.provision_state, power.reservation, power.workflow) == (
        states.ACTIVE, None, None)
    assert power.target_power_state is None
    assert power.last_error is not None and "stopped answering" in power.last_error

    async with rt.db.session() as s:
        row = await s.scalar(select(ConductorRow).where(ConductorRow.hostname == dead))
        assert row is not None and row.online is False
    # Declared once; the node can be deployed again.
    assert await recovery.take_over_dead(rt.db, rt.settings.conductor_name, 60) == []
    await drive(rt, n, "active", states.ACTIVE)


async def test_a_live_conductor_keeps_its_nodes(rt: Runtime) -> None:
    n, dead = await _held_by_dead_conductor(rt, heartbeat_age=5)
    await _conductor(rt).reconcilers.membership()
    node = await load(rt.db, n)
    assert (node.provision_state, node.reservation) == (states.DEPLOYING, dead)
    # The same sweep declares it dead once its heartbeat is old enough.
    async with rt.db.session() as s:
        await s.execute(update(ConductorRow).where(ConductorRow.hostname == dead).values(
            updated_at=utcnow() - dt.timedelta(hours=1)))
    await _conductor(rt).reconcilers.membership()
    node = await load(rt.db, n)
    assert (node.provision_state, node.reservation) == (states.DEPLOYFAIL, None)
    # Our own conductor is never declared dead by itself.
    async with rt.db.session() as s:
        me = await s.scalar(select(ConductorRow).where(
            ConductorRow.hostname == rt.settings.conductor_name))
        assert me is not None and me.online is True
