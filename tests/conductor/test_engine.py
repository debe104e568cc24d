"""The engine: exclusive locks, per-step progress, wait deadlines, windows."""

from __future__ import annotations

import asyncio
import datetime as dt

import pytest
from sqlalchemy import select

from barecloud import states
from barecloud.conductor import locks
from barecloud.conductor.engine import Conductor
from barecloud.conductor.workflows import WORKFLOWS
from barecloud.db.models import Allocation, Node, utcnow
from barecloud.drivers import fake
from barecloud.errors import InvalidParameter, NodeLocked
from barecloud.services.baremetal import agent, node_states
from barecloud.services.context import Runtime
from tests.conductor.conftest import RuntimeFactory
from tests.conductor.helpers import (
    CTX,
    act,
    agent_token,
    drive,
    heartbeat,
    history,
    load,
    make_available,
    set_driver_info,
    wait_state,
)

DEPLOY_STEPS = [step.name for step in WORKFLOWS["deploy"]]
WRITE_IMAGE = DEPLOY_STEPS.index("write image")
# The deploy steps a node outside a chain batch runs ("agent up" is a chain member's).
RUN_STEPS = [s for s in DEPLOY_STEPS if s != "agent up"]


# --- the lock -------------------------------------------------------------------
async def test_two_concurrent_requests_on_one_node_exactly_one_wins(rt: Runtime) -> None:
    n = await make_available(rt)
    await set_driver_info(rt.db, n, fake_delay=0.1)
    results = await asyncio.gather(
        act(rt, n, "active"), act(rt, n, "active"), return_exceptions=True
    )
    winners = [r for r in results if r is None]
    losers = [r for r in results if r is not None]
    assert len(winners) == 1, results
    assert len(losers) == 1 and isinstance(losers[0], NodeLocked), results
    assert "is locked by host" in str(losers[0])
    node = await load(rt.db, n)
    assert node.provision_state == states.DEPLOYING
    assert node.reservation == "test-conductor"
    await wait_state(rt, n, states.ACTIVE)
    rows = [r for r in await history(rt.db, n) if r.event.startswith("deploy: ")]
    assert len(rows) == 1, [r.event for r in rows]


async def test_any_request_on_a_locked_node_is_refused_with_node_locked(rt: Runtime) -> None:
    n = await make_available(rt)
    await set_driver_info(rt.db, n, fake_delay=0.1)
    await act(rt, n, "active")
    for verb in ("deleted", "manage", "active", "abort"):
        with pytest.raises(NodeLocked):
            await act(rt, n, verb)
    with pytest.raises(NodeLocked):
        await node_states.set_power_state(rt, CTX, n, states.POWER_OFF, None)
    await wait_state(rt, n, states.ACTIVE)


async def test_reserve_is_atomic_between_sessions(rt: Runtime) -> None:
    n = await make_available(rt)
    node = await load(rt.db, n)

    async def claim(holder: str) -> bool:
        async with rt.db.session() as s:
            return await locks.reserve(s, node.id, holder)

    results = await asyncio.gather(*(claim(f"c{i}") for i in range(8)))
    assert sorted(results) == [False] * 7 + [True]
    holder = f"c{results.index(True)}"
    assert (await load(rt.db, n)).reservation == holder
    async with rt.db.session() as s:
        assert not await locks.release(s, node.id, "someone-else")
        assert await locks.release(s, node.id, holder)
    assert (await load(rt.db, n)).reservation is None


async def test_lock_released_after_success(rt: Runtime) -> None:
    n = await make_available(rt)
    node = await drive(rt, n, "active", states.ACTIVE)
    assert (node.reservation, node.workflow, node.workflow_step) == (None, None, 0)
    # Immediate transitions (no workflow) hold the lock only inside the request.
    n2 = await make_available(rt)
    await act(rt, n2, "manage")
    node2 = await load(rt.db, n2)
    assert node2.provision_state == states.MANAGEABLE
    assert node2.reservation is None
    # Power actions too.
    await node_states.set_power_state(rt, CTX, n, states.POWER_OFF, None)
    await _until(rt, n, lambda row: row.reservation is None and row.workflow is None)
    node = await load(rt.db, n)
    assert node.power_state == states.POWER_OFF
    assert node.target_power_state is None
    assert fake.MACHINES[n].power_state == states.POWER_OFF


async def test_lock_released_after_failure(rt: Runtime) -> None:
    n = await make_available(rt)
    await set_driver_info(rt.db, n, fake_fail="deploy")
    node = await drive(rt, n, "active", states.DEPLOYFAIL)
    assert node.reservation is None and node.workflow is None
    assert node.last_error is not None and "fake_fail=deploy" in node.last_error
    # A failing power action releases it too, and says why.
    await set_driver_info(rt.db, n, fake_fail="power")
    await node_states.set_power_state(rt, CTX, n, states.POWER_ON, None)
    node = await _until(rt, n, lambda row: row.reservation is None and row.workflow is None)
    assert node.last_error is not None and "fake_fail=power" in node.last_error
    assert node.target_power_state is None
    assert node.provision_state == states.DEPLOYFAIL
    # And the node can be worked on again.
    await set_driver_info(rt.db, n, fake_fail=None)
    await drive(rt, n, "active", states.ACTIVE)


async def _until(rt: Runtime, n: str, ok: object, timeout: float = 10.0) -> Node:
    assert callable(ok)
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        node = await load(rt.db, n)
        if ok(node):
            return node
        assert loop.time() < end, f"condition not met: {node.__dict__}"
        await asyncio.sleep(0.02)


# --- progress ---------------------------------------------------------------------
async def test_workflow_progress_is_saved_after_every_step(rt: Runtime) -> None:
    n = await make_available(rt)
    delay = 0.05
    await set_driver_info(rt.db, n, fake_delay=delay)
    await act(rt, n, "active")
    seen: list[int] = []
    while True:
        node = await load(rt.db, n)
        if node.provision_state != states.DEPLOYING:
            break
        if not seen or seen[-1] != node.workflow_step:
            seen.append(node.workflow_step)
            assert node.deploy_step == {} or node.deploy_step["index"] == node.workflow_step - 1
        await asyncio.sleep(0.005)
    assert node.provision_state == states.ACTIVE, node.last_error
    assert seen == sorted(seen), seen
    assert len(seen) >= 4, f"progress was not visible step by step: {seen}"
    assert (node.workflow_step, node.deploy_step, node.reservation) == (0, {}, None)

    rows = [r for r in await history(rt.db, n) if r.event_type == "deploy"]
    assert [r.event for r in rows] == [f"deploy step {s}: done" for s in RUN_STEPS]
    assert all(r.duration is not None and r.duration >= 0 for r in rows)
    delayed = [r for r in rows if "network" not in r.event and "validate" not in r.event]
    assert all(r.duration is not None and r.duration >= delay * 0.9 for r in delayed), [
        (r.event, r.duration) for r in delayed]


async def test_a_wait_keeps_the_step_and_releases_the_lock(rt: Runtime) -> None:
    n = await make_available(rt)
    await set_driver_info(rt.db, n, fake_callback=True)
    before = utcnow()
    node = await drive(rt, n, "active", states.DEPLOYWAIT)
    assert node.target_provision_state == states.ACTIVE
    assert node.workflow == "deploy"
    assert node.workflow_step == WRITE_IMAGE + 1
    assert node.deploy_step == {"step": "write image", "index": WRITE_IMAGE,
                                "interface": "deploy"}
    assert node.reservation is None
    assert node.workflow_deadline is not None
    expected = before + dt.timedelta(seconds=rt.settings.deploy_callback_timeout)
    assert abs((node.workflow_deadline - expected).total_seconds()) < 30
    assert fake.MACHINES[n].image == "fake-image"
    steps = [r.event for r in await history(rt.db, n) if r.event_type == "deploy"]
    assert steps == [f"deploy step {s}: done" for s in RUN_STEPS[: WRITE_IMAGE]]

    await heartbeat(rt, n)
    node = await wait_state(rt, n, states.ACTIVE)
    steps = [r.event for r in await history(rt.db, n) if r.event_type == "deploy"]
    # Resumed where it stopped: no step ran twice.
    assert steps == [f"deploy step {s}: done" for s in RUN_STEPS]
    assert node.workflow_deadline is None
    assert node.power_state == states.POWER_ON
    assert node.expected_power_state == states.POWER_ON


# --- wait deadlines and heartbeats ----------------------------------------------------
async def test_deadline_fails_a_node_that_never_calls_back(
    make_runtime: RuntimeFactory,
) -> None:
    async with make_runtime(deploy_callback_timeout=1.0) as rt:
        conductor = rt.local_conductor
        assert isinstance(conductor, Conductor)
        n = await make_available(rt)
        await set_driver_info(rt.db, n, fake_callback=True)
        await drive(rt, n, "active", states.DEPLOYWAIT)
        token = await agent_token(rt, n)
        assert await conductor.reconcilers.check_deadlines() == 0
        assert (await load(rt.db, n)).provision_state == states.DEPLOYWAIT
        await asyncio.sleep(1.1)
        assert await conductor.reconcilers.check_deadlines() == 1
        node = await load(rt.db, n)
        assert node.provision_state == states.DEPLOYFAIL
        assert node.target_provision_state is None
        assert node.last_error is not None
        assert "Timeout reached while waiting for callback" in node.last_error
        assert n in node.last_error and "wait call-back" in node.last_error
        assert (node.reservation, node.workflow, node.workflow_deadline) == (None, None, None)
        last = (await history(rt.db, n))[-1]
        assert (last.from_state, last.to_state, last.severity) == (
            states.DEPLOYWAIT, states.DEPLOYFAIL, "ERROR")
        assert "Timeout" in last.event
        # Nothing left to fail; a late heartbeat resumes nothing.
        assert await conductor.reconcilers.check_deadlines() == 0
        await heartbeat(rt, n, token=token)
        await asyncio.sleep(0.2)
        assert (await load(rt.db, n)).provision_state == states.DEPLOYFAIL


async def test_deadline_skips_a_locked_node(make_runtime: RuntimeFactory) -> None:
    async with make_runtime(clean_callback_timeout=0.1) as rt:
        conductor = rt.local_conductor
        assert isinstance(conductor, Conductor)
        n = await make_available(rt)
        await set_driver_info(rt.db, n, fake_callback=True)
        await act(rt, n, "manage")
        await drive(rt, n, "clean", states.CLEANWAIT)
        await asyncio.sleep(0.2)
        async with rt.db.session() as s:
            node_id = await s.scalar(select(Node.id).where(Node.uuid == n))
            assert node_id is not None
            assert await locks.reserve(s, node_id, "other-conductor")
        assert await conductor.reconcilers.check_deadlines() == 0
        node = await load(rt.db, n)
        assert (node.provision_state, node.reservation) == (states.CLEANWAIT, "other-conductor")
        async with rt.db.session() as s:
            assert await locks.release(s, node_id, "other-conductor")
        assert await conductor.reconcilers.check_deadlines() == 1
        node = await load(rt.db, n)
        assert (node.provision_state, node.reservation) == (states.CLEANFAIL, None)


async def test_heartbeat_with_a_wrong_token_is_refused(rt: Runtime) -> None:
    n = await make_available(rt)
    await set_driver_info(rt.db, n, fake_callback=True)
    await drive(rt, n, "active", states.DEPLOYWAIT)
    token = await agent_token(rt, n)
    assert token
    for bad in ("not-the-token", token[:-1], token + "x", "", None, 42):
        with pytest.raises(agent.Unauthorized, match="agent token"):
            await agent.heartbeat(rt, CTX, n, {"agent_token": bad})
    with pytest.raises(agent.Unauthorized):
        await agent.heartbeat(rt, CTX, n, {})
    node = await load(rt.db, n)
    assert node.provision_state == states.DEPLOYWAIT
    assert node.reservation is None
    assert "agent_last_heartbeat" not in node.agent_info()
    await heartbeat(rt, n, token=token)
    node = await wait_state(rt, n, states.ACTIVE)
    assert "agent_last_heartbeat" in node.agent_info()
    # A new deploy gets a new token; the old one no longer works.
    await set_driver_info(rt.db, n, fake_callback=True)
    await drive(rt, n, "rebuild", states.DEPLOYWAIT)
    with pytest.raises(agent.Unauthorized):
        await heartbeat(rt, n, token=token)


# --- windows ------------------------------------------------------------------------
async def test_deploy_window_queues_work_past_the_limit(make_runtime: RuntimeFactory) -> None:
    async with make_runtime(max_concurrent_deploys=2) as rt:
        uuids = list(await asyncio.gather(*(make_available(rt) for _ in range(5))))
        for n in uuids:
            await set_driver_info(rt.db, n, fake_delay=0.04)
            fake.MACHINES[n].log.clear()

        def running() -> int:
            count = 0
            for n in uuids:
                log = fake.MACHINES[n].log
                if "prepare ramdisk" in log and "set power power on" not in log:
                    count += 1
            return count

        samples: list[int] = []
        done = asyncio.Event()

        async def sample() -> None:
            while not done.is_set():
                samples.append(running())
                await asyncio.sleep(0.003)

        sampler = asyncio.create_task(sample())
        # Every request is accepted at once (queued, not rejected) ...
        for n in uuids:
            await act(rt, n, "active")
        assert {(await load(rt.db, n)).provision_state for n in uuids} == {states.DEPLOYING}
        # ... and every node gets there.
        for n in uuids:
            await wait_state(rt, n, states.ACTIVE, timeout=30)
        done.set()
        await sampler
        assert max(samples) == 2, f"deploys at once: max {max(samples)}"
        assert all(fake.MACHINES[n].log[-1] == "set power power on" for n in uuids)


async def test_invalid_verb_is_refused_and_leaves_no_lock(rt: Runtime) -> None:
    n = await make_available(rt)
    with pytest.raises(InvalidParameter, match="can not be performed"):
        await act(rt, n, "unrescue")
    node = await load(rt.db, n)
    assert (node.provision_state, node.reservation) == (states.AVAILABLE, None)


async def test_undeploy_forgets_the_instance_once_torn_down(rt: Runtime) -> None:
    """Ironic's tear-down sets ``instance_info = {}`` and ``instance_uuid`` none and
    deletes the node's allocation before cleaning starts: what was deployed (image,
    sizes, the tenant's display name) is not left on a node that has none, even one
    whose cleaning then fails."""
    info = {"image_source": "http://192.0.2.10/one.raw", "display_name": "tenant-web",
            "root_gb": "10"}
    for fail, end in ((None, states.AVAILABLE), ("clean", states.CLEANFAIL)):
        n = await make_available(rt)
        async with rt.db.session() as s:
            node = await s.scalar(select(Node).where(Node.uuid == n))
            assert node is not None
            node.instance_info = dict(info)
            alloc = Allocation(resource_class="x", state=states.ALLOC_ACTIVE, node_id=node.id)
            s.add(alloc)
            await s.flush()
            node.instance_uuid = node.allocation_uuid = alloc.uuid
        await drive(rt, n, "active", states.ACTIVE)
        assert (await load(rt.db, n)).instance_info["display_name"] == "tenant-web"
        await set_driver_info(rt.db, n, fake_fail=fail)
        node = await drive(rt, n, "deleted", end)
        assert node.instance_info == {}, (fail, node.instance_info)
        assert (node.instance_uuid, node.allocation_uuid) == (None, None)
        async with rt.db.session() as s:
            assert await s.scalar(select(Allocation).where(Allocation.uuid == alloc.uuid)) is None
