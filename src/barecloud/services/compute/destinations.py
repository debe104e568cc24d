"""A requested destination (microversion 2.74's ``host`` / ``hypervisor_hostname``).

An admin may ask for one machine: for a VM flavor, a hypervisor (by its
hostname); for a bare-metal flavor, a node (by name or UUID, the node being
its own hypervisor as with Nova's Ironic driver).  The wrong kind is refused
at create, in Nova's words, rather than a server that can never be placed;
the scheduler then looks at that machine only.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, or_, select, true

from barecloud.db.compute_models import Server
from barecloud.db.hypervisor_models import Hypervisor
from barecloud.db.models import Node
from barecloud.errors import InvalidParameter
from barecloud.services.context import Runtime

HINT = "requested_destination"  # kept in the server's scheduler hints


def of(server: Server) -> str | None:
    value = (server.scheduler_hints or {}).get(HINT)
    return value if isinstance(value, str) and value else None


async def check(rt: Runtime, data: dict[str, Any], vm: bool, flavor: str) -> str | None:
    """The destination the create body names, resolved (a host's hostname, a node's
    UUID), or None; 400 for an unknown one or one of the wrong kind."""
    wanted = data.get("hypervisor_hostname") or data.get("host")
    if not wanted:
        return None
    async with rt.db.session() as s:
        host = await s.scalar(select(Hypervisor.hostname).where(Hypervisor.hostname == wanted))
        node = await s.scalar(select(Node.uuid).where(or_(Node.name == wanted,
                                                           Node.uuid == wanted.lower())))
    if vm and host:
        return str(host)
    if not vm and node:
        return str(node)
    if vm and node:
        raise InvalidParameter(f"{wanted} is a bare-metal node: flavor {flavor} is a VM "
                               "flavor, which runs on a hypervisor.")
    if not vm and host:
        raise InvalidParameter(f"{wanted} is a hypervisor: flavor {flavor} is a bare-metal "
                               "flavor, which takes a whole node.")
    raise InvalidParameter(f"Compute host {wanted} could not be found.")


def node_filter(server: Server) -> ColumnElement[bool]:
    wanted = of(server)
    return Node.uuid == wanted if wanted else true()


def host_filter(server: Server) -> ColumnElement[bool]:
    wanted = of(server)
    return Hypervisor.hostname == wanted if wanted else true()
