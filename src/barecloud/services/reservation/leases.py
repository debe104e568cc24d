"""Leases: create, read, update and delete, with Blazar's rules and messages.

Creating or changing a lease is admission (docs/design/leasing.md): the
whole decision runs in one transaction under the calendar lock, so the
hosts it picked are still free when the allocations are written, and a
refused request leaves nothing behind.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete as sql_delete
from sqlalchemy import select
from sqlalchemy import update as sql_update
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud import states
from barecloud.db.compute_models import Server
from barecloud.db.lease_models import (
    HostAllocation,
    Lease,
    LeaseEvent,
    LeaseReservation,
    ReservableHost,
)
from barecloud.errors import Conflict, InvalidParameter, InvalidState
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.network import locality
from barecloud.services.reservation import calendar, clock, ending, filters, hosts, limits, wakeup
from barecloud.services.reservation.dates import minute, parse
from barecloud.services.reservation.errors import LeaseNotFound, NotEnoughHosts
from barecloud.services.reservation.schemas import RESOURCE_TYPE
from barecloud.services.reservation.views import lease as view
from barecloud.services.tenancy import project_of, user_of

# Blazar's default notice before a lease ends (minutes_before_end_lease).
NOTICE = dt.timedelta(hours=1)


@dataclass
class _Ask:
    """One reservation of a create request, checked."""

    min: int
    max: int
    hypervisor_properties: str
    resource_properties: str
    before_end: str
    filters: filters.Filter


# --- reading --------------------------------------------------------------------
async def _find(s: AsyncSession, ctx: RequestContext, lease_id: str, rule: str) -> Lease:
    lease = await s.get(Lease, lease_id)
    if lease is None or not policy.can(ctx, "blazar:leases:get",
                                       {"project_id": lease.project_id}):
        raise LeaseNotFound(lease_id)
    policy.authorize(ctx, rule, {"project_id": lease.project_id})
    return lease


async def get(rt: Runtime, ctx: RequestContext, lease_id: str) -> dict[str, Any]:
    async with rt.db.session() as s:
        return view(await _find(s, ctx, lease_id, "blazar:leases:get"))


async def list_leases(rt: Runtime, ctx: RequestContext) -> list[dict[str, Any]]:
    """The project's leases; every lease for an admin."""
    policy.authorize(ctx, "blazar:leases:get", {"project_id": ctx.project})
    q = select(Lease).order_by(Lease.created_at, Lease.id)
    if not policy.can(ctx, "blazar:leases:list_all"):
        q = q.where(Lease.project_id == ctx.project)
    async with rt.db.session() as s:
        return [view(row) for row in (await s.scalars(q)).all()]


# --- parsing ----------------------------------------------------------------------
# Bodies are what schemas.CREATE_LEASE / UPDATE_LEASE accepted (types, required
# fields, the resource type); what follows checks what JSON Schema cannot say.
def _ask(data: dict[str, Any]) -> _Ask:
    low, high = int(data["min"]), int(data["max"])  # python-blazarclient sends text
    if low < 1 or high < 1:
        raise InvalidParameter("Malformed parameter min and max (must be greater than or "
                               "equal to 1)")
    if high < low:
        raise InvalidParameter("Invalid values for min/max of hosts. Max must be equal to or "
                               "larger than min.")
    hyper, res = _props(data.get("hypervisor_properties")), _props(
        data.get("resource_properties"))
    before_end = data.get("before_end") or "default"
    return _Ask(low, high, hyper, res, before_end, filters.of(hyper, res))


def _props(value: Any) -> str:
    """A filter as stored: the JSON text the client sent (a list is written back as JSON)."""
    if value is None:
        return ""
    if isinstance(value, list):
        filters.parse(value)
        return json.dumps(value)
    return str(value)


async def _name_free(s: AsyncSession, project: str, name: str,
                     lease_id: str | None = None) -> None:
    q = select(Lease.id).where(Lease.project_id == project, Lease.name == name)
    if lease_id is not None:
        q = q.where(Lease.id != lease_id)
    if await s.scalar(q) is not None:
        raise Conflict(f"The lease with name: {name} already exists")


def _before_end(value: Any, start: dt.datetime, end: dt.datetime,
                now: dt.datetime) -> dt.datetime:
    if value in (None, ""):
        return max(start, end - NOTICE)
    when = parse(value, now)
    if not start < when < end:
        raise InvalidParameter("Datetime is out of lease limits")
    return when


# --- allocating ---------------------------------------------------------------------
async def _allocate(rt: Runtime, s: AsyncSession, lease: Lease, reservation_id: str,
                    ask: _Ask, start: dt.datetime, end: dt.datetime, keep: list[int],
                    avoid: set[int]) -> list[int]:
    """The hosts one reservation gets over [start, end): those of ``keep`` still free
    first, then the best-fitting free ones, up to its max (and the project's limit)."""
    req = calendar.Request(ask.min, ask.max, ask.filters, start, end)
    free = await calendar.free_hosts(rt, s, req, exclude_lease=lease.id,
                                     exclude_hosts=sorted(avoid))
    kept = [h for h in keep if h in free][:ask.max]
    rest = [h for h in free if h not in kept]
    if rt.settings.scheduler_spare_network and len(rest) > ask.max - len(kept) > 1:
        rest = locality.pack(rest, await _switches(s, rest), ask.max - len(kept))
    chosen = kept + rest[:ask.max - len(kept)]
    if len(chosen) < ask.min:
        raise NotEnoughHosts(await _shortage(rt, s, ask, start, end, len(chosen)))
    allowed = await limits.hosts_allowed(s, rt.settings, lease.project_id, start, end,
                                         ask.min, len(chosen),
                                         exclude_reservation=reservation_id)
    return chosen[:allowed]


async def _switches(s: AsyncSession, host_ids: list[int]) -> dict[int, str | None]:
    """Each host's switch (its node's: network.locality), by host id."""
    nodes = dict((await s.execute(select(ReservableHost.id, ReservableHost.node_uuid).where(
        ReservableHost.id.in_(host_ids)))).tuples().all())
    by_uuid = await locality.node_uuid_switches(s, nodes.values())
    return {h: by_uuid.get(uuid) for h, uuid in nodes.items()}


async def _shortage(rt: Runtime, s: AsyncSession, ask: _Ask, start: dt.datetime,
                    end: dt.datetime, free: int) -> str:
    matching = len(await hosts.matching(s, ask.filters))
    return (f"{matching} host(s) match the properties and {free} of them are free from "
            f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M}; the reservation needs at "
            f"least {ask.min}")


async def _write_allocations(s: AsyncSession, lease: Lease, reservation_id: str,
                             host_ids: list[int], since: dt.datetime | None = None) -> None:
    """Allocations over the lease's window; a host added to a lease that started is
    held from ``since`` (now) on, not over the lease's past."""
    before = {a.host_id: a.start_date for a in (await s.scalars(select(HostAllocation).where(
        HostAllocation.reservation_id == reservation_id))).all()}
    await s.execute(sql_delete(HostAllocation).where(
        HostAllocation.reservation_id == reservation_id))
    first = max(lease.start_date, since) if since is not None else lease.start_date
    s.add_all(HostAllocation(reservation_id=reservation_id, lease_id=lease.id, host_id=h,
                             start_date=before.get(h, first) if since else first,
                             end_date=lease.end_date)
              for h in host_ids)
    await s.flush()


# --- create -------------------------------------------------------------------------
async def create(rt: Runtime, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
    project = project_of(ctx)
    policy.authorize(ctx, "blazar:leases:post", {"project_id": project})
    name = body["name"]
    now = clock.now(rt.settings)
    start, end = parse(body["start_date"], now), parse(body["end_date"], now)
    if body["start_date"] != "now" and minute(start) < minute(now):
        raise InvalidParameter("Start date must be later than current date")
    if end <= start:
        raise InvalidParameter("End date must be later than start date.")
    before_end = _before_end(body.get("before_end_date"), start, end, now)
    checked = [_ask(a) for a in body.get("reservations", [])]
    limits.check_duration(rt.settings, start, end)
    async with calendar.locked(rt) as s:
        await _name_free(s, project, name)
        lease = Lease(name=name, project_id=project, user_id=user_of(ctx), start_date=start,
                      end_date=end, before_end_date=before_end, status=states.LEASE_PENDING,
                      status_reason="", degraded=False)
        s.add(lease)
        await s.flush()
        taken: set[int] = set()
        for ask in checked:
            row = LeaseReservation(
                lease_id=lease.id, resource_type=RESOURCE_TYPE, status=states.RESV_PENDING,
                min=ask.min, max=ask.max, hypervisor_properties=ask.hypervisor_properties,
                resource_properties=ask.resource_properties, before_end=ask.before_end,
                missing_resources=False, resources_changed=False)
            s.add(row)
            await s.flush()
            chosen = await _allocate(rt, s, lease, row.id, ask, start, end, [], taken)
            taken.update(chosen)
            await _write_allocations(s, lease, row.id, chosen)
        s.add_all([
            LeaseEvent(lease_id=lease.id, event_type="start_lease", time=start,
                       status=states.EVENT_UNDONE),
            LeaseEvent(lease_id=lease.id, event_type="before_end_lease", time=before_end,
                       status=states.EVENT_UNDONE),
            LeaseEvent(lease_id=lease.id, event_type="end_lease", time=end,
                       status=states.EVENT_UNDONE),
        ])
        lease_id = lease.id
    wakeup.wake()
    return await get(rt, ctx, lease_id)


# --- update -------------------------------------------------------------------------
async def update(rt: Runtime, ctx: RequestContext, lease_id: str,
                 body: dict[str, Any]) -> dict[str, Any]:
    async with calendar.locked(rt) as s:
        lease = await _find(s, ctx, lease_id, "blazar:leases:put")
        if "name" in body:
            lease.name = body["name"]
            await _name_free(s, lease.project_id, lease.name, lease.id)
        if any(k in body for k in ("start_date", "end_date", "before_end_date",
                                   "reservations")):
            await _reschedule(rt, s, lease, body)
    wakeup.wake()
    return await get(rt, ctx, lease_id)


async def _reschedule(rt: Runtime, s: AsyncSession, lease: Lease, body: dict[str, Any]) -> None:
    if lease.status not in (states.LEASE_PENDING, states.LEASE_STARTING, states.LEASE_ACTIVE):
        if lease.status == states.LEASE_TERMINATED:
            raise InvalidParameter("Terminated leases can only be renamed")
        raise InvalidState(f"Invalid lease status: the lease is {lease.status}.")
    now = clock.now(rt.settings)
    started = lease.status != states.LEASE_PENDING
    start = parse(body["start_date"], now) if "start_date" in body else lease.start_date
    end = parse(body["end_date"], now) if "end_date" in body else lease.end_date
    if started and start != lease.start_date:
        raise InvalidParameter("Cannot modify the start date of already started leases")
    if not started and "start_date" in body and body["start_date"] != "now" and \
            minute(start) < minute(now):
        raise InvalidParameter("Start date must be later than current date")
    if end < now or end <= start:
        raise InvalidParameter("End date must be later than current and start date")
    limits.check_duration(rt.settings, start, end)
    limits.check_extension(rt.settings, now, lease.end_date, end)
    changes = _reservation_changes(lease, body.get("reservations"))
    before_end = lease.before_end_date
    if "before_end_date" in body:
        before_end = _before_end(body["before_end_date"], start, end, now)
    elif before_end is not None:
        before_end = min(max(start, before_end + (end - lease.end_date)), end)
    lease.start_date, lease.end_date, lease.before_end_date = start, end, before_end
    await s.flush()
    # Free hosts are judged from now on for a started lease (its past is spent).
    window_start = max(start, now) if started else start
    current = {r.id: [a.host_id for a in r.allocations] for r in lease.reservations}
    used = await _in_use(s, [h for hs in current.values() for h in hs]) if started else {}
    taken: set[int] = set()
    for r in lease.reservations:
        ask = changes.get(r.id) or _ask_of(r)
        others = {h for rid, hs in current.items() if rid != r.id for h in hs}
        # Hosts with servers are kept first: an active lease gives back idle ones.
        keep = sorted(current[r.id], key=lambda h: h not in used)
        chosen = await _allocate(rt, s, lease, r.id, ask, window_start, end, keep,
                                 taken | others)
        busy = {h: used[h] for h in current[r.id] if h not in chosen and h in used}
        if busy:
            raise Conflict(f"Reservation {r.id} would give back host(s) "
                           f"{', '.join(map(str, busy))} on which server(s) "
                           f"{', '.join(x for xs in busy.values() for x in xs)} run; "
                           "delete them first.")
        taken.update(chosen)
        r.min, r.max = ask.min, ask.max
        r.hypervisor_properties, r.resource_properties = (ask.hypervisor_properties,
                                                          ask.resource_properties)
        r.missing_resources = False
        await _write_allocations(s, lease, r.id, chosen, now if started else None)
    lease.degraded = False
    for event in lease.events:
        when = {"start_lease": start, "end_lease": end, "before_end_lease": before_end}[
            event.event_type]
        if when is None:
            continue
        if event.status == states.EVENT_UNDONE:
            event.time = when
        elif event.event_type == "before_end_lease" and when > now:
            event.time, event.status = when, states.EVENT_UNDONE


def _ask_of(r: LeaseReservation) -> _Ask:
    return _Ask(r.min, r.max, r.hypervisor_properties, r.resource_properties, r.before_end,
                filters.of(r.hypervisor_properties, r.resource_properties))


def _reservation_changes(lease: Lease, items: list[dict[str, Any]] | None
                         ) -> dict[str, _Ask]:
    if items is None:
        return {}
    known = {r.id: r for r in lease.reservations}
    unknown = [i["id"] for i in items if i["id"] not in known]
    if unknown:
        raise InvalidParameter("Please enter valid reservation IDs. Invalid reservation IDs "
                               f"are: {','.join(unknown)}")
    out = {}
    for item in items:
        r = known[item["id"]]
        if item.get("resource_type", r.resource_type) != r.resource_type:
            raise Conflict("resource_type cannot be updated")
        merged = {"resource_type": r.resource_type, "min": r.min, "max": r.max,
                  "hypervisor_properties": r.hypervisor_properties,
                  "resource_properties": r.resource_properties, "before_end": r.before_end,
                  **{k: v for k, v in item.items() if k != "id"}}
        out[r.id] = _ask(merged)
    return out


async def _in_use(s: AsyncSession, host_ids: list[int]) -> dict[int, list[str]]:
    """The servers on each of these hosts.  (In the calendar's transaction: the
    embedded service has one connection.)"""
    rows = (await s.execute(select(ReservableHost.id, Server.uuid).join(
        Server, Server.node_uuid == ReservableHost.node_uuid).where(
        ReservableHost.id.in_(host_ids), Server.deleted.is_(False)))).tuples().all()
    out: dict[int, list[str]] = {}
    for host_id, server in rows:
        out.setdefault(host_id, []).append(server)
    return out


# --- delete -------------------------------------------------------------------------
async def delete(rt: Runtime, ctx: RequestContext, lease_id: str) -> None:
    """A lease that has not started (or has ended) is gone at once.  One that
    started is ended first, as Blazar's delete runs its end: DELETING while the
    lease manager deletes its servers and removes the hypervisors its machines
    became, then gone (ending.destroy)."""
    for _ in range(3):  # the manager may move the lease meanwhile: judge it again
        async with rt.db.session() as s:
            lease = await _find(s, ctx, lease_id, "blazar:leases:delete")
            if lease.status == states.LEASE_DELETING:
                return
            target = states.next_lease_status(lease.status, "delete")
            if target is None:
                break
            moved = await s.execute(sql_update(Lease).where(
                Lease.id == lease.id, Lease.status == lease.status).values(
                status=target, status_reason="deleting: its servers go first")
                .execution_options(synchronize_session=False))
            if moved.rowcount:  # type: ignore[attr-defined]
                wakeup.wake()
                return
    else:
        raise Conflict(f"Lease {lease_id} is changing; try again.")
    await ending.destroy(rt, lease_id)
