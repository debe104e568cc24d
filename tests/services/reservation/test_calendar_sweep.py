"""500 random lease requests over 50 machines, ten at a time, never double-book.

Creates with property mixes and random windows, plus updates (extend, shorten,
more or fewer hosts) and deletes, race on both databases (PostgreSQL with
a connection each, so the calendar lock is what keeps them apart). Then a
sweep over the whole calendar checks every instant. It also checks that each
lease holds between min and max matching hosts, over exactly its window.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections import defaultdict
from pathlib import Path

from sqlalchemy import select

from barecloud import states
from barecloud.config import Settings
from barecloud.db.lease_models import HostAllocation, Lease
from barecloud.db.session import Database
from barecloud.errors import BarecloudError
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.reservation import filters, hosts, leases
from tests.services.reservation.support import T0, Clock, ask, pool, when

REQUESTS = 500
HOSTS = 50
RACING = 10
PROPS = ["", '["=", "$gpu", "true"]', '[">=", "$memory_mb", "65536"]',
         '["and", ["=", "$rack", "r1"], [">=", "$memory_mb", "32768"]]',
         '["=", "$rack", "r2"]']


def _extra(i: int) -> dict[str, str]:
    return {"gpu": "true" if i % 4 == 0 else "false", "rack": f"r{i % 3}"}


async def _one(rt: Runtime, rng: random.Random, n: int, made: list[str],
               outcome: dict[str, int]) -> None:
    ctx = RequestContext(request_id=f"req-{n}", user="u", project=f"p{n % 7}",
                         roles=("member", "reader"))
    roll = rng.random()
    try:
        if made and roll < 0.15:
            lease_id = rng.choice(made)
            lease = await leases.get(rt, _admin(n), lease_id)
            rid = lease["reservations"][0]["id"]
            count = rng.randint(1, 4)
            owner = RequestContext(request_id=f"req-{n}", project=lease["project_id"],
                                   roles=("member", "reader"))
            await leases.update(rt, owner, lease_id, {
                "end_date": when(dt.datetime.fromisoformat(lease["end_date"])
                                 + dt.timedelta(hours=rng.randint(-3, 12))),
                "reservations": [{"id": rid, "min": count, "max": count}]})
            outcome["updated"] += 1
        elif made and roll < 0.2:
            lease_id = made.pop(rng.randrange(len(made)))
            await leases.delete(rt, _admin(n), lease_id)
            outcome["deleted"] += 1
        else:
            start = T0 + dt.timedelta(hours=rng.randint(1, 24 * 14))
            end = start + dt.timedelta(hours=rng.randint(1, 72))
            low = rng.randint(1, 6)
            lease = await leases.create(rt, ctx, ask(start, end, low, name=f"l{n}",
                                                     high=low + rng.randint(0, 3),
                                                     props=rng.choice(PROPS)))
            made.append(lease["id"])
            outcome["created"] += 1
    except BarecloudError as exc:
        assert exc.code in (400, 404, 409), exc.message
        outcome[f"refused {exc.code}"] += 1


def _admin(n: int) -> RequestContext:
    return RequestContext(request_id=f"req-admin-{n}", project="admin")


async def test_random_requests_never_double_book(database: Database, settings: Settings,
                                                 tmp_path: Path) -> None:
    clock = Clock(tmp_path / "clock")
    rt = Runtime(database, settings.model_copy(update={"lease_clock_file": str(clock.path)}))
    await pool(rt, HOSTS, extra=_extra)
    rng = random.Random(7)
    made: list[str] = []
    outcome: dict[str, int] = defaultdict(int)
    for first in range(0, REQUESTS, RACING):
        await asyncio.gather(*(_one(rt, rng, n, made, outcome)
                               for n in range(first, first + RACING)))
    # Enough of every kind happened for the sweep to mean something.
    assert outcome["created"] > 150 and outcome["refused 409"] > 20
    assert outcome["updated"] > 20 and outcome["deleted"] > 10

    async with database.session() as s:
        rows = list((await s.execute(
            select(HostAllocation, Lease).join(Lease, Lease.id == HostAllocation.lease_id)
            .where(Lease.status.in_(states.LEASE_LIVE)))).tuples().all())
        facts = {int(h["id"]): h for h in
                 [hosts.facts(*row) for row in await hosts.load(s)]}
    assert len(rows) > 300
    # The sweep: at every allocation boundary, at most one lease holds each host.
    by_host: dict[int, list[tuple[dt.datetime, dt.datetime, str]]] = defaultdict(list)
    for alloc, lease in rows:
        assert (alloc.start_date, alloc.end_date) == (lease.start_date, lease.end_date)
        assert alloc.live
        by_host[alloc.host_id].append((alloc.start_date, alloc.end_date, lease.id))
    for host_id, spans in by_host.items():
        for instant in sorted({t for a, b, _ in spans for t in (a, b)}):
            holders = {lid for a, b, lid in spans if a <= instant < b}
            assert len(holders) <= 1, f"host {host_id} at {instant}: {holders}"
    # Each lease: min..max hosts, all matching its properties.
    per_lease: dict[str, list[int]] = defaultdict(list)
    for alloc, _ in rows:
        per_lease[alloc.reservation_id].append(alloc.host_id)
    for lease_id in made:
        lease = await leases.get(rt, _admin(0), lease_id)
        [r] = lease["reservations"]
        held = per_lease[r["id"]]
        assert r["min"] <= len(held) <= r["max"], lease
        flt = filters.parse(r["resource_properties"])
        assert all(filters.matches(flt, facts[h]) for h in held), lease
