"""Networks in Nova's own format: ``os-networks`` and ``os-tenant-networks`` (to 2.35).

With Neutron, Nova builds each network from Neutron's (``get_all``, asked as
the caller: every network the caller sees) with only the name and id set:
``label`` is the name, and every nova-network field is null.  ``os-networks``
shows an admin nova-network's admin fields too (null as well);
``os-tenant-networks`` shows ``id``, ``label`` and ``cidr``, the last being
``str(None)`` ("None"), as Nova's.  An unknown network is 404 "Network not
found.".
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from barecloud.db.network_models import Network
from barecloud.errors import NotFound
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.network import networks as network_service
from barecloud.services.network.common import network_visible

FIELDS = ("id", "cidr", "netmask", "gateway", "broadcast", "dns1", "dns2", "cidr_v6",
          "gateway_v6", "label", "netmask_v6")
ADMIN_FIELDS = ("created_at", "updated_at", "deleted_at", "deleted", "injected", "bridge",
                "vlan", "vpn_public_address", "vpn_public_port", "vpn_private_address",
                "dhcp_start", "project_id", "host", "bridge_interface", "multi_host",
                "priority", "rxtx_base", "mtu", "dhcp_server", "enable_dhcp",
                "share_address")


def network(ctx: RequestContext, row: Network) -> dict[str, Any]:
    """``os-networks``' view of a Neutron network."""
    fields = FIELDS + (ADMIN_FIELDS if policy.can(ctx, "network:context_is_admin") else ())
    shown: dict[str, Any] = dict.fromkeys(fields)
    shown.update(id=row.id, label=row.name)
    return shown


def tenant_network(row: Network) -> dict[str, Any]:
    """``os-tenant-networks``' view."""
    return {"id": row.id, "cidr": "None", "label": row.name}


async def _all(rt: Runtime, ctx: RequestContext) -> list[Network]:
    policy.authorize(ctx, "network:get_network")
    q = select(Network).order_by(Network.created_at, Network.id)
    cond = network_visible(ctx)
    if cond is not None:
        q = q.where(cond)
    async with rt.db.session() as s:
        return list((await s.scalars(q)).all())


async def _one(rt: Runtime, ctx: RequestContext, network_id: str) -> Network:
    try:
        return await network_service.get(rt, ctx, network_id)
    except NotFound:
        raise NotFound("Network not found.") from None


async def list_networks(rt: Runtime, ctx: RequestContext) -> list[dict[str, Any]]:
    return [network(ctx, n) for n in await _all(rt, ctx)]


async def show_network(rt: Runtime, ctx: RequestContext, network_id: str) -> dict[str, Any]:
    return network(ctx, await _one(rt, ctx, network_id))


async def list_tenant_networks(rt: Runtime, ctx: RequestContext) -> list[dict[str, Any]]:
    return [tenant_network(n) for n in await _all(rt, ctx)]


async def show_tenant_network(rt: Runtime, ctx: RequestContext, network_id: str
                              ) -> dict[str, Any]:
    return tenant_network(await _one(rt, ctx, network_id))
