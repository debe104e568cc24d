"""Floating IPs (Neutron's ``l3`` floating IPs): an external address, NATed 1:1 to a port.

A floating IP holds its address with a port of its own on the external
network (``network:floatingip``, owned by no project), so the external
subnet's pool is the one IPAM every port uses and an exhausted pool is the
same 409.  Associated, it names the fixed port and address and the router
that carries the traffic: the router with a gateway on the floating IP's
network and an interface on the fixed address's subnet (Neutron's rule); the
L3 agent (``l3.py``) then puts the DNAT/SNAT pair in that router's namespace.
One floating IP per fixed address and external network: the unique constraint
says it to concurrent writers too.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.network_models import FloatingIP, IPAllocation, NetworkPort, Router
from barecloud.errors import Conflict
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.network import addresses, attrs, networks, quotas, routers, wakeup
from barecloud.services.network import ports as network_ports
from barecloud.services.network.common import (
    ListQuery,
    Page,
    column_filter,
    create_all,
    fetch_visible,
    page,
    sees_all,
    updated,
    visible_rows,
)
from barecloud.services.network.errors import (
    BadRequest,
    ExternalGatewayForFloatingIPNotFound,
    FloatingIPNotFound,
    FloatingIPPortAlreadyAssociated,
    NetworkNotFound,
)
from barecloud.services.tenancy import project_of, service_context

FILTERS = {
    "id": column_filter(FloatingIP.id), "description": column_filter(FloatingIP.description),
    "project_id": column_filter(FloatingIP.project_id),
    "floating_network_id": column_filter(FloatingIP.floating_network_id),
    "floating_ip_address": column_filter(FloatingIP.floating_ip_address),
    "fixed_ip_address": column_filter(FloatingIP.fixed_ip_address),
    "port_id": column_filter(FloatingIP.fixed_port_id),
    "router_id": column_filter(FloatingIP.router_id),
    "status": lambda values: (FloatingIP.router_id.is_not(None) if values == ["ACTIVE"]
                              else FloatingIP.router_id.is_(None) if values == ["DOWN"]
                              else FloatingIP.id.is_(None)),
    "name": lambda values: FloatingIP.id.is_(None),  # floating IPs have no name
}
SORTS = {"id": FloatingIP.id, "project_id": FloatingIP.project_id,
         "tenant_id": FloatingIP.project_id,
         "floating_ip_address": FloatingIP.floating_ip_address,
         "fixed_ip_address": FloatingIP.fixed_ip_address,
         "floating_network_id": FloatingIP.floating_network_id,
         "router_id": FloatingIP.router_id, "port_id": FloatingIP.fixed_port_id,
         "created_at": FloatingIP.created_at,
         "updated_at": updated(FloatingIP.updated_at, FloatingIP.created_at)}


def status(fip: FloatingIP) -> str:
    """ACTIVE while a router carries it, DOWN otherwise (what Neutron's agent reports)."""
    return "ACTIVE" if fip.router_id else "DOWN"


def target(fip: FloatingIP) -> dict[str, Any]:
    return {"project_id": fip.project_id}


def _visible(ctx: RequestContext) -> Any:
    return None if sees_all(ctx) else FloatingIP.project_id == project_of(ctx)


async def fetch(s: AsyncSession, ctx: RequestContext, fip_id: str,
                for_update: bool = False) -> FloatingIP:
    return await fetch_visible(s, FloatingIP, fip_id, _visible(ctx), FloatingIPNotFound,
                               for_update)


async def get(rt: Runtime, ctx: RequestContext, fip_id: str) -> FloatingIP:
    async with rt.db.session() as s:
        fip = await fetch(s, ctx, fip_id)
        policy.authorize(ctx, "network:get_floatingip", target(fip))
        return fip


async def list_floatingips(rt: Runtime, ctx: RequestContext, query: ListQuery) -> Page:
    policy.authorize(ctx, "network:get_floatingip", {"project_id": project_of(ctx)})
    q = visible_rows(FloatingIP, _visible(ctx))
    async with rt.db.session() as s:
        return await page(s, q, FloatingIP, query, FILTERS, SORTS, rt.settings.api_max_limit,
                          FloatingIPNotFound)


# --- association ----------------------------------------------------------------------------
async def _router_for(s: AsyncSession, external_id: str, subnet_id: str) -> str | None:
    """The router with a gateway on ``external_id`` and an interface on ``subnet_id``."""
    gateway = select(NetworkPort.id).where(NetworkPort.network_id == external_id,
                                           NetworkPort.device_owner == routers.GATEWAY_OWNER)
    interface = select(NetworkPort.device_id).join(
        IPAllocation, IPAllocation.port_id == NetworkPort.id).where(
        NetworkPort.device_owner == routers.INTERFACE_OWNER,
        IPAllocation.subnet_id == subnet_id)
    found = await s.scalar(select(Router.id).where(
        Router.gw_port_id.in_(gateway), Router.id.in_(interface)).order_by(Router.created_at)
        .limit(1))
    return None if found is None else str(found)


async def _associate(s: AsyncSession, ctx: RequestContext, fip: FloatingIP,
                     port_id: str | None, fixed_ip: str | None) -> None:
    """Point ``fip`` at ``port_id`` (None: at nothing), checked as Neutron checks it."""
    if port_id is None:
        fip.fixed_port_id = fip.fixed_ip_address = fip.router_id = None
        return
    port = await network_ports.fetch(s, ctx, port_id)
    if port.project_id != fip.project_id and not policy.can(ctx, "network:context_is_admin"):
        raise BadRequest("floatingip", f"Cannot create floating IP and bind it to Port "
                                       f"{port_id}, since that port is owned by a different "
                                       "tenant")
    if port.device_owner in routers.SERVICE_OWNERS or port.device_owner == networks.DHCP_OWNER:
        raise BadRequest("floatingip", f"Port {port_id} is a {port.device_owner} port and "
                                       "cannot have a floating IP")
    v4 = [a for a in port.allocations if ipaddress.ip_address(a.ip_address).version == 4]
    if fixed_ip is not None:
        chosen = [a for a in v4 if a.ip_address == str(attrs.ip_address(fixed_ip,
                                                                       "fixed_ip_address"))]
        if not chosen:
            raise BadRequest("floatingip", f"Port {port_id} does not have fixed ip {fixed_ip}")
    elif not v4:
        raise BadRequest("floatingip", f"Cannot add floating IP to port {port_id} that has "
                                       "no fixed IPv4 addresses")
    elif len(v4) > 1:
        raise BadRequest("floatingip", f"Port {port_id} has multiple fixed IPv4 addresses.  "
                                       "Must provide a specific IPv4 address when assigning a "
                                       "floating IP")
    else:
        chosen = v4
    allocation = chosen[0]
    router_id = await _router_for(s, fip.floating_network_id, allocation.subnet_id)
    if router_id is None:
        raise ExternalGatewayForFloatingIPNotFound(fip.floating_network_id,
                                                   allocation.subnet_id, port_id)
    other = await s.scalar(select(FloatingIP).where(
        FloatingIP.floating_network_id == fip.floating_network_id,
        FloatingIP.fixed_port_id == port_id,
        FloatingIP.fixed_ip_address == allocation.ip_address, FloatingIP.id != fip.id))
    if other is not None:
        raise FloatingIPPortAlreadyAssociated(fip.floating_ip_address, fip.id, port_id,
                                              allocation.ip_address, fip.floating_network_id)
    fip.fixed_port_id, fip.fixed_ip_address = port_id, allocation.ip_address
    fip.router_id = router_id


def _already(fip: FloatingIP, port_id: str) -> FloatingIPPortAlreadyAssociated:
    return FloatingIPPortAlreadyAssociated(fip.floating_ip_address, fip.id, port_id,
                                           fip.fixed_ip_address or "", fip.floating_network_id)


# --- create / update / delete ------------------------------------------------------------------
async def create(rt: Runtime, ctx: RequestContext, data: dict[str, Any]) -> FloatingIP:
    """A floating IP from a declared body (schemas.CREATE_FLOATINGIP's ``floatingip``)."""
    project = attrs.owner(ctx, data)
    t = {"project_id": project}
    policy.authorize(ctx, "network:create_floatingip", t)
    requests: list[addresses.Request] | None = None
    if data.get("floating_ip_address"):
        policy.authorize(ctx, "network:create_floatingip:floating_ip_address", t)
        ip = str(attrs.ip_address(data["floating_ip_address"], "floating_ip_address"))
        requests = [addresses.Request(data.get("subnet_id"), ip)]
    elif data.get("subnet_id"):
        requests = [addresses.Request(str(data["subnet_id"]), None)]
    network_id = str(data["floating_network_id"])
    for attempt in range(routers.ATTEMPTS):
        try:
            async with rt.db.session() as s:
                try:
                    network = await networks.fetch(s, ctx, network_id, for_update=True)
                except NetworkNotFound:
                    network = None
                if network is None or not network.router_external:
                    raise BadRequest("floatingip", f"Network {network_id} is not a valid "
                                                   "external network")
                await quotas.check(s, project, "floatingip")
                fip = FloatingIP(project_id=project, description=attrs.string(
                    data, "description"), floating_network_id=network.id,
                    floating_port_id="", floating_ip_address="", revision_number=0)
                s.add(fip)
                await s.flush()
                port = await routers.new_port(s, network, "", routers.FLOATING_OWNER, fip.id,
                                              requests)
                v4 = [a.ip_address for a in await s.scalars(select(IPAllocation).where(
                    IPAllocation.port_id == port.id)) if ":" not in a.ip_address]
                if not v4:
                    raise BadRequest("floatingip", f"Network {network_id} has no IPv4 subnet "
                                                   "to take a floating IP from")
                fip.floating_port_id, fip.floating_ip_address = port.id, v4[0]
                if data.get("port_id"):
                    await _associate(s, ctx, fip, str(data["port_id"]),
                                     data.get("fixed_ip_address"))
                fip_id = fip.id
            break
        except IntegrityError:
            if data.get("port_id") and attempt == routers.ATTEMPTS - 1:
                raise Conflict("The floating IP could not be created: its address was taken "
                               "meanwhile, or its fixed IP got another floating IP.") from None
            if attempt == routers.ATTEMPTS - 1:
                raise
    wakeup.wake()
    return await get(rt, ctx, fip_id)


async def update(rt: Runtime, ctx: RequestContext, fip_id: str,
                 data: dict[str, Any]) -> FloatingIP:
    """Associate (``port_id``), move (another ``port_id``), disassociate (``port_id``: null)."""
    try:
        async with rt.db.session() as s:
            fip = await fetch(s, ctx, fip_id, for_update=True)
            policy.authorize(ctx, "network:update_floatingip", target(fip))
            if "description" in data:
                fip.description = attrs.string(data, "description")
            if "port_id" in data:
                port_id = data["port_id"]
                await _associate(s, ctx, fip, str(port_id) if port_id else None,
                                 data.get("fixed_ip_address"))
            elif data.get("fixed_ip_address") and fip.fixed_port_id:
                await _associate(s, ctx, fip, fip.fixed_port_id, data["fixed_ip_address"])
            fip.revision_number += 1
    except IntegrityError:
        raise _already(fip, str(data.get("port_id"))) from None
    wakeup.wake()
    return await get(rt, ctx, fip_id)


async def remove(rt: Runtime, ctx: RequestContext, fip_id: str) -> None:
    async with rt.db.session() as s:
        fip = await fetch(s, ctx, fip_id, for_update=True)
        policy.authorize(ctx, "network:delete_floatingip", target(fip))
        await routers.drop_port(s, fip.floating_port_id)
        await s.delete(fip)
    wakeup.wake()


async def create_many(rt: Runtime, ctx: RequestContext, items: list[dict[str, Any]]
                      ) -> list[FloatingIP]:
    return await create_all(lambda data: create(rt, ctx, data),
                            lambda f: remove(rt, service_context(ctx.request_id), f.id), items)

