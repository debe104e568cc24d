"""A flavor per active reservation, as Chameleon gives one: ``reservation:<id>``.

While its lease is active, each reservation has a private flavor, open to
the lease's project only. Its ``resources:CUSTOM_<CLASS>=1`` is the resource
class of the reservation's machines, and the extra spec
``aggregate_instance_extra_specs:reservation`` names the reservation. A
server made with it is scheduled exactly as one with the ``reservation``
hint; ``openstack server create --flavor reservation:<id>`` is all a tenant
needs. The flavor goes when the lease ends.
"""

from __future__ import annotations

import contextlib
import logging

from sqlalchemy import select

from barecloud.db.lease_models import HostAllocation, Lease, ReservableHost
from barecloud.db.models import Node
from barecloud.errors import Conflict, NotFound
from barecloud.services.compute import flavors
from barecloud.services.compute.reservations import FLAVOR_SPEC
from barecloud.services.context import Runtime
from barecloud.services.tenancy import service_context

log = logging.getLogger(__name__)

VERSION = (2, 96)


def name_of(reservation_id: str) -> str:
    return f"reservation:{reservation_id}"


async def create_for(rt: Runtime, lease: Lease) -> None:
    """The reservations' flavors (idempotent: a pass may repeat it)."""
    ctx = service_context(f"req-lease-flavor-{lease.id}")
    for r in lease.reservations:
        async with rt.db.session() as s:
            node = await s.scalar(
                select(Node).join(ReservableHost, ReservableHost.node_uuid == Node.uuid)
                .join(HostAllocation, HostAllocation.host_id == ReservableHost.id)
                .where(HostAllocation.reservation_id == r.id).order_by(ReservableHost.id)
                .limit(1))
        if node is None or not node.resource_class:
            continue
        props = node.properties or {}
        # An earlier pass may have made it, and stopped half-way.
        with contextlib.suppress(Conflict):
            await flavors.create(rt, ctx, {"flavor": {
                "name": name_of(r.id), "id": r.id, "vcpus": int(props.get("cpus") or 1),
                "ram": int(props.get("memory_mb") or 1), "disk": 0,
                "os-flavor-access:is_public": False,
                "description": f"The machines of reservation {r.id} (lease {lease.id})"}},
                VERSION)
        await flavors.set_specs(rt, ctx, r.id, {
            f"resources:{flavors.normalize_resource_class(node.resource_class)}": "1",
            "resources:VCPU": "0", "resources:MEMORY_MB": "0", "resources:DISK_GB": "0",
            FLAVOR_SPEC: r.id})
        with contextlib.suppress(Conflict):
            await flavors.add_access(rt, ctx, r.id, lease.project_id)
        log.info("lease %s: flavor %s", lease.id, name_of(r.id))


async def remove_for(rt: Runtime, lease: Lease) -> None:
    ctx = service_context(f"req-lease-flavor-{lease.id}")
    for r in lease.reservations:
        try:
            await flavors.remove(rt, ctx, r.id)
        except NotFound:
            continue
