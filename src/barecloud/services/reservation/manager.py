"""The lease manager: starts and ends leases on time and replaces broken machines.

It runs in every API process (like ComputeSync), every ``lease_interval``
seconds and at once when a lease is created or changed.  A lease is worked
on by one process at a time (a claim on its row, taken by a conditional
UPDATE and released after); everything a pass does is idempotent, so a
process dying mid-way leaves work the next pass finishes.

- start_lease due: PENDING → STARTING → ACTIVE once every machine is
  cleaned (``available``, no instance, not locked); until then the lease
  says which machines it waits for.  Each reservation gets its flavor.
- end_lease due: → TERMINATING, the servers on its machines are deleted
  (and so undeployed and cleaned); → TERMINATED once they are gone.  A
  started lease that is deleted (DELETING) ends the same way, then is gone.
- A machine that breaks (maintenance, error, clean failed, deleted) under a
  lease that has not ended is replaced by a free one matching the
  reservation; with none free, the reservation has ``missing_resources``
  and the lease is ``degraded`` until one frees up.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import or_, select, update

from barecloud import states
from barecloud.db.lease_models import (
    HostAllocation,
    Lease,
    LeaseEvent,
    LeaseReservation,
    ReservableHost,
)
from barecloud.db.models import Node, utcnow
from barecloud.services.background import Reconciler
from barecloud.services.context import Runtime
from barecloud.services.reservation import calendar, clock, ending, filters, hosts, wakeup
from barecloud.services.reservation import flavors as lease_flavors

log = logging.getLogger(__name__)

CLAIM_SECONDS = 60.0
# Leases that may still use their machines: a broken one is replaced for them.
SERVING = (states.LEASE_PENDING, states.LEASE_STARTING, states.LEASE_ACTIVE)


class LeaseManager(Reconciler):
    name = "lease-manager"

    def __init__(self, rt: Runtime) -> None:
        super().__init__(rt, wakeup.wakers)

    @property
    def interval(self) -> float:
        return self.rt.settings.lease_interval

    async def once(self) -> bool:
        await pass_once(self.rt, self.holder)
        return False


async def pass_once(rt: Runtime, holder: str) -> None:
    now = clock.now(rt.settings)
    await monitor(rt, now, holder)
    async with rt.db.session() as s:
        due = select(LeaseEvent.lease_id).where(LeaseEvent.status == states.EVENT_UNDONE,
                                                LeaseEvent.time <= now)
        ids = list((await s.scalars(select(Lease.id).where(
            or_(Lease.id.in_(due) & Lease.status.in_(states.LEASE_LIVE),
                Lease.status.in_((states.LEASE_STARTING, states.LEASE_TERMINATING,
                                  states.LEASE_DELETING))),
            or_(Lease.holder.is_(None), Lease.hold_until < utcnow()),
        ).order_by(Lease.start_date))).all())
    for lease_id in ids:
        if not await _claim(rt, lease_id, holder):
            continue
        try:
            await advance(rt, lease_id, now)
        except Exception:
            log.exception("lease %s: pass failed", lease_id)
        finally:
            await _release(rt, lease_id, holder)


async def _claim(rt: Runtime, lease_id: str, holder: str) -> bool:
    until = utcnow() + dt.timedelta(seconds=CLAIM_SECONDS)
    async with rt.db.session() as s:
        won = await s.execute(update(Lease).where(
            Lease.id == lease_id, or_(Lease.holder.is_(None), Lease.hold_until < utcnow()))
            .values(holder=holder, hold_until=until).execution_options(synchronize_session=False))
        return bool(won.rowcount)  # type: ignore[attr-defined]


async def _release(rt: Runtime, lease_id: str, holder: str) -> None:
    async with rt.db.session() as s:
        await s.execute(update(Lease).where(Lease.id == lease_id, Lease.holder == holder)
                        .values(holder=None, hold_until=None)
                        .execution_options(synchronize_session=False))


async def _load(rt: Runtime, lease_id: str) -> Lease | None:
    async with rt.db.session() as s:
        return await s.get(Lease, lease_id)


async def _move(rt: Runtime, lease: Lease, event: str, **values: object) -> None:
    """Move the lease along states.LEASE_TRANSITIONS (and set ``values`` with it)."""
    target = states.next_lease_status(lease.status, event)
    if target is None:
        raise ValueError(f"lease {lease.id}: no {event!r} from {lease.status}")
    async with rt.db.session() as s:
        await s.execute(update(Lease).where(Lease.id == lease.id, Lease.status == lease.status)
                        .values(status=target, **values)
                        .execution_options(synchronize_session=False))
    lease.status = target


async def _set(rt: Runtime, lease_id: str, **values: object) -> None:
    async with rt.db.session() as s:
        await s.execute(update(Lease).where(Lease.id == lease_id).values(**values)
                        .execution_options(synchronize_session=False))


async def _event(rt: Runtime, lease_id: str, kind: str, status: str) -> None:
    async with rt.db.session() as s:
        await s.execute(update(LeaseEvent).where(
            LeaseEvent.lease_id == lease_id, LeaseEvent.event_type == kind)
            .values(status=status).execution_options(synchronize_session=False))


async def advance(rt: Runtime, lease_id: str, now: dt.datetime) -> None:
    """Move one lease as far as its events and its machines allow."""
    lease = await _load(rt, lease_id)
    if lease is None:
        return
    events = {e.event_type: e for e in lease.events}
    notice = events.get("before_end_lease")
    if notice is not None and notice.status == states.EVENT_UNDONE and notice.time <= now:
        await _event(rt, lease.id, "before_end_lease", states.EVENT_DONE)
        log.info("lease %s ends at %s", lease.id, lease.end_date)
    end = events["end_lease"]
    if lease.status in (states.LEASE_TERMINATING, states.LEASE_DELETING) or (
            lease.status in SERVING and end.status == states.EVENT_UNDONE and end.time <= now):
        await terminate(rt, lease, now)
        return
    if lease.status == states.LEASE_PENDING and events["start_lease"].time <= now:
        await _move(rt, lease, "start_lease")
        await _event(rt, lease.id, "start_lease", states.EVENT_IN_PROGRESS)
    if lease.status == states.LEASE_STARTING:
        await try_start(rt, lease)


async def try_start(rt: Runtime, lease: Lease) -> None:
    """ACTIVE once every machine is cleaned; else say which ones it waits for."""
    async with rt.db.session() as s:
        nodes = list((await s.execute(
            select(ReservableHost, Node).outerjoin(Node, Node.uuid == ReservableHost.node_uuid)
            .join(HostAllocation, HostAllocation.host_id == ReservableHost.id)
            .where(HostAllocation.lease_id == lease.id).order_by(ReservableHost.id)
        )).tuples().all())
    waiting = [f"{host.hypervisor_hostname} ({_not_ready(node)})" for host, node in nodes
               if _not_ready(node)]
    if waiting:
        reason = f"waiting for machines to be cleaned: {', '.join(waiting)}"
        if reason != lease.status_reason:
            log.info("lease %s: %s", lease.id, reason)
            await _set(rt, lease.id, status_reason=reason)
        return
    async with rt.db.session() as s:
        await s.execute(update(LeaseReservation).where(LeaseReservation.lease_id == lease.id)
                        .values(status=states.RESV_ACTIVE)
                        .execution_options(synchronize_session=False))
    await lease_flavors.create_for(rt, lease)
    await _move(rt, lease, "started", status_reason="")
    await _event(rt, lease.id, "start_lease", states.EVENT_DONE)
    log.info("lease %s started on %d machine(s)", lease.id, len(nodes))


def _not_ready(node: Node | None) -> str | None:
    """Why a machine cannot be handed over yet (None: it is cleaned and free)."""
    if node is None:
        return "deleted"
    why = hosts.broken(node)
    if why is not None:
        return why
    if node.provision_state != states.AVAILABLE:
        return node.provision_state
    if node.instance_uuid is not None:
        return f"still holds instance {node.instance_uuid}"
    if node.reservation is not None:
        return "locked by a conductor"
    return None


async def terminate(rt: Runtime, lease: Lease, now: dt.datetime) -> None:
    """Delete the lease's servers; TERMINATED once they are gone (or, deleted,
    gone itself)."""
    if lease.status not in (states.LEASE_TERMINATING, states.LEASE_DELETING):
        await _move(rt, lease, "end_lease")
        await _event(rt, lease.id, "end_lease", states.EVENT_IN_PROGRESS)
        log.info("lease %s is ending", lease.id)
    remaining = await ending.delete_servers(rt, lease)
    if remaining:
        await _set(rt, lease.id,
                   status_reason=f"waiting for {remaining} server(s) to be deleted")
        return
    remaining = await ending.remove_hypervisors(rt, lease)
    if remaining:
        await _set(rt, lease.id,
                   status_reason=f"waiting for {remaining} hypervisor(s) to be removed")
        return
    if lease.status == states.LEASE_DELETING:
        await lease_flavors.remove_for(rt, lease)
        await ending.destroy(rt, lease.id)
        log.info("lease %s deleted", lease.id)
        return
    async with rt.db.session() as s:
        await s.execute(update(LeaseReservation).where(LeaseReservation.lease_id == lease.id)
                        .values(status=states.RESV_DELETED)
                        .execution_options(synchronize_session=False))
        # The calendar keeps what was really used: the allocation ends when the lease did.
        await s.execute(update(HostAllocation).where(
            HostAllocation.lease_id == lease.id, HostAllocation.end_date > now)
            .values(end_date=now).execution_options(synchronize_session=False))
        await s.execute(update(HostAllocation).where(HostAllocation.lease_id == lease.id)
                        .values(live=False).execution_options(synchronize_session=False))
    await lease_flavors.remove_for(rt, lease)
    await _move(rt, lease, "ended", status_reason="")
    async with rt.db.session() as s:
        # A lease that ended before it could start leaves its start undone for good.
        await s.execute(update(LeaseEvent).where(
            LeaseEvent.lease_id == lease.id, LeaseEvent.status != states.EVENT_DONE)
            .values(status=states.EVENT_DONE).execution_options(synchronize_session=False))
    log.info("lease %s terminated", lease.id)


# --- the monitor ------------------------------------------------------------------------
async def monitor(rt: Runtime, now: dt.datetime, holder: str | None = None) -> None:
    """Replace the broken machines of leases that have not ended.

    With a ``holder``, a lease's machines are looked at under the claim on the
    lease (as its events are), so API processes do not all repair the same
    reservations each pass: one does, the others skip it."""
    async with rt.db.session() as s:
        broken = set((await s.execute(
            select(HostAllocation.reservation_id, HostAllocation.lease_id)
            .join(Lease, Lease.id == HostAllocation.lease_id)
            .join(ReservableHost, ReservableHost.id == HostAllocation.host_id)
            .outerjoin(Node, Node.uuid == ReservableHost.node_uuid)
            .where(Lease.status.in_(SERVING), HostAllocation.end_date > now,
                   ~hosts.in_service())
        )).tuples().all())
        missing = set((await s.execute(
            select(LeaseReservation.id, LeaseReservation.lease_id)
            .join(Lease, Lease.id == LeaseReservation.lease_id)
            .where(Lease.status.in_(SERVING),
                   LeaseReservation.missing_resources.is_(True)))).tuples().all())
    for reservation_id, lease_id in sorted(broken | missing):
        if holder is not None and not await _claim(rt, lease_id, holder):
            continue  # another process works on this lease now
        try:
            await _repair(rt, reservation_id, now)
        except Exception:
            log.exception("reservation %s: replacing broken machines failed", reservation_id)
        finally:
            if holder is not None:
                await _release(rt, lease_id, holder)


async def _repair(rt: Runtime, reservation_id: str, now: dt.datetime) -> None:
    async with calendar.locked(rt) as s:
        r = await s.get(LeaseReservation, reservation_id)
        lease = await s.get(Lease, r.lease_id) if r is not None else None
        if r is None or lease is None or lease.status not in SERVING:
            return
        allocs = list((await s.scalars(select(HostAllocation).where(
            HostAllocation.reservation_id == r.id))).all())
        rows = {h.id: (h, n) for h, n, _ in await hosts.load(
            s, ReservableHost.id.in_([a.host_id for a in allocs]), traits=False)}
        bad = [a for a in allocs if hosts.broken(rows.get(a.host_id, (None, None))[1])]
        mine = {a.host_id for a in await s.scalars(select(HostAllocation).where(
            HostAllocation.lease_id == lease.id))}
        req = calendar.Request(r.min, r.max,
                               filters.of(r.hypervisor_properties, r.resource_properties),
                               max(lease.start_date, now), lease.end_date)
        free = await calendar.free_hosts(rt, s, req, exclude_hosts=sorted(mine))
        replaced = []
        for alloc, new in zip(bad, free, strict=False):
            replaced.append((alloc.host_id, new))
            # The new machine is held from now on, not over the lease's past.
            alloc.host_id, alloc.start_date = new, max(alloc.start_date, now)
        left = len(bad) - len(replaced)
        if replaced:
            r.resources_changed = True
            log.warning("lease %s: replaced broken machine(s) %s", lease.id,
                        ", ".join(f"host {a} by host {b}" for a, b in replaced))
        r.missing_resources = left > 0
        await s.flush()
        others = await s.scalar(select(LeaseReservation.id).where(
            LeaseReservation.lease_id == lease.id, LeaseReservation.id != r.id,
            LeaseReservation.missing_resources.is_(True)).limit(1))
        lease.degraded = left > 0 or others is not None
        if left:
            lease.status_reason = (f"degraded: {left} broken machine(s) of reservation "
                                   f"{r.id} and no free machine to replace them")
        elif lease.status_reason.startswith("degraded"):
            lease.status_reason = ""
    if replaced:
        wakeup.wake()
