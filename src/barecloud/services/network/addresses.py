"""Which addresses a port gets: its ``fixed_ips`` request, resolved against the network.

Called with the network row locked (ports.py, binding.py), so the choice
of the lowest free address and its insert cannot interleave with another
request's on the same network; the (subnet, address) primary key would
refuse a duplicate anyway.

Without a request a port gets, as in Neutron, one IPv4 address (from the
first IPv4 subnet with a free one), its EUI-64 address on each SLAAC or
DHCPv6-stateless subnet, and one address from each DHCPv6-stateful one.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.network_models import IPAllocation, Network, Subnet
from barecloud.errors import prefix
from barecloud.services.network import attrs, ipam
from barecloud.services.network.errors import (
    InvalidInput,
    InvalidIpForNetwork,
    InvalidIpForSubnet,
    IpAddressAlreadyAllocated,
    IpAddressGenerationFailure,
    SubnetNotFound,
    invalid_attr,
)

MAX_FIXED_IPS = 5


@dataclass(frozen=True)
class Request:
    subnet_id: str | None
    ip_address: str | None


def parse(value: Any) -> list[Request]:
    """A ``fixed_ips`` list as given in a body, checked for form only."""
    if not isinstance(value, list):
        raise invalid_attr("fixed_ips", f"Invalid data format for fixed IP: '{prefix(value)}'")
    requests: list[Request] = []
    for item in value:
        if not isinstance(item, dict) or not item or \
                set(item) - {"subnet_id", "ip_address"}:
            raise invalid_attr("fixed_ips", f"Invalid data format for fixed IP: '{prefix(item)}'")
        subnet_id = item.get("subnet_id")
        if subnet_id is not None:
            subnet_id = attrs.uuid_str(subnet_id, "fixed_ips")
        ip = item.get("ip_address")
        if ip is not None:
            ip = str(attrs.ip_address(ip, "fixed_ips"))
            if any(r.ip_address == ip for r in requests):
                raise InvalidInput(f"Duplicate IP address '{ip}'")
        if subnet_id is None and ip is None:
            raise invalid_attr("fixed_ips", f"Invalid data format for fixed IP: '{prefix(item)}'")
        requests.append(Request(subnet_id, ip))
    if len(requests) > MAX_FIXED_IPS:
        raise InvalidInput("Exceeded maximum amount of fixed ips per port.")
    return requests


async def _taken(s: AsyncSession, subnet: Subnet, port_id: str) -> set[str]:
    rows = await s.scalars(select(IPAllocation.ip_address).where(
        IPAllocation.subnet_id == subnet.id, IPAllocation.port_id != port_id))
    taken = set(rows.all())
    if subnet.gateway_ip:
        taken.add(subnet.gateway_ip)
    return taken


async def _held(s: AsyncSession, subnet: Subnet, port_id: str | None = None) -> set[str]:
    """The subnet's allocated addresses (``port_id``'s only, if given)."""
    q = select(IPAllocation.ip_address).where(IPAllocation.subnet_id == subnet.id)
    if port_id is not None:
        q = q.where(IPAllocation.port_id == port_id)
    return set((await s.scalars(q)).all())


def auto_address(subnet: Subnet) -> bool:
    return subnet.ip_version == 6 and ipam.is_auto_address(subnet.ipv6_address_mode,
                                                           subnet.ipv6_ra_mode)


async def resolve(s: AsyncSession, network: Network, port_id: str, mac: str,
                  requests: list[Request] | None, gateway_ok: bool = False
                  ) -> list[tuple[str, str]]:
    """(subnet id, address) pairs for the port; Neutron's 400/404/409 otherwise.
    ``gateway_ok``: a router's interface, which may take its subnet's gateway IP (on a
    SLAAC subnet too, as Neutron's router interfaces do)."""
    subnets = list((await s.scalars(select(Subnet).where(Subnet.network_id == network.id)
                                    .order_by(Subnet.created_at, Subnet.id))).all())
    chosen: list[tuple[str, str]] = []

    async def pick(subnet: Subnet) -> str | None:
        if auto_address(subnet):
            return ipam.eui64(ipaddress.ip_network(subnet.cidr), mac)
        taken = await _taken(s, subnet, port_id) | {ip for sid, ip in chosen
                                                      if sid == subnet.id}
        return ipam.first_free(subnet.allocation_pools, taken)

    if requests is None:
        v4 = [sn for sn in subnets if sn.ip_version == 4 and sn.allocation_pools]
        for subnet in v4:
            ip = await pick(subnet)
            if ip is not None:
                chosen.append((subnet.id, ip))
                break
        else:
            if v4:
                raise IpAddressGenerationFailure(network.id)
        for subnet in (sn for sn in subnets if sn.ip_version == 6):
            if not auto_address(subnet) and not subnet.allocation_pools:
                continue
            ip = await pick(subnet)
            if ip is None:
                raise IpAddressGenerationFailure(network.id)
            chosen.append((subnet.id, ip))
        return chosen

    by_id = {sn.id: sn for sn in subnets}
    for request in requests:
        if request.subnet_id is not None:
            named = by_id.get(request.subnet_id)
            if named is None:
                if await s.scalar(select(Subnet.id).where(Subnet.id == request.subnet_id)):
                    raise InvalidInput(f"Failed to create port on network {network.id}, "
                                       f"because fixed_ips included invalid subnet "
                                       f"{request.subnet_id}")
                raise SubnetNotFound(request.subnet_id)
            subnet = named
        else:
            assert request.ip_address is not None
            address = ipaddress.ip_address(request.ip_address)
            found = [sn for sn in subnets
                     if ipam.in_subnet(ipaddress.ip_network(sn.cidr), address)]
            if not found:
                raise InvalidIpForNetwork(request.ip_address)
            subnet = found[0]
        if request.ip_address is None:
            ip = await pick(subnet)
            if ip is None:
                raise IpAddressGenerationFailure(network.id)
            chosen.append((subnet.id, ip))
            continue
        address = ipaddress.ip_address(request.ip_address)
        if not ipam.in_subnet(ipaddress.ip_network(subnet.cidr), address):
            raise InvalidIpForSubnet(request.ip_address)
        router_gateway = gateway_ok and str(address) == subnet.gateway_ip
        if auto_address(subnet) and not router_gateway and \
                str(address) != ipam.eui64(ipaddress.ip_network(subnet.cidr), mac):
            raise InvalidInput(f"IPv6 address {address} cannot be directly assigned to a "
                               f"port on subnet {subnet.id} with "
                               f"{subnet.ipv6_address_mode or subnet.ipv6_ra_mode} address "
                               "mode")
        taken = await _taken(s, subnet, port_id)
        if gateway_ok and subnet.gateway_ip and subnet.gateway_ip not in await _held(s, subnet):
            taken.discard(subnet.gateway_ip)
        if subnet.gateway_ip and subnet.gateway_ip in await _held(s, subnet, port_id):
            taken.discard(subnet.gateway_ip)  # a router interface keeps its gateway address
        if str(address) in taken or \
                (subnet.id, str(address)) in chosen:
            raise IpAddressAlreadyAllocated(str(address), subnet.id)
        chosen.append((subnet.id, str(address)))
    return chosen


async def replace(s: AsyncSession, network: Network, port_id: str,
                  wanted: list[tuple[str, str]]) -> None:
    """Make the port's allocations exactly ``wanted`` (kept ones are left alone)."""
    current = {(a.subnet_id, a.ip_address): a for a in await s.scalars(
        select(IPAllocation).where(IPAllocation.port_id == port_id))}
    for key, row in current.items():
        if key not in wanted:
            await s.delete(row)
    await s.flush()
    for subnet_id, ip in wanted:
        if (subnet_id, ip) not in current:
            s.add(IPAllocation(subnet_id=subnet_id, ip_address=ip, port_id=port_id,
                               network_id=network.id))
    await s.flush()


def keep_existing(requests: list[Request], current: list[tuple[str, str]]
                  ) -> list[Request]:
    """An update's ``{"subnet_id": S}`` keeps the address the port has on S."""
    out, claimed = [], {r.ip_address for r in requests if r.ip_address}
    for r in requests:
        if r.ip_address is None and r.subnet_id is not None:
            mine = [ip for sid, ip in current if sid == r.subnet_id and ip not in claimed]
            if mine:
                claimed.add(mine[0])
                out.append(Request(r.subnet_id, mine[0]))
                continue
        out.append(r)
    return out
