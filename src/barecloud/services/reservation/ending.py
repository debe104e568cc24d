"""What a lease's end does to the servers on its machines: deletes them, VMs on
the hypervisors its machines became included, then removes those hypervisors.

The Compute service's own delete is used, so each node is undeployed and
cleaned by the conductor exactly as when the tenant deletes a server; the
next lease on the machine starts only once it is ``available`` again.
"""

from __future__ import annotations

import logging

from sqlalchemy import delete as sql_delete
from sqlalchemy import or_, select

from barecloud.db.compute_models import Server
from barecloud.db.hypervisor_models import Hypervisor
from barecloud.db.lease_models import (
    HostAllocation,
    Lease,
    LeaseEvent,
    LeaseReservation,
    ReservableHost,
)
from barecloud.errors import BarecloudError, NotFound
from barecloud.services.compute import actions, vm_hosts
from barecloud.services.compute.reservations import hint_of
from barecloud.services.context import Runtime
from barecloud.services.reservation import calendar
from barecloud.services.tenancy import service_context

log = logging.getLogger(__name__)


async def servers_of(rt: Runtime, lease: Lease) -> list[Server]:
    """Servers (not deleted) on the lease's machines, or asked for with one of its
    reservations (waiting for a machine, or left on one that broke and was replaced)."""
    reservations = {r.id for r in lease.reservations}
    async with rt.db.session() as s:
        nodes = select(ReservableHost.node_uuid).join(
            HostAllocation, HostAllocation.host_id == ReservableHost.id).where(
            HostAllocation.lease_id == lease.id)
        hosts = select(Hypervisor.id).where(Hypervisor.node_uuid.in_(nodes))
        on_nodes = list((await s.scalars(select(Server).where(
            Server.deleted.is_(False),
            or_(Server.node_uuid.in_(nodes), Server.hypervisor_id.in_(hosts))))).all())
        hinted = [r for r in (await s.scalars(select(Server).where(
            Server.deleted.is_(False), Server.project_id == lease.project_id))).all()
            if hint_of(r) in reservations]
    return list({r.id: r for r in (*on_nodes, *hinted)}.values())


async def delete_servers(rt: Runtime, lease: Lease) -> int:
    """Ask for the deletion of every server of the lease; how many are still there."""
    servers = await servers_of(rt, lease)
    ctx = service_context(f"req-lease-end-{lease.id}")
    for server in servers:
        if server.pending == "delete":
            continue
        try:
            await actions.delete(rt, ctx, server.uuid)
            log.info("lease %s ended: deleting server %s", lease.id, server.uuid)
        except NotFound:
            continue
    return len(servers)


async def remove_hypervisors(rt: Runtime, lease: Lease) -> int:
    """Remove the hypervisors the lease's machines became (their VMs are gone by
    now): each is disabled, then undeployed and cleaned.  How many remain."""
    async with rt.db.session() as s:
        nodes = select(ReservableHost.node_uuid).join(
            HostAllocation, HostAllocation.host_id == ReservableHost.id).where(
            HostAllocation.lease_id == lease.id)
        hosts = list((await s.scalars(select(Hypervisor).where(
            Hypervisor.node_uuid.in_(nodes)))).all())
    ctx = service_context(f"req-lease-end-{lease.id}")
    remaining = 0
    for host in hosts:
        try:
            if host.enabled:
                await vm_hosts.set_enabled(rt, ctx, host.uuid, False,
                                           f"lease {lease.id} ended")
            await vm_hosts.delete(rt, ctx, host.uuid)
            log.info("lease %s ended: hypervisor %s removed", lease.id, host.hostname)
        except NotFound:
            continue
        except BarecloudError as exc:  # VMs still going, or its node busy: next pass
            log.info("lease %s: hypervisor %s not removed yet: %s", lease.id,
                     host.hostname, exc.message)
            remaining += 1
    return remaining


async def destroy(rt: Runtime, lease_id: str) -> None:
    """The lease and everything of it gone from the calendar (its end is done)."""
    async with calendar.locked(rt) as s:
        for table in (HostAllocation, LeaseEvent, LeaseReservation):
            await s.execute(sql_delete(table).where(table.lease_id == lease_id))
        await s.execute(sql_delete(Lease).where(Lease.id == lease_id))
