"""apply_event: the one writer of provision states, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from barecloud import states
from barecloud.db.models import Node, NodeHistory
from barecloud.db.session import Database
from barecloud.db.transitions import apply_event, initial_state
from barecloud.errors import InvalidState


async def _new_node(db: Database) -> int:
    async with db.session() as s:
        node = Node(driver="fake-hardware", provision_state=states.ENROLL)
        s.add(node)
        await s.flush()
        s.add(initial_state(node, states.ENROLL, request_id="req-create"))
        return node.id


async def _rows(db: Database, node_id: int) -> list[NodeHistory]:
    async with db.session() as s:
        return list((await s.scalars(
            select(NodeHistory).where(NodeHistory.node_id == node_id).order_by(NodeHistory.id)
        )).all())


async def test_apply_event_writes_state_target_and_history(database: Database) -> None:
    node_id = await _new_node(database)
    async with database.session() as s:
        node = await s.get(Node, node_id)
        assert node is not None
        before = node.provision_updated_at
        s.add(apply_event(node, "manage", request_id="req-1", conductor="c1", user="u1",
                          message="because"))

    async with database.session() as s:
        node = await s.get(Node, node_id)
        assert node is not None
        assert node.provision_state == states.VERIFYING
        assert node.target_provision_state == states.MANAGEABLE
        assert before is not None and node.provision_updated_at is not None
        assert node.provision_updated_at >= before

    rows = await _rows(database, node_id)
    assert [(r.from_state, r.to_state) for r in rows] == [
        (None, states.ENROLL), (states.ENROLL, states.VERIFYING)]
    row = rows[-1]
    assert row.event == "manage: enroll -> verifying: because"
    assert row.event_type == "provisioning"
    assert row.severity == "INFO"
    assert (row.request_id, row.conductor, row.user) == ("req-1", "c1", "u1")

    # A stable destination clears the target; error=True marks the row.
    async with database.session() as s:
        node = await s.get(Node, node_id)
        assert node is not None
        s.add(apply_event(node, "fail", error=True))
    node_after = await _get(database, node_id)
    assert node_after.provision_state == states.ENROLL
    assert node_after.target_provision_state is None
    last = (await _rows(database, node_id))[-1]
    assert (last.from_state, last.to_state, last.severity) == (
        states.VERIFYING, states.ENROLL, "ERROR")


async def _get(db: Database, node_id: int) -> Node:
    async with db.session() as s:
        node = await s.get(Node, node_id)
        assert node is not None
        return node


async def test_invalid_event_raises_and_changes_nothing(database: Database) -> None:
    node_id = await _new_node(database)
    before = await _get(database, node_id)
    with pytest.raises(InvalidState, match=r'"deploy" can not be performed .* "enroll"'):
        async with database.session() as s:
            node = await s.get(Node, node_id)
            assert node is not None
            try:
                apply_event(node, "deploy")
            finally:
                # Nothing was touched in memory either.
                assert node.provision_state == states.ENROLL
                assert node.target_provision_state is None
    after = await _get(database, node_id)
    assert after.provision_state == states.ENROLL
    assert after.target_provision_state is None
    assert after.provision_updated_at == before.provision_updated_at
    async with database.session() as s:
        count = await s.scalar(
            select(func.count(NodeHistory.id)).where(NodeHistory.node_id == node_id))
    assert count == 1


@pytest.mark.parametrize("event", ["resume", "done", "nonsense"])
async def test_events_not_in_the_table_for_the_state_are_refused(
    database: Database, event: str
) -> None:
    node_id = await _new_node(database)
    async with database.session() as s:
        node = await s.get(Node, node_id)
        assert node is not None
        with pytest.raises(InvalidState):
            apply_event(node, event)
    assert (await _get(database, node_id)).provision_state == states.ENROLL
