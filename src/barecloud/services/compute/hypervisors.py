"""Nodes seen by Compute: one hypervisor per node, availability zones.

As with Nova's Ironic driver, each node is a hypervisor whose
``hypervisor_hostname`` is the node's UUID; its "compute host" is the node
itself (its name, or UUID), which is what ``OS-EXT-SRV-ATTR:host`` and the
``host`` filter of a server list name.  A node's zone is
``properties.availability_zone``, ``nova`` when unset.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, func, or_, select

from barecloud.db.models import Node
from barecloud.errors import InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.baremetal.schemas import UUID_RE
from barecloud.services.context import RequestContext, Runtime

DEFAULT_ZONE = "nova"


def zone_of_column() -> ColumnElement[str]:
    return func.coalesce(Node.properties["availability_zone"].as_string(), DEFAULT_ZONE)


def zone_of(node: Node) -> str:
    return str((node.properties or {}).get("availability_zone") or DEFAULT_ZONE)


def host_of(node: Node) -> str:
    return node.name or node.uuid


async def zones(rt: Runtime) -> list[str]:
    """The zones of enrolled nodes that are not retired (``nova`` if there are none)."""
    async with rt.db.session() as s:
        found = (await s.scalars(select(zone_of_column()).distinct()
                                 .where(Node.retired.is_(False)))).all()
    return sorted(found) or [DEFAULT_ZONE]


@dataclass
class ZoneHost:
    zone: str
    host: str
    available: bool
    updated_at: str | None


async def zone_hosts(rt: Runtime, ctx: RequestContext) -> list[ZoneHost]:
    policy.authorize(ctx, "compute:availability_zones:detail")
    async with rt.db.session() as s:
        nodes = (await s.scalars(select(Node).where(Node.retired.is_(False))
                                 .order_by(Node.id))).all()
    return [ZoneHost(zone_of(n), host_of(n), not n.maintenance,
                     (n.updated_at or n.created_at).isoformat()) for n in nodes]


async def list_nodes(rt: Runtime, ctx: RequestContext, *, pattern: str | None = None,
                     limit: int | None = None, marker: str | None = None) -> list[Node]:
    policy.authorize(ctx, "compute:hypervisors:list")
    q = select(Node).order_by(Node.id)
    if pattern:
        q = q.where(or_(Node.uuid.contains(pattern), Node.name.contains(pattern)))
    async with rt.db.session() as s:
        if marker is not None:
            mid = await s.scalar(select(Node.id).where(_ident(marker)))
            if mid is None:
                raise InvalidParameter(f"marker [{marker}] not found")
            q = q.where(Node.id > mid)
        limit = min(limit or rt.settings.api_max_limit, rt.settings.api_max_limit)
        return list((await s.scalars(q.limit(limit))).all())


def _ident(ident: str) -> ColumnElement[bool]:
    if UUID_RE.match(ident):
        return Node.uuid == ident.lower()
    if ident.isdigit():
        return Node.id == int(ident)
    return Node.name == ident


async def get_node(rt: Runtime, ctx: RequestContext, ident: str) -> Node:
    policy.authorize(ctx, "compute:hypervisors:show")
    async with rt.db.session() as s:
        node = await s.scalar(select(Node).where(_ident(ident)))
    if node is None:
        raise NotFound(f"Hypervisor with ID {ident} could not be found.")
    return node
