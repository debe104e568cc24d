"""Ports: the machine's NICs, by MAC, with the switch port each is cabled to.

A port is visible to whoever sees its node (services/baremetal/nodes.py); writes are
the admin's.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.models import Node, Port
from barecloud.errors import Duplicate, Forbidden, InvalidParameter, NodeLocked, NotFound
from barecloud.services import policy
from barecloud.services.baremetal import checks, nodes, pages, patch, portgroups
from barecloud.services.baremetal.nodes import find as find_node
from barecloud.services.baremetal.nodes import find_for as find_node_for
from barecloud.services.baremetal.schemas import PORT_INTERNAL, PORT_WRITABLE, UUID_RE
from barecloud.services.context import RequestContext, Runtime

SORT_KEYS = {"id", "uuid", "address", "created_at", "updated_at", "name", "pxe_enabled"}


async def find(s: AsyncSession, ident: str) -> tuple[Port, str]:
    column = Port.uuid if UUID_RE.match(ident) else Port.name
    row = (
        await s.execute(
            select(Port, Node.uuid).join(Node, Node.id == Port.node_id).where(column == ident)
        )
    ).first()
    if row is None:
        raise NotFound(f"Port {ident} could not be found.")
    return row[0], row[1]


async def get(rt: Runtime, ctx: RequestContext, ident: str) -> tuple[Port, str]:
    async with rt.db.session() as s:
        port, node_uuid = await find(s, ident)
        node = await find_node(s, node_uuid, traits=False)
    if not policy.can(ctx, "baremetal:port:get", nodes.target(node)):
        raise NotFound(f"Port {ident} could not be found.")
    return port, node_uuid


async def list_ports(
    rt: Runtime, ctx: RequestContext, *, node: str | None = None, address: str | None = None,
    portgroup: str | None = None, limit: int | None = None, marker: str | None = None,
    sort_key: str = "id", sort_dir: str = "asc", shards: list[str] | None = None,
) -> tuple[list[tuple[Port, str]], bool]:
    """A page of the ports ``ctx`` sees; ``shards``: of nodes in those (1.82), a
    filter that excludes ``node`` and ``portgroup`` (Ironic's OperationNotPermitted)."""
    pages.check(sort_key, sort_dir, SORT_KEYS)
    if shards and (node or portgroup):
        raise Forbidden("Not authorized: a port list may filter by one of node, "
                        "portgroup or shard.")
    limit = min(limit or rt.settings.api_max_limit, rt.settings.api_max_limit)
    q = select(Port, Node.uuid).join(Node, Node.id == Port.node_id)
    allowed = nodes.visible(ctx, "baremetal:port")
    if allowed is not None:
        q = q.where(allowed)
    async with rt.db.session() as s:
        if node:
            n = await find_node_for(s, ctx, node, traits=False)
            q = q.where(Port.node_id == n.id)
        if address:
            q = q.where(Port.address == checks.normalize_mac(address))
        if shards:
            q = q.where(Node.shard.in_(shards))
        if portgroup:
            group, group_node = await portgroups.find(s, portgroup)
            await find_node_for(s, ctx, group_node, traits=False)
            q = q.where(Port.portgroup_id == group.id)
        rows, more = await pages.fetch(s, q, Port, sort_key=sort_key, sort_dir=sort_dir,
                                       marker=marker, limit=limit)
    return [(r[0], r[1]) for r in rows], more


async def _unique(s: AsyncSession, port: Port) -> None:
    # No autoflush: the changed row would hit the UNIQUE constraint (a 500)
    # before the friendly 409 below.
    with s.no_autoflush:
        await _unique_columns(s, port)


async def _unique_columns(s: AsyncSession, port: Port) -> None:
    if await s.scalar(select(Port.id).where(Port.address == port.address, Port.id != port.id)):
        raise Duplicate(f"A port with MAC address {port.address} already exists.")
    if await s.scalar(select(Port.id).where(Port.uuid == port.uuid, Port.id != port.id)):
        raise Duplicate(f"A port with UUID {port.uuid} already exists.")
    if port.name and await s.scalar(
        select(Port.id).where(Port.name == port.name, Port.id != port.id)
    ):
        raise Duplicate(f"A port with name {port.name} already exists.")


async def create(rt: Runtime, ctx: RequestContext, body: Any) -> tuple[Port, str]:
    values = checks.port(body)
    group = values.pop("portgroup_uuid")
    async with rt.db.session() as s:
        node = await _named_node(s, ctx, values.pop("node_uuid"), "baremetal:port:create")
        if not values["uuid"]:
            values.pop("uuid")
        port = Port(**values, node_id=node.id)
        port.portgroup = None if not group else await portgroups.join(
            s, ctx, group, node, values["physical_network"], None)
        await _unique(s, port)
        s.add(port)
        await s.flush()
    return port, node.uuid


async def update(rt: Runtime, ctx: RequestContext, ident: str, ops: Any) -> tuple[Port, str]:
    async with rt.db.session() as s:
        port, node_uuid = await find(s, ident)
        node = await _port_node(s, ctx, ident, node_uuid, "baremetal:port:update")
        if node.reservation:
            raise NodeLocked(node.uuid, node.reservation)
        before = {f: getattr(port, f) for f in PORT_WRITABLE - {"node_uuid", "portgroup_uuid"}}
        before["node_uuid"] = node_uuid
        before["portgroup_uuid"] = port.portgroup.uuid if port.portgroup else None
        after = patch.apply(before, ops, writable=PORT_WRITABLE, internal=PORT_INTERNAL)
        for key in PORT_WRITABLE:
            if key not in after:
                after[key] = {} if isinstance(before.get(key), dict) else None
        if after.get("pxe_enabled") is None:
            after["pxe_enabled"] = True
        if after.get("is_smartnic") is None:
            after["is_smartnic"] = False
        data = checks.port(after)
        if data["node_uuid"] != node_uuid:
            node = await _named_node(s, ctx, data["node_uuid"], "baremetal:port:update")
            if node.reservation:
                raise NodeLocked(node.uuid, node.reservation)
            port.node_id = node.id
        for key in PORT_WRITABLE - {"node_uuid", "portgroup_uuid"}:
            setattr(port, key, data[key])
        port.portgroup = None if not data["portgroup_uuid"] else await portgroups.join(
            s, ctx, data["portgroup_uuid"], node, data["physical_network"], port.id)
        await _unique(s, port)
    return port, node.uuid


async def remove(rt: Runtime, ctx: RequestContext, ident: str) -> None:
    async with rt.db.session() as s:
        port, node_uuid = await find(s, ident)
        node = await _port_node(s, ctx, ident, node_uuid, "baremetal:port:delete")
        if node.reservation:
            raise NodeLocked(node.uuid, node.reservation)
        await s.delete(port)


async def _named_node(s: AsyncSession, ctx: RequestContext, ident: str, rule: str) -> Node:
    """The node a port is put on: an unknown one is 400, as Ironic's
    replace_node_uuid_with_id (the request is about the port)."""
    try:
        return await find_node_for(s, ctx, ident, rule)
    except NotFound as exc:
        raise InvalidParameter(exc.message) from None


async def _port_node(s: AsyncSession, ctx: RequestContext, ident: str, node_uuid: str,
                     rule: str) -> Node:
    """The port's node, once ``ctx`` may see the port (else NotFound) and do ``rule``."""
    node = await find_node(s, node_uuid)
    if not policy.can(ctx, "baremetal:port:get", nodes.target(node)):
        raise NotFound(f"Port {ident} could not be found.")
    policy.authorize(ctx, rule, nodes.target(node))
    return node
