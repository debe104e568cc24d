"""Liveness: the database's clock, unique names, the fenced heartbeat and its lease,
stepping down, take-over of every holder that is not live, graceful stop, and
claims made only for live conductors (docs/design/engine.md, "Recovery")."""

from __future__ import annotations

import asyncio
import datetime as dt
import subprocess
import time
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy import select, text, update

from barecloud import states
from barecloud.conductor import recovery
from barecloud.conductor.engine import Conductor
from barecloud.conductor.ring import HashRing
from barecloud.config import Settings
from barecloud.db import clock
from barecloud.db.models import Conductor as Member
from barecloud.db.models import Node, utcnow
from barecloud.db.session import Database
from barecloud.drivers import fake
from barecloud.services.context import NoConductor, Runtime
from tests.conductor.helpers import (
    act,
    enroll,
    history,
    load,
    make_available,
    set_driver_info,
    wait_state,
)


@pytest.fixture(autouse=True)
def _no_skew() -> Iterator[None]:
    yield
    clock.set_offset(0.0)


async def _member(db: Database, name: str) -> Member:
    async with db.session() as s:
        row = await s.scalar(select(Member).where(Member.hostname == name))
        assert row is not None, name
        return row


async def _set_member(db: Database, name: str, **values: object) -> None:
    async with db.session() as s:
        await s.execute(update(Member).where(Member.hostname == name).values(**values))


# --- the database's clock ------------------------------------------------------------
def test_utcnow_follows_the_database_clock() -> None:
    local = clock.local_utcnow()
    clock.set_offset(90.0)  # the database's clock runs 90 s ahead of ours
    skewed = utcnow() - local
    assert dt.timedelta(seconds=89.9) < skewed < dt.timedelta(seconds=91)
    # The offset is read at the middle of the round trip.
    before = dt.datetime(2026, 1, 1, 12, 0, 0)
    after = before + dt.timedelta(seconds=2)
    database = dt.datetime(2026, 1, 1, 12, 0, 31)
    assert clock.offset_from(before, database, after) == 30.0


async def test_the_measured_offset_is_applied(pg_url: str) -> None:
    db = Database(pg_url)
    try:
        clock.set_offset(3600.0)  # a stale, wrong offset: the measure replaces it
        measured = await clock.refresh(db.engine)
        assert abs(measured) < 1.0
        assert clock.offset() == measured
        async with db.engine.connect() as conn:
            database = await conn.scalar(text("SELECT clock_timestamp() AT TIME ZONE 'UTC'"))
        assert abs((utcnow() - database).total_seconds()) < 1.0
    finally:
        await db.dispose()


async def test_liveness_is_judged_on_the_database_clock(database: Database) -> None:
    """A member that beat just now is live for a process whose own clock is an hour
    ahead, once that process knows the offset (db/clock.py)."""
    await recovery.register(database, "peer", "", timeout=60)
    clock.set_offset(-3600.0)  # our clock is an hour ahead of the database's
    assert [h for h, _ in await recovery.live_conductors(database, 60)] == ["peer"]
    assert await recovery.take_over_dead(database, "me", 60) == []


def test_the_lease_margin_must_leave_a_lease() -> None:
    assert Settings().lease_margin == 20.0  # twice the 10 s heartbeat interval
    assert Settings(conductor_heartbeat_interval=3600,
                    conductor_heartbeat_timeout=2).lease_margin == 1.0  # half the timeout
    with pytest.raises(ValueError, match="conductor_lease_margin"):
        Settings(conductor_heartbeat_timeout=10, conductor_lease_margin=10)


# --- unique names ----------------------------------------------------------------------
async def test_register_refuses_a_name_a_live_process_holds(database: Database) -> None:
    first = await recovery.register(database, "c1", "", timeout=60)
    with pytest.raises(recovery.NameTaken) as caught:
        await recovery.register(database, "c1", "", timeout=60)
    message = caught.value.message
    assert "'c1'" in message and "process" in message and "last heartbeat" in message
    assert (await _member(database, "c1")).incarnation == first
    # Offline, or silent past the timeout: the name is free again, with a new incarnation.
    await recovery.unregister(database, "c1", first)
    second = await recovery.register(database, "c1", "", timeout=60)
    assert second != first
    await _set_member(database, "c1", updated_at=utcnow() - dt.timedelta(seconds=120))
    third = await recovery.register(database, "c1", "", timeout=60)
    assert third not in (first, second)


async def test_a_crashed_process_on_this_host_frees_its_name_at_once(
    database: Database,
) -> None:
    """Restarted right after a crash, a conductor need not wait for its old heartbeat."""
    child = subprocess.Popen(["sleep", "0"])  # noqa: ASYNC220 (it ends at once)
    child.wait()
    token, space, _, host = recovery.new_incarnation().split(" ")
    incarnation = f"{token} {space} {child.pid}.1 {host}"
    async with database.session() as s:
        s.add(Member(hostname="crashed", conductor_group="", online=True,
                     incarnation=incarnation, updated_at=utcnow()))
    assert await recovery.register(database, "crashed", "", timeout=60) != incarnation


async def test_api_members_are_not_conductors(database: Database) -> None:
    await recovery.register(database, "api-1", "", role=recovery.API, timeout=60)
    await recovery.register(database, "c1", "", timeout=60)
    assert await recovery.live_conductors(database, 60) == [("c1", "")]


# --- heartbeat, lease, stepping down ------------------------------------------------------
@pytest.fixture
def liveness_settings(settings: Settings) -> Settings:
    # No periodic beat: the tests beat, or expire the lease, themselves.
    return settings.model_copy(update={"conductor_heartbeat_interval": 3600.0,
                                       "conductor_heartbeat_timeout": 60.0})


@pytest.fixture
async def conductor(database: Database, liveness_settings: Settings
                    ) -> AsyncIterator[Conductor]:
    c = Conductor(database, liveness_settings)
    await c.start()
    try:
        yield c
    finally:
        await c.stop()


async def _taken_over(db: Database, name: str) -> None:
    """What a peer does to a conductor whose heartbeat went stale."""
    await _set_member(db, name, updated_at=utcnow() - dt.timedelta(hours=1))
    assert await recovery.take_over_dead(db, "peer", 60) == [name]


async def test_a_conductor_its_peers_declared_dead_steps_down(
    database: Database, conductor: Conductor,
) -> None:
    rt = Runtime(database, conductor.settings, local_conductor=conductor)
    n = await make_available(rt)
    await set_driver_info(database, n, fake_delay=0.3)
    await act(rt, n, "active")
    await wait_state(rt, n, states.DEPLOYING, settled=False)
    await asyncio.sleep(0.5)  # a step or two in
    old = conductor.member.incarnation
    await _taken_over(database, conductor.name)
    failed_at = len(await history(database, n))
    machine_log = len(fake.MACHINES[n].log)

    assert await conductor.member.beat() is False  # the heartbeat finds itself offline
    deadline = time.monotonic() + 10
    while conductor.member.incarnation == old or conductor._stepping_down is not None:
        assert time.monotonic() < deadline, "did not step down and register again"
        await asyncio.sleep(0.05)
    assert conductor._running == {}
    await asyncio.sleep(1.0)  # long enough for several more steps, were any running

    node = await load(database, n)
    assert node.provision_state == states.DEPLOYFAIL
    assert node.last_error is not None and "stopped answering" in node.last_error
    assert node.reservation is None
    assert len(await history(database, n)) == failed_at  # it wrote nothing since
    assert len(fake.MACHINES[n].log) <= machine_log + 1  # at most the step in flight
    row = await _member(database, conductor.name)
    assert row.online and row.incarnation == conductor.member.incarnation != old
    # Back as a new incarnation, it works again.
    await set_driver_info(database, n, fake_delay=None)
    await act(rt, n, "active")
    await wait_state(rt, n, states.ACTIVE)


async def test_an_expired_lease_blocks_the_next_step(
    pg_url: str, liveness_settings: Settings,
) -> None:
    """The lease ran out and the heartbeat cannot get through (a peer is taking this
    conductor over, holding its row): no step runs, and once the peer is done the
    conductor steps down without touching the node."""
    from barecloud.db import migrate

    await migrate.upgrade_async(pg_url)
    db = Database(pg_url)
    c = Conductor(db, liveness_settings)
    await c.start()
    try:
        rt = Runtime(db, c.settings, local_conductor=c)
        n = await make_available(rt)
        await set_driver_info(db, n, fake_delay=0.3)
        await act(rt, n, "active")
        await wait_state(rt, n, states.DEPLOYING, settled=False)
        await asyncio.sleep(0.4)
        async with db.session() as peer:
            await peer.execute(select(Member).where(Member.hostname == c.name)
                               .with_for_update())
            c.member.lease_until = 0.0  # as after a pause
            await asyncio.sleep(0.5)  # the step in flight ends; the next waits
            step = (await load(db, n)).workflow_step
            seen = len(fake.MACHINES[n].log)
            await asyncio.sleep(1.5)
            assert (await load(db, n)).workflow_step == step
            assert len(fake.MACHINES[n].log) == seen
            await peer.execute(update(Member).where(Member.hostname == c.name)
                               .values(online=False))
            # As take_over_dead does: the nodes released while the row is held.
            await recovery.abandon_locks(db, c.name, f"Conductor {c.name} stopped answering")
        written = len(await history(db, n))
        deadline = time.monotonic() + 10
        while c.member.lost or c._stepping_down is not None:
            assert time.monotonic() < deadline
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)
        assert len(fake.MACHINES[n].log) == seen
        assert len(await history(db, n)) == written
        node = await load(db, n)
        assert (node.provision_state, node.reservation) == (states.DEPLOYFAIL, None)
    finally:
        await c.stop()
        await db.dispose()


# --- take-over -------------------------------------------------------------------------
async def test_every_lock_of_a_holder_that_is_not_live_is_released(
    database: Database, settings: Settings,
) -> None:
    rt = Runtime(database, settings)
    old = utcnow() - dt.timedelta(hours=1)
    async with database.session() as s:
        # An API process that died holding a node's lock around BMC I/O; a conductor
        # that crashed after marking itself offline; a name that is no member.
        s.add(Member(hostname="api-dead", role=recovery.API, online=True, updated_at=old,
                     incarnation="x"))
        s.add(Member(hostname="c-off", online=False, updated_at=old, incarnation="y"))
        s.add(Member(hostname="c-live", online=True, updated_at=utcnow(), incarnation="z"))
    held = {}
    for holder in ("api-dead", "c-off", "nobody", "c-live"):
        n = await enroll(rt)
        async with database.session() as s:
            await s.execute(update(Node).where(Node.uuid == n).values(reservation=holder))
        held[holder] = n
    # A member that went offline a moment ago is stopping: its hand-over is due first.
    recent = await enroll(rt)
    async with database.session() as s:
        s.add(Member(hostname="c-stopping", online=False, updated_at=utcnow(),
                     incarnation="w"))
        await s.execute(update(Node).where(Node.uuid == recent).values(
            reservation="c-stopping"))

    assert await recovery.take_over_dead(database, "me", 60) == ["api-dead"]
    for holder in ("api-dead", "c-off", "nobody"):
        node = await load(database, held[holder])
        assert (node.reservation, node.provision_state) == (None, states.ENROLL), holder
    assert (await load(database, held["c-live"])).reservation == "c-live"
    assert (await load(database, recent)).reservation == "c-stopping"
    assert not (await _member(database, "c-off")).online
    # The dead API process's row is gone too: API members are named after their pid.
    async with database.session() as s:
        assert await s.scalar(select(Member).where(Member.hostname == "api-dead")) is None


async def test_a_take_over_cut_short_leaves_every_member_as_it_was(
    pg: Database, settings: Settings,
) -> None:
    """Declaring members dead and releasing their nodes is one transaction: a
    take-over cancelled half-way (its conductor paused, then found dead itself,
    steps down) leaves no member online whose nodes were released (fault run,
    2026-12-06: a conductor kept working on nodes failed as "stopped answering")."""
    rt = Runtime(pg, settings)
    old = utcnow() - dt.timedelta(hours=1)
    held = {}
    for name in ("c-a", "c-b"):  # taken over in name order
        async with pg.session() as s:
            s.add(Member(hostname=name, online=True, updated_at=old, incarnation=name))
        held[name] = n = await enroll(rt)
        async with pg.session() as s:
            await s.execute(update(Node).where(Node.uuid == n).values(reservation=name))
    async with pg.session() as busy:
        # Someone holds c-b's node: the take-over waits there, c-a's node released.
        await busy.execute(select(Node).where(Node.uuid == held["c-b"]).with_for_update())
        task = asyncio.create_task(recovery.take_over_dead(pg, "me", 60))
        await asyncio.sleep(1.0)
        assert not task.done()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    for name in ("c-a", "c-b"):
        assert (await _member(pg, name)).online, name
        assert (await load(pg, held[name])).reservation == name, name
    assert await recovery.take_over_dead(pg, "me", 60) == ["c-a", "c-b"]
    for name in ("c-a", "c-b"):
        assert (await load(pg, held[name])).reservation is None, name


async def test_a_conductor_declared_dead_takes_nobody_over(
    database: Database, settings: Settings,
) -> None:
    rt = Runtime(database, settings)
    mine = await recovery.register(database, "me", "", timeout=60)
    async with database.session() as s:
        s.add(Member(hostname="c-stale", online=True, incarnation="s",
                     updated_at=utcnow() - dt.timedelta(hours=1)))
    n = await enroll(rt)
    async with database.session() as s:
        await s.execute(update(Node).where(Node.uuid == n).values(reservation="c-stale"))
    await _set_member(database, "me", online=False)  # a peer declared this one dead
    assert await recovery.take_over_dead(database, "me", 60, mine) == []
    assert (await load(database, n)).reservation == "c-stale"
    await _set_member(database, "me", online=True)
    assert await recovery.take_over_dead(database, "me", 60, "an older incarnation") == []
    assert await recovery.take_over_dead(database, "me", 60, mine) == ["c-stale"]
    assert (await load(database, n)).reservation is None


async def test_a_transaction_left_waiting_past_the_timeout_is_ended_by_the_server(
    pg: Database,
) -> None:
    """A process paused (SIGSTOP) inside a transaction held its row locks, and its
    peers' take-over, until it was resumed (scale-out test, CI of 2026-12-06):
    the server ends such a session after the heartbeat timeout (1 s here)."""
    from sqlalchemy.exc import DBAPIError

    await recovery.register(pg, "c-paused", "", timeout=60)
    paused = Database(pg.url, pool_size=1, idle_in_transaction_s=1.0)
    try:
        with pytest.raises(DBAPIError):
            async with paused.session() as s:
                await s.execute(select(Member).where(Member.hostname == "c-paused")
                                .with_for_update())
                # Its client says nothing more (paused): a peer's write waits,
                # then goes through once the server has ended that session.
                async with asyncio.timeout(15):
                    await _set_member(pg, "c-paused", online=False)
                await s.execute(text("SELECT 1"))  # the paused process resumes: refused
        assert not (await _member(pg, "c-paused")).online
    finally:
        await paused.dispose()


# --- graceful stop -------------------------------------------------------------------------
async def test_a_stopped_conductor_hands_its_nodes_over(
    pg_url: str, settings: Settings,
) -> None:
    from barecloud.db import migrate

    await migrate.upgrade_async(pg_url)
    db = Database(pg_url)
    a = Conductor(db, settings.model_copy(update={"conductor_name": "c-a"}))
    b = Conductor(db, settings.model_copy(update={"conductor_name": "c-b"}))
    await a.start()
    await b.start()
    api = Runtime(db, settings)
    try:
        names = [await make_available(api) for _ in range(6)]
        ring = HashRing(["c-a", "c-b"])
        mine = [n for n in names if ring.host_for(n) == "c-a"]
        assert mine, "no node for c-a: add nodes"
        for n in names:
            await set_driver_info(db, n, fake_delay=0.2)
            await act(api, n, "active")
        await asyncio.sleep(0.5)
        await a.stop()
        async with db.session() as s:
            assert (await s.scalars(select(Node.uuid).where(
                Node.reservation == "c-a"))).all() == []
        for n in names:
            node = await wait_state(api, n, states.ACTIVE, timeout=30)
            assert node.last_error is None
        events = [h.event for n in mine for h in await history(db, n)]
        assert any("Conductor c-a was stopped: c-b resumes the deploy at step" in e
                   for e in events), events
        # New work goes to c-b (the API's ring, cached, still names c-a: it asks again).
        await act(api, mine[0], "deleted")
        assert (await load(db, mine[0])).reservation == "c-b"
    finally:
        await b.stop()
        await db.dispose()


async def test_a_stopped_conductor_alone_fails_its_nodes_and_keeps_no_lock(
    database: Database, liveness_settings: Settings,
) -> None:
    conductor = Conductor(database, liveness_settings)
    await conductor.start()
    try:
        rt = Runtime(database, conductor.settings, local_conductor=conductor)
        n = await make_available(rt)
        await set_driver_info(database, n, fake_delay=0.3)
        await act(rt, n, "active")
        await asyncio.sleep(0.5)
    finally:
        await conductor.stop()
    node = await load(database, n)
    assert (node.provision_state, node.reservation, node.workflow) == (
        states.DEPLOYFAIL, None, None)
    assert node.last_error == (f"Conductor {conductor.name} was stopped while the node was "
                               "deploying; the operation was abandoned.")
    assert not (await _member(database, conductor.name)).online


# --- claims only for live conductors ---------------------------------------------------------
async def test_a_claim_for_a_dead_conductor_goes_to_a_live_one_or_is_refused(
    database: Database, settings: Settings,
) -> None:
    for name in ("c-gone", "c-live"):
        await recovery.register(database, name, "", timeout=60)
    rt = Runtime(database, settings)
    ring = HashRing(["c-gone", "c-live"])
    while ring.host_for(n := await enroll(rt)) != "c-gone":
        pass
    await rt.conductor_for(n)  # the ring, cached with both conductors
    await _set_member(database, "c-gone", updated_at=utcnow() - dt.timedelta(hours=1))
    await act(rt, n, "manage")
    assert (await load(database, n)).reservation == "c-live"

    async with database.session() as s:
        await s.execute(update(Node).where(Node.uuid == n).values(
            reservation=None, workflow=None, provision_state=states.ENROLL))
    await rt.conductor_for(n)  # cached again: c-live only
    await _set_member(database, "c-live", online=False)
    with pytest.raises(NoConductor):
        await act(rt, n, "manage")
    assert (await load(database, n)).reservation is None


async def test_a_claim_in_flight_does_not_hold_its_holders_heartbeat(pg: Database) -> None:
    """A claim keeps its holder's row as it is against a take-over, not against the
    holder's own heartbeat: with claims for a busy conductor overlapping, a lock
    that held the heartbeat back let it age past the timeout (a 503 in the fault
    run's calm window, CI of 2026-12-06)."""
    from barecloud.conductor import locks

    incarnation = await recovery.register(pg, "c-busy", "", timeout=60)
    async with pg.session() as claim:
        assert await locks.holder_is_live(claim, "c-busy", 60)
        async with asyncio.timeout(5):
            async with pg.engine.begin() as conn:
                async with asyncio.timeout(2):  # the heartbeat does not wait for the claim
                    assert await recovery.heartbeat(conn, "c-busy", incarnation)
        # A peer's take-over skips the row while the claim is under way ...
        await _set_member(pg, "c-busy", updated_at=utcnow() - dt.timedelta(hours=1))
        assert await recovery.take_over_dead(pg, "peer", 60) == []
    # ... and declares it dead once the claim is over.
    assert await recovery.take_over_dead(pg, "peer", 60) == ["c-busy"]
