"""The calendar: which hosts are free over a window, and which to give.

Every decision that adds or moves an allocation runs inside
:func:`locked` (one transaction holding the calendar lock), so what
:func:`free_hosts` saw is still true when the allocation is written: two
overlapping requests never get the same host.  Hosts are ranked by best
fit (docs/design/leasing.md, Admission) to keep the calendar unfragmented.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud import states
from barecloud.db.lease_models import HostAllocation, Lease
from barecloud.db.session import serialize
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.reservation import clock, filters, hosts
from barecloud.services.reservation.dates import parse, render

# A side with no neighbouring allocation within HORIZON counts as OPEN idle time
# (the search stops there, so admission reads only allocations near the window).
OPEN = dt.timedelta(days=3650)
HORIZON = dt.timedelta(days=7)
# Why a machine cannot serve, as a member sees it (the reason names the node).
OUT_OF_SERVICE = "out of service"


@asynccontextmanager
async def locked(rt: Runtime) -> AsyncIterator[AsyncSession]:
    """A transaction holding the calendar lock (PostgreSQL: advisory; SQLite: the
    embedded service's one connection already serialises transactions)."""
    async with rt.db.session() as s:
        await serialize(s, "lease-calendar")
        yield s


@dataclass(frozen=True)
class Request:
    """What one reservation asks for."""

    min: int
    max: int
    filters: filters.Filter
    start: dt.datetime
    end: dt.datetime


def cleaning(rt: Runtime) -> dt.timedelta:
    return dt.timedelta(seconds=rt.settings.lease_cleaning_time)


async def busy(s: AsyncSession, start: dt.datetime, end: dt.datetime, gap: dt.timedelta,
               exclude_lease: str | None = None) -> set[int]:
    """Hosts held by a live lease at some instant of [start - gap, end + gap)."""
    q = select(HostAllocation.host_id).where(
        HostAllocation.live.is_(True), HostAllocation.start_date < end + gap,
        HostAllocation.end_date > start - gap)
    if exclude_lease is not None:
        q = q.where(HostAllocation.lease_id != exclude_lease)
    return set((await s.scalars(q)).all())


async def _fit(s: AsyncSession, host_ids: Sequence[int], start: dt.datetime,
               end: dt.datetime, exclude_lease: str | None) -> dict[int, dt.timedelta]:
    """The idle time each host would keep around [start, end): best fit is smallest.

    Two grouped range queries on the allocation dates within HORIZON of the
    window, for all hosts at once (a per-host list of hundreds of ids was half
    of admission's time)."""
    live = HostAllocation.live.is_(True)
    before = (select(HostAllocation.host_id, func.max(HostAllocation.end_date))
              .where(live, HostAllocation.end_date <= start,
                     HostAllocation.end_date > start - HORIZON)
              .group_by(HostAllocation.host_id))
    after = (select(HostAllocation.host_id, func.min(HostAllocation.start_date))
             .where(live, HostAllocation.start_date >= end,
                    HostAllocation.start_date < end + HORIZON)
             .group_by(HostAllocation.host_id))
    if exclude_lease is not None:
        before = before.where(HostAllocation.lease_id != exclude_lease)
        after = after.where(HostAllocation.lease_id != exclude_lease)
    prev = dict((await s.execute(before)).tuples().all())
    nxt = dict((await s.execute(after)).tuples().all())
    return {h: (start - prev[h] if h in prev else OPEN) + (nxt[h] - end if h in nxt else OPEN)
            for h in host_ids}


async def free_hosts(rt: Runtime, s: AsyncSession, req: Request,
                     exclude_lease: str | None = None,
                     exclude_hosts: Sequence[int] = ()) -> list[int]:
    """Matching hosts free over the whole window, best fit first."""
    taken = await busy(s, req.start, req.end, cleaning(rt), exclude_lease)
    free = [h for h in await hosts.matching(s, req.filters)
            if h not in taken and h not in exclude_hosts]
    if not free:
        return []
    fit = await _fit(s, free, req.start, req.end, exclude_lease)
    return sorted(free, key=lambda h: (fit[h], h))


def peak(intervals: Sequence[tuple[dt.datetime, dt.datetime, int]], start: dt.datetime,
         end: dt.datetime) -> int:
    """The most held at one instant of [start, end) by (start, end, count) intervals."""
    edges: list[tuple[dt.datetime, int]] = []
    for a, b, n in intervals:
        a, b = max(a, start), min(b, end)
        if a < b:
            edges += [(a, n), (b, -n)]
    best = held = 0
    for _, delta in sorted(edges, key=lambda e: (e[0], e[1])):
        held += delta
        best = max(best, held)
    return best


async def project_peak(s: AsyncSession, project: str, start: dt.datetime, end: dt.datetime,
                       exclude_reservation: str | None = None) -> int:
    """The most hosts ``project`` holds at one instant of [start, end), but for the
    reservation being (re)allocated: its sibling reservations in the lease count."""
    q = (select(HostAllocation.start_date, HostAllocation.end_date)
         .join(Lease, Lease.id == HostAllocation.lease_id)
         .where(Lease.project_id == project, HostAllocation.live.is_(True),
                HostAllocation.start_date < end, HostAllocation.end_date > start))
    if exclude_reservation is not None:
        q = q.where(HostAllocation.reservation_id != exclude_reservation)
    return peak([(a, b, 1) for a, b in (await s.execute(q)).tuples()], start, end)


async def view(rt: Runtime, ctx: RequestContext, start: str | None,
               end: str | None) -> dict[str, Any]:
    """Per host, who holds it over [start, end) (default: the next 7 days).

    Other projects' leases show as busy only, without their names or ids.  The
    machines themselves (host id, name, node UUID, why one is out of service)
    only to those who may read Blazar's ``os-hosts`` (admins): a member sees
    anonymous rows, capacity and its own leases.
    """
    policy.authorize(ctx, "blazar:calendar:get")
    now = clock.now(rt.settings)
    begin = parse(start, now) if start else now
    finish = parse(end, now) if end else begin + dt.timedelta(days=7)
    see_all = policy.can(ctx, "blazar:leases:list_all")
    see_hosts = policy.can(ctx, "blazar:oshosts:get")
    async with rt.db.session() as s:
        rows = await hosts.load(s, traits=False)
        q = (select(HostAllocation, Lease).join(Lease, Lease.id == HostAllocation.lease_id)
             .where(Lease.status.in_((*states.LEASE_LIVE, states.LEASE_TERMINATED)),
                    HostAllocation.start_date < finish, HostAllocation.end_date > begin)
             .order_by(HostAllocation.start_date))
        allocs = list((await s.execute(q)).tuples().all())
    by_host: dict[int, list[dict[str, Any]]] = {h.id: [] for h, _, _ in rows}
    for alloc, lease in allocs:
        mine = see_all or lease.project_id == ctx.project
        by_host.setdefault(alloc.host_id, []).append({
            "lease_id": lease.id if mine else None, "lease_name": lease.name if mine else None,
            "project_id": lease.project_id if mine else None,
            "reservation_id": alloc.reservation_id if mine else None,
            "status": lease.status, "start_date": render(alloc.start_date),
            "end_date": render(alloc.end_date)})
    return {
        "start": render(begin), "end": render(finish), "now": render(now),
        "hosts": [{"id": str(h.id), "hypervisor_hostname": h.hypervisor_hostname,
                   "node_uuid": h.node_uuid, "reservable": h.reservable,
                   "out_of_service": hosts.broken(n), "allocations": by_host[h.id]}
                  if see_hosts else
                  {"id": None, "hypervisor_hostname": None, "node_uuid": None,
                   "reservable": h.reservable,
                   "out_of_service": OUT_OF_SERVICE if hosts.broken(n) else None,
                   "allocations": by_host[h.id]}
                  for h, n, _ in rows],
    }
