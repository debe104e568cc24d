"""The lab OS's DHCPv6 client against a real dnsmasq, on a veth pair between two
namespaces the test makes (nothing in the root namespace: no host-network lock).

dnsmasq gets the lines services/network/dhcp.py writes for each ``ipv6_ra_mode``;
the client (``python -m barecloud.lab.dhcp6``) runs in the other namespace as
the lab machine's OS would: the advertisement's flags, then a lease or the
options.  The whole machine (nsboot) taking and using its address:
tests/acceptance/test_ipv6.py.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from barecloud.wire import dhcpv6

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("ip") is None
        or not Path("/usr/sbin/dnsmasq").exists(),
        reason="needs root, ip and dnsmasq: network namespaces"),
]

MAC = "52:54:00:12:34:56"
PREFIX = "2001:db8:20::"
SRC = str(Path(__file__).resolve().parents[2] / "src")


def run(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: {proc.returncode}\n{proc.stdout}{proc.stderr}")
    return proc


class Link:
    """A server namespace and a client namespace, eth0 each, on one veth pair."""

    def __init__(self, tmp: Path) -> None:
        tag = f"bcd6{os.getpid()}"
        self.server, self.client, self.tmp = f"{tag}-srv", f"{tag}-cli", tmp
        self.dnsmasq: subprocess.Popen[bytes] | None = None
        run("ip", "netns", "add", self.server)
        run("ip", "netns", "add", self.client)
        run("ip", "-n", self.server, "link", "add", "eth0", "type", "veth", "peer", "name",
            "eth0", "netns", self.client)
        run("ip", "-n", self.client, "link", "set", "eth0", "address", MAC)
        # dnsmasq serves a prefix only on an interface with an address in it.
        run("ip", "-n", self.server, "addr", "add", f"{PREFIX}2/64", "dev", "eth0", "nodad")
        # No duplicate detection on the server's link-local address: its first
        # advertisements would leave from the global one, which hosts ignore.
        run("ip", "netns", "exec", self.server, "sysctl", "-qw",
            "net.ipv6.conf.eth0.accept_dad=0")
        for ns in (self.server, self.client):
            run("ip", "-n", ns, "link", "set", "eth0", "up")

    def serve(self, *lines: str) -> None:
        conf = self.tmp / "dnsmasq.conf"
        conf.write_text("\n".join([
            "port=0", "interface=eth0", "bind-interfaces", "log-dhcp", "log-facility=-",
            "keep-in-foreground", "no-resolv", "no-hosts", "user=root",
            f"dhcp-leasefile={self.tmp / 'leases'}", *lines,
            "ra-param=eth0,10,0"]) + "\n")
        with (self.tmp / "dnsmasq.log").open("ab") as log:
            self.dnsmasq = subprocess.Popen(
                ["ip", "netns", "exec", self.server, "/usr/sbin/dnsmasq", f"--conf-file={conf}"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    def client_says(self, command: str, timeout: float = 10) -> tuple[int, str, str]:
        proc = run("ip", "netns", "exec", self.client, "env", f"PYTHONPATH={SRC}",
                   sys.executable, "-m", "barecloud.lab.dhcp6", command, "--interface", "eth0",
                   "--mac", MAC, "--timeout", str(timeout), check=False, timeout=timeout + 20)
        return proc.returncode, proc.stdout, proc.stderr

    def close(self) -> None:
        if self.dnsmasq is not None:  # `ip netns exec` execs: the PID is dnsmasq's
            self.dnsmasq.kill()
            self.dnsmasq.wait(timeout=10)
        for ns in (self.server, self.client):
            run("ip", "netns", "del", ns, check=False)


@pytest.fixture
def link(tmp_path: Path) -> Iterator[Link]:
    made = Link(tmp_path)
    try:
        yield made
    finally:
        made.close()


def first_advert(link: Link) -> dict[str, object]:
    code, out, err = link.client_says("advert", timeout=15)
    assert code == 0, (out, err, (link.tmp / "dnsmasq.log").read_text())
    advert: dict[str, object] = json.loads(out)
    return advert


def test_a_stateful_subnet_gives_the_hosts_address(link: Link) -> None:
    link.serve(f"dhcp-range=set:subnet0,{PREFIX},static,64,86400s", "enable-ra",
               f"dhcp-option=tag:subnet0,option6:dns-server,[{PREFIX}53]",
               f"dhcp-host={MAC},[{PREFIX}5],vm1")
    advert = first_advert(link)
    assert (advert["managed"], advert["other"]) == (True, True)
    assert str(advert["router"]).startswith("fe80::")
    code, out, err = link.client_says("lease")
    assert code == 0, err
    lease = json.loads(out)
    assert lease["address"] == f"{PREFIX}5"
    assert (lease["valid"], lease["preferred"], lease["t1"]) == (86400, 86400, 43200)
    assert lease["dns_servers"] == [f"{PREFIX}53"]
    assert lease["server"] == advert["router"]  # the same dnsmasq, from its link-local
    reply = dhcpv6.decode(bytes.fromhex(lease["reply"]))
    assert reply.type == dhcpv6.REPLY and reply.client_id == dhcpv6.duid_ll(MAC)
    # The advertisement made the prefix on-link (L flag) and not autonomous:
    # the /128 a client configures reaches its neighbours; no SLAAC address.
    routes = run("ip", "-n", link.client, "-6", "route", "show", f"{PREFIX}/64").stdout
    assert f"{PREFIX}/64 dev eth0" in routes, routes
    assert "scope global" not in run("ip", "-n", link.client, "-6", "addr").stdout
    assert f"{PREFIX}5" in (link.tmp / "leases").read_text()


def test_a_mac_without_a_host_entry_is_refused(link: Link) -> None:
    link.serve(f"dhcp-range=set:subnet0,{PREFIX},static,64,86400s", "enable-ra",
               f"dhcp-host=52:54:00:00:00:99,[{PREFIX}5],other")
    code, out, err = link.client_says("lease", timeout=4)
    assert code == 2 and out.strip() in ("", "null"), (out, err)
    assert "dhcp6: no DHCPv6 address: status 2" in err, err  # NoAddrsAvail


def test_a_stateless_subnet_gives_options_only(link: Link) -> None:
    link.serve(f"dhcp-range=set:subnet0,{PREFIX},ra-stateless,64,86400s",
               f"dhcp-option=tag:subnet0,option6:dns-server,[{PREFIX}53]")
    advert = first_advert(link)
    assert (advert["managed"], advert["other"]) == (False, True)
    code, out, err = link.client_says("info")
    assert code == 0, err
    assert json.loads(out) == {"dns_servers": [f"{PREFIX}53"]}
    # The host's SLAAC address, the kernel's doing, from the same advertisement.
    deadline = time.monotonic() + 10
    while "scope global" not in (addrs := run("ip", "-n", link.client, "-6", "addr").stdout):
        assert time.monotonic() < deadline, addrs
        time.sleep(0.2)
    assert f"inet6 {ipaddress.IPv6Address(PREFIX + '5054:ff:fe12:3456')}/64" in addrs
