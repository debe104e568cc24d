"""IPv6 dual stack with real packets: two lab machines of a tenant ping each other over
IPv6, then reach the outside through a router, without NAT (``serve --lab 4
--netns``, the unmodified ``openstack`` CLI).

A tenant network with an IPv4 subnet and an IPv6 SLAAC subnet (RA mode and
address mode ``slaac``); two servers with ``--network``.  The network's
dnsmasq answers DHCPv4 and sends router advertisements; the kernel of each
machine's namespace takes its EUI-64 address from them, which must be the
address the machine's Neutron port holds; then ``ping -6`` both ways.

Then a router with its gateway on ``public`` (whose IPv6 subnet
2001:db8:ff::/64 has the lab's outside at ::1) and an interface on the IPv6
subnet: its advertisements make it the machines' default router; the
outside, given a static route to the tenant prefix via the router's gateway
address (as an upstream without BGP or prefix delegation needs), and the
machines reach each other both ways, each seeing the other's own address.

Then the same with a ``dhcpv6-stateful`` subnet on two other machines: the
advertisements carry the M flag, the lab OS's DHCPv6 client (lab/dhcp6.py)
asks dnsmasq, and each machine holds exactly its port's address (a /128,
the prefix on-link by the advertisement), and the subnet's DNS server.
"""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import support
from tests.acceptance.test_floating_ips import Servers, _ask, _until
from tests.acceptance.test_tenant_isolation import Cloud, _create, _lab_exec, _placements

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the netns lab needs root"),
]

V6 = "2001:db8:20::/64"
OUTSIDE6 = "2001:db8:ff::1"  # the lab's outside on public's IPv6 subnet


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Service]:
    service = support.start_service(tmp_path_factory.mktemp("ipv6") / "svc", lab=4,
                                    netns=True, auth="keystone", timeout=420)
    try:
        yield service
    finally:
        service.stop()


def _v6_addresses(svc: support.Service, machine: str, prefix: bool = False) -> list[str]:
    out = _lab_exec(svc, machine, "ip", "-j", "-6", "addr", "show", "dev", "eth0",
                    "scope", "global")
    return [a["local"] + (f"/{a['prefixlen']}" if prefix else "")
            for info in json.loads(out.stdout or "[]")
            for a in info.get("addr_info", [])
            if "local" in a and not a.get("tentative")]  # iproute2 6.1 leaves {} too


def _wait_v6(svc: support.Service, machine: str, want: str, timeout: float = 180,
             prefix: bool = False) -> list[str]:
    deadline, got = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        got = _v6_addresses(svc, machine, prefix)
        if want in got:
            return got
        time.sleep(1)
    console = (svc.data_dir / "lab" / "machines" / machine / "console.log").read_text(
        errors="replace")
    raise AssertionError(f"{machine}: eth0 has {got}, its Neutron port says {want}; "
                         f"its console ends:\n{console[-3000:]}")


def _eui64(mac: str, prefix: str) -> str:
    """The address a kernel forms from ``mac`` on ``prefix`` (SLAAC)."""
    octets = [int(x, 16) for x in mac.split(":")]
    iid = bytes([octets[0] ^ 2, *octets[1:3], 0xFF, 0xFE, *octets[3:]])
    return str(ipaddress.IPv6Network(prefix).network_address + int.from_bytes(iid, "big"))


def _ping_both_ways(svc: support.Service, v6: dict[str, str]) -> None:
    a, b = sorted(v6)
    for src, dst in ((a, b), (b, a)):
        ping = _lab_exec(svc, src, "ping", "-6", "-n", "-c", "2", "-i", "0.3", "-W", "2",
                         v6[dst])
        assert ping.returncode == 0, ping.stdout + ping.stderr


def _dual_stack_pair(svc: support.Service, tag: str, v4: str, v6: str, mode: str,
                     *v6_options: str) -> dict[str, tuple[str, str]]:
    """Network ``net-<tag>``: an IPv4 subnet and an IPv6 one with RA and address
    mode ``mode``, two servers on it; lab machine -> its port's (IPv6 address, MAC)."""
    cloud = Cloud(svc.clouds_yaml, "barecloud-admin")
    cloud("network", "create", f"net-{tag}")
    cloud("subnet", "create", "--network", f"net-{tag}", "--subnet-range", v4,
          "--gateway", "none", f"{tag}-v4")
    sub = cloud("subnet", "create", "--network", f"net-{tag}", "--ip-version", "6",
                "--subnet-range", v6, "--ipv6-ra-mode", mode, "--ipv6-address-mode", mode,
                *v6_options, f"{tag}-v6")
    assert (sub["ipv6_ra_mode"], sub["ipv6_address_mode"]) == (mode, mode)
    servers = _create(cloud, f"{tag}-", tag, count=2)
    assert all(s["Status"] == "ACTIVE" for s in servers), servers
    placed = _placements(svc)
    found: dict[str, tuple[str, str]] = {}
    for s in servers:
        ports = cloud("port", "list", "--server", s["ID"], "--long")
        ips = [f["ip_address"] for p in ports for f in p["Fixed IP Addresses"]]
        six = [ip for ip in ips if ":" in ip]
        assert len(six) == 1 and len(ips) == 2, ips
        found[placed[s["ID"]]] = (six[0], ports[0]["MAC Address"])
    return found


@pytest.fixture(scope="module")
def dual(svc: support.Service) -> dict[str, str]:
    """Two servers on a dual-stack SLAAC network: machine -> its port's IPv6 address."""
    pair = _dual_stack_pair(svc, "dual", "10.60.0.0/24", V6, "slaac")
    for six, mac in pair.values():
        assert six == _eui64(mac, V6), (six, mac)  # as the kernel forms it
    v6 = {machine: six for machine, (six, _mac) in pair.items()}
    for machine, ip in v6.items():
        _wait_v6(svc, machine, ip)
    return v6


def test_two_machines_ping_each_other_over_ipv6(svc: support.Service,
                                                dual: dict[str, str]) -> None:
    _ping_both_ways(svc, dual)
    a = sorted(dual)[0]
    console = (svc.data_dir / "lab" / "machines" / a / "console.log").read_text(
        errors="replace")
    assert f"cloud-init: eth0 inet6 {dual[a]}/64" in console


def _commands_in(netns: str) -> list[str]:
    pids = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True,
                          check=False).stdout.split()
    names = []
    for pid in pids:
        try:
            names.append(Path(f"/proc/{pid}/comm").read_text().strip())
        except OSError:
            continue
    return names


def _default_router(svc: support.Service, machine: str) -> list[dict[str, str]]:
    out = _lab_exec(svc, machine, "ip", "-j", "-6", "route", "show", "default")
    return list(json.loads(out.stdout or "[]"))


def test_machines_reach_the_outside_over_ipv6_through_a_router(
        svc: support.Service, dual: dict[str, str]) -> None:
    cloud = Cloud(svc.clouds_yaml, "barecloud-admin")
    own = machines = dual
    router = cloud("router", "create", "r-v6")
    cloud("router", "set", "--external-gateway", "public", "r-v6")
    cloud("router", "add", "subnet", "r-v6", "dual-v6")
    router = cloud("router", "show", "r-v6")
    fixed = router["external_gateway_info"]["external_fixed_ips"]
    assert [":" in f["ip_address"] for f in fixed] == [False, True], fixed
    gateway6 = fixed[1]["ip_address"]
    assert ipaddress.ip_address(gateway6) in ipaddress.ip_network("2001:db8:ff::/64")
    # The upstream's static route to the tenant prefix (no BGP, no prefix delegation).
    route = _lab_exec(svc, "outside", "ip", "-6", "route", "replace", V6, "via", gateway6)
    assert route.returncode == 0, route.stderr
    # As with Neutron: the project's default group admits only its members.
    cloud("security", "group", "rule", "create", "--ethertype", "IPv6", "--protocol",
          "ipv6-icmp", "default")
    cloud("security", "group", "rule", "create", "--ethertype", "IPv6", "--protocol", "tcp",
          "--dst-port", "8000", "default")

    # The router's advertisements make it each machine's default router (the
    # network's dnsmasq advertises with router lifetime 0: no default route before).
    for machine in machines:
        _until(lambda m=machine: bool(_default_router(svc, m)), 60)
        [default] = _default_router(svc, machine)
        assert default["gateway"].startswith("fe80:") and default.get("protocol") == "ra"
    servers = Servers(svc)
    try:
        servers.start("outside", 8080, "outside")
        for machine in machines:
            servers.start(machine, 8000, machine)
        for machine, address in own.items():
            # Out: the outside sees the machine's own global address (no NAT).
            _until(lambda m=machine: _ask(svc, m, OUTSIDE6, 8080) is not None,
                   30)
            assert _ask(svc, machine, OUTSIDE6, 8080) == f"outside {address}"
            ping = _lab_exec(svc, machine, "ping", "-6", "-n", "-c", "2", "-i", "0.3", "-W",
                             "2", OUTSIDE6)
            assert ping.returncode == 0, ping.stdout + ping.stderr
            # In: the outside reaches the machine at that address, and is seen as itself.
            assert _ask(svc, "outside", address, 8000) == f"{machine} {OUTSIDE6}"
            ping = _lab_exec(svc, "outside", "ping", "-6", "-n", "-c", "2", "-i", "0.3",
                             "-W", "2", address)
            assert ping.returncode == 0, ping.stdout + ping.stderr
        # Its namespace deleted behind barecloud's back: made again, radvd with it.
        ns = f"qrouter-{router['id']}"
        assert subprocess.run(["ip", "netns", "del", ns], check=False).returncode == 0
        machine, address = sorted(own.items())[0]
        _until(lambda: _ask(svc, "outside", address, 8000) == f"{machine} {OUTSIDE6}", 20)
        _until(lambda: "radvd" in _commands_in(ns), 10)
    finally:
        servers.stop()
        _lab_exec(svc, "outside", "ip", "-6", "route", "del", V6)
    # Taken down: the router's namespace goes (and with it its radvd).
    cloud("router", "remove", "subnet", "r-v6", "dual-v6")
    cloud("router", "unset", "--external-gateway", "r-v6")
    cloud("router", "delete", "r-v6")
    ns = f"/run/netns/qrouter-{router['id']}"
    _until(lambda: not os.path.exists(ns), 15)


STATEFUL = "2001:db8:21::/64"
DNS6 = "2001:db8:21::53"


def test_two_machines_take_their_dhcpv6_stateful_addresses(svc: support.Service) -> None:
    pair = _dual_stack_pair(svc, "stateful", "10.61.0.0/24", STATEFUL, "dhcpv6-stateful",
                            "--dns-nameserver", DNS6)
    for six, mac in pair.values():
        # From the pool, not the MAC: only DHCPv6 can give the machine this one.
        assert ipaddress.IPv6Address(six) in ipaddress.IPv6Network(STATEFUL), six
        assert six != _eui64(mac, STATEFUL), six
    v6 = {machine: six for machine, (six, _mac) in pair.items()}
    assert len(set(v6.values())) == 2, v6
    for machine, ip in v6.items():
        # Exactly the port's address, as DHCPv6 gives it: no SLAAC one beside it.
        got = _wait_v6(svc, machine, f"{ip}/128", prefix=True)
        assert got == [f"{ip}/128"], (machine, got)
        console = (svc.data_dir / "lab" / "machines" / machine / "console.log").read_text(
            errors="replace")
        assert f"cloud-init: eth0 DHCPv6 {ip}/128 from fe80::" in console, console
        assert f"DNS {DNS6}" in console, console
        assert f"cloud-init: eth0 inet6 {ip}/128" in console, console
    _ping_both_ways(svc, v6)
