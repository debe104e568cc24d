"""Writes of a node are fenced: by its version, by its lock, and the agent's own row.

The races are played for real on PostgreSQL: one transaction holds a row
lock while the request under test runs into it, which is how READ COMMITTED
let a write made from a stale read overwrite a newer one.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select, update

from barecloud import states
from barecloud.conductor import agent_tokens, locks, wakeups
from barecloud.conductor.mailbox import MAILBOX
from barecloud.config import Settings
from barecloud.db import node_agents
from barecloud.db.models import Node, NodeAgent, NodeHistory, utcnow
from barecloud.db.session import Database
from barecloud.db.transitions import fail_and_clear
from barecloud.errors import NodeChanged, NodeLocked
from barecloud.services.baremetal import agent, node_states, nodes
from barecloud.services.context import Runtime
from tests.conductor.helpers import CTX, load

HOLDER = "c-fence"
TOKEN = "agent-token-for-the-fence-tests"


@pytest.fixture
async def rt(database: Database, settings: Settings) -> AsyncIterator[Runtime]:
    """A Runtime with a live conductor row and no conductor running: the tests play it."""
    from barecloud.conductor import recovery

    await recovery.register(database, HOLDER, "", timeout=60)
    yield Runtime(database, settings)


async def _node(rt: Runtime) -> str:
    node = await nodes.create(rt, CTX, {"driver": "fake-hardware", "deploy_interface": "agent",
                                        "name": f"n-{uuid.uuid4().hex[:8]}"},
                              initial=states.ENROLL)
    return node.uuid


async def _waiting(rt: Runtime, command: str | None = "write_image") -> tuple[str, str | None]:
    """A node in deploy wait (unlocked) whose agent has ``command`` pending: the state
    a conductor leaves it in; its uuid and the command's id."""
    n = await _node(rt)
    async with rt.db.session() as s:
        node = await s.scalar(select(Node).where(Node.uuid == n))
        assert node is not None
        node.provision_state, node.target_provision_state = states.DEPLOYWAIT, states.ACTIVE
        node.workflow, node.workflow_step = "deploy", 5
        node.agent_token = agent_tokens.digest(TOKEN)
        node.workflow_deadline = utcnow().replace(year=2100)
        command_id = None
        if command is not None:
            command_id = str(uuid.uuid4())
            await node_agents.issue(s, node.id, {
                "id": command_id, "name": command, "params": {}, "status": "pending",
                "issued_at": utcnow().isoformat()})
    return n, command_id


async def _command(db: Database, n: str) -> dict[str, Any]:
    async with db.session() as s:
        node_id = await s.scalar(select(Node.id).where(Node.uuid == n))
        row = await s.get(NodeAgent, node_id)
        return row.command_record() if row is not None else {}


# --- the version fence --------------------------------------------------------
async def test_a_write_from_a_stale_read_is_refused_not_applied(rt: Runtime) -> None:
    if rt.db.is_sqlite:
        pytest.skip("one connection: two transactions cannot interleave")
    n = await _node(rt)
    with pytest.raises(NodeChanged, match=f"Node {n} was changed by another request; retry"):
        async with rt.db.session() as first:
            stale = await first.scalar(select(Node).where(Node.uuid == n))
            assert stale is not None
            async with rt.db.session() as second:  # someone else changes it meanwhile
                fresh = await second.scalar(select(Node).where(Node.uuid == n))
                assert fresh is not None
                fresh.description = "theirs"
            stale.description = "mine"
    assert (await load(rt.db, n)).description == "theirs"


async def test_stale_write_after_a_core_update_is_a_conflict(rt: Runtime) -> None:
    """Core writers (a lock taken and let go) move the version, so an ORM writer
    that read the node before cannot write over what happened meanwhile."""
    n = await _node(rt)
    async with rt.db.session() as s:
        stale = await s.scalar(select(Node).where(Node.uuid == n))
        assert stale is not None
    before = stale.version
    async with rt.db.session() as s:
        assert await locks.reserve(s, stale.id, "someone")
    async with rt.db.session() as s:
        assert await locks.release(s, stale.id, "someone")
    assert (await load(rt.db, n)).version == before + 2
    with pytest.raises(NodeChanged):
        async with rt.db.session() as s:
            mine = await s.merge(stale, load=False)
            mine.description = "from a read made before the lock came and went"
    assert (await load(rt.db, n)).description is None


async def test_a_claim_from_a_stale_read_loses_and_a_fresh_one_can_write(rt: Runtime) -> None:
    n = await _node(rt)
    async with rt.db.session() as s:
        node = await s.scalar(select(Node).where(Node.uuid == n))
        assert node is not None
        await s.execute(update(Node).where(Node.id == node.id)
                        .values(description="moved", version=Node.version + 1)
                        .execution_options(synchronize_session=False))
        assert not await locks.claim(s, node, HOLDER)  # decided on what it read
    async with rt.db.session() as s:
        node = await s.scalar(select(Node).where(Node.uuid == n))
        assert node is not None
        assert await locks.claim(s, node, HOLDER)
        node.reservation = None  # the session knows the claim: this is a change to write
        node.description = "claimed and let go"
    node = await load(rt.db, n)
    assert (node.reservation, node.description) == (None, "claimed and let go")


async def test_the_progress_writer_moves_the_version(rt: Runtime) -> None:
    from barecloud.conductor.progress import ProgressWriter

    n = await _node(rt)
    async with rt.db.session() as s:
        node = await s.scalar(select(Node).where(Node.uuid == n))
        assert node is not None and await locks.claim(s, node, HOLDER)
        before = node.version
    writer = ProgressWriter(rt.db, HOLDER)
    try:
        assert await writer.save(node.id, {"workflow_step": 3}, "step: done", "deploy", 0.1)
    finally:
        await writer.stop()
    assert (await load(rt.db, n)).version == before + 1


# --- the agent's row ------------------------------------------------------------
async def test_a_heartbeat_racing_a_new_command_cannot_put_the_old_one_back(
        rt: Runtime) -> None:
    """The heartbeat reads the node while the conductor saves the next command; it
    writes after that commits.  It used to write the whole JSON it had read, with the
    old, succeeded command, which the next heartbeat then took as done."""
    if rt.db.is_sqlite:
        pytest.skip("one connection: transactions cannot interleave")
    n, old = await _waiting(rt)
    async with rt.db.session() as s:
        node_id = await s.scalar(select(Node.id).where(Node.uuid == n))
        assert node_id is not None
        assert await node_agents.settle(s, node_id, {**await _command(rt.db, n),
                                                     "status": "succeeded"})
    new = {"id": str(uuid.uuid4()), "name": "write_configdrive", "params": {},
           "status": "pending", "issued_at": utcnow().isoformat()}
    async with rt.db.session() as conductor:
        await node_agents.issue(conductor, node_id, new)  # row locked until the commit
        beat = asyncio.create_task(agent.heartbeat(rt, CTX, n, {
            "agent_token": TOKEN, "callback_url": "http://192.0.2.9:9999"}))
        await asyncio.sleep(0.5)
        assert not beat.done()  # waiting for the conductor's row
    await asyncio.wait_for(beat, 10)
    command = await _command(rt.db, n)
    assert (command["id"], command["status"]) == (new["id"], "pending"), command
    node = await load(rt.db, n)
    # Not resumed (its command is pending), and the heartbeat is recorded.
    assert (node.provision_state, node.reservation) == (states.DEPLOYWAIT, None)
    assert node.agent_info()["agent_url"] == "http://192.0.2.9:9999"
    assert old != new["id"]


async def test_a_heartbeat_writes_the_agent_row_and_not_the_node(rt: Runtime) -> None:
    n, _ = await _waiting(rt)
    before = await load(rt.db, n)
    await agent.heartbeat(rt, CTX, n, {"agent_token": TOKEN, "agent_version": "9.9",
                                       "callback_url": "http://192.0.2.7:9999"})
    after = await load(rt.db, n)
    assert (after.version, after.updated_at) == (before.version, before.updated_at)
    info = after.agent_info()
    assert (info["agent_version"], info["agent_url"]) == ("9.9", "http://192.0.2.7:9999")
    assert "agent_last_heartbeat" not in (after.driver_internal_info or {})


async def test_a_report_of_an_old_or_finished_command_is_refused(rt: Runtime) -> None:
    n, current = await _waiting(rt)
    assert current is not None
    with pytest.raises(agent.Replayed):
        await agent.report(rt, CTX, n, str(uuid.uuid4()), TOKEN, {"status": "succeeded"})
    await agent.report(rt, CTX, n, current, TOKEN, {"status": "failed", "error": "disk"})
    node = await load(rt.db, n)
    assert node.provision_state == states.DEPLOYFAIL
    assert (await _command(rt.db, n))["status"] == "failed"
    for status in ("running", "succeeded", "failed"):  # replayed: nothing changes
        with pytest.raises(agent.Replayed):
            await agent.report(rt, CTX, n, current, TOKEN, {"status": status})
    assert (await _command(rt.db, n))["status"] == "failed"


async def test_a_late_running_report_cannot_undo_the_final_one(rt: Runtime) -> None:
    """The final report commits while a progress report of the same command waits for
    the row: the progress report re-checks the row it gets and is refused."""
    if rt.db.is_sqlite:
        pytest.skip("one connection: transactions cannot interleave")
    n, current = await _waiting(rt)
    assert current is not None
    async with rt.db.session() as s:
        node_id = await s.scalar(select(Node.id).where(Node.uuid == n))
        assert node_id is not None
        record = await _command(rt.db, n)
        # The final report, holding the agent's row.
        assert await node_agents.settle(s, node_id, {**record, "status": "succeeded"})
        late = asyncio.create_task(agent.report(rt, CTX, n, current, TOKEN, {
            "status": "running", "progress": {"bytes": 10, "total": 100}}))
        await asyncio.sleep(0.5)
        assert not late.done()
    with pytest.raises(agent.Replayed):
        await asyncio.wait_for(late, 10)
    assert (await _command(rt.db, n))["status"] == "succeeded"


async def test_running_reports_are_written_every_few_seconds_or_at_a_note(
        rt: Runtime) -> None:
    n, current = await _waiting(rt)
    assert current is not None

    async def running(done: int) -> None:
        await agent.report(rt, CTX, n, current, TOKEN, {
            "status": "running", "progress": {"bytes": done, "total": 1000}})

    await running(10)  # the first: written (pending -> running)
    first = await _command(rt.db, n)
    deadline = (await load(rt.db, n)).workflow_deadline
    await running(20)  # a moment later, no note due: nothing written
    assert await _command(rt.db, n) == first
    assert (await load(rt.db, n)).workflow_deadline == deadline
    await running(300)  # 30 %: the history notes it, so it is written
    assert (await _command(rt.db, n))["progress"] == {"bytes": 300, "total": 1000}
    assert (await load(rt.db, n)).workflow_deadline != deadline


async def test_lookup_hands_the_token_out_once_per_boot(rt: Runtime) -> None:
    n, _ = await _waiting(rt, command=None)
    async with rt.db.session() as s:
        await s.execute(update(Node).where(Node.uuid == n).values(
            provision_state=states.DEPLOYING, boot_interface="fake"))
    results = [await agent.lookup(rt, None, n) for _ in range(2)]
    tokens = [r["config"]["agent_token"] for r in results]
    if tokens[0] == "******":
        pytest.skip("the fake boot interface delivers the token itself")
    assert tokens[1] == "******"
    assert agent_tokens.matches((await load(rt.db, n)).agent_token, tokens[0])


# --- abort --------------------------------------------------------------------------
async def test_abort_of_a_locked_node_is_409_and_keeps_the_lock(rt: Runtime) -> None:
    n, _ = await _waiting(rt)
    async with rt.db.session() as s:
        await s.execute(update(Node).where(Node.uuid == n).values(reservation="other"))
    with pytest.raises(NodeLocked):
        await node_states.set_provision_state(rt, CTX, n, "abort", {})
    node = await load(rt.db, n)
    assert (node.reservation, node.workflow, node.provision_state) == (
        "other", "deploy", states.DEPLOYWAIT)


async def test_abort_racing_a_claim_does_not_clear_the_workflow_under_the_lock(
        rt: Runtime) -> None:
    """The abort read the node free; a heartbeat claims it before the abort writes.
    The abort used to commit ``workflow = None`` over the live lock."""
    if rt.db.is_sqlite:
        pytest.skip("one connection: transactions cannot interleave")
    n, _ = await _waiting(rt)
    async with rt.db.session() as s:
        node = await s.scalar(select(Node).where(Node.uuid == n))
        assert node is not None and await locks.claim(s, node, HOLDER)
        abort = asyncio.create_task(node_states.set_provision_state(rt, CTX, n, "abort", {}))
        await asyncio.sleep(0.5)
        assert not abort.done()  # it read the node free, and waits for the row
    with pytest.raises((NodeLocked, NodeChanged)):
        await asyncio.wait_for(abort, 10)
    node = await load(rt.db, n)
    assert (node.reservation, node.workflow, node.provision_state) == (
        HOLDER, "deploy", states.DEPLOYWAIT)


async def test_abort_claims_then_fails_and_clears(rt: Runtime) -> None:
    n, _ = await _waiting(rt)
    await node_states.set_provision_state(rt, CTX, n, "abort", {})
    node = await load(rt.db, n)
    assert node.provision_state == states.DEPLOYFAIL
    assert (node.reservation, node.workflow, node.workflow_deadline) == (None, None, None)
    assert node.last_error == f"Aborted by request {CTX.request_id}"


# --- one fail-and-clear -------------------------------------------------------------
def _bare(state: str, workflow: str | None) -> Node:
    return Node(id=1, uuid=str(uuid.uuid4()), provision_state=state, workflow=workflow,
                workflow_step=4, workflow_args={"a": 1}, reservation=HOLDER,
                workflow_deadline=utcnow(), target_power_state=states.POWER_ON)


def _cleared(node: Node) -> bool:
    return (node.workflow, node.workflow_step, node.workflow_args, node.workflow_deadline,
            node.reservation) == (None, 0, {}, None, None)


def test_fail_and_clear_fails_a_transient_node() -> None:
    node = _bare(states.DEPLOYING, "deploy")
    row = fail_and_clear(node, "boom", conductor=HOLDER)
    assert (node.provision_state, node.last_error) == (states.DEPLOYFAIL, "boom")
    assert isinstance(row, NodeHistory) and row.severity == "ERROR"
    assert row.event == "fail: deploying -> deploy failed: boom"
    assert _cleared(node)


def test_fail_and_clear_of_a_power_action_keeps_the_provision_state() -> None:
    node = _bare(states.ACTIVE, "power")
    row = fail_and_clear(node, "BMC said no", conductor=HOLDER)
    assert (node.provision_state, node.target_power_state) == (states.ACTIVE, None)
    assert row.event_type == "power" and "BMC said no" in row.event
    assert _cleared(node) and node.last_error == "BMC said no"


def test_fail_and_clear_of_a_stable_node_only_notes_it() -> None:
    node = _bare(states.AVAILABLE, None)  # a lock held around I/O, abandoned
    row = fail_and_clear(node, "abandoned", conductor=HOLDER)
    assert node.provision_state == states.AVAILABLE
    assert (row.from_state, row.to_state, row.event) == (
        states.AVAILABLE, states.AVAILABLE, "abandoned")
    assert _cleared(node)


def test_fail_and_clear_with_abort_from_a_wait_state() -> None:
    node = _bare(states.CLEANWAIT, "clean")
    fail_and_clear(node, "Aborted", event="abort", request_id="r1", user="u")
    assert node.provision_state == states.CLEANFAIL and _cleared(node)


# --- waking long-polls across processes -----------------------------------------------
async def test_a_command_notify_wakes_a_long_poll_in_another_process(pg_url: str) -> None:
    from barecloud.db import migrate

    await migrate.upgrade_async(pg_url)
    db = Database(pg_url)
    listener = wakeups.CommandListener(pg_url)
    await listener.start()
    try:
        assert listener.listening
        node_uuid = str(uuid.uuid4())
        with MAILBOX.listening(node_uuid) as changed:
            await asyncio.sleep(0.1)
            started = time.monotonic()
            async with db.session() as s:
                await wakeups.notify_command(s, node_uuid)
            await asyncio.wait_for(changed.wait(), 20)
            assert time.monotonic() - started < 5
    finally:
        await listener.stop()
        await db.dispose()
    assert Runtime(db, Settings(), commands=listener).commands_notified() is False
    assert agent.poll_recheck(Runtime(db, Settings())) == agent.POLL_RECHECK


async def test_a_report_whose_node_changed_meanwhile_is_tried_again_not_refused(
        rt: Runtime) -> None:
    """A 409 makes the agent drop its report for good: a node written between the
    report's read and its claim (here: another writer holding the row) is read again
    and the report goes through."""
    if rt.db.is_sqlite:
        pytest.skip("one connection: transactions cannot interleave")
    n, current = await _waiting(rt)
    assert current is not None
    async with rt.db.session() as s:
        await s.execute(update(Node).where(Node.uuid == n).values(
            description="written meanwhile", version=Node.version + 1))
        final = asyncio.create_task(agent.report(rt, CTX, n, current, TOKEN,
                                                 {"status": "succeeded", "result": {}}))
        await asyncio.sleep(0.5)
        assert not final.done()  # its claim waits for the row
    await asyncio.wait_for(final, 10)
    node = await load(rt.db, n)
    assert (node.provision_state, node.reservation) == (states.DEPLOYING, HOLDER)
    assert node.description == "written meanwhile"
    assert (await _command(rt.db, n))["status"] == "succeeded"
