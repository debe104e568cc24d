"""Floating IPs in Nova's own format: the proxies Nova ended at 2.36 (and 2.44).

Nova keeps no floating IPs; it asks Neutron, as the caller, and converts each
(nova/api/openstack/compute/floating_ips.py): ``ip`` the floating address,
``fixed_ip`` the fixed one, ``instance_id`` the device of the fixed port,
``pool`` the external network's name (its id when it has none).  Here the
same services as Neutron's API do the work, and Neutron's refusals become
Nova's statuses: an unknown pool or an exhausted one is 404, over quota 403,
a failed association (a second floating IP on the same fixed address) 400.

A create without ``pool`` takes Nova's ``default_floating_pool``; barecloud
has no such option, so it is the oldest external network (the one a cloud
with a single external network has).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.network_models import FloatingIP, Network, NetworkPort
from barecloud.errors import Conflict, Forbidden, InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.baremetal.schemas import UUID_RE
from barecloud.services.compute.queries import find
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.network import floatingips
from barecloud.services.network.errors import OverQuota
from barecloud.services.tenancy import project_of

ASSOCIATE_LAST = (2, 43)  # addFloatingIp/removeFloatingIp: Nova's 2.44 removed them


async def _view(s: AsyncSession, fip: FloatingIP) -> dict[str, Any]:
    net = await s.get(Network, fip.floating_network_id)
    device = None
    if fip.fixed_port_id:
        device = await s.scalar(select(NetworkPort.device_id).where(
            NetworkPort.id == fip.fixed_port_id))
    return {"id": fip.id, "ip": fip.floating_ip_address, "fixed_ip": fip.fixed_ip_address,
            "instance_id": device or None,
            "pool": (net.name or net.id) if net is not None else fip.floating_network_id}


async def _shown(rt: Runtime, fip: FloatingIP) -> dict[str, Any]:
    async with rt.db.session() as s:
        return await _view(s, fip)


async def list_ips(rt: Runtime, ctx: RequestContext) -> list[dict[str, Any]]:
    """The project's own floating IPs (Nova asks Neutron by ``tenant_id``)."""
    policy.authorize(ctx, "network:get_floatingip", {"project_id": project_of(ctx)})
    async with rt.db.session() as s:
        rows = (await s.scalars(select(FloatingIP).where(
            FloatingIP.project_id == project_of(ctx)).order_by(
            FloatingIP.created_at, FloatingIP.id))).all()
        return [await _view(s, f) for f in rows]


async def _by_id(rt: Runtime, ctx: RequestContext, fip_id: str) -> FloatingIP:
    if not UUID_RE.match(fip_id):
        raise NotFound(f"Floating IP not found for ID {fip_id}")
    try:
        return await floatingips.get(rt, ctx, fip_id)
    except NotFound:
        raise NotFound(f"Floating IP not found for ID {fip_id}") from None


async def show(rt: Runtime, ctx: RequestContext, fip_id: str) -> dict[str, Any]:
    return await _shown(rt, await _by_id(rt, ctx, fip_id))


async def _pool(rt: Runtime, pool: str | None) -> str:
    """The external network a pool names (by id or name), as Nova looks it up."""
    q = select(Network.id).where(Network.router_external.is_(True))
    if not pool:
        q = q.order_by(Network.created_at, Network.id).limit(1)
    elif UUID_RE.match(pool):
        q = q.where(Network.id == pool)
    else:
        q = q.where(Network.name == pool)
    async with rt.db.session() as s:
        found = list((await s.scalars(q)).all())
    if not found:
        raise NotFound("Floating IP pool not found.")
    if len(found) > 1:
        raise Conflict(f"Multiple floating IP pools matches found for name '{pool}'")
    return str(found[0])


async def create(rt: Runtime, ctx: RequestContext, pool: str | None) -> dict[str, Any]:
    network = await _pool(rt, pool)
    try:
        made = await floatingips.create(rt, ctx, {"floating_network_id": network})
    except OverQuota:
        raise Forbidden("Maximum number of floating IPs exceeded") from None
    except Conflict:  # the pool's addresses are all taken
        raise NotFound(f"No more floating IPs in pool {pool}." if pool
                       else "No more floating IPs available.") from None
    return await _shown(rt, made)


async def delete(rt: Runtime, ctx: RequestContext, fip_id: str) -> None:
    fip = await _by_id(rt, ctx, fip_id)
    await floatingips.remove(rt, ctx, fip.id)


async def _by_address(rt: Runtime, ctx: RequestContext, address: str) -> FloatingIP:
    async with rt.db.session() as s:
        q = select(FloatingIP).where(FloatingIP.floating_ip_address == address)
        if not policy.can(ctx, "network:context_is_admin"):
            q = q.where(FloatingIP.project_id == project_of(ctx))
        fip = await s.scalar(q)
    if fip is None:
        raise NotFound("floating IP not found")
    return fip


async def associate(rt: Runtime, ctx: RequestContext, server_id: str,
                    args: dict[str, Any]) -> None:
    """``addFloatingIp``: the floating IP (moved if elsewhere) to the server's fixed
    address (the one asked, else its first IPv4), as Nova's action."""
    async with rt.db.session() as s:
        server = await find(s, ctx, server_id)
        policy.authorize(ctx, "compute:servers:action", {"project_id": server.project_id})
        ports = list((await s.scalars(select(NetworkPort).where(
            NetworkPort.device_id == server.uuid).order_by(NetworkPort.created_at,
                                                           NetworkPort.id))).all())
        fixed = [(p.id, a.ip_address) for p in ports for a in p.allocations]
    if not fixed:
        raise InvalidParameter("No fixed IPs associated to instance")
    wanted = args.get("fixed_address")
    if wanted:
        chosen = [f for f in fixed if f[1] == wanted]
        if not chosen:
            raise InvalidParameter("Specified fixed address not assigned to instance")
    else:
        chosen = [f for f in fixed if ipaddress.ip_address(f[1]).version == 4]
        if not chosen:
            raise InvalidParameter(
                f"Unable to associate floating IP {args['address']} to any fixed IPs for "
                f"instance {server.uuid}. Instance has no fixed IPv4 addresses to associate.")
    port_id, address = chosen[0]
    fip = await _by_address(rt, ctx, str(args["address"]))
    try:
        await floatingips.update(rt, ctx, fip.id, {"port_id": port_id,
                                                   "fixed_ip_address": address})
    except (Conflict, InvalidParameter, NotFound) as exc:  # Nova's FloatingIpAssociateFailed
        raise InvalidParameter(
            f"Unable to associate floating IP {args['address']} to fixed IP {address} for "
            f"instance {server.uuid}. Error: {exc}") from None


async def disassociate(rt: Runtime, ctx: RequestContext, server_id: str,
                       args: dict[str, Any]) -> None:
    """``removeFloatingIp``: only from the server it is on (else 409, as Nova's)."""
    async with rt.db.session() as s:
        server = await find(s, ctx, server_id)
        policy.authorize(ctx, "compute:servers:action", {"project_id": server.project_id})
    address = str(args["address"])
    fip = await _by_address(rt, ctx, address)
    async with rt.db.session() as s:
        device = await s.scalar(select(NetworkPort.device_id).where(
            NetworkPort.id == fip.fixed_port_id)) if fip.fixed_port_id else None
    if device != server.uuid:
        raise Conflict(f"Floating IP {address} is not associated with instance {server_id}.")
    await floatingips.update(rt, ctx, fip.id, {"port_id": None})

