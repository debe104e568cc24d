"""What a lease's end does to the servers on its machines: deletes them.

The Compute service's own delete is used, so each node is undeployed and
cleaned by the conductor exactly as when the tenant deletes a server; the
next lease on the machine starts only once it is ``available`` again.
"""

from __future__ import annotations

import logging

from sqlalchemy import select

from barecloud.db.compute_models import Server
from barecloud.db.lease_models import HostAllocation, Lease, ReservableHost
from barecloud.errors import NotFound
from barecloud.services.compute import actions
from barecloud.services.compute.reservations import hint_of
from barecloud.services.context import Runtime
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
        on_nodes = list((await s.scalars(select(Server).where(
            Server.deleted.is_(False), Server.node_uuid.in_(nodes)))).all())
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
