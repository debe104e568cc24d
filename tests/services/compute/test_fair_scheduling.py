"""No starvation, no false refusal: every server in flight progresses, and
racing schedulers never answer "No valid host" while a matching node is free."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import func, select, text, update

from barecloud import states
from barecloud.config import Settings
from barecloud.db.compute_models import Server
from barecloud.db.models import Node
from barecloud.db.session import Database
from barecloud.services.compute import scheduler
from barecloud.services.compute import status as st
from barecloud.services.compute import sync as compute_sync
from barecloud.services.context import Runtime

BAREMETAL = {"extra_specs": {"resources:CUSTOM_BAREMETAL": "1"}, "vcpus": 1, "ram": 1,
             "disk": 0, "id": "bm"}


def _node(**values: Any) -> Node:
    values.setdefault("provision_state", states.AVAILABLE)
    return Node(uuid=str(uuid.uuid4()), name=f"n-{uuid.uuid4().hex[:10]}",
                driver="fake-hardware", resource_class="baremetal", conductor_group="",
                power_state=states.POWER_OFF, maintenance=False, driver_info={},
                properties={}, instance_info={}, driver_internal_info={}, extra={},
                network_data={}, **values)


def _server(flavor: dict[str, Any], **values: Any) -> Server:
    values.setdefault("vm_state", st.BUILDING)
    values.setdefault("task_state", st.SCHEDULING)
    values.setdefault("reservation_id", f"r-{uuid.uuid4().hex[:8]}")
    return Server(uuid=values.pop("uuid", None) or str(uuid.uuid4()), name="s",
                  project_id="p1", user_id="u1", flavor=flavor, flavor_id=flavor["id"],
                  image_ref=str(uuid.uuid4()),
                  attempts=[], addresses={}, pending=None, pending_sent=False,
                  deleted=False, **values)


async def test_six_hundred_servers_in_flight_all_progress(pg: Database,
                                                         settings: Settings) -> None:
    """500 deploying servers come first by id; 100 behind them are never
    scheduled by a pass that takes the first 500 each time."""
    async with pg.session() as s:
        for _ in range(compute_sync.BATCH):
            server = _server(BAREMETAL, task_state=st.SPAWNING)
            node = _node(provision_state=states.DEPLOYING, instance_uuid=server.uuid)
            server.node_uuid = node.uuid
            s.add_all([node, server])
        await s.flush()
        # No resource class: each pass that reaches them answers at once (ERROR).
        s.add_all(_server({"extra_specs": {}, "id": "x"}) for _ in range(100))
    sync = compute_sync.ComputeSync(Runtime(pg, settings))
    # A round of two passes, then the loop waits: no hot loop over what is in flight.
    assert [await sync.once(), await sync.once()] == [True, False]
    async with pg.session() as s:
        behind = (await s.execute(select(Server.vm_state, func.count()).where(
            Server.flavor_id == "x").group_by(Server.vm_state))).all()
        spawning = await s.scalar(select(func.count()).where(
            Server.task_state == st.SPAWNING, Server.vm_state == st.BUILDING))
    assert behind == [(st.ERROR, 100)]
    assert spawning == compute_sync.BATCH


async def _blocked(pg: Database) -> bool:
    async with pg.session() as look:
        return bool(await look.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND datname = current_database()")))


async def _race(pg: Database, victim: asyncio.Task[None]) -> int:
    """Rival schedulers, always a step ahead: the 16 first free nodes are claimed
    by a transaction not yet committed (so ``victim`` reads them free), the next
    16 by another; once ``victim`` waits for one of the first, that transaction
    commits and a third claims the next 16; and so on.  Nodes taken."""
    taken, last = 0, 0
    open_: list[Any] = []

    async def claim_next() -> bool:
        nonlocal last, taken
        conn = await pg.engine.connect()
        await conn.begin()
        ids = list((await conn.scalars(select(Node.id).where(
            Node.instance_uuid.is_(None), Node.id > last).order_by(Node.id).limit(16))).all())
        if not ids:
            await conn.close()
            return False
        for i in ids:
            await conn.execute(update(Node).where(Node.id == i).values(
                instance_uuid=str(uuid.uuid4())))
        last, taken = ids[-1], taken + len(ids)
        open_.append(conn)
        return True

    try:
        await claim_next()
        while not victim.done() and await claim_next():
            for _ in range(1000):  # until the victim waits for a row of the oldest
                if victim.done() or await _blocked(pg):
                    break
                await asyncio.sleep(0.01)
            oldest = open_.pop(0)
            await oldest.commit()
            await oldest.close()
    finally:
        for conn in open_:
            await conn.rollback()
            await conn.close()
    return taken


async def test_a_scheduler_losing_its_races_never_refuses_while_nodes_are_free(
        pg: Database, settings: Settings) -> None:
    """Rival schedulers take the nodes a scheduler just read, race after race:
    it must find one of the others still free, or try again on the next pass;
    never put the server in ERROR with "No valid host" while nodes are free.

    No conductor runs, so the deploy request is postponed (the server keeps its
    node): only the placement is under test."""
    async with pg.session() as s:
        s.add_all(_node() for _ in range(160))
        server = _server(BAREMETAL)
        s.add(server)
    rt = Runtime(pg, settings)
    victim = asyncio.create_task(scheduler.schedule(rt, server))
    taken = await _race(pg, victim)
    await victim
    async with pg.session() as s:
        row = await s.scalar(select(Server).where(Server.id == server.id))
        free = await s.scalar(select(func.count()).where(Node.instance_uuid.is_(None)))
    assert row is not None
    assert (row.vm_state, row.fault) == (st.BUILDING, None)
    assert free and taken < 160
