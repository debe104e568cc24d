"""Leases end to end in the service layer, with a real conductor and a clock the test
moves: admission, start on time, enforcement, end with cleaning, replacement, policy."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from barecloud import states
from barecloud.cli import gantt
from barecloud.config import Settings
from barecloud.db.models import Node
from barecloud.db.session import Database
from barecloud.errors import BarecloudError, InvalidParameter, NotFound
from barecloud.services.compute import flavors, servers, sync
from barecloud.services.context import Runtime
from barecloud.services.reservation import calendar, leases, manager
from barecloud.services.reservation.errors import NotEnoughHosts, PolicyRefusal
from tests.services.compute import support as cs
from tests.services.reservation.support import ALICE, BOB, T0, Clock, ask, pool, when

H = dt.timedelta(hours=1)


@pytest.fixture
def clock(tmp_path: Path) -> Clock:
    return Clock(tmp_path / "clock")


@pytest.fixture
async def rt(database: Database, settings: Settings, clock: Clock) -> AsyncIterator[Runtime]:
    tuned = settings.model_copy(update={"lease_clock_file": str(clock.path)})
    async with cs.running(database, tuned) as runtime:
        yield runtime


async def tick(rt: Runtime, rounds: int = 1) -> None:
    """Lease manager and compute passes, as the service runs them."""
    for _ in range(rounds):
        await manager.pass_once(rt, "test")
        await sync.sync_once(rt, "test")


async def settle(rt: Runtime, lease_id: str, status: str, rounds: int = 400) -> dict[str, Any]:
    for _ in range(rounds):
        await tick(rt)
        lease = await leases.get(rt, ALICE, lease_id)
        if lease["status"] == status:
            return lease
        await asyncio.sleep(0.05)
    raise AssertionError(f"lease stayed {lease['status']}: {lease['status_reason']}")


async def node_states(rt: Runtime) -> dict[str, str]:
    return {n.name or n.uuid: n.provision_state for n in (await cs.nodes_by_uuid(rt.db)).values()}


async def test_admission_never_double_books_and_says_why(rt: Runtime) -> None:
    await pool(rt, 3)
    first = await leases.create(rt, ALICE, ask(T0 + H, T0 + 3 * H, 2, name="a"))
    assert first["status"] == "PENDING" and len(first["reservations"][0]["hosts"]) == 2
    with pytest.raises(NotEnoughHosts) as err:
        await leases.create(rt, BOB, ask(T0 + 2 * H, T0 + 4 * H, 2, name="b"))
    assert err.value.code == 409
    assert "3 host(s) match the properties and 1 of them are free" in err.value.message
    # Nothing was left half-written: bob has no lease.
    assert await leases.list_leases(rt, BOB) == []
    # Back to back is fine, and best fit puts it on a host the first lease used.
    after = await leases.create(rt, BOB, ask(T0 + 3 * H, T0 + 4 * H, 1, name="b"))
    assert after["reservations"][0]["hosts"][0] in first["reservations"][0]["hosts"]
    # Blazar's messages for bad input.
    with pytest.raises(InvalidParameter, match="Start date must be later than current date"):
        await leases.create(rt, ALICE, ask(T0 - H, T0 + H, name="past"))
    with pytest.raises(InvalidParameter, match=r"End date must be later than start date\."):
        await leases.create(rt, ALICE, ask(T0 + 2 * H, T0 + H, name="backwards"))
    with pytest.raises(InvalidParameter, match="Max must be equal to or larger than min"):
        await leases.create(rt, ALICE, ask(T0 + H, T0 + 2 * H, 2, high=1, name="minmax"))
    with pytest.raises(BarecloudError, match="The lease with name: a already exists"):
        await leases.create(rt, ALICE, ask(T0 + 5 * H, T0 + 6 * H, name="a"))


async def test_properties_pick_hosts(rt: Runtime) -> None:
    await pool(rt, 4, extra=lambda i: {"gpu": "true" if i % 2 else "false"})
    lease = await leases.create(rt, ALICE, ask(
        T0 + H, T0 + 2 * H, 2, props='["and", [">=", "$memory_mb", "32768"], '
        '["=", "$gpu", "True"]]'))
    assert sorted(lease["reservations"][0]["hosts"]) == [2, 4]
    with pytest.raises(NotEnoughHosts):
        await leases.create(rt, BOB, ask(T0 + H, T0 + 2 * H, 1, props='["=", "$gpu", "true"]'))


async def test_a_lease_runs_from_start_to_end(rt: Runtime, clock: Clock) -> None:
    await pool(rt, 2)
    await cs.add_node(rt.db, "on-demand")
    image_id, flavor_id = await cs.image(rt), await cs.flavor(rt)
    lease = await leases.create(rt, ALICE, ask(T0 + H, T0 + 3 * H, 2, name="run"))
    rid = lease["reservations"][0]["id"]
    hint = {"os:scheduler_hints": {"reservation": rid}}
    body = {"server": {"name": "s", "imageRef": image_id, "flavorRef": flavor_id,
                       "networks": "none"}}

    await tick(rt)
    assert (await leases.get(rt, ALICE, lease["id"]))["status"] == "PENDING"
    with pytest.raises(InvalidParameter, match="is not active \\(PENDING\\)"):
        await servers.create(rt, ALICE, {**body, **hint}, (2, 96))
    clock.set(T0 + H)
    active = await settle(rt, lease["id"], "ACTIVE")
    assert {e["event_type"]: e["status"] for e in active["events"]}["start_lease"] == "DONE"
    # Another project cannot use the reservation, nor land on its machines on demand.
    with pytest.raises(InvalidParameter, match=f"Reservation {rid} not found"):
        await servers.create(rt, BOB, {**body, **hint}, (2, 96))
    [on_demand] = (await servers.create(rt, BOB, body, (2, 96))).servers
    by_hint = await servers.create(rt, ALICE, {**body, **hint}, (2, 96))
    # The reservation's own flavor (Chameleon's way) works without the hint, for alice only.
    flavor = await flavors.get(rt, ALICE, rid)
    assert flavor.name == f"reservation:{rid}" and not flavor.is_public
    assert flavors.specs_of(flavor)["aggregate_instance_extra_specs:reservation"] == rid
    with pytest.raises(NotFound):
        await flavors.get(rt, BOB, rid)
    by_flavor = await servers.create(rt, ALICE, {"server": {
        **body["server"], "flavorRef": flavor.flavorid}}, (2, 96))
    made = [*by_hint.servers, *by_flavor.servers]
    rows = await cs.settle(rt)
    by_uuid = {r.uuid: r for r in rows}
    nodes = {n.uuid: n.name for n in (await cs.nodes_by_uuid(rt.db)).values()}
    assert nodes[by_uuid[on_demand.uuid].node_uuid] == "on-demand"
    assert {nodes[by_uuid[s.uuid].node_uuid] for s in made} == {"m0", "m1"}
    assert all(by_uuid[s.uuid].vm_state == "active" for s in made)

    clock.set(T0 + 3 * H)
    ended = await settle(rt, lease["id"], "TERMINATED")
    assert [r["status"] for r in ended["reservations"]] == ["deleted"]
    rows = {r.uuid: r for r in await cs.all_servers(rt.db)}
    assert all(rows[s.uuid].deleted for s in made)
    with pytest.raises(NotFound):  # the reservation's flavor went with it
        await flavors.get(rt, ALICE, rid)
    assert not rows[on_demand.uuid].deleted  # not the lease's
    await cs.settle(rt)
    for _ in range(200):
        await tick(rt)
        found = await node_states(rt)
        if found["m0"] == found["m1"] == states.AVAILABLE:
            break
    assert found["m0"] == found["m1"] == states.AVAILABLE


async def test_deleting_a_started_lease_ends_it_first(rt: Runtime, clock: Clock) -> None:
    """As Blazar's: the delete of an ACTIVE lease runs its end (servers deleted,
    machines cleaned) while the lease shows DELETING; then it is gone."""
    await pool(rt, 1)
    image_id, flavor_id = await cs.image(rt), await cs.flavor(rt)
    lease = await leases.create(rt, ALICE, ask(T0 + H, T0 + 3 * H, 1, name="gone"))
    rid = lease["reservations"][0]["id"]
    clock.set(T0 + H)
    await settle(rt, lease["id"], "ACTIVE")
    [made] = (await servers.create(rt, ALICE, {
        "server": {"name": "s", "imageRef": image_id, "flavorRef": flavor_id,
                   "networks": "none"}, "os:scheduler_hints": {"reservation": rid}},
        (2, 96))).servers
    assert [r.vm_state for r in await cs.settle(rt)] == ["active"]
    with pytest.raises(NotFound):
        await leases.delete(rt, BOB, lease["id"])
    await leases.delete(rt, ALICE, lease["id"])
    assert (await leases.get(rt, ALICE, lease["id"]))["status"] == "DELETING"
    await leases.delete(rt, ALICE, lease["id"])  # again: nothing more to do
    for _ in range(400):
        await tick(rt)
        try:
            await leases.get(rt, ALICE, lease["id"])
        except NotFound:
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError("the deleted lease never went")
    rows = {r.uuid: r for r in await cs.all_servers(rt.db)}
    assert rows[made.uuid].deleted
    with pytest.raises(NotFound):
        await flavors.get(rt, ALICE, rid)
    assert await leases.list_leases(rt, ALICE) == []


async def test_next_lease_waits_for_cleaning(rt: Runtime, clock: Clock) -> None:
    [host] = await pool(rt, 1)
    lease = await leases.create(rt, ALICE, ask(T0 + H, T0 + 2 * H, 1, name="next"))
    async with rt.db.session() as s:
        await s.execute(update(Node).where(Node.name == "m0")
                        .values(provision_state=states.CLEANWAIT))
    clock.set(T0 + H)
    await tick(rt, 2)
    got = await leases.get(rt, ALICE, lease["id"])
    assert got["status"] == "STARTING"
    assert got["status_reason"] == "waiting for machines to be cleaned: m0 (clean wait)"
    async with rt.db.session() as s:
        await s.execute(update(Node).where(Node.name == "m0")
                        .values(provision_state=states.AVAILABLE))
    assert (await settle(rt, lease["id"], "ACTIVE"))["status_reason"] is None
    assert host == "1"


async def test_a_broken_machine_is_replaced_or_the_lease_degraded(rt: Runtime,
                                                                 clock: Clock) -> None:
    await pool(rt, 3)
    lease = await leases.create(rt, ALICE, ask(T0, T0 + 4 * H, 2, name="mid"))
    clock.set(T0 + H)
    await settle(rt, lease["id"], "ACTIVE")
    held = lease["reservations"][0]["hosts"]
    async with rt.db.session() as s:
        await s.execute(update(Node).where(Node.name == f"m{held[0] - 1}")
                        .values(maintenance=True))
    await tick(rt)
    got = await leases.get(rt, ALICE, lease["id"])
    [r] = got["reservations"]
    assert held[0] not in r["hosts"] and len(r["hosts"]) == 2
    assert r["resources_changed"] and not r["missing_resources"] and not got["degraded"]
    # The replacement is held from now on only: the calendar shows what was used.
    view = await calendar.view(rt, cs.ADMIN, when(T0), when(T0 + 5 * H))
    spare = next(h for h in view["hosts"] if int(h["id"]) == r["hosts"][-1])
    assert spare["allocations"][0]["start_date"].startswith(
        (T0 + H).strftime("%Y-%m-%dT%H:%M"))
    # A second failure finds no free machine: degraded, until one comes back.
    async with rt.db.session() as s:
        await s.execute(update(Node).where(Node.name == f"m{r['hosts'][0] - 1}")
                        .values(maintenance=True))
    await tick(rt)
    got = await leases.get(rt, ALICE, lease["id"])
    assert got["degraded"] and got["reservations"][0]["missing_resources"]
    assert "no free machine" in got["status_reason"]
    async with rt.db.session() as s:
        await s.execute(update(Node).values(maintenance=False))
    await tick(rt)
    got = await leases.get(rt, ALICE, lease["id"])
    assert not got["degraded"] and not got["reservations"][0]["missing_resources"]


async def test_update_rechecks_the_window(rt: Runtime, clock: Clock) -> None:
    await pool(rt, 2)
    a = await leases.create(rt, ALICE, ask(T0 + H, T0 + 2 * H, 2, name="a"))
    await leases.create(rt, BOB, ask(T0 + 3 * H, T0 + 4 * H, 1, name="b"))
    # Extending into bob's lease needs both hosts: refused, lease unchanged.
    with pytest.raises(NotEnoughHosts):
        await leases.update(rt, ALICE, a["id"], {
            "end_date": when(T0 + 3 * H + dt.timedelta(minutes=30))})
    assert (await leases.get(rt, ALICE, a["id"]))["end_date"].startswith("2027-03-01T10:00")
    moved = await leases.update(rt, ALICE, a["id"], {"end_date": when(T0 + 3 * H)})
    assert moved["end_date"].startswith("2027-03-01T11:00")
    assert [e["time"][:16] for e in moved["events"] if e["event_type"] == "end_lease"] == [
        "2027-03-01T11:00"]
    # Fewer hosts is fine before it started; then the extension fits around bob.
    rid = moved["reservations"][0]["id"]
    fewer = await leases.update(rt, ALICE, a["id"], {
        "end_date": when(T0 + 5 * H), "reservations": [{"id": rid, "min": 1, "max": 1}]})
    assert len(fewer["reservations"][0]["hosts"]) == 1
    with pytest.raises(InvalidParameter, match="Please enter valid reservation IDs"):
        await leases.update(rt, ALICE, a["id"], {"reservations": [{"id": "nope", "max": 1}]})
    clock.set(T0 + H + dt.timedelta(minutes=1))
    await settle(rt, a["id"], "ACTIVE")
    with pytest.raises(InvalidParameter, match="Cannot modify the start date of already"):
        await leases.update(rt, ALICE, a["id"], {"start_date": when(T0 + 2 * H)})


async def test_policy_limits(database: Database, settings: Settings, clock: Clock) -> None:
    tuned = settings.model_copy(update={
        "lease_clock_file": str(clock.path), "lease_max_duration": 86400,
        "lease_extension_window": 2 * 3600, "lease_max_hosts_per_project": 2})
    async with cs.running(database, tuned) as rt:
        await pool(rt, 4)
        with pytest.raises(PolicyRefusal, match="Lease duration of 90000 seconds must be "
                           "less than or equal to the maximum lease duration of 86400"):
            await leases.create(rt, ALICE, ask(T0, T0 + 25 * H, name="long"))
        with pytest.raises(PolicyRefusal, match="at most 2 machines at once"):
            await leases.create(rt, ALICE, ask(T0, T0 + H, 3, name="many"))
        ok = await leases.create(rt, ALICE, ask(T0, T0 + 10 * H, 2, name="ok"))
        with pytest.raises(PolicyRefusal, match="holds 2 during the window"):
            await leases.create(rt, ALICE, ask(T0 + 5 * H, T0 + 6 * H, 1, name="more"))
        # The reservations of one lease count together: 2 + 1 would be 3 at once.
        two = ask(T0 + 13 * H, T0 + 14 * H, 2, name="two")
        two["reservations"].append({**two["reservations"][0], "min": 1, "max": 1})
        with pytest.raises(PolicyRefusal, match="holds 2 during the window"):
            await leases.create(rt, ALICE, two)
        assert [x["name"] for x in await leases.list_leases(rt, ALICE)] == ["ok"]
        # Too early to extend; two hours before the end it is allowed.
        with pytest.raises(PolicyRefusal, match="only within 2 hour\\(s\\) of its end"):
            await leases.update(rt, ALICE, ok["id"], {"end_date": when(T0 + 12 * H)})
        clock.set(T0 + 8 * H)
        later = await leases.update(rt, ALICE, ok["id"], {"end_date": when(T0 + 12 * H)})
        assert later["end_date"].startswith("2027-03-01T20:00")
        # Shortening is always allowed.
        shorter = await leases.update(rt, ALICE, ok["id"], {"end_date": when(T0 + 9 * H)})
        assert shorter["end_date"].startswith("2027-03-01T17:00")


async def test_projects_see_their_own_leases(rt: Runtime) -> None:
    await pool(rt, 2)
    mine = await leases.create(rt, ALICE, ask(T0 + H, T0 + 2 * H, 1, name="mine"))
    await leases.create(rt, BOB, ask(T0 + H, T0 + 2 * H, 1, name="theirs"))
    assert [x["name"] for x in await leases.list_leases(rt, ALICE)] == ["mine"]
    with pytest.raises(BarecloudError) as err:
        await leases.get(rt, BOB, mine["id"])
    assert err.value.code == 404
    assert err.value.message == f"Object with {{'lease_id': '{mine['id']}'}} not found"
    view = await calendar.view(rt, BOB, when(T0), when(T0 + 3 * H))
    names = {a["lease_name"] for h in view["hosts"] for a in h["allocations"]}
    assert names == {"theirs", None}  # alice's lease shows as busy, without its name
    await leases.delete(rt, ALICE, mine["id"])
    assert await leases.list_leases(rt, ALICE) == []


async def test_an_active_lease_gives_back_idle_hosts_only(rt: Runtime, clock: Clock) -> None:
    await pool(rt, 2)
    image_id, flavor_id = await cs.image(rt), await cs.flavor(rt)
    lease = await leases.create(rt, ALICE, ask(T0, T0 + 4 * H, 2, name="shrink"))
    await settle(rt, lease["id"], "ACTIVE")
    rid = lease["reservations"][0]["id"]
    [made] = (await servers.create(rt, ALICE, {
        "server": {"name": "s", "imageRef": image_id, "flavorRef": flavor_id,
                   "networks": "none"}, "os:scheduler_hints": {"reservation": rid}},
        (2, 96))).servers
    [row] = await cs.settle(rt)
    busy_host = next(int(h["id"]) for h in (await calendar.view(rt, cs.ADMIN, None, None))[
        "hosts"] if h["node_uuid"] == row.node_uuid)
    # One machine back: the idle one goes, the one with the server stays.
    one = await leases.update(rt, ALICE, lease["id"], {
        "reservations": [{"id": rid, "min": 1, "max": 1}]})
    assert one["reservations"][0]["hosts"] == [busy_host]
    # Moving to the other machine (by its memory) would take this one from the server:
    # refused, nothing changed.
    other_memory = 65536 if busy_host == 1 else 32768
    with pytest.raises(BarecloudError) as err:
        await leases.update(rt, ALICE, lease["id"], {
            "reservations": [{"id": rid, "min": 1, "max": 1, "resource_properties":
                              f'["=", "$memory_mb", "{other_memory}"]'}]})
    assert err.value.code == 409
    assert f"would give back host(s) {busy_host} on which server(s) {made.uuid} run" in (
        err.value.message)
    assert (await leases.get(rt, ALICE, lease["id"]))["reservations"][0]["hosts"] == [
        busy_host]


async def test_the_calendar_shows_a_member_capacity_not_machines(rt: Runtime) -> None:
    """Blazar shows ``os-hosts`` to admins only: a member's calendar has its own
    leases and anonymous busy time, never a machine's name, UUID or host id (nor a
    maintenance reason that names it); the admin's has them all."""
    ids = await pool(rt, 3, prefix="secret-rack7-")
    async with rt.db.session() as s:
        machines = list((await s.execute(select(Node.name, Node.uuid))).tuples().all())
        await s.execute(update(Node).where(Node.name == "secret-rack7-2")
                        .values(maintenance=True))
    mine = await leases.create(rt, ALICE, ask(T0 + H, T0 + 2 * H, 1, name="mine"))
    await leases.create(rt, BOB, ask(T0 + H, T0 + 2 * H, 1, name="theirs"))
    seen = await calendar.view(rt, ALICE, when(T0), when(T0 + 3 * H))
    text = json.dumps(seen)
    for name, uuid in machines:
        assert name not in text and uuid not in text, (name, text)
    assert [h["id"] for h in seen["hosts"]] == [None] * 3
    assert {h["hypervisor_hostname"] for h in seen["hosts"]} == {None}
    assert {h["node_uuid"] for h in seen["hosts"]} == {None}
    held = [a for h in seen["hosts"] for a in h["allocations"]]
    assert sorted((a["lease_id"], a["lease_name"]) for a in held if a["lease_id"]) == [
        (mine["id"], "mine")]
    assert [a["lease_name"] for a in held if not a["lease_id"]] == [None]
    assert [bool(h["out_of_service"]) for h in seen["hosts"]] == [False, False, True]
    # The member's Gantt still draws: a row per machine, no names.
    lines = gantt.render(seen, 12)
    assert [line.split()[0:2] for line in lines[3:6]] == [["host", "1"], ["host", "2"],
                                                          ["host", "3"]]
    admin = await calendar.view(rt, cs.ADMIN, when(T0), when(T0 + 3 * H))
    assert [h["id"] for h in admin["hosts"]] == [str(i) for i in ids]
    assert {h["hypervisor_hostname"] for h in admin["hosts"]} == {n for n, _ in machines}
    assert "secret-rack7-2" in admin["hosts"][2]["out_of_service"]
    assert {a["lease_name"] for h in admin["hosts"] for a in h["allocations"]} == {
        "mine", "theirs"}
