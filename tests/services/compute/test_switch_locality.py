"""The weigher that spares the network: a group's machines under the fewest switches.

The pure ordering (locality.pack) on several layouts, then the real thing: a
``--min 4 --max 4`` request driven by the reconciler, and a 4-host lease,
over nodes written with ports on two or three switches; with
``scheduler_spare_network`` off, the old order.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select

from barecloud.config import Settings
from barecloud.db.lease_models import HostAllocation, ReservableHost
from barecloud.db.models import Node, Port
from barecloud.db.session import Database
from barecloud.services.compute import multi_create
from barecloud.services.context import Runtime
from barecloud.services.network import locality
from barecloud.services.reservation import hosts, leases
from tests.services.compute import support as cs
from tests.services.reservation.support import ALICE, T0, Clock, ask

H = dt.timedelta(hours=1)


# --- the ordering ---------------------------------------------------------------
def _layout(sizes: dict[str, int]) -> tuple[list[str], dict[str, str | None]]:
    """Machines named ``<switch><i>``, interleaved as a random pick would give them."""
    groups = [[f"{sw}{i}" for i in range(n)] for sw, n in sizes.items()]
    ordered = [m for row in itertools.zip_longest(*groups) for m in row if m]
    return ordered, {m: m.rstrip("0123456789") for m in ordered}


@pytest.mark.parametrize(("sizes", "count", "switches", "under"), [
    ({"a": 3, "b": 4, "c": 2}, 4, 1, {"b"}),  # one switch has 4 free
    ({"a": 5, "b": 4, "c": 6}, 4, 1, {"b"}),  # the smallest that fits: big blocks stay whole
    ({"a": 3, "b": 3, "c": 1}, 4, 2, None),  # no switch has 4: two
    ({"a": 2, "b": 1, "c": 2, "d": 1}, 5, 3, None),  # three, largest first
    ({"a": 1, "b": 1, "c": 1, "d": 1}, 4, 4, None),  # nothing to gain
    ({"a": 2, "b": 6}, 7, 2, None),  # more than any switch has
    ({"a": 2}, 4, 1, {"a"}),  # fewer machines than asked: all of them
])
def test_pack_uses_the_fewest_switches(sizes: dict[str, int], count: int, switches: int,
                                       under: set[str] | None) -> None:
    ordered, where = _layout(sizes)
    packed = locality.pack(ordered, where, count)
    chosen = packed[:count]
    assert sorted(packed) == sorted(ordered)  # a reordering: nothing lost, nothing twice
    assert locality.spread(chosen, where) == switches
    if under is not None:
        assert {where[m] for m in chosen} == under
    assert locality.spread(ordered[:count], where) >= switches  # never worse than before


def test_pack_keeps_the_given_order_within_and_between_ties() -> None:
    where: dict[str, str | None] = {"x1": "x", "y1": "y", "x2": "x", "y2": "y", "n": None}
    assert locality.pack(["y1", "x1", "y2", "x2", "n"], where, 2) == \
        ["y1", "y2", "x1", "x2", "n"]
    # a machine with no switch is a switch of its own
    assert locality.pack(["n", "x1", "x2"], where, 2) == ["x1", "x2", "n"]
    assert locality.spread(["n", "x1", "x2"], where) == 2


def test_switch_of_a_port() -> None:
    assert locality.switch_of({"switch_info": "ToR-1", "switch_id": "aa:bb:cc:00:00:01",
                               "port_id": "p1"}) == "tor-1"
    assert locality.switch_of({"switch_id": "AA:BB:CC:00:00:01", "port_id": "p1"}) == \
        "aa:bb:cc:00:00:01"
    assert locality.switch_of({"port_id": "p1"}) is None
    assert locality.switch_of({}) is None and locality.switch_of(None) is None


# --- multi-create -------------------------------------------------------------------
async def _cabled(db: Database, name: str, switches: list[str]) -> str:
    """A node with one NIC on each switch of ``switches`` (the first is its own)."""
    node_uuid = await cs.add_node(db, name)
    async with db.session() as s:
        node = await s.scalar(select(Node).where(Node.uuid == node_uuid))
        assert node is not None
        for i, switch in enumerate(switches):
            s.add(Port(address=f"52:54:00:{node.id:02x}:{i:02x}:01", node_id=node.id,
                       pxe_enabled=i == 0, extra={}, internal_info={},
                       local_link_connection={"switch_info": switch, "port_id": f"{name}-{i}",
                                              "switch_id": f"00:00:00:00:0{i}:01"}))
    return node_uuid


async def _nodes(db: Database, layout: list[tuple[str, int]]) -> dict[str, str]:
    """Nodes under each (switch, count) of ``layout``, each with a second NIC on a
    shared storage switch; their switch by node uuid."""
    out: dict[str, str] = {}
    for switch, n in layout:
        for i in range(n):
            out[await _cabled(db, f"{switch}-{i}", [switch, "storage"])] = switch
    return out


LAYOUTS = [
    [("tor-a", 3), ("tor-b", 4), ("tor-c", 3)],
    [("tor-a", 2), ("tor-b", 2), ("tor-c", 6)],
    [("tor-a", 3), ("tor-b", 5)],
]


@pytest.mark.parametrize("layout", LAYOUTS)
async def test_four_servers_land_under_one_switch(
        database: Database, settings: Settings, layout: list[tuple[str, int]]) -> None:
    async with cs.running(database, settings) as rt:
        where = await _nodes(database, layout)
        image_id, flavor_id = await cs.image(rt), await cs.flavor(rt)
        await cs.unlimited(rt)
        await cs.create(rt, image_id, flavor_id, "g", min_count=4, max_count=4)
        rows = await cs.settle(rt, timeout=120)
    assert [r.vm_state for r in rows] == ["active"] * 4
    assert len({where[r.node_uuid] for r in rows if r.node_uuid}) == 1


async def test_four_servers_spread_over_the_fewest_switches(
        database: Database, settings: Settings) -> None:
    """No switch has four free: two switches (three and one), never three."""
    async with cs.running(database, settings) as rt:
        where = await _nodes(database, [("tor-a", 1), ("tor-b", 3), ("tor-c", 1),
                                        ("tor-d", 1)])
        image_id, flavor_id = await cs.image(rt), await cs.flavor(rt)
        await cs.unlimited(rt)
        await cs.create(rt, image_id, flavor_id, "g", min_count=4, max_count=4)
        rows = await cs.settle(rt, timeout=120)
    assert [r.vm_state for r in rows] == ["active"] * 4
    under = [where[r.node_uuid] for r in rows if r.node_uuid]
    assert len(set(under)) == 2 and under.count("tor-b") == 3


@pytest.mark.parametrize("spare", [True, False])
async def test_the_setting_turns_the_weigher_off(
        database: Database, settings: Settings, spare: bool) -> None:
    """Off: the old pick (random nodes, a window more than asked, in id order)."""
    tuned = settings.model_copy(update={"scheduler_spare_network": spare})
    async with cs.running(database, tuned) as rt:
        where = await _nodes(database, [("tor-a", 3), ("tor-b", 4), ("tor-c", 3)])
        image_id, flavor_id = await cs.image(rt), await cs.flavor(rt)
        await cs.unlimited(rt)
        await cs.create(rt, image_id, flavor_id, "g", min_count=4, max_count=4)
        first = (await cs.all_servers(database))[0]
        async with database.session() as s:
            picked = await multi_create._candidates(
                s, first, 4, rt.settings.scheduler_spare_network)
    ids = [n.id for n in picked]
    assert ids == sorted(ids)
    if spare:
        assert len(picked) == 4 and {where[n.uuid] for n in picked} == {"tor-b"}
    else:
        assert len(picked) == 10  # every node: four and the window (of 32) more


# --- leases -------------------------------------------------------------------------
@pytest.fixture
def clock(tmp_path: Path) -> Clock:
    return Clock(tmp_path / "clock")


@pytest.fixture
async def lease_rt(database: Database, settings: Settings, clock: Clock
                   ) -> AsyncIterator[Runtime]:
    tuned = settings.model_copy(update={"lease_clock_file": str(clock.path)})
    async with cs.running(database, tuned) as runtime:
        yield runtime


async def _lease_switches(rt: Runtime, lease_id: str, where: dict[str, str]) -> list[str]:
    async with rt.db.session() as s:
        uuids = (await s.scalars(select(ReservableHost.node_uuid).join(
            HostAllocation, HostAllocation.host_id == ReservableHost.id).where(
            HostAllocation.lease_id == lease_id))).all()
    return sorted(where[u] for u in uuids)


@pytest.mark.parametrize("spare", [True, False])
async def test_a_leases_hosts_land_under_one_switch(lease_rt: Runtime, spare: bool) -> None:
    rt = lease_rt
    rt.settings.scheduler_spare_network = spare
    where = await _nodes(rt.db, [("tor-a", 3), ("tor-b", 4), ("tor-c", 3)])
    async with rt.db.session() as s:
        names = dict((await s.execute(select(Node.uuid, Node.name))).tuples().all())
    for uuid in sorted(where, key=lambda u: names[u]):
        await hosts.create(rt, cs.ADMIN, {"name": names[uuid]})
    lease = await leases.create(rt, ALICE, ask(T0 + H, T0 + 3 * H, 4, name="four"))
    under = await _lease_switches(rt, lease["id"], where)
    if spare:
        assert under == ["tor-b"] * 4
    else:  # best fit (all equal here), then host id: the first four hosts created
        assert under == ["tor-a"] * 3 + ["tor-b"]
