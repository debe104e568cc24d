"""Nodes and VM hosts seen by Compute: hypervisors, availability zones.

As with Nova's Ironic driver, each node is a hypervisor whose
``hypervisor_hostname`` is the node's UUID; its "compute host" is the node
itself (its name, or UUID), which is what ``OS-EXT-SRV-ATTR:host`` and the
``host`` filter of a server list name.  A node's zone is
``properties.availability_zone``, ``nova`` when unset.  The hosts VMs run on
(db/hypervisor_models.py) are listed first, as the libvirt driver shows them.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import ColumnElement, false, func, or_, select

from barecloud.db.compute_models import Server
from barecloud.db.hypervisor_models import Hypervisor
from barecloud.db.models import Node
from barecloud.errors import InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.baremetal.schemas import UUID_RE
from barecloud.services.context import RequestContext, Runtime

DEFAULT_ZONE = "nova"
# Below microversion 2.53 hypervisor ids are integers: a VM host's is its row id
# plus this, so that it never collides with a node's.
VM_HOST_ID_BASE = 1_000_000


def zone_of_column() -> ColumnElement[str]:
    return func.coalesce(Node.properties["availability_zone"].as_string(), DEFAULT_ZONE)


def zone_of(node: Node) -> str:
    return str((node.properties or {}).get("availability_zone") or DEFAULT_ZONE)


def host_of(node: Node) -> str:
    return node.name or node.uuid


async def zones(rt: Runtime) -> list[str]:
    """The zones of enrolled nodes that are not retired and of hypervisors (``nova``
    if there are none)."""
    async with rt.db.session() as s:
        found = set((await s.scalars(select(zone_of_column()).distinct()
                                     .where(Node.retired.is_(False)))).all())
        found.update((await s.scalars(select(Hypervisor.availability_zone).distinct())).all())
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


async def list_hosts(rt: Runtime, ctx: RequestContext, *, pattern: str | None = None,
                     limit: int | None = None,
                     marker: str | None = None) -> list[Hypervisor | Node]:
    """VM hosts (by id), then nodes (by id), one page of them."""
    policy.authorize(ctx, "compute:hypervisors:list")
    hq = select(Hypervisor).order_by(Hypervisor.id)
    nq = select(Node).order_by(Node.id)
    if pattern:
        hq = hq.where(Hypervisor.hostname.contains(pattern))
        nq = nq.where(or_(Node.uuid.contains(pattern), Node.name.contains(pattern)))
    cap = rt.settings.api_max_limit
    limit = cap if limit is None else min(limit, cap)  # 0: none, as Nova
    async with rt.db.session() as s:
        if marker is not None:
            host = await s.scalar(select(Hypervisor.id).where(_host_ident(marker)))
            if host is not None:
                hq = hq.where(Hypervisor.id > host)
            else:
                mid = await s.scalar(select(Node.id).where(_ident(marker)))
                if mid is None:
                    raise InvalidParameter(f"marker [{marker}] not found")
                hq = hq.where(false())
                nq = nq.where(Node.id > mid)
        found: list[Hypervisor | Node] = list((await s.scalars(hq.limit(limit))).all())
        if len(found) < limit:
            found.extend((await s.scalars(nq.limit(limit - len(found)))).all())
    return found


def _ident(ident: str) -> ColumnElement[bool]:
    if UUID_RE.match(ident):
        return Node.uuid == ident.lower()
    if ident.isascii() and ident.isdigit():  # '¹'.isdigit(), yet int('¹') fails
        return Node.id == int(ident)
    return Node.name == ident


def _host_ident(ident: str) -> ColumnElement[bool]:
    if UUID_RE.match(ident):
        return Hypervisor.uuid == ident.lower()
    if ident.isascii() and ident.isdigit() and int(ident) > VM_HOST_ID_BASE:
        return Hypervisor.id == int(ident) - VM_HOST_ID_BASE
    return Hypervisor.hostname == ident


async def get_host(rt: Runtime, ctx: RequestContext, ident: str) -> Hypervisor | Node:
    policy.authorize(ctx, "compute:hypervisors:show")
    async with rt.db.session() as s:
        host: Hypervisor | Node | None = await s.scalar(
            select(Hypervisor).where(_host_ident(ident)))
        if host is None:
            host = await s.scalar(select(Node).where(_ident(ident)))
    if host is None:
        raise NotFound(f"Hypervisor with ID {ident} could not be found.")
    return host


async def servers_on(rt: Runtime,
                     hosts: list[Hypervisor | Node]) -> dict[str, list[tuple[str, str]]]:
    """The servers (UUID, name) on each host, by the host's UUID (Nova's
    ``/os-hypervisors/{pattern}/servers``)."""
    ids = [h.id for h in hosts if isinstance(h, Hypervisor)]
    nodes = [h.uuid for h in hosts if isinstance(h, Node)]
    found: dict[str, list[tuple[str, str]]] = {h.uuid: [] for h in hosts}
    by_id = {h.id: h.uuid for h in hosts if isinstance(h, Hypervisor)}
    async with rt.db.session() as s:
        rows = await s.execute(
            select(Server.hypervisor_id, Server.node_uuid, Server.uuid, Server.name)
            .where(Server.deleted.is_(False),
                   or_(Server.hypervisor_id.in_(ids), Server.node_uuid.in_(nodes)))
            .order_by(Server.id))
        for hypervisor_id, node_uuid, uuid, name in rows:
            key = by_id.get(hypervisor_id) if hypervisor_id is not None else node_uuid
            if key in found:
                found[key].append((uuid, name))
    return found
