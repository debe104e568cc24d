"""A tenant network's dnsmasq configuration: static ranges, routers, host entries."""

from __future__ import annotations

from pathlib import Path

import pytest

from barecloud.db.network_models import Subnet
from barecloud.services.network import vifs
from barecloud.services.network.dhcp import (
    NetworkSpec,
    SubnetSpec,
    config,
    hosts_file,
    ipv6_range_mode,
)

SPEC = NetworkSpec(
    network_id="0b3c6a5e-1111-4222-8333-444455556666",
    port_id="9f8e7d6c-aaaa-4bbb-8ccc-ddddeeeeffff", mac="fa:16:3e:00:00:01",
    addresses=("10.0.0.2/24",),
    subnets=(SubnetSpec("s4", "10.0.0.0/24", "10.0.0.1", ("9.9.9.9", "1.1.1.1")),
             SubnetSpec("s4b", "10.1.0.0/25", None),
             SubnetSpec("s6", "fd00::/64", "fd00::1")),
    hosts=(("52:54:00:00:00:01", "10.0.0.5", "host-10-0-0-5"),
           ("52:54:00:00:00:01", "fd00::5", "host-fd00--5")),
    mtu=1450)


def test_names_fit_interfaces_and_namespaces() -> None:
    assert SPEC.ifname == "ns-9f8e7d6c-aa" and len(SPEC.ifname) <= 15
    assert SPEC.netns == "qdhcp-0b3c6a5e-1111-4222-8333-444455556666"


def test_config_answers_known_hosts_only_with_their_subnet_options(tmp_path: Path) -> None:
    lines = config(SPEC, tmp_path).splitlines()
    assert f"interface={SPEC.ifname}" in lines and "bind-interfaces" in lines
    # Static ranges: only MACs with a host entry get an address.
    assert "dhcp-range=set:subnet0,10.0.0.0,static,255.255.255.0,86400s" in lines
    assert "dhcp-range=set:subnet1,10.1.0.0,static,255.255.255.128,86400s" in lines
    # An IPv6 subnet with no mode: DHCPv6 from the pool, no advertisement (Neutron's)
    assert "dhcp-range=set:subnet2,fd00::,static,64,86400s" in lines
    assert "enable-ra" not in lines and not any(line.startswith("ra-param") for line in lines)
    assert "dhcp-option=tag:subnet0,option:router,10.0.0.1" in lines
    assert "dhcp-option=tag:subnet1,option:router" in lines  # no gateway: no route
    assert "dhcp-option=tag:subnet0,option:dns-server,9.9.9.9,1.1.1.1" in lines
    assert "dhcp-option-force=option:mtu,1450" in lines
    assert f"dhcp-hostsfile={tmp_path / 'host'}" in lines
    assert "port=0" in lines  # no DNS server


def test_hosts_file_has_a_macs_addresses_on_one_line() -> None:
    assert hosts_file(SPEC) == "52:54:00:00:00:01,10.0.0.5,[fd00::5],host-10-0-0-5\n"


def _v6(ra: str | None, address: str | None) -> NetworkSpec:
    return NetworkSpec(
        network_id=SPEC.network_id, port_id=SPEC.port_id, mac=SPEC.mac,
        addresses=("10.0.0.2/24", "2001:db8:1::f816:3eff:fe00:1/64"),
        subnets=(SubnetSpec("s4", "10.0.0.0/24", "10.0.0.1"),
                 SubnetSpec("s6", "2001:db8:1::/64", "2001:db8:1::1", ("2001:db8::53",),
                            ra, address)),
        hosts=(("52:54:00:00:00:07", "10.0.0.7", "host-10-0-0-7"),
               ("52:54:00:00:00:07", "2001:db8:1::7", "host-2001-db8-1--7"),
               ("52:54:00:00:00:08", "2001:db8:1::8", "host-2001-db8-1--8")),
        mtu=1450)


@pytest.mark.parametrize(("ra", "address", "mode", "enable_ra", "advertised"), [
    ("slaac", "slaac", "ra-only", False, True),  # A flag, no DHCPv6
    ("dhcpv6-stateless", "dhcpv6-stateless", "ra-stateless", False, True),  # A and O
    ("dhcpv6-stateful", "dhcpv6-stateful", "static", True, True),  # M and O
    ("slaac", None, "ra-only", False, True),
    ("dhcpv6-stateful", None, "static", True, True),
    (None, "dhcpv6-stateful", "static", False, False),  # an outside router advertises
    (None, "dhcpv6-stateless", "static", False, False),
    (None, "slaac", None, False, False),  # nothing for dnsmasq to do
])
def test_ipv6_modes_make_the_right_ranges_and_advertisements(
        tmp_path: Path, ra: str | None, address: str | None, mode: str | None,
        enable_ra: bool, advertised: bool) -> None:
    spec = _v6(ra, address)
    lines = config(spec, tmp_path).splitlines()
    ranges = [line for line in lines if line.startswith("dhcp-range=set:subnet1,")]
    if mode is None:
        assert ranges == []
    else:
        assert ranges == [f"dhcp-range=set:subnet1,2001:db8:1::,{mode},64,86400s"]
        assert "dhcp-option=tag:subnet1,option6:dns-server,[2001:db8::53]" in lines
    assert ("enable-ra" in lines) is enable_ra
    # Advertised as on-link, never as a default router (lifetime 0): routing is
    # the subnet's router's, which advertises itself.
    assert (f"ra-param={spec.ifname},mtu:1450,10,0" in lines) is advertised
    assert "dhcp-range=set:subnet0,10.0.0.0,static,255.255.255.0,86400s" in lines


def test_only_dhcpv6_stateful_addresses_are_host_entries() -> None:
    stateful = hosts_file(_v6("dhcpv6-stateful", "dhcpv6-stateful"))
    assert stateful == ("52:54:00:00:00:07,10.0.0.7,[2001:db8:1::7],host-10-0-0-7\n"
                        "52:54:00:00:00:08,[2001:db8:1::8],host-2001-db8-1--8\n")
    for mode in ("slaac", "dhcpv6-stateless"):  # the host makes its EUI-64 address
        assert hosts_file(_v6(mode, mode)) == "52:54:00:00:00:07,10.0.0.7,host-10-0-0-7\n"


def test_ipv6_range_mode_of_each_combination() -> None:
    assert ipv6_range_mode(SubnetSpec("s", "fd00::/64", None)) == "static"
    assert ipv6_range_mode(SubnetSpec("s", "fd00::/64", None, (), "slaac", "slaac")) == \
        "ra-only"


@pytest.mark.parametrize(("version", "mode", "kind"), [
    (4, None, "ipv4"), (6, None, "ipv6"), (6, "slaac", "ipv6_slaac"),
    (6, "dhcpv6-stateless", "ipv6_dhcpv6-stateless"),
    (6, "dhcpv6-stateful", "ipv6_dhcpv6-stateful")])
def test_network_data_types_as_nova_writes_them(version: int, mode: str | None,
                                                kind: str) -> None:
    sub = Subnet(ip_version=version, ipv6_address_mode=mode, ipv6_ra_mode=mode)
    assert vifs.network_type(sub) == kind
