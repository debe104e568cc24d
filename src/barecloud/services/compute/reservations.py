"""Who may run servers on reservable machines: only an active lease's project.

The scheduler asks :func:`node_filter` for every server: without a
``reservation`` hint (or a reservation's flavor) a server may land only
outside the reservable pool;
with one, only on the hosts of that reservation, while its lease is ACTIVE
and belongs to the server's project.  :func:`check_hint` refuses a hint
that can never be satisfied at ``server create``, with Nova's 400, instead
of a server that ends in ERROR.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, select

from barecloud import states
from barecloud.db.compute_models import Server
from barecloud.db.lease_models import HostAllocation, Lease, LeaseReservation, ReservableHost
from barecloud.db.models import Node
from barecloud.errors import InvalidParameter
from barecloud.services.context import Runtime

HINT = "reservation"
# The extra spec of a reservation's flavor (services/reservation/flavors.py).
FLAVOR_SPEC = "aggregate_instance_extra_specs:reservation"


def hint_of(server: Server) -> str | None:
    """The reservation the server asked for: by hint, or by its flavor."""
    value = (server.scheduler_hints or {}).get(HINT) or (
        (server.flavor or {}).get("extra_specs") or {}).get(FLAVOR_SPEC)
    return value if isinstance(value, str) and value else None


def node_filter(server: Server) -> ColumnElement[bool]:
    """The nodes ``server`` may be scheduled to, as far as leases are concerned."""
    reservation = hint_of(server)
    if reservation is None:
        return Node.uuid.not_in(select(ReservableHost.node_uuid))
    held = (select(ReservableHost.node_uuid)
            .join(HostAllocation, HostAllocation.host_id == ReservableHost.id)
            .join(Lease, Lease.id == HostAllocation.lease_id)
            .where(HostAllocation.reservation_id == reservation,
                   Lease.status == states.LEASE_ACTIVE, Lease.project_id == server.project_id))
    return Node.uuid.in_(held)


async def check_hint(rt: Runtime, hints: dict[str, Any], project: str,
                     specs: dict[str, str]) -> dict[str, Any]:
    """The hints to keep on the server; 400 if the reservation it asks for (by hint or
    by flavor) is not usable by it now."""
    if HINT not in hints and FLAVOR_SPEC not in specs:
        return {}
    reservation = hints.get(HINT, specs.get(FLAVOR_SPEC))
    if isinstance(reservation, list) and len(reservation) == 1:
        reservation = reservation[0]  # the CLI's --hint may send a one-element list
    if not isinstance(reservation, str) or not reservation:
        raise InvalidParameter("Invalid input for field/attribute reservation: "
                               "the reservation hint must be a reservation id.")
    async with rt.db.session() as s:
        row = (await s.execute(
            select(LeaseReservation, Lease).join(Lease, Lease.id == LeaseReservation.lease_id)
            .where(LeaseReservation.id == reservation))).tuples().first()
    if row is None or row[1].project_id != project:
        raise InvalidParameter(f"Reservation {reservation} not found.")
    lease = row[1]
    if lease.status != states.LEASE_ACTIVE:
        when = (f"; its machines are usable from {lease.start_date:%Y-%m-%dT%H:%M:%S.%f}"
                if lease.status in (states.LEASE_PENDING, states.LEASE_STARTING) else "")
        why = f" ({lease.status_reason})" if lease.status_reason else ""
        raise InvalidParameter(f"Lease {lease.id} is not active ({lease.status}){why}{when}.")
    return {HINT: reservation}
