"""A tenant network's dnsmasq configuration: static ranges, routers, host entries."""

from __future__ import annotations

from pathlib import Path

from barecloud.services.network.dhcp import NetworkSpec, SubnetSpec, config, hosts_file

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
    assert not any("fd00" in line for line in lines)  # DHCPv4 only
    assert "dhcp-option=tag:subnet0,option:router,10.0.0.1" in lines
    assert "dhcp-option=tag:subnet1,option:router" in lines  # no gateway: no route
    assert "dhcp-option=tag:subnet0,option:dns-server,9.9.9.9,1.1.1.1" in lines
    assert "dhcp-option-force=option:mtu,1450" in lines
    assert f"dhcp-hostsfile={tmp_path / 'host'}" in lines
    assert "port=0" in lines  # no DNS server


def test_hosts_file_has_the_ipv4_entries() -> None:
    assert hosts_file(SPEC) == "52:54:00:00:00:01,10.0.0.5,host-10-0-0-5\n"
