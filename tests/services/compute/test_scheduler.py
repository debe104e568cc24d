"""The scheduler on SQLite and PostgreSQL: which nodes match, races, reschedules.

Servers are created through ``services.servers`` and driven by the real
reconciler (``compute_sync.sync_once``) and an in-process conductor with
fake-hardware nodes, which deploy at once; ``driver_info.fake_fail=deploy``
makes a node's deploy fail.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select, update

from barecloud import states
from barecloud.config import Settings
from barecloud.db import migrate
from barecloud.db.compute_models import Server
from barecloud.db.models import Node, NodeHistory
from barecloud.db.session import Database
from barecloud.services.compute import actions, scheduler
from barecloud.services.compute import sync as compute_sync
from barecloud.services.compute.flavors import normalize_resource_class, placement_request
from barecloud.services.context import Runtime
from tests.services.compute import support as cs

FAIL = {"fake_fail": "deploy"}


@pytest.fixture
async def rt(database: Database, settings: Settings) -> AsyncIterator[Runtime]:
    async with cs.running(database, settings) as runtime:
        yield runtime


def test_resource_class_normalised_as_placement() -> None:
    assert normalize_resource_class("baremetal") == "CUSTOM_BAREMETAL"
    assert normalize_resource_class("bm.gold-1") == "CUSTOM_BM_GOLD_1"
    assert normalize_resource_class("a--b  c") == "CUSTOM_A_B_C"
    req = placement_request({"resources:CUSTOM_BM_GOLD_1": "1", "resources:VCPU": "0",
                             "resources:MEMORY_MB": "0", "trait:CUSTOM_RAID": "required",
                             "trait:CUSTOM_GPU": "forbidden", "hw:cpu_policy": "x"})
    assert req.resource_class == "CUSTOM_BM_GOLD_1"
    assert req.required == ("CUSTOM_RAID",) and req.forbidden == ("CUSTOM_GPU",)
    assert placement_request({"resources:CUSTOM_A": "2"}).resource_class is None
    assert placement_request({"resources:CUSTOM_A": "1",
                              "resources:CUSTOM_B": "1"}).resource_class is None
    assert placement_request({}).resource_class is None


def _server(flavor_specs: dict[str, str], *, az: str | None = None,
            project: str = "p1", tried: tuple[str, ...] = ()) -> Server:
    return Server(uuid="00000000-0000-0000-0000-000000000001",
                  flavor={"extra_specs": flavor_specs}, requested_az=az, project_id=project,
                  attempts=[{"node": t, "error": "x"} for t in tried])


async def test_matching_rules(rt: Runtime) -> None:
    db = rt.db
    ids = {}
    ids["plain"] = await cs.add_node(db, "plain")
    ids["gold"] = await cs.add_node(db, "gold", resource_class="bm.gold-1")
    ids["raid"] = await cs.add_node(db, "raid", traits=("CUSTOM_RAID",))
    ids["gpu"] = await cs.add_node(db, "gpu", traits=("CUSTOM_RAID", "CUSTOM_GPU"))
    ids["zone-b"] = await cs.add_node(db, "zone-b", properties={"availability_zone": "b"})
    ids["owned-p1"] = await cs.add_node(db, "owned-p1", owner="p1")
    ids["leased-p1"] = await cs.add_node(db, "leased-p1", owner="p2", lessee="p1")
    ids["owned-p2"] = await cs.add_node(db, "owned-p2", owner="p2")
    await cs.add_node(db, "maint", maintenance=True)
    await cs.add_node(db, "retired", retired=True)
    await cs.add_node(db, "busy", instance_uuid="00000000-0000-0000-0000-0000000000ff")
    await cs.add_node(db, "locked", reservation="someone")
    await cs.add_node(db, "manageable", provision_state=states.MANAGEABLE)
    await cs.add_node(db, "allocated", allocation_uuid="00000000-0000-0000-0000-0000000000aa")
    await cs.add_node(db, "no-class", resource_class=None)
    names = {v: k for k, v in ids.items()}

    async def match(specs: dict[str, str], **kw: object) -> set[str]:
        found = await scheduler.candidates(rt, _server(specs, **kw))  # type: ignore[arg-type]
        uuids = set()
        async with db.session() as s:
            for node_id in found:
                node = await s.get(Node, node_id)
                assert node is not None
                uuids.add(node.uuid)
        return {names.get(u, u) for u in uuids}

    bm = {"resources:CUSTOM_BAREMETAL": "1"}
    assert await match(bm) == {"plain", "raid", "gpu", "owned-p1", "leased-p1"}
    assert await match(bm, project="p2") == {"plain", "raid", "gpu", "owned-p2", "leased-p1"}
    assert await match({"resources:CUSTOM_BM_GOLD_1": "1"}) == {"gold"}
    assert await match({**bm, "trait:CUSTOM_RAID": "required"}) == {"raid", "gpu"}
    assert await match({**bm, "trait:CUSTOM_RAID": "required",
                        "trait:CUSTOM_GPU": "forbidden"}) == {"raid"}
    assert await match(bm, az="b") == {"zone-b"}
    assert await match(bm, az="nova") == await match(bm)
    assert await match(bm, tried=(ids["plain"], ids["raid"])) == {"gpu", "owned-p1",
                                                                  "leased-p1"}
    assert await match({"resources:VCPU": "1"}) == set()  # no bare-metal class: nothing
    assert await match({"resources:CUSTOM_NOPE": "1"}) == set()


async def _fifty_for_twenty(database: Database, settings: Settings,
                            second: Database | None) -> None:
    async with cs.running(database, settings) as rt:
        for i in range(20):
            await cs.add_node(database, f"node-{i:02d}")
        image_id = await cs.image(rt)
        flavor_id = await cs.flavor(rt)
        await cs.unlimited(rt)
        created = await asyncio.gather(*(cs.create(rt, image_id, flavor_id, f"s{i}")
                                         for i in range(50)))
        assert sum(len(c) for c in created) == 50
        # Two reconcilers (the second on its own engine: another "API process" on
        # PostgreSQL) schedule the 50 at once.
        other = Runtime(second or database, settings)
        syncs = [compute_sync.ComputeSync(rt), compute_sync.ComputeSync(other)]
        for sync in syncs:
            await sync.start()
        try:
            rows = await cs.settle(rt, timeout=120, until=lambda rows: all(
                r.vm_state in ("active", "error") and r.task_state is None for r in rows))
        finally:
            for sync in syncs:
                await sync.stop()
    states_seen = Counter(r.vm_state for r in rows)
    assert states_seen == {"active": 20, "error": 30}, states_seen
    active = [r for r in rows if r.vm_state == "active"]
    assert len({r.node_uuid for r in active}) == 20
    errors = [r for r in rows if r.vm_state == "error"]
    assert all(r.fault and r.fault["message"] == scheduler.NO_VALID_HOST
               and r.fault["code"] == 500 for r in errors)
    assert all(r.node_uuid is None for r in errors)
    nodes = await cs.nodes_by_uuid(database)
    for r in active:
        node = nodes[r.node_uuid or ""]
        assert node.instance_uuid == r.uuid and node.provision_state == states.ACTIVE
        assert node.instance_info["image_source"] == rows[0].image_ref
    holders = Counter(n.instance_uuid for n in nodes.values())
    assert max(holders.values()) == 1


async def test_fifty_creates_for_twenty_nodes_sqlite(settings: Settings,
                                                      caplog: pytest.LogCaptureFixture) -> None:
    url = f"sqlite+aiosqlite:///{settings.data_dir / 'fifty.sqlite'}"
    await migrate.upgrade_async(url)
    db = Database(url)
    try:
        with caplog.at_level(logging.DEBUG, "barecloud.services.compute.scheduler"):
            await _fifty_for_twenty(db, settings, None)
    finally:
        await db.dispose()
    # The claims really raced (and the losers moved on to other nodes).
    assert any("lost the race" in r.message for r in caplog.records)


async def test_fifty_creates_for_twenty_nodes_postgresql(
        pg_url: str, settings: Settings, caplog: pytest.LogCaptureFixture) -> None:
    await migrate.upgrade_async(pg_url)
    db, second = Database(pg_url), Database(pg_url)
    try:
        with caplog.at_level(logging.DEBUG, "barecloud.services.compute.scheduler"):
            await _fifty_for_twenty(db, settings, second)
    finally:
        await db.dispose()
        await second.dispose()
    assert any("lost the race" in r.message for r in caplog.records)


async def test_reschedule_after_a_failed_deploy(rt: Runtime) -> None:
    db = rt.db
    bad = await cs.add_node(db, "bad", driver_info=FAIL)
    good = await cs.add_node(db, "good", provision_state=states.MANAGEABLE)
    image_id, flavor_id = await cs.image(rt), await cs.flavor(rt)
    [uuid] = await cs.create(rt, image_id, flavor_id, "web")
    await compute_sync.sync_once(rt, "test")  # only "bad" is available: it gets the server
    first = await cs.server(db, uuid)
    assert first.node_uuid == bad and first.task_state == "spawning"
    async with db.session() as s:
        await s.execute(update(Node).where(Node.uuid == good)
                        .values(provision_state=states.AVAILABLE))
    [row] = await cs.settle(rt)
    assert row.vm_state == "active" and row.node_uuid == good, row.fault
    assert [a["node"] for a in row.attempts] == [bad]
    assert "fake_fail=deploy" in row.attempts[0]["error"]
    nodes = await cs.nodes_by_uuid(db)
    assert nodes[good].instance_uuid == uuid
    # The failed node was let go only once its undeploy had started (here it fails
    # again, fake_fail covers tear-down too): never "available" uncleaned.
    assert nodes[bad].instance_uuid is None
    assert nodes[bad].provision_state in (states.ERROR, states.DELETING)


async def test_every_node_failing_puts_the_server_in_error(rt: Runtime) -> None:
    db = rt.db
    a = await cs.add_node(db, "fail-a", driver_info=FAIL)
    b = await cs.add_node(db, "fail-b", driver_info=FAIL)
    image_id, flavor_id = await cs.image(rt), await cs.flavor(rt)
    [uuid] = await cs.create(rt, image_id, flavor_id, "doomed")
    [row] = await cs.settle(rt)
    assert row.vm_state == "error" and row.node_uuid is None
    assert sorted(x["node"] for x in row.attempts) == sorted([a, b])
    assert row.fault is not None
    message = row.fault["message"]
    assert message.startswith("No valid host was found.")
    assert f"Build of instance {uuid} failed on 2 node(s)" in message
    assert "fake_fail=deploy" in message


async def test_attempts_are_bounded(database: Database, settings: Settings) -> None:
    async with cs.running(database, settings.model_copy(
            update={"scheduler_max_attempts": 2})) as rt:
        for i in range(3):
            await cs.add_node(database, f"f{i}", driver_info=FAIL)
        image_id, flavor_id = await cs.image(rt), await cs.flavor(rt)
        await cs.create(rt, image_id, flavor_id, "doomed")
        [row] = await cs.settle(rt)
    assert row.vm_state == "error" and len(row.attempts) == 2
    assert row.fault is not None
    assert row.fault["message"].startswith("Exceeded maximum number of retries.")


async def test_no_node_is_no_valid_host(rt: Runtime) -> None:
    image_id, flavor_id = await cs.image(rt), await cs.flavor(rt)
    await cs.create(rt, image_id, flavor_id, "lonely")
    [row] = await cs.settle(rt)
    assert row.vm_state == "error" and row.fault is not None
    assert row.fault["message"] == scheduler.NO_VALID_HOST
    assert "CUSTOM_BAREMETAL" in row.fault["details"]


async def test_delete_cleans_the_node_before_anyone_gets_it(rt: Runtime) -> None:
    db = rt.db
    node = await cs.add_node(db, "only")
    image_id, flavor_id = await cs.image(rt), await cs.flavor(rt)
    [uuid] = await cs.create(rt, image_id, flavor_id, "short-lived")
    [row] = await cs.settle(rt)
    assert row.vm_state == "active" and row.node_uuid == node
    await actions.delete(rt, cs.ADMIN, uuid)
    rows = await cs.settle(rt, until=lambda rows: rows[0].deleted)
    assert rows[0].vm_state == "deleted" and rows[0].deleted_at is not None

    async def released() -> bool:
        await compute_sync.sync_once(rt, "test")
        n = (await cs.nodes_by_uuid(db))[node]
        return n.provision_state == states.AVAILABLE and n.instance_uuid is None

    for _ in range(200):
        if await released():
            break
        await asyncio.sleep(0.05)
    n = (await cs.nodes_by_uuid(db))[node]
    assert n.provision_state == states.AVAILABLE and n.instance_uuid is None
    assert n.instance_info == {}
    # The node went through cleaning before it was given back.
    async with db.session() as s:
        events = list((await s.scalars(select(NodeHistory.to_state)
                                       .where(NodeHistory.node_id == n.id)
                                       .order_by(NodeHistory.id))).all())
    assert states.CLEANING in events[events.index(states.DELETING):]



async def test_racing_multi_creates_are_placed_whole_or_not_at_all(
        database: Database, db_url: str, settings: Settings) -> None:
    """Five ``--min 4 --max 4`` requests and six single servers race for ten nodes
    (two reconcilers, on PostgreSQL on two engines): each request is four ACTIVE or
    four ERROR with Nova's NoValidHost, no node is given twice, and a request failed
    only while fewer than four nodes were free."""
    second = Database(db_url) if db_url.startswith("postgresql") else None
    try:
        async with cs.running(database, settings) as rt:
            for i in range(10):
                await cs.add_node(database, f"node-{i:02d}")
            image_id, flavor_id = await cs.image(rt), await cs.flavor(rt)
            await cs.unlimited(rt)
            await asyncio.gather(
                *(cs.create(rt, image_id, flavor_id, f"g{i}", min_count=4, max_count=4)
                  for i in range(5)),
                *(cs.create(rt, image_id, flavor_id, f"s{i}") for i in range(6)))
            syncs = [compute_sync.ComputeSync(rt),
                     compute_sync.ComputeSync(Runtime(second or database, settings))]
            for sync in syncs:
                await sync.start()
            try:
                rows = await cs.settle(rt, timeout=120, until=lambda rows: all(
                    r.vm_state in ("active", "error") and r.task_state is None
                    for r in rows))
            finally:
                for sync in syncs:
                    await sync.stop()
    finally:
        if second is not None:
            await second.dispose()
    requests: dict[str, set[str]] = {}
    for r in rows:
        if r.name.startswith("g"):
            requests.setdefault(r.reservation_id, set()).add(r.vm_state)
    assert len(requests) == 5 and all(len(v) == 1 for v in requests.values()), requests
    active = [r for r in rows if r.vm_state == "active"]
    assert len({r.node_uuid for r in active}) == len(active) <= 10
    failed = [r for r in rows if r.vm_state == "error" and r.name.startswith("g")]
    assert all(r.fault and r.fault["message"] == scheduler.NO_VALID_HOST for r in failed)
    if failed:
        assert 10 - len(active) < 4
    nodes = await cs.nodes_by_uuid(database)
    held = Counter(n.instance_uuid for n in nodes.values() if n.instance_uuid)
    assert sorted(held) == sorted(r.uuid for r in active) and set(held.values()) == {1}
