"""Subnets: IPv4 and IPv6 ranges of a network, with their gateway, pools, DNS and routes.

Only the network's owner (or an admin) adds subnets to it; everyone who
sees a network sees its subnets.  A subnet creation or deletion locks its
network row, as a port allocation does, so an address is never handed out
from a subnet being deleted.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.network_models import IPAllocation, Network, NetworkPort, Subnet
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.network import addresses, attrs, ipam, networks, quotas
from barecloud.services.network.common import (
    ListQuery,
    Page,
    bool_filter,
    column_filter,
    create_all,
    fetch_visible,
    int_filter,
    page,
    updated,
    visible_network_ids,
    visible_rows,
)
from barecloud.services.network.errors import (
    BadRequest,
    DNSNameServersExhausted,
    HostRoutesExhausted,
    InvalidInput,
    SubnetInUse,
    SubnetNotFound,
    invalid_attr,
)
from barecloud.services.tenancy import project_of, service_context

MAX_DNS = 5
ROUTER_INTERFACE_OWNER = "network:router_interface"  # routers.INTERFACE_OWNER
MAX_ROUTES = 20

FILTERS = {
    "id": column_filter(Subnet.id), "name": column_filter(Subnet.name),
    "description": column_filter(Subnet.description),
    "network_id": column_filter(Subnet.network_id),
    "project_id": column_filter(Subnet.project_id),
    "ip_version": int_filter(Subnet.ip_version, "ip_version"),
    "cidr": column_filter(Subnet.cidr), "gateway_ip": column_filter(Subnet.gateway_ip),
    "enable_dhcp": bool_filter(Subnet.enable_dhcp),
    "router:external": bool_filter(Subnet.router_external),
    "ipv6_ra_mode": column_filter(Subnet.ipv6_ra_mode),
    "ipv6_address_mode": column_filter(Subnet.ipv6_address_mode),
}
SORTS = {"id": Subnet.id, "name": Subnet.name, "cidr": Subnet.cidr,
         "ip_version": Subnet.ip_version, "network_id": Subnet.network_id,
         "project_id": Subnet.project_id, "tenant_id": Subnet.project_id,
         "enable_dhcp": Subnet.enable_dhcp, "created_at": Subnet.created_at,
         "updated_at": updated(Subnet.updated_at, Subnet.created_at)}


def _visible(ctx: RequestContext) -> Any:
    ids = visible_network_ids(ctx)
    if ids is None:
        return None
    return or_(Subnet.network_id.in_(ids), Subnet.project_id == project_of(ctx))


def target(subnet: Subnet | None, network: Network) -> dict[str, Any]:
    return {"project_id": subnet.project_id if subnet else network.project_id,
            "network.project_id": network.project_id}


async def fetch(s: AsyncSession, ctx: RequestContext, subnet_id: str) -> Subnet:
    return await fetch_visible(s, Subnet, subnet_id, _visible(ctx), SubnetNotFound)


async def get(rt: Runtime, ctx: RequestContext, subnet_id: str) -> Subnet:
    policy.authorize(ctx, "network:get_subnet")
    async with rt.db.session() as s:
        return await fetch(s, ctx, subnet_id)


async def list_subnets(rt: Runtime, ctx: RequestContext, query: ListQuery) -> Page:
    policy.authorize(ctx, "network:get_subnet")
    q = visible_rows(Subnet, _visible(ctx))
    async with rt.db.session() as s:
        return await page(s, q, Subnet, query, FILTERS, SORTS, rt.settings.api_max_limit,
                          SubnetNotFound)


# --- validation ----------------------------------------------------------------
def _gateway(data: dict[str, Any], net: ipam.IPNetwork) -> ipam.IPAddress | None:
    value = data["gateway_ip"]
    if value is None:
        return None
    gateway = attrs.ip_address(value, "gateway_ip")
    ipam.check_gateway(net, gateway)
    return gateway


def _nameservers(data: dict[str, Any], cidr: str) -> list[str]:
    value = data.get("dns_nameservers") or []
    seen: list[str] = []
    for ns in value:
        text = str(attrs.ip_address(ns, "dns_nameservers"))
        if text in seen:
            raise invalid_attr("dns_nameservers", f"Duplicate nameserver '{ns}'")
        seen.append(text)
    if len(seen) > MAX_DNS:
        raise DNSNameServersExhausted(cidr, MAX_DNS)
    return seen


def _routes(data: dict[str, Any], cidr: str, version: int) -> list[dict[str, str]]:
    value = data.get("host_routes") or []
    routes: list[dict[str, str]] = []
    for route in value:
        try:
            dest = ipaddress.ip_network(str(route["destination"]))
        except ValueError:
            raise invalid_attr("host_routes", f"'{route['destination']}' is not a valid "
                                              "IP subnet") from None
        hop = attrs.ip_address(route["nexthop"], "host_routes")
        if dest.version != version or hop.version != version:
            raise InvalidInput(f"Host route {route} does not match ip_version {version}")
        clean = {"destination": str(dest), "nexthop": str(hop)}
        if clean in routes:
            raise invalid_attr("host_routes", f"Duplicate hostroute '{route}'")
        routes.append(clean)
    if len(routes) > MAX_ROUTES:
        raise HostRoutesExhausted(cidr, MAX_ROUTES)
    return routes


def _ipv6_modes(data: dict[str, Any], version: int, net: ipam.IPNetwork,
                dhcp: bool) -> tuple[str | None, str | None]:
    ra, addr = data.get("ipv6_ra_mode"), data.get("ipv6_address_mode")
    if ra is None and addr is None:
        return None, None
    if version == 4:
        raise InvalidInput("ipv6_ra_mode or ipv6_address_mode cannot be set when ip_version "
                           "is 4")
    if not dhcp:
        raise InvalidInput("ipv6_ra_mode or ipv6_address_mode cannot be set when enable_dhcp "
                           "is set to False")
    if ra is not None and addr is not None and ra != addr:
        raise InvalidInput(f"ipv6_ra_mode set to '{ra}' with ipv6_address_mode set to "
                           f"'{addr}' is not valid. If both attributes are set, they must "
                           "be the same value")
    if ipam.is_auto_address(addr, ra) and net.prefixlen != 64:
        raise InvalidInput(f"Invalid CIDR {net} for IPv6 address mode. OpenStack uses the "
                           "EUI-64 address format, which requires the prefix to be /64")
    return ra, addr


def _create_values(data: dict[str, Any]) -> dict[str, Any]:
    """The row's values from a declared body (schemas.CREATE_SUBNET's ``subnet``)."""
    network_id = str(data["network_id"])
    version = int(data["ip_version"])
    if data.get("subnetpool_id") is not None or attrs.boolean(
            data, "use_default_subnetpool", False):
        raise BadRequest("subnet", "subnet pools are not supported; give a cidr")
    if data.get("cidr") is None:
        raise BadRequest("subnet", "a subnetpool must be specified in the absence of a cidr")
    for key in ("service_types",):
        if data.get(key):
            raise InvalidInput(f"{key} is not supported")
    if data.get("segment_id") is not None:
        raise InvalidInput("segment_id is not supported: a network has one segment")
    net = ipam.parse_cidr(data["cidr"])
    ipam.check_cidr(net, version)
    dhcp = attrs.boolean(data, "enable_dhcp", True)
    ra, addr = _ipv6_modes(data, version, net, dhcp)
    if "gateway_ip" in data:
        gateway = _gateway(data, net)
    else:
        gateway = ipaddress.ip_address(int(net.network_address) + 1)
    if data.get("allocation_pools") is None:
        pools = ipam.default_pools(net, gateway)
    else:
        pools = ipam.check_pools(net, data["allocation_pools"], gateway)
    return dict(
        network_id=network_id, ip_version=version, cidr=str(net),
        gateway_ip=str(gateway) if gateway is not None else None, enable_dhcp=dhcp,
        dns_nameservers=_nameservers(data, str(net)), allocation_pools=pools,
        host_routes=_routes(data, str(net), version), ipv6_ra_mode=ra,
        ipv6_address_mode=addr, name=attrs.string(data, "name"),
        description=attrs.string(data, "description"), revision_number=0)


async def create(rt: Runtime, ctx: RequestContext, data: dict[str, Any]) -> Subnet:
    values = _create_values(data)
    project = attrs.owner(ctx, data)
    policy.authorize(ctx, "network:get_network")
    async with rt.db.session() as s:
        network = await networks.fetch(s, ctx, values["network_id"], for_update=True)
        policy.authorize(ctx, "network:create_subnet",
                         {"project_id": project, "network.project_id": network.project_id})
        net = ipaddress.ip_network(values["cidr"])
        for other in await s.scalars(select(Subnet.cidr).where(
                Subnet.network_id == network.id)):
            if ipaddress.ip_network(other).overlaps(net):
                raise InvalidInput(f"Requested subnet with cidr: {net} for network: "
                                   f"{network.id} overlaps with another subnet")
        await quotas.check(s, project, "subnet")
        subnet = Subnet(**values, project_id=project)
        subnet.router_external = network.router_external
        s.add(subnet)
        network.revision_number += 1
    return subnet


async def update(rt: Runtime, ctx: RequestContext, subnet_id: str,
                 data: dict[str, Any]) -> Subnet:
    """Apply a declared body (schemas.UPDATE_SUBNET's ``subnet``)."""
    policy.authorize(ctx, "network:get_subnet")
    async with rt.db.session() as s:
        subnet = await fetch(s, ctx, subnet_id)
        network = await networks.fetch(s, ctx, subnet.network_id, for_update=True)
        policy.authorize(ctx, "network:update_subnet", target(subnet, network))
        net = ipaddress.ip_network(subnet.cidr)
        gateway = ipaddress.ip_address(subnet.gateway_ip) if subnet.gateway_ip else None
        if "gateway_ip" in data:
            gateway = _gateway(data, net)
        pools = subnet.allocation_pools
        if "allocation_pools" in data:
            pools = ipam.default_pools(net, gateway) if data["allocation_pools"] is None \
                else ipam.check_pools(net, data["allocation_pools"], gateway)
        elif "gateway_ip" in data:
            pools = ipam.check_pools(net, pools, gateway)
        if "enable_dhcp" in data:
            dhcp = attrs.boolean(data, "enable_dhcp", True)
            if not dhcp and (subnet.ipv6_ra_mode or subnet.ipv6_address_mode):
                raise InvalidInput("Cannot disable enable_dhcp with ipv6 attributes set")
            subnet.enable_dhcp = dhcp
        if "dns_nameservers" in data:
            subnet.dns_nameservers = _nameservers(data, subnet.cidr)
        if "host_routes" in data:
            subnet.host_routes = _routes(data, subnet.cidr, subnet.ip_version)
        if "name" in data:
            subnet.name = attrs.string(data, "name")
        if "description" in data:
            subnet.description = attrs.string(data, "description")
        subnet.gateway_ip = str(gateway) if gateway is not None else None
        subnet.allocation_pools = pools
        subnet.revision_number += 1
    return subnet


async def _removable(s: AsyncSession, subnet: Subnet) -> None:
    """Refuse (SubnetInUse) what Neutron's delete_subnet refuses: on an auto-address
    subnet (SLAAC, DHCPv6-stateless: ports make their own addresses, which go with
    it) a router interface's address; on another, any port's but DHCP's."""
    keep = [ROUTER_INTERFACE_OWNER] if addresses.auto_address(subnet) else None
    q = select(IPAllocation.ip_address).join(
        NetworkPort, NetworkPort.id == IPAllocation.port_id).where(
        IPAllocation.subnet_id == subnet.id)
    q = q.where(NetworkPort.device_owner.in_(keep)) if keep is not None else \
        q.where(NetworkPort.device_owner != networks.DHCP_OWNER)
    if await s.scalar(q.limit(1)) is not None:
        raise SubnetInUse(subnet.id)


async def remove(rt: Runtime, ctx: RequestContext, subnet_id: str) -> None:
    """Delete a subnet and the addresses on it that may go with it (DHCP ports'; every
    port's on a SLAAC or DHCPv6-stateless subnet, as Neutron: the ports stay)."""
    policy.authorize(ctx, "network:get_subnet")
    async with rt.db.session() as s:
        subnet = await fetch(s, ctx, subnet_id)
        network = await networks.fetch(s, ctx, subnet.network_id, for_update=True)
        policy.authorize(ctx, "network:delete_subnet", target(subnet, network))
        await _removable(s, subnet)
        holders = list(await s.scalars(select(NetworkPort).where(NetworkPort.id.in_(
            select(IPAllocation.port_id).where(IPAllocation.subnet_id == subnet.id)))))
        for port in holders:
            port.revision_number += 1
        await s.execute(delete(IPAllocation).where(IPAllocation.subnet_id == subnet.id))
        await s.execute(delete(Subnet).where(Subnet.id == subnet.id))
        network.revision_number += 1


async def create_many(rt: Runtime, ctx: RequestContext, items: list[dict[str, Any]]
                      ) -> list[Subnet]:
    return await create_all(lambda data: create(rt, ctx, data),
                            lambda n: remove(rt, service_context(ctx.request_id), n.id), items)
