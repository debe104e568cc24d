"""Port groups: Ironic's bonds of a node's NICs (API 1.23).  A port joins one by
``portgroup_uuid`` (services/baremetal/ports.py); its members share one physical
network.  A port group is seen by whoever sees its node, written by admins, and
deleted with the node; one with ports is not deleted (Ironic's PortgroupNotEmpty).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.models import Node, Port, Portgroup, new_uuid
from barecloud.errors import Conflict, Duplicate, InvalidParameter, NodeLocked, NotFound
from barecloud.services import policy
from barecloud.services.baremetal import checks, nodes, pages, patch
from barecloud.services.baremetal.nodes import find as find_node
from barecloud.services.baremetal.nodes import find_for as find_node_for
from barecloud.services.baremetal.schemas import (
    PORTGROUP_INTERNAL,
    PORTGROUP_WRITABLE,
    UUID_RE,
)
from barecloud.services.context import RequestContext, Runtime

SORT_KEYS = {"id", "uuid", "name", "address", "created_at", "updated_at"}
DEFAULT_MODE = "active-backup"  # Ironic's [DEFAULT]default_portgroup_mode


def not_found(ident: str) -> NotFound:
    return NotFound(f"Portgroup {ident} could not be found.")


async def find(s: AsyncSession, ident: str) -> tuple[Portgroup, str]:
    """The port group of UUID or name ``ident``, with its node's UUID."""
    col = Portgroup.uuid if UUID_RE.match(ident) else Portgroup.name
    row = (await s.execute(select(Portgroup, Node.uuid).join(Node, Node.id == Portgroup.node_id)
                           .where(col == (ident.lower() if UUID_RE.match(ident) else ident)))
           ).first()
    if row is None:
        raise not_found(ident)
    return row[0], row[1]


async def _node_of(s: AsyncSession, ctx: RequestContext, ident: str, node_uuid: str,
                   rule: str) -> Node:
    node = await find_node(s, node_uuid, traits=False)
    if not policy.can(ctx, "baremetal:portgroup:get", nodes.target(node)):
        raise not_found(ident)
    policy.authorize(ctx, rule, nodes.target(node))
    return node


async def _node_for_write(s: AsyncSession, ctx: RequestContext, ident: str, rule: str) -> Node:
    """An unknown node is 400, as Ironic's replace_node_uuid_with_id."""
    try:
        node = await find_node_for(s, ctx, ident, rule, traits=False)
    except NotFound as exc:
        raise InvalidParameter(exc.message) from None
    if node.reservation:
        raise NodeLocked(node.uuid, node.reservation)
    return node


async def _unique(s: AsyncSession, pg: Portgroup) -> None:
    others = select(Portgroup.id).where(Portgroup.id != pg.id) if pg.id else \
        select(Portgroup.id)
    with s.no_autoflush:
        if await s.scalar(others.where(Portgroup.uuid == pg.uuid)):
            raise Duplicate(f"A port group with UUID {pg.uuid} already exists.")
        if pg.name and await s.scalar(others.where(Portgroup.name == pg.name)):
            raise Duplicate(f"A portgroup with name {pg.name} already exists.")
        if pg.address and await s.scalar(others.where(Portgroup.address == pg.address)):
            raise Duplicate(f"A port group with MAC address {pg.address} already exists.")


async def get(rt: Runtime, ctx: RequestContext, ident: str) -> tuple[Portgroup, str]:
    async with rt.db.session() as s:
        pg, node_uuid = await find(s, ident)
        await _node_of(s, ctx, ident, node_uuid, "baremetal:portgroup:get")
    return pg, node_uuid


async def list_portgroups(
    rt: Runtime, ctx: RequestContext, *, node: str | None = None, address: str | None = None,
    limit: int | None = None, marker: str | None = None, sort_key: str = "id",
    sort_dir: str = "asc",
) -> tuple[list[tuple[Portgroup, str]], bool]:
    pages.check(sort_key, sort_dir, SORT_KEYS)
    limit = min(limit or rt.settings.api_max_limit, rt.settings.api_max_limit)
    q = select(Portgroup, Node.uuid).join(Node, Node.id == Portgroup.node_id)
    allowed = nodes.visible(ctx, "baremetal:portgroup")
    if allowed is not None:
        q = q.where(allowed)
    async with rt.db.session() as s:
        if node:
            n = await find_node_for(s, ctx, node, traits=False)
            q = q.where(Portgroup.node_id == n.id)
        if address:
            q = q.where(Portgroup.address == checks.normalize_mac(address))
        rows, more = await pages.fetch(s, q, Portgroup, sort_key=sort_key, sort_dir=sort_dir,
                                       marker=marker, limit=limit)
    return [(r[0], r[1]) for r in rows], more


async def create(rt: Runtime, ctx: RequestContext, body: Any) -> tuple[Portgroup, str]:
    values = checks.portgroup(body)
    try:
        async with rt.db.session() as s:
            node = await _node_for_write(s, ctx, values.pop("node_uuid"),
                                         "baremetal:portgroup:create")
            values["uuid"] = values["uuid"] or new_uuid()
            values["mode"] = values["mode"] or DEFAULT_MODE
            pg = Portgroup(**values, node_id=node.id, internal_info={})
            await _unique(s, pg)
            s.add(pg)
    except IntegrityError:  # the same name, UUID or MAC by another process meanwhile
        raise Duplicate("A port group with this name, UUID or MAC address already exists."
                        ) from None
    return pg, node.uuid


async def update(rt: Runtime, ctx: RequestContext, ident: str,
                 ops: Any) -> tuple[Portgroup, str]:
    try:
        async with rt.db.session() as s:
            pg, node_uuid = await find(s, ident)
            node = await _node_of(s, ctx, ident, node_uuid, "baremetal:portgroup:update")
            if node.reservation:
                raise NodeLocked(node.uuid, node.reservation)
            before = {f: getattr(pg, f) for f in PORTGROUP_WRITABLE - {"node_uuid"}}
            before["node_uuid"] = node_uuid
            after = patch.apply(before, ops, writable=PORTGROUP_WRITABLE,
                                internal=PORTGROUP_INTERNAL)
            values = checks.portgroup(after, patched=True)
            if values["node_uuid"] != node_uuid:
                if await _members(s, pg):
                    raise Conflict(f"Port group {pg.uuid} has ports: it cannot move to "
                                   "another node.")
                node = await _node_for_write(s, ctx, values["node_uuid"],
                                             "baremetal:portgroup:update")
                pg.node_id = node.id
            values["mode"] = values["mode"] or DEFAULT_MODE
            for key in PORTGROUP_WRITABLE - {"node_uuid"}:
                setattr(pg, key, values[key])
            await _unique(s, pg)
    except IntegrityError:
        raise Duplicate("A port group with this name or MAC address already exists.") from None
    return pg, node.uuid


async def _members(s: AsyncSession, pg: Portgroup) -> int:
    return int(await s.scalar(select(func.count()).select_from(Port)
                              .where(Port.portgroup_id == pg.id)) or 0)


async def remove(rt: Runtime, ctx: RequestContext, ident: str) -> None:
    """Delete an empty port group; one with ports is Ironic's PortgroupNotEmpty (400)."""
    try:
        async with rt.db.session() as s:
            pg, node_uuid = await find(s, ident)
            node = await _node_of(s, ctx, ident, node_uuid, "baremetal:portgroup:delete")
            if node.reservation:
                raise NodeLocked(node.uuid, node.reservation)
            if await _members(s, pg):
                raise _not_empty(pg.uuid)
            await s.delete(pg)
    except IntegrityError:  # a port joined it meanwhile (the foreign key)
        raise _not_empty(ident) from None


def _not_empty(ident: str) -> InvalidParameter:
    return InvalidParameter(f"Cannot complete the requested action because portgroup {ident} "
                            "contains ports.")


async def join(s: AsyncSession, ctx: RequestContext, ident: str, node: Node,
               physical_network: str | None, port_id: int | None) -> Portgroup:
    """The port group a port of ``node`` joins: on the same node, and with every
    other member on the same physical network (Ironic's conductor, 409)."""
    try:
        pg, node_uuid = await find(s, ident)
    except NotFound as exc:
        raise InvalidParameter(exc.message) from None
    if node_uuid != node.uuid:
        raise InvalidParameter("Port can not be added to a portgroup belonging to a "
                               "different node.")
    nets = set((await s.scalars(select(Port.physical_network).where(
        Port.portgroup_id == pg.id, Port.id != (port_id or 0)))).all())
    if nets and nets != {physical_network}:
        raise Conflict(f"Port with physical network {physical_network} cannot become a "
                       f"member of port group {pg.uuid} which has ports in physical network "
                       f"{', '.join(sorted(str(n) for n in nets))}.")
    return pg
