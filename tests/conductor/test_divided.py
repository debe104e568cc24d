"""Periodic work divided among live conductors, never repeated by each.

Two :class:`Conductor` objects with different names on one PostgreSQL
database stand for two ``barecloud conductor`` processes: each sweeps the
nodes the hash ring gives it, and what the ring hands out twice while it
changes is still claimed once in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import uuid
from collections.abc import AsyncIterator

from sqlalchemy import func, select, update

from barecloud import states
from barecloud.conductor.engine import Conductor
from barecloud.conductor.shares import Shares
from barecloud.config import Settings
from barecloud.db.models import Node, NodeHistory
from barecloud.db.session import Database
from barecloud.drivers import fake
from barecloud.services.baremetal import nodes
from barecloud.services.context import Runtime
from tests.conductor.helpers import CTX

NODES = 40


@contextlib.asynccontextmanager
async def conductor(db: Database, settings: Settings, name: str) -> AsyncIterator[Conductor]:
    c = Conductor(db, settings.model_copy(update={"conductor_name": name}))
    await c.start()
    try:
        yield c
    finally:
        await c.stop()


async def available(db: Database, settings: Settings, count: int) -> list[str]:
    """``count`` fake nodes, ``available`` and off (created so: no workflow polls them)."""
    rt = Runtime(db, settings)
    made = [await nodes.create(rt, CTX, {"driver": "fake-hardware",
                                         "name": f"n-{uuid.uuid4().hex[:10]}"},
                               initial=states.AVAILABLE) for _ in range(count)]
    async with db.session() as s:
        await s.execute(update(Node).values(power_state=states.POWER_OFF))
    return [n.uuid for n in made]


def polls(uuids: list[str]) -> dict[str, int]:
    """Power reads of these nodes' fake machines (MACHINES also holds the machines
    of earlier tests in this process)."""
    return {n: fake.MACHINES[n].log.count("get power state") if n in fake.MACHINES else 0
            for n in uuids}


async def test_two_conductors_poll_each_node_exactly_once(pg: Database,
                                                          settings: Settings) -> None:
    uuids = await available(pg, settings, NODES)
    async with conductor(pg, settings, "c1") as c1, conductor(pg, settings, "c2") as c2:
        one, two = await asyncio.gather(c1.reconcilers.sync_power(),
                                        c2.reconcilers.sync_power())
    assert polls(uuids) == {n: 1 for n in uuids}
    assert one.checked + two.checked == NODES
    assert one.checked and two.checked  # both took a share


async def test_a_ring_change_within_an_interval_polls_no_node_twice(
        pg: Database, settings: Settings) -> None:
    uuids = await available(pg, settings, NODES)
    async with conductor(pg, settings, "c1") as c1:
        first = await c1.reconcilers.periodic_power_sync()  # alone: every node is its
        assert first.checked == NODES
        async with conductor(pg, settings, "c2") as c2:  # joins mid-interval
            again = await asyncio.gather(c1.reconcilers.periodic_power_sync(),
                                         c2.reconcilers.periodic_power_sync())
            assert [r.checked for r in again] == [0, 0]
        # c2 gone: c1 takes its share back, still within the interval.
        assert (await c1.reconcilers.periodic_power_sync()).checked == 0
    assert polls(uuids) == {n: 1 for n in uuids}
    # The claim is no change of the node: the sweep's own change check still holds.
    async with pg.session() as s:
        assert await s.scalar(select(func.count()).where(
            Node.power_synced_at.is_(None))) == 0


async def test_a_node_polled_longer_ago_than_the_interval_is_polled_again(
        pg: Database, settings: Settings) -> None:
    uuids = await available(pg, settings, 3)
    async with conductor(pg, settings, "c1") as c1:
        await c1.reconcilers.periodic_power_sync()
        async with pg.session() as s:
            await s.execute(update(Node).values(
                power_synced_at=Node.power_synced_at - dt.timedelta(hours=1)))
        assert (await c1.reconcilers.periodic_power_sync()).checked == 3
    assert polls(uuids) == {n: 2 for n in uuids}


async def test_two_conductors_fail_each_expired_node_once(pg: Database,
                                                          settings: Settings) -> None:
    uuids = await available(pg, settings, NODES)
    async with pg.session() as s:
        await s.execute(update(Node).values(
            provision_state=states.DEPLOYWAIT, target_provision_state=states.ACTIVE,
            workflow="deploy", workflow_step=3,
            workflow_deadline=dt.datetime(2000, 1, 1)))
    async with conductor(pg, settings, "c1") as c1, conductor(pg, settings, "c2") as c2:
        failed = await asyncio.gather(c1.reconcilers.check_deadlines(),
                                      c2.reconcilers.check_deadlines(),
                                      c1.reconcilers.check_deadlines(),
                                      c2.reconcilers.check_deadlines())
    assert sum(failed) == NODES
    async with pg.session() as s:
        rows = (await s.execute(
            select(Node.uuid, Node.provision_state, Node.reservation, Node.workflow))).all()
        assert {r[0] for r in rows} == set(uuids)
        assert {tuple(r[1:]) for r in rows} == {(states.DEPLOYFAIL, None, None)}
        timeouts = (await s.execute(
            select(NodeHistory.node_id, func.count()).where(
                NodeHistory.event.like("%Timeout reached%")).group_by(NodeHistory.node_id)
        )).all()
    assert len(timeouts) == NODES and {c for _, c in timeouts} == {1}


def test_a_group_with_no_live_conductor_is_nobodys_but_its_deadlines_are_checked() -> None:
    mine = Shares("c1", "", [("c1", ""), ("c2", ""), ("c3", "rack-9")])
    keys = [str(uuid.uuid4()) for _ in range(200)]
    theirs = Shares("c2", "", [("c1", ""), ("c2", ""), ("c3", "rack-9")])
    # Each key of a group is exactly one live conductor's of that group.
    assert all(mine.mine(k, "") != theirs.mine(k, "") for k in keys)
    assert not any(mine.mine(k, "rack-9") or theirs.mine(k, "rack-9") for k in keys)
    # Nobody is alive in "rack-7": its BMCs are not polled from elsewhere, but its
    # deadlines (database writes) are still checked by someone.
    assert not any(mine.mine(k, "rack-7") for k in keys)
    assert any(mine.mine(k, "rack-7", anyone=True) for k in keys)
