"""The reconciler's part for VMs: place them, hand requests to their hosts,
and notice hosts that stopped reporting.

A request (stop, reboot, delete, ...) is recorded on the server by the API
(services/compute/actions.py), as for bare metal; here it becomes a new
``action_seq`` of the server and a new ``generation`` of its host, in one
transaction, which wakes the host agent's long-poll.  Its end is the host's
report (host_reports.py), not this loop.

A host that has not reported for ``host_down_after_reports`` intervals is
down: its servers show UNKNOWN with a fault saying since when, a build on
it fails (its room given back), and everything comes back from the host's
next report.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import and_, or_, select, update

from barecloud.db.compute_models import Server
from barecloud.db.hypervisor_models import DOWN, UP, Hypervisor
from barecloud.db.models import utcnow
from barecloud.services.compute import hosts_wakeup, scheduler, vm_networks, vm_placement
from barecloud.services.compute import status as st
from barecloud.services.context import Runtime

# The intents a host carries out (the others are the API's alone).
HOST_INTENTS = ("delete", "reboot_soft", "reboot_hard", "stop", "start", "rebuild", "resize")


def needs_sync() -> Any:
    """The VMs the reconciler has something to do for (the others wait for their
    host's report): not placed yet, or a request not handed to the host."""
    return or_(Server.hypervisor_id.is_(None), Server.task_state == st.NETWORKING,
               and_(Server.pending.is_not(None), Server.pending_sent.is_(False)),
               and_(Server.pending.is_(None), Server.task_state.is_not(None),
                    Server.vm_state != st.BUILDING))


async def reconcile(rt: Runtime, server: Server) -> None:
    if server.pending == "delete" and server.hypervisor_id is None:
        await _gone(rt, server)
    elif server.vm_state == st.BUILDING and server.hypervisor_id is None:
        await vm_placement.schedule(rt, server)
        async with rt.db.session() as s:
            placed = await s.get(Server, server.id)
        if placed is not None and placed.task_state == st.NETWORKING:
            await vm_networks.wire(rt, placed)
    elif server.task_state == st.NETWORKING and server.hypervisor_id is not None:
        # Its host has not heard of it yet: a delete needs no host.
        await (vm_networks.drop if server.pending == "delete" else vm_networks.wire)(
            rt, server)
    elif server.pending in HOST_INTENTS and not server.pending_sent:
        await _hand_over(rt, server)
    elif server.pending is None and server.task_state is not None and (
            server.vm_state != st.BUILDING):
        async with rt.db.session() as s:
            await s.execute(update(Server).where(
                Server.id == server.id, Server.pending.is_(None),
                Server.task_state == server.task_state).values(task_state=None))


async def _gone(rt: Runtime, server: Server) -> None:
    now = utcnow()
    async with rt.db.session() as s:
        await s.execute(update(Server).where(
            Server.id == server.id, Server.deleted.is_(False), Server.hypervisor_id.is_(None))
            .values(deleted=True, deleted_at=now, terminated_at=now, vm_state=st.DELETED,
                    task_state=None, pending=None, power_state=st.NOSTATE)
            .execution_options(synchronize_session=False))
    await vm_networks.unwire(rt, server)  # a build that failed on its host kept them


async def _hand_over(rt: Runtime, server: Server) -> None:
    assert server.hypervisor_id is not None
    async with rt.db.session() as s:
        sent = await s.execute(update(Server).where(
            Server.id == server.id, Server.deleted.is_(False),
            Server.pending == server.pending, Server.pending_sent.is_(False),
            Server.hypervisor_id == server.hypervisor_id)
            .values(pending_sent=True, action_seq=Server.action_seq + 1)
            .execution_options(synchronize_session=False))
        if not sent.rowcount:  # type: ignore[attr-defined]
            return
        await s.execute(update(Hypervisor).where(Hypervisor.id == server.hypervisor_id)
                        .values(generation=Hypervisor.generation + 1)
                        .execution_options(synchronize_session=False))
        host = await s.scalar(select(Hypervisor.uuid)
                              .where(Hypervisor.id == server.hypervisor_id))
        if host is not None:
            await hosts_wakeup.notify(s, host)
    if host is not None:
        hosts_wakeup.wake(host)


async def mark_down(rt: Runtime) -> int:
    """Hosts silent past their deadline are down; their servers UNKNOWN (builds
    ERROR, their room given back).  The number of hosts marked."""
    cfg = rt.settings
    now = utcnow()
    deadline = now - dt.timedelta(seconds=cfg.host_report_interval * cfg.host_down_after_reports)
    async with rt.db.session() as s:
        silent = list((await s.scalars(select(Hypervisor).where(
            Hypervisor.state == UP, Hypervisor.reported_at < deadline))).all())
    for host in silent:
        since = host.reported_at.strftime("%Y-%m-%dT%H:%M:%SZ") if host.reported_at else "?"
        why = (f"Host {host.hostname} stopped reporting at {since}: the state of this "
               "instance is unknown until it reports again.")
        async with rt.db.session() as s:
            marked = await s.execute(update(Hypervisor).where(
                Hypervisor.id == host.id, Hypervisor.state == UP,
                Hypervisor.reported_at == host.reported_at)
                .values(state=DOWN, fault=why).execution_options(synchronize_session=False))
            if not marked.rowcount:  # type: ignore[attr-defined]
                continue  # it reported meanwhile, or another process marked it
            await s.execute(update(Server).where(
                Server.hypervisor_id == host.id, Server.deleted.is_(False),
                Server.vm_state.in_((st.ACTIVE, st.STOPPED, st.ERROR)))
                .values(vm_state=st.UNKNOWN, power_state=st.NOSTATE,
                        fault=scheduler.fault(why))
                .execution_options(synchronize_session=False))
            builds = list((await s.scalars(select(Server).where(
                Server.hypervisor_id == host.id, Server.deleted.is_(False),
                Server.vm_state == st.BUILDING))).all())
            for server in builds:
                await vm_placement.release(
                    s, server, vm_state=st.ERROR, task_state=None, power_state=st.NOSTATE,
                    fault=scheduler.fault(f"Build of instance {server.uuid} failed: {why}"))
    return len(silent)
