"""IP address management as pure functions: CIDRs, gateways, pools, the next free address.

Pools are inclusive ranges ``{"start", "end"}``.  IPv4 keeps the network
and broadcast addresses out of every pool; IPv6 keeps the subnet-router
anycast address (the first one) out.  SLAAC and DHCPv6-stateless subnets
give a port its EUI-64 address, computed from its MAC, as Neutron does.
"""

from __future__ import annotations

import ipaddress
import itertools
from collections.abc import Iterable
from typing import Any

from barecloud.errors import prefix
from barecloud.services.network.errors import (
    GatewayConflictWithAllocationPools,
    InvalidAllocationPool,
    InvalidInput,
    OutOfBoundsAllocationPool,
    OverlappingAllocationPools,
    invalid_attr,
)

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPV6_MODES = ("slaac", "dhcpv6-stateful", "dhcpv6-stateless")
AUTO_ADDRESS = ("slaac", "dhcpv6-stateless")


def parse_cidr(value: Any) -> IPNetwork:
    if not isinstance(value, str):
        raise invalid_attr("cidr", f"'{prefix(value)}' is not a valid IP subnet")
    try:
        net = ipaddress.ip_network(value.strip(), strict=False)
    except ValueError:
        raise invalid_attr("cidr", f"'{prefix(value)}' is not a valid IP subnet") from None
    text = value.strip()
    try:
        ipaddress.ip_network(text)
        exact = "/" in text
    except ValueError:
        exact = False
    if not exact:
        raise invalid_attr("cidr", f"'{prefix(value)}' isn't a recognized IP subnet cidr, "
                                   f"'{net}' is recommended")
    return net


def usable(net: IPNetwork) -> tuple[int, int]:
    """First and last address (as integers) an allocation may hand out."""
    first = int(net.network_address) + 1
    last = int(net.broadcast_address) - (1 if net.version == 4 else 0)
    return first, last


def check_cidr(net: IPNetwork, ip_version: int) -> None:
    if net.version != ip_version:
        raise InvalidInput(f"Cidr {net} does not match ip_version {ip_version}")
    if net.prefixlen == 0:
        raise InvalidInput(f"{net} is not allowed")
    if (net.version == 4 and net.prefixlen > 30) or (net.version == 6 and net.prefixlen > 126):
        raise InvalidInput(f"Invalid CIDR {net} for IP version {net.version}")


def in_subnet(net: IPNetwork, ip: IPAddress) -> bool:
    first, last = usable(net)
    return ip.version == net.version and first <= int(ip) <= last


def check_gateway(net: IPNetwork, gateway: IPAddress) -> None:
    if not in_subnet(net, gateway):
        raise InvalidInput("Gateway is not valid on subnet")


def pool_text(start: str, end: str) -> str:
    return f"{start}-{end}"


def default_pools(net: IPNetwork, gateway: IPAddress | None) -> list[dict[str, str]]:
    """The whole usable range, minus the gateway."""
    first, last = usable(net)
    return _ranges(first, last, {int(gateway)} if gateway is not None else set(), net.version)


def _ranges(first: int, last: int, holes: set[int], version: int) -> list[dict[str, str]]:
    pools, start = [], first
    for hole in sorted(h for h in holes if first <= h <= last):
        if hole > start:
            pools.append((start, hole - 1))
        start = hole + 1
    if start <= last:
        pools.append((start, last))
    make = ipaddress.IPv4Address if version == 4 else ipaddress.IPv6Address
    return [{"start": str(make(a)), "end": str(make(b))} for a, b in pools]


def check_pools(net: IPNetwork, value: Any, gateway: IPAddress | None
                ) -> list[dict[str, str]]:
    """Given pools, validated and sorted; Neutron's 400/409 for each kind of mistake."""
    if not isinstance(value, list):
        raise invalid_attr("allocation_pools",
                           f"Invalid data format for IP pool: '{prefix(value)}'")
    parsed: list[tuple[int, int, str]] = []
    for pool in value:
        if not isinstance(pool, dict) or set(pool) != {"start", "end"}:
            raise invalid_attr("allocation_pools",
                               f"Invalid data format for IP pool: '{pool}'")
        try:
            start = ipaddress.ip_address(str(pool["start"]))
            end = ipaddress.ip_address(str(pool["end"]))
        except ValueError:
            raise InvalidAllocationPool(pool_text(str(pool["start"]), str(pool["end"]))) \
                from None
        text = pool_text(str(start), str(end))
        if start.version != net.version or end.version != net.version or int(start) > int(end):
            raise InvalidAllocationPool(text)
        if not (in_subnet(net, start) and in_subnet(net, end)):
            raise OutOfBoundsAllocationPool(text, str(net))
        parsed.append((int(start), int(end), text))
    parsed.sort()
    for (_, end_a, text_a), (start_b, _, text_b) in itertools.pairwise(parsed):
        if start_b <= end_a:
            raise OverlappingAllocationPools(text_a, text_b, str(net))
    if gateway is not None:
        for start_i, end_i, text in parsed:
            if start_i <= int(gateway) <= end_i:
                raise GatewayConflictWithAllocationPools(str(gateway), text)
    make = ipaddress.IPv4Address if net.version == 4 else ipaddress.IPv6Address
    return [{"start": str(make(a)), "end": str(make(b))} for a, b, _ in parsed]


def in_pools(pools: Iterable[dict[str, str]], ip: IPAddress) -> bool:
    return any(int(ipaddress.ip_address(p["start"])) <= int(ip) <=
               int(ipaddress.ip_address(p["end"])) for p in pools)


def first_free(pools: Iterable[dict[str, str]], taken: Iterable[str]) -> str | None:
    """The lowest address of the pools no one holds, or None when they are full."""
    used = {int(ipaddress.ip_address(ip)) for ip in taken}
    for pool in pools:
        start, end = ipaddress.ip_address(pool["start"]), ipaddress.ip_address(pool["end"])
        candidate = int(start)
        while candidate <= int(end):
            if candidate not in used:
                return str(ipaddress.ip_address(candidate))
            candidate += 1
    return None


def eui64(net: IPNetwork, mac: str) -> str:
    """The SLAAC address of ``mac`` on the /64 ``net`` (RFC 4291, appendix A)."""
    octets = [int(part, 16) for part in mac.split(":")]
    octets[0] ^= 0x02
    iid = bytes([*octets[:3], 255, 254, *octets[3:]])
    return str(ipaddress.IPv6Address(int(net.network_address) | int.from_bytes(iid, "big")))


def is_auto_address(ipv6_address_mode: str | None, ipv6_ra_mode: str | None) -> bool:
    return ipv6_address_mode in AUTO_ADDRESS or (
        ipv6_address_mode is None and ipv6_ra_mode in AUTO_ADDRESS)
