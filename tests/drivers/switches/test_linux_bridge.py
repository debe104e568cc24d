"""linux-bridge on real network namespaces: isolation by segment, VXLAN, plug, counters.

Each test makes its own namespaces (a switch, hosts cabled to it by veths)
with unique names and deletes them afterwards; deleting a namespace deletes
its interfaces.  Needs root and iproute2, as the netns lab does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from barecloud.drivers.switches import HostPlug, PortCounters, Segment, SwitchDriver, build
from barecloud.drivers.switches.linux_bridge import LinuxBridgeSwitch, plug_port_name
from barecloud.errors import PermanentDriverError, RetryableDriverError
from tests.netprobe import connected, reaches

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("ethtool") is None,
    reason="needs root, iproute2 and ethtool",
)

VL100 = Segment("vlan", 100, "net-a")
VL200 = Segment("vlan", 200, "net-b")


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=20)


@dataclass
class Netns:
    """Namespaces made by one test: ``switch(…)``, ``host(…)``; all deleted at the end."""

    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6])
    made: list[str] = field(default_factory=list)

    def add(self, name: str) -> str:
        full = f"bct-{self.tag}-{name}"
        sh("ip", "netns", "add", full)
        self.made.append(full)
        sh("ip", "-n", full, "link", "set", "lo", "up")
        return full

    def host(self, name: str, switch: str, port: str, cidr: str) -> str:
        """A host namespace whose eth0 (``cidr``) is cabled to ``port`` of ``switch``."""
        ns = self.add(name)
        sh("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", port,
           "netns", switch)
        sh("ip", "-n", ns, "addr", "add", cidr, "dev", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        return ns

    def cleanup(self) -> None:
        for ns in reversed(self.made):
            sh("ip", "netns", "del", ns, check=False)


@pytest.fixture
def netns() -> Iterator[Netns]:
    n = Netns()
    try:
        yield n
    finally:
        n.cleanup()


# One ICMP echo from inside a namespace (no `ping` binary needed): exit 0 on a reply.
def lb(netns_name: str, **extra: object) -> LinuxBridgeSwitch:
    d = build("sw1", {"driver": "linux-bridge", "netns": netns_name, "timeout": 10, **extra})
    assert isinstance(d, LinuxBridgeSwitch)
    return d


@dataclass
class Lab:
    switch: str
    driver: LinuxBridgeSwitch
    hosts: list[str]


@pytest.fixture
def lab(netns: Netns) -> Lab:
    """A switch with three hosts on ports p1, p2, p3 (10.77.0.1-3/24), none bound."""
    sw = netns.add("sw")
    hosts = [netns.host(f"h{i}", sw, f"p{i}", f"10.77.0.{i}/24") for i in (1, 2, 3)]
    return Lab(sw, lb(sw), hosts)


async def test_same_segment_reaches_other_segment_does_not(lab: Lab) -> None:
    d, (h1, h2, h3) = lab.driver, lab.hosts
    assert isinstance(d, SwitchDriver) and isinstance(d, HostPlug)
    assert not reaches(h1, "10.77.0.2")  # nothing bound: no path at all
    await d.bind("p1", VL100)
    await d.bind("p2", VL100)
    await d.bind("p3", VL200)
    assert connected(h1, "10.77.0.2")
    assert not reaches(h1, "10.77.0.3")
    assert await d.bindings() == {"p1": VL100, "p2": VL100, "p3": VL200}
    # Binding again changes nothing.
    await d.bind("p1", VL100)
    assert connected(h2, "10.77.0.1")
    # h3 was up all along: only its segment kept it apart.
    await d.bind("p3", VL100)
    assert connected(h1, "10.77.0.3")
    assert h3


async def test_moving_a_port_between_segments(lab: Lab) -> None:
    d, (h1, _h2, _h3) = lab.driver, lab.hosts
    await d.bind("p1", VL100)
    await d.bind("p2", VL100)
    await d.bind("p3", VL200)
    await d.bind("p1", VL200)  # `master` takes it off vl100 first
    assert connected(h1, "10.77.0.3")
    assert not reaches(h1, "10.77.0.2")
    links = sh("ip", "-n", lab.switch, "-o", "link", "show", "master", "vl100").stdout
    assert "p1" not in links and "p2" in links


async def test_unbind_isolates_and_empty_bridges_go(lab: Lab) -> None:
    d, (h1, _h2, _h3) = lab.driver, lab.hosts
    await d.bind("p1", VL100)
    await d.bind("p2", VL100)
    assert connected(h1, "10.77.0.2")
    await d.unbind("p2")
    assert not reaches(h1, "10.77.0.2")
    assert (await d.bindings())["p2"] is None
    await d.unbind("p1")
    await d.unbind("p1")  # idempotent
    shown = sh("ip", "-n", lab.switch, "link", "show", "vl100", check=False)
    assert shown.returncode != 0  # no port left: the bridge was removed


async def test_counters_grow_with_traffic(lab: Lab) -> None:
    d, (h1, _h2, _h3) = lab.driver, lab.hosts
    await d.bind("p1", VL100)
    await d.bind("p2", VL100)
    before = await d.counters()
    assert set(before) == {"p1", "p2", "p3"}
    assert connected(h1, "10.77.0.2")
    after = await d.counters()
    assert all(isinstance(c, PortCounters) for c in after.values())
    # The switch port receives what the host sends.
    assert after["p1"].rx_packets > before["p1"].rx_packets
    assert after["p1"].rx_bytes > before["p1"].rx_bytes
    assert after["p2"].tx_packets > before["p2"].tx_packets
    assert after["p3"] == before["p3"] or after["p3"].rx_bytes >= before["p3"].rx_bytes


async def test_ports_option_limits_ports(lab: Lab) -> None:
    d = lb(lab.switch, ports=["p1", "p2"])
    assert set(await d.bindings()) == {"p1", "p2"}
    assert set(await d.counters()) == {"p1", "p2"}
    with pytest.raises(PermanentDriverError, match="not one of its ports"):
        await d.bind("p3", VL100)


async def test_plug_puts_a_namespace_on_a_segment(lab: Lab, netns: Netns) -> None:
    d, (h1, _h2, _h3) = lab.driver, lab.hosts
    await d.bind("p1", VL100)
    svc = netns.add("svc")
    mac = "02:00:00:aa:bb:01"
    far = await d.plug(VL100, "dhcp0", svc, ("10.77.0.50/24", "fd00:77::50/64"), mac)
    assert far == plug_port_name("dhcp0", svc) and len(far) <= 15
    assert connected(svc, "10.77.0.1")
    await d.bind("p2", VL200)
    assert not reaches(svc, "10.77.0.2")  # h2 is on another segment
    shown = sh("ip", "-n", svc, "addr", "show", "dhcp0").stdout
    assert mac in shown and "fd00:77::50/64" in shown
    offload = sh("ip", "netns", "exec", svc, "ethtool", "-k", "dhcp0").stdout
    assert "tx-checksumming: off" in offload
    # Idempotent: the same port comes back, still working.
    assert await d.plug(VL100, "dhcp0", svc, ("10.77.0.50/24",), mac) == far
    assert connected(h1, "10.77.0.50")
    assert (await d.bindings())[far] == VL100
    await d.unplug("dhcp0", svc)
    await d.unplug("dhcp0", svc)
    assert far not in await d.bindings()
    assert sh("ip", "-n", svc, "link", "show", "dhcp0", check=False).returncode != 0
    assert not reaches(h1, "10.77.0.50")


async def test_plug_into_this_namespace(lab: Lab) -> None:
    d = lab.driver
    await d.bind("p1", VL100)
    ifname = f"bc{lab.hosts[0][-9:-3]}"  # unique per test, in the root namespace
    try:
        await d.plug(VL100, ifname, None, ("10.77.0.60/24",))
        assert sh("ip", "link", "show", ifname).returncode == 0
        assert connected(lab.hosts[0], "10.77.0.60")
    finally:
        await d.unplug(ifname, None)
    assert sh("ip", "link", "show", ifname, check=False).returncode != 0


async def test_vxlan_spans_switches(netns: Netns) -> None:
    """Two switches on an underlay: same VNI reaches across, another VNI does not."""
    sw1, sw2 = netns.add("sw1"), netns.add("sw2")
    sh("ip", "-n", sw1, "link", "add", "ul0", "type", "veth", "peer", "name", "ul0",
       "netns", sw2)
    for ns, addr in ((sw1, "192.168.77.1/24"), (sw2, "192.168.77.2/24")):
        sh("ip", "-n", ns, "addr", "add", addr, "dev", "ul0")
        sh("ip", "-n", ns, "link", "set", "ul0", "up")
    a1 = netns.host("a1", sw1, "p1", "10.78.0.1/24")
    a2 = netns.host("a2", sw1, "p2", "10.78.0.2/24")
    b1 = netns.host("b1", sw2, "p1", "10.78.0.11/24")
    b2 = netns.host("b2", sw2, "p2", "10.78.0.12/24")
    d1 = lb(sw1, ports=["p1", "p2"], vxlan_local="192.168.77.1", vxlan_peers=["192.168.77.2"])
    d2 = lb(sw2, ports=["p1", "p2"], vxlan_local="192.168.77.2", vxlan_peers=["192.168.77.1"])
    vx1, vx2 = Segment("vxlan", 5001, mtu=1450), Segment("vxlan", 5002, mtu=1450)
    await d1.bind("p1", vx1)
    await d1.bind("p2", vx2)
    await d2.bind("p1", vx1)
    await d2.bind("p2", vx2)
    assert connected(a1, "10.78.0.11")
    assert connected(a2, "10.78.0.12")
    assert not reaches(a1, "10.78.0.12")
    assert not reaches(b1, "10.78.0.2")
    detail = sh("ip", "-d", "-n", sw1, "link", "show", "vxlan5001").stdout
    assert "id 5001" in detail and "nolearning" in detail and "dstport 4789" in detail
    fdb = sh("bridge", "-n", sw1, "fdb", "show", "dev", "vxlan5001").stdout
    assert "00:00:00:00:00:00 dst 192.168.77.2" in fdb
    assert await d2.bindings() == {"p1": vx1, "p2": vx2}
    assert b2


def flood_fdb(ns: str, dev: str) -> set[str]:
    """The addresses ``dev``'s all-zeros FDB entries flood to."""
    entries = json.loads(sh("bridge", "-n", ns, "-j", "fdb", "show", "dev", dev).stdout or "[]")
    return {e["dst"] for e in entries if e["mac"] == "00:00:00:00:00:00" and "dst" in e}


async def test_flood_adds_and_removes_vteps_and_keeps_the_peers(netns: Netns) -> None:
    """A hypervisor's VTEP gets a segment's broadcast once flooded to, and none after."""
    sw, hv = netns.add("sw"), netns.add("hv")
    sh("ip", "-n", sw, "link", "add", "ul0", "type", "veth", "peer", "name", "ul0",
       "netns", hv)
    for ns, addr in ((sw, "192.168.79.1/24"), (hv, "192.168.79.10/24")):
        sh("ip", "-n", ns, "addr", "add", addr, "dev", "ul0")
        sh("ip", "-n", ns, "link", "set", "ul0", "up")
    # The hypervisor's side, as the host agent makes it: a bridge and a vxlan device
    # flooding to the switch (an address on the bridge stands for a VM).
    sh("ip", "-n", hv, "link", "add", "br0", "type", "bridge")
    sh("ip", "-n", hv, "link", "add", "vxlan5011", "type", "vxlan", "id", "5011", "local",
       "192.168.79.10", "dstport", "4789", "nolearning")
    sh("bridge", "-n", hv, "fdb", "append", "00:00:00:00:00:00", "dev", "vxlan5011",
       "dst", "192.168.79.1")
    sh("ip", "-n", hv, "link", "set", "vxlan5011", "master", "br0")
    sh("ip", "-n", hv, "addr", "add", "10.79.0.10/24", "dev", "br0")
    for dev in ("vxlan5011", "br0"):
        sh("ip", "-n", hv, "link", "set", dev, "up")
    h1 = netns.host("h1", sw, "p1", "10.79.0.1/24")
    d = lb(sw, ports=["p1"], vxlan_local="192.168.79.1", vxlan_peers=["192.168.79.2"])
    vx = Segment("vxlan", 5011, mtu=1450)

    assert await d.flood(vx, ["192.168.79.10"]) is False  # no bridge for it yet
    await d.bind("p1", vx)
    assert flood_fdb(sw, "vxlan5011") == {"192.168.79.2"}
    assert not reaches(h1, "10.79.0.10")  # the switch floods to its peer only

    assert await d.flood(vx, ["192.168.79.10", "192.168.79.11"]) is True
    assert flood_fdb(sw, "vxlan5011") == {"192.168.79.2", "192.168.79.10", "192.168.79.11"}
    assert connected(h1, "10.79.0.10")
    assert await d.flood(vx, ("192.168.79.10", "192.168.79.11")) is True  # idempotent
    assert flood_fdb(sw, "vxlan5011") == {"192.168.79.2", "192.168.79.10", "192.168.79.11"}

    assert await d.flood(vx, {"192.168.79.11"}) is True
    assert flood_fdb(sw, "vxlan5011") == {"192.168.79.2", "192.168.79.11"}
    assert not reaches(h1, "10.79.0.10")  # the host left: its VM is cut off

    # A static peer whose entry went missing comes back; a MAC's own entry is left.
    sh("bridge", "-n", sw, "fdb", "del", "00:00:00:00:00:00", "dev", "vxlan5011",
       "dst", "192.168.79.2")
    sh("bridge", "-n", sw, "fdb", "append", "02:00:00:00:79:01", "dev", "vxlan5011",
       "dst", "192.168.79.12")
    assert await d.flood(vx, []) is True
    assert flood_fdb(sw, "vxlan5011") == {"192.168.79.2"}
    assert "02:00:00:00:79:01 dst 192.168.79.12" in sh(
        "bridge", "-n", sw, "fdb", "show", "dev", "vxlan5011").stdout

    with pytest.raises(PermanentDriverError, match=r"'hv1\.example' is not an IP address"):
        await d.flood(vx, ["192.168.79.10", "hv1.example"])
    assert flood_fdb(sw, "vxlan5011") == {"192.168.79.2"}  # refused before any change


async def test_flood_without_a_tunnel_does_nothing(lab: Lab) -> None:
    d = lb(lab.switch, vxlan_local="192.168.79.1")
    vx = Segment("vxlan", 5012)
    await d.bind("p1", vx)
    await d.bind("p2", VL100)
    assert await d.flood(VL100, ["192.168.79.10"]) is False  # a VLAN has no tunnel
    assert await d.flood(Segment("vxlan", 5013), ["192.168.79.10"]) is False  # no bridge
    assert await lb(lab.switch).flood(vx, ["192.168.79.10"]) is False  # not a VTEP
    assert flood_fdb(lab.switch, "vxlan5012") == set()
    assert await d.flood(vx, ["192.168.79.10"]) is True
    assert flood_fdb(lab.switch, "vxlan5012") == {"192.168.79.10"}


async def test_missing_namespace_is_retryable() -> None:
    d = lb(f"bct-{uuid.uuid4().hex[:6]}-gone")
    with pytest.raises(RetryableDriverError, match=r"network namespace .* does not exist"):
        await d.bind("p1", VL100)
    with pytest.raises(RetryableDriverError, match="does not exist"):
        await d.counters()


async def test_failing_command_is_permanent_and_says_what(lab: Lab) -> None:
    with pytest.raises(PermanentDriverError) as err:
        await lab.driver.bind("nosuch0", VL100)
    assert err.value.message == "Switch sw1: no port 'nosuch0'"
    with pytest.raises(PermanentDriverError) as err:
        await lab.driver.bind("p1", Segment("vlan", 300, mtu=70000))
    message = err.value.message
    assert message.startswith("Switch sw1:")
    assert f"`ip -n {lab.switch} link add vl300 mtu 70000 type bridge` failed" in message
    assert "mtu" in message.rsplit("failed:", 1)[1]  # the kernel's own words


async def test_port_filters_enforce_groups_statefully_and_go_away(lab: Lab) -> None:
    """filter_ports: p1 takes ICMP from h2 only; its own pings out are answered (stateful);
    a spoofed source is dropped; a rule change is live at once; unfiltered at the end."""
    from barecloud.drivers.switches.base import PortFilter
    from barecloud.hostagent.firewall import PortRules, Rule

    d, (h1, h2, h3) = lab.driver, lab.hosts
    assert isinstance(d, PortFilter)
    for port in ("p1", "p2", "p3"):
        await d.bind(port, VL100)
    assert connected(h2, "10.77.0.1") and connected(h3, "10.77.0.1")
    egress = (Rule("egress", "IPv4"),)
    from_h2 = Rule("ingress", "IPv4", "icmp", None, None, ("10.77.0.2",))
    await d.filter_ports({"p1": PortRules("", ("10.77.0.1",), (*egress, from_h2))})
    assert reaches(h2, "10.77.0.1") and not reaches(h3, "10.77.0.1")
    assert reaches(h1, "10.77.0.3")  # out, and the reply in: established
    await d.filter_ports({"p1": PortRules("", ("10.77.0.1",), egress)})  # rule removed
    assert not reaches(h2, "10.77.0.1")
    # h1 pretending to be 10.77.0.9 gets nowhere: its port's address is 10.77.0.1.
    sh("ip", "-n", h1, "addr", "del", "10.77.0.1/24", "dev", "eth0")
    sh("ip", "-n", h1, "addr", "add", "10.77.0.9/24", "dev", "eth0")
    assert not reaches(h1, "10.77.0.3")
    await d.filter_ports({"p1": PortRules("", ("10.77.0.9",), egress)})
    assert reaches(h1, "10.77.0.3")  # the same probe, from the port's own address
    sh("ip", "-n", h1, "addr", "del", "10.77.0.9/24", "dev", "eth0")
    sh("ip", "-n", h1, "addr", "add", "10.77.0.1/24", "dev", "eth0")
    await d.filter_ports({})
    assert connected(h3, "10.77.0.1")
    listing = sh("ip", "netns", "exec", lab.switch, "nft", "list", "tables").stdout
    assert "sg_" not in listing
    # A driver starting afresh removes tables a previous one left.
    await d.filter_ports({"p2": PortRules("", ("10.77.0.2",), egress)})
    fresh = lb(lab.switch)
    await fresh.filter_ports({})
    assert "sg_" not in sh("ip", "netns", "exec", lab.switch, "nft", "list", "tables").stdout
