"""Routers (Neutron's ``router`` and ``ext-gw-mode`` extensions): rows and rules.

A router's legs are ports, as in Neutron: each interface is a port on a
tenant subnet holding that subnet's gateway IP (``device_owner``
``network:router_interface``, ``device_id`` the router), and its gateway a
port on an external network (``network:router_gateway``, owned by no
project, so no tenant sees or deletes it).  The L3 agent (``l3.py``) reads
these rows and makes the router's namespace match them.

Every change of a router's legs locks the router's row (and the network whose
addresses it takes), so two requests adding overlapping subnets to one router
on PostgreSQL cannot both pass the overlap check; a lost address race is an
IntegrityError, retried.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.network_models import (
    FloatingIP,
    IPAllocation,
    Network,
    NetworkPort,
    Router,
    Subnet,
)
from barecloud.db.session import Database
from barecloud.errors import Conflict
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.network import addresses, attrs, networks, quotas, wakeup
from barecloud.services.network import ports as network_ports
from barecloud.services.network import subnets as network_subnets
from barecloud.services.network.common import (
    ListQuery,
    Page,
    bool_filter,
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
    PortInUse,
    RouterExternalGatewayInUseByFloatingIp,
    RouterInterfaceInUseByFloatingIP,
    RouterInterfaceNotFound,
    RouterInterfaceNotFoundForSubnet,
    RouterInUse,
    RouterNotFound,
    invalid_attr,
)
from barecloud.services.tenancy import project_of, service_context

INTERFACE_OWNER = "network:router_interface"
GATEWAY_OWNER = "network:router_gateway"
FLOATING_OWNER = "network:floatingip"
SERVICE_OWNERS = (INTERFACE_OWNER, GATEWAY_OWNER, FLOATING_OWNER)
ATTEMPTS = 5
T = TypeVar("T")

FILTERS = {
    "id": column_filter(Router.id), "name": column_filter(Router.name),
    "description": column_filter(Router.description),
    "project_id": column_filter(Router.project_id), "status": column_filter(Router.status),
    "admin_state_up": bool_filter(Router.admin_state_up),
}
SORTS = {"id": Router.id, "name": Router.name, "status": Router.status,
         "project_id": Router.project_id, "tenant_id": Router.project_id,
         "admin_state_up": Router.admin_state_up, "created_at": Router.created_at,
         "updated_at": updated(Router.updated_at, Router.created_at)}


@dataclass
class RouterView:
    """A router with what its API body shows of its gateway port."""

    router: Router
    gateway_network_id: str | None
    gateway_ips: list[tuple[str, str]]  # (subnet id, address)

    @property
    def id(self) -> str:
        return self.router.id


@dataclass
class InterfaceInfo:
    """What add/remove_router_interface answer."""

    router: Router
    port_id: str
    network_id: str
    subnet_ids: list[str]


def target(router: Router) -> dict[str, Any]:
    return {"project_id": router.project_id}


def _visible(ctx: RequestContext) -> Any:
    return None if sees_all(ctx) else Router.project_id == project_of(ctx)


async def fetch(s: AsyncSession, ctx: RequestContext, router_id: str,
                for_update: bool = False) -> Router:
    return await fetch_visible(s, Router, router_id, _visible(ctx), RouterNotFound,
                               for_update)


async def view(s: AsyncSession, router: Router) -> RouterView:
    if not router.gw_port_id:
        return RouterView(router, None, [])
    port = await s.get(NetworkPort, router.gw_port_id)
    if port is None:
        return RouterView(router, None, [])
    ips = list((await s.execute(select(IPAllocation.subnet_id, IPAllocation.ip_address).where(
        IPAllocation.port_id == port.id))).tuples().all())
    # IPv4 first ("2001:…" sorts before "203.…" as text), as the port took them.
    ips.sort(key=lambda a: (ipaddress.ip_address(a[1]).version, ipaddress.ip_address(a[1])))
    return RouterView(router, port.network_id, ips)


async def _retrying(db: Database, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """``work`` in one transaction, again if a concurrent writer took an address first."""
    for attempt in range(ATTEMPTS):
        try:
            async with db.session() as s:
                return await work(s)
        except IntegrityError:
            if attempt == ATTEMPTS - 1:
                raise Conflict("The router could not be changed: an address it needed was "
                               "taken meanwhile; try again.") from None
    raise AssertionError("unreachable")


# --- read ----------------------------------------------------------------------------
async def get(rt: Runtime, ctx: RequestContext, router_id: str) -> RouterView:
    async with rt.db.session() as s:
        router = await fetch(s, ctx, router_id)
        policy.authorize(ctx, "network:get_router", target(router))
        return await view(s, router)


async def list_routers(rt: Runtime, ctx: RequestContext, query: ListQuery) -> Page:
    policy.authorize(ctx, "network:get_router", {"project_id": project_of(ctx)})
    q = visible_rows(Router, _visible(ctx))
    async with rt.db.session() as s:
        found = await page(s, q, Router, query, FILTERS, SORTS, rt.settings.api_max_limit,
                           RouterNotFound)
        found.items = [await view(s, r) for r in found.items]
        return found


# --- ports the router holds -------------------------------------------------------------
async def new_port(s: AsyncSession, network: Network, project: str, owner: str,
                   device_id: str, requests: list[addresses.Request] | None,
                   gateway_ok: bool = False) -> NetworkPort:
    """A service port (gateway, interface, floating IP) made in the caller's transaction:
    with the network's row locked, as every port creation takes it."""
    mac = network_ports.new_mac()
    while await network_ports.mac_taken(s, network.id, mac):
        mac = network_ports.new_mac()
    port = NetworkPort(network_id=network.id, project_id=project, mac_address=mac,
                       device_owner=owner, device_id=device_id, status="ACTIVE",
                       admin_state_up=True, revision_number=0, name="", description="",
                       binding_host_id="", binding_vnic_type="normal", binding_profile={},
                       binding_vif_type="unbound",
                       port_security_enabled=False)
    s.add(port)
    await s.flush()
    wanted = await addresses.resolve(s, network, port.id, mac, requests, gateway_ok)
    await addresses.replace(s, network, port.id, wanted)
    return port


async def drop_port(s: AsyncSession, port_id: str) -> None:
    await s.execute(delete(IPAllocation).where(IPAllocation.port_id == port_id))
    await s.execute(delete(NetworkPort).where(NetworkPort.id == port_id))


async def interface_ports(s: AsyncSession, router_id: str) -> list[NetworkPort]:
    return list((await s.scalars(select(NetworkPort).where(
        NetworkPort.device_owner == INTERFACE_OWNER, NetworkPort.device_id == router_id)
        .order_by(NetworkPort.created_at, NetworkPort.id)
        .execution_options(populate_existing=True))).all())


async def interface_subnets(s: AsyncSession, router_id: str) -> list[Subnet]:
    return list((await s.scalars(select(Subnet).join(
        IPAllocation, IPAllocation.subnet_id == Subnet.id).join(
        NetworkPort, NetworkPort.id == IPAllocation.port_id).where(
        NetworkPort.device_owner == INTERFACE_OWNER, NetworkPort.device_id == router_id)
        .order_by(Subnet.created_at, Subnet.id))).unique().all())


def _overlap_check(new: list[Subnet], present: list[Subnet]) -> None:
    """Neutron's: no two subnets of one router may overlap (the router could not route)."""
    for sub in new:
        net = ipaddress.ip_network(sub.cidr, strict=False)
        if any(old.id == sub.id for old in present):
            raise BadRequest("router", f"Router already has a port on subnet {sub.id}")
        for old in present:
            if old.id != sub.id and net.overlaps(ipaddress.ip_network(old.cidr, strict=False)):
                raise BadRequest("router", f"Cidr {sub.cidr} of subnet {sub.id} overlaps with "
                                           f"cidr {old.cidr} of subnet {old.id}")
        present = [*present, sub]


def _has_ipv6(port: NetworkPort) -> bool:
    return any(ipaddress.ip_address(a.ip_address).version == 6 for a in port.allocations)


def _ipv6_leg(legs: list[NetworkPort], network_id: str) -> NetworkPort | None:
    """The router's interface on ``network_id`` holding IPv6 addresses: as in Neutron,
    every IPv6 subnet of one network shares that one port (one qr leg, one RA)."""
    return next((p for p in legs if p.network_id == network_id and _has_ipv6(p)), None)


# --- the gateway -----------------------------------------------------------------------
async def _fips_on(s: AsyncSession, router_id: str) -> bool:
    return await s.scalar(select(FloatingIP.id).where(FloatingIP.router_id == router_id)
                          .limit(1)) is not None


async def _set_gateway(s: AsyncSession, ctx: RequestContext, router: Router,
                       info: dict[str, Any] | None, action: str) -> None:
    """Make the router's gateway what ``info`` says (None: no gateway)."""
    current = await view(s, router)
    t = target(router)
    if info is not None and "network_id" not in info:
        raise invalid_attr("external_gateway_info", "Validation of dictionary's keys failed. "
                           "Expected keys: {'network_id'}")
    if info is not None:
        policy.authorize(ctx, f"network:{action}_router:external_gateway_info", t)
        network_id = str(info["network_id"])
        policy.authorize(ctx, f"network:{action}_router:external_gateway_info:network_id", t)
        snat = attrs.boolean(info, "enable_snat", True)
        if "enable_snat" in info and (snat != router.enable_snat or current.gateway_network_id
                                      is None):
            policy.authorize(ctx, f"network:{action}_router:external_gateway_info:enable_snat",
                             t)
        requests = addresses.parse(info["external_fixed_ips"]) \
            if info.get("external_fixed_ips") else None
        if requests is not None:
            policy.authorize(
                ctx, f"network:{action}_router:external_gateway_info:external_fixed_ips", t)
    if (info is None or current.gateway_network_id != info["network_id"]) and \
            current.gateway_network_id is not None and await _fips_on(s, router.id):
        raise RouterExternalGatewayInUseByFloatingIp(router.id, current.gateway_network_id)
    if info is None:
        if router.gw_port_id:
            port_id, router.gw_port_id = router.gw_port_id, None
            await s.flush()
            await drop_port(s, port_id)
        return
    network = await networks.fetch(s, ctx, network_id, for_update=True)
    if not network.router_external:
        raise BadRequest("router", f"Network {network_id} is not an external network")
    router.enable_snat = snat
    if current.gateway_network_id == network.id and requests is None:
        return  # same network: the port and its addresses stay
    if current.gateway_network_id == network.id and router.gw_port_id and requests is not None:
        current_ips = list(current.gateway_ips)
        wanted = await addresses.resolve(
            s, network, router.gw_port_id, "", addresses.keep_existing(requests, current_ips))
        await addresses.replace(s, network, router.gw_port_id, wanted)
        return
    if router.gw_port_id:
        old, router.gw_port_id = router.gw_port_id, None
        await s.flush()
        await drop_port(s, old)
    port = await new_port(s, network, "", GATEWAY_OWNER, router.id, requests)
    router.gw_port_id = port.id


# --- create / update / delete -------------------------------------------------------------
async def create(rt: Runtime, ctx: RequestContext, data: dict[str, Any]) -> RouterView:
    """A router from a declared body (schemas.CREATE_ROUTER's ``router``)."""
    project = attrs.owner(ctx, data)
    policy.authorize(ctx, "network:create_router", {"project_id": project})

    async def work(s: AsyncSession) -> str:
        await quotas.check(s, project, "router")
        router = Router(project_id=project, name=attrs.string(data, "name"),
                        description=attrs.string(data, "description"),
                        admin_state_up=attrs.boolean(data, "admin_state_up", True),
                        status="ACTIVE", enable_snat=True, revision_number=0)
        s.add(router)
        await s.flush()
        if data.get("external_gateway_info"):
            await _set_gateway(s, ctx, router, data["external_gateway_info"], "create")
        return router.id

    router_id = await _retrying(rt.db, work)
    wakeup.wake()
    return await get(rt, ctx, router_id)


async def update(rt: Runtime, ctx: RequestContext, router_id: str,
                 data: dict[str, Any]) -> RouterView:
    async def work(s: AsyncSession) -> None:
        router = await fetch(s, ctx, router_id, for_update=True)
        policy.authorize(ctx, "network:update_router", target(router))
        for key in ("name", "description"):
            if key in data:
                setattr(router, key, attrs.string(data, key))
        if "admin_state_up" in data:
            router.admin_state_up = attrs.boolean(data, "admin_state_up", True)
        if "external_gateway_info" in data:
            info = data["external_gateway_info"] or None
            await _set_gateway(s, ctx, router, info, "update")
        router.revision_number += 1

    await _retrying(rt.db, work)
    wakeup.wake()
    return await get(rt, ctx, router_id)


async def remove(rt: Runtime, ctx: RequestContext, router_id: str) -> None:
    async with rt.db.session() as s:
        router = await fetch(s, ctx, router_id, for_update=True)
        policy.authorize(ctx, "network:delete_router", target(router))
        if await interface_ports(s, router.id):
            raise RouterInUse(router.id)
        if await _fips_on(s, router.id):
            raise RouterInUse(router.id, "is still in use by floating IPs")
        if router.gw_port_id:
            port_id, router.gw_port_id = router.gw_port_id, None
            await s.flush()
            await drop_port(s, port_id)
        await s.execute(delete(Router).where(Router.id == router.id))
    wakeup.wake()


async def create_many(rt: Runtime, ctx: RequestContext, items: list[dict[str, Any]]
                      ) -> list[RouterView]:
    return await create_all(lambda data: create(rt, ctx, data),
                            lambda r: remove(rt, service_context(ctx.request_id), r.id), items)


# --- interfaces ----------------------------------------------------------------------------
def _interface_request(body: dict[str, Any]) -> tuple[str | None, str | None]:
    subnet_id, port_id = body.get("subnet_id"), body.get("port_id")
    if subnet_id and port_id:
        raise BadRequest("router", "Cannot specify both subnet-id and port-id")
    if not subnet_id and not port_id:
        raise BadRequest("router", "Either subnet_id or port_id must be specified")
    return (attrs.uuid_str(subnet_id, "subnet_id") if subnet_id else None,
            attrs.uuid_str(port_id, "port_id") if port_id else None)


async def add_interface(rt: Runtime, ctx: RequestContext, router_id: str,
                        body: dict[str, Any]) -> InterfaceInfo:
    """PUT /routers/{id}/add_router_interface with ``subnet_id`` or ``port_id``."""
    subnet_id, port_id = _interface_request(body)

    async def work(s: AsyncSession) -> InterfaceInfo:
        router = await fetch(s, ctx, router_id, for_update=True)
        policy.authorize(ctx, "network:add_router_interface", target(router))
        present = await interface_subnets(s, router.id)
        if subnet_id is not None:
            subnet = await network_subnets.fetch(s, ctx, subnet_id)
            if not subnet.gateway_ip:
                raise BadRequest("router", "Subnet for router interface must have a gateway "
                                           "IP")
            if subnet.ip_version == 6 and subnet.ipv6_ra_mode is None and \
                    subnet.ipv6_address_mode is not None:
                raise BadRequest("router", f"IPv6 subnet {subnet.id} configured to receive "
                                           "RAs from an external router cannot be added to "
                                           "Neutron Router.")
            _overlap_check([subnet], present)
            network = await networks.fetch(s, service_context(ctx.request_id),
                                           subnet.network_id, for_update=True)
            gateway = addresses.Request(subnet.id, subnet.gateway_ip)
            shared = _ipv6_leg(await interface_ports(s, router.id), network.id) \
                if subnet.ip_version == 6 else None
            if shared is not None:  # Neutron's multi-prefix port: one leg per network
                held = [(a.subnet_id, a.ip_address) for a in shared.allocations]
                wanted = await addresses.resolve(s, network, shared.id, shared.mac_address,
                                                 [gateway], gateway_ok=True)
                await addresses.replace(s, network, shared.id, [*held, *wanted])
                shared.revision_number += 1
                port = shared
            else:
                port = await new_port(s, network, router.project_id, INTERFACE_OWNER,
                                      router.id, [gateway], gateway_ok=True)
            subnets = [subnet.id]
        else:
            assert port_id is not None
            port = await network_ports.fetch(s, ctx, port_id)
            if port.device_id or port.device_owner:
                raise PortInUse(port.network_id, port.id, port.device_id or port.device_owner)
            if not port.allocations:
                raise BadRequest("router", "Router port must have at least one fixed IP")
            if _has_ipv6(port):
                other = _ipv6_leg(await interface_ports(s, router.id), port.network_id)
                if other is not None:
                    raise BadRequest("router", "Cannot have multiple router ports with the "
                                               "same network id if both contain IPv6 subnets. "
                                               f"Existing port {other.id} has IPv6 subnet(s) "
                                               f"and network id {other.network_id}")
            mine = list((await s.scalars(select(Subnet).where(
                Subnet.id.in_([a.subnet_id for a in port.allocations])))).all())
            _overlap_check(mine, present)
            if sum(1 for sn in mine if sn.ip_version == 4) > 1:
                raise BadRequest("router", "Cannot have multiple IPv4 subnets on router port")
            port.device_owner, port.device_id = INTERFACE_OWNER, router.id
            port.status = "ACTIVE"
            port.revision_number += 1
            subnets = [a.subnet_id for a in port.allocations]
        router.revision_number += 1
        return InterfaceInfo(router, port.id, port.network_id, subnets)

    info = await _retrying(rt.db, work)
    wakeup.wake()
    return info


async def remove_interface(rt: Runtime, ctx: RequestContext, router_id: str,
                           body: dict[str, Any]) -> InterfaceInfo:
    """PUT /routers/{id}/remove_router_interface: the interface's port is deleted."""
    subnet_id, port_id = _interface_request(body)
    async with rt.db.session() as s:
        router = await fetch(s, ctx, router_id, for_update=True)
        policy.authorize(ctx, "network:remove_router_interface", target(router))
        legs = await interface_ports(s, router.id)
        if port_id is not None:
            found = [p for p in legs if p.id == port_id]
            if not found:
                raise RouterInterfaceNotFound(router.id, port_id)
            if subnet_id is not None and all(a.subnet_id != subnet_id
                                             for a in found[0].allocations):
                raise RouterInterfaceNotFoundForSubnet(router.id, subnet_id)
        else:
            found = [p for p in legs if any(a.subnet_id == subnet_id for a in p.allocations)]
            if not found:
                raise RouterInterfaceNotFoundForSubnet(router.id, str(subnet_id))
        port = found[0]
        # By subnet, a port holding several prefixes loses only that one (Neutron's).
        partial = port_id is None and len(port.allocations) > 1
        subnets = [str(subnet_id)] if partial else [a.subnet_id for a in port.allocations]
        cidrs = [ipaddress.ip_network(c) for c in (await s.scalars(
            select(Subnet.cidr).where(Subnet.id.in_(subnets)))).all()]
        for fixed in (await s.scalars(select(FloatingIP.fixed_ip_address).where(
                FloatingIP.router_id == router.id))).all():
            if fixed and any(ipaddress.ip_address(fixed) in c for c in cidrs):
                raise RouterInterfaceInUseByFloatingIP(subnets[0], router.id)
        if partial:
            await s.execute(delete(IPAllocation).where(IPAllocation.port_id == port.id,
                                                       IPAllocation.subnet_id == subnet_id))
            port.revision_number += 1
        else:
            await drop_port(s, port.id)
        router.revision_number += 1
        info = InterfaceInfo(router, port.id, port.network_id, subnets)
    wakeup.wake()
    return info
