"""openvswitch on a real Open vSwitch (userspace datapath) in namespaces of the test's own.

The switch is the lab's (lab/ovs.py: ovsdb-server and ovs-vswitchd from a
scratch directory, ovs-vswitchd inside the switch namespace), the hosts are
namespaces cabled to it by veths.  Nothing plugs into the root namespace, so
no lock is needed.  The sFlow datagrams the switch exports go to a small UDP
receiver run in the switch namespace, and the decoder (wire/sflow.py) must
find in them the TCP flow the test sent, with its ports, addresses, and the
ifIndex of the port it came in by.  Needs root and Open vSwitch.
"""

from __future__ import annotations

import asyncio
import collections
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from barecloud.drivers.switches import Segment, build
from barecloud.drivers.switches.base import FlowExport, HostPlug, SwitchDriver
from barecloud.drivers.switches.openvswitch import OpenVSwitchSwitch
from barecloud.errors import PermanentDriverError
from barecloud.lab import ovs as lab_ovs
from barecloud.wire import sflow
from tests.drivers.switches.test_linux_bridge import Netns, netns, sh  # noqa: F401
from tests.netprobe import connected, reaches

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ovs-vswitchd") is None or not lab_ovs.SCHEMA.exists(),
    reason="needs root and Open vSwitch (scripts/system-packages)",
)

VL100 = Segment("vlan", 100, "net-a")
VL200 = Segment("vlan", 200, "net-b")
VX = Segment("vxlan", 5001, "net-x")

RECEIVER = """
import socket, sys, time
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 0))
s.settimeout(0.5)
print(s.getsockname()[1], flush=True)
end = time.monotonic() + float(sys.argv[2])
with open(sys.argv[1], "wb") as f:
    while time.monotonic() < end:
        try:
            d = s.recv(65535)
        except socket.timeout:
            continue
        f.write(len(d).to_bytes(4, "big") + d)
"""

SINK = """
import socket, sys
s = socket.socket(); s.bind((sys.argv[1], int(sys.argv[2]))); s.listen()
c, _ = s.accept()
while c.recv(1 << 16):
    pass
"""

SEND = """
import socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
end, chunk = time.monotonic() + float(sys.argv[3]), b"x" * 65536
while time.monotonic() < end:
    s.sendall(chunk)
print(s.getsockname()[1])
"""


@dataclass
class Ovs:
    switch: str
    run: Path
    driver: OpenVSwitchSwitch
    hosts: list[str]


@pytest.fixture
def ovs(netns: Netns) -> Iterator[Ovs]:  # noqa: F811
    """An OVS switch with three hosts on ports p1-p3 (10.78.0.1-3/24), none bound."""
    sw = netns.add("sw")
    hosts = [netns.host(f"h{i}", sw, f"p{i}", f"10.78.0.{i}/24") for i in (1, 2, 3)]
    for h in hosts:  # LAB-NOTES: else the userspace datapath drops what they send
        sh("ip", "netns", "exec", h, "ethtool", "-K", "eth0", "tx", "off")
    run = Path(tempfile.mkdtemp(prefix="bcovs-"))  # short: unix socket paths
    try:
        lab_ovs.start(sw, run)
        driver = build("sw1", {"driver": "openvswitch", "netns": sw,
                               "db": lab_ovs.db_socket(run), "sflow_sampling": 20,
                               "sflow_polling": 1})
        assert isinstance(driver, OpenVSwitchSwitch)
        yield Ovs(sw, run, driver, hosts)
    finally:
        assert lab_ovs.stop(run), "the switch's daemons were running"
        shutil.rmtree(run, ignore_errors=True)


async def test_access_vlans_isolate_and_move(ovs: Ovs) -> None:
    d, (h1, _, h3) = ovs.driver, ovs.hosts
    assert isinstance(d, SwitchDriver) and isinstance(d, HostPlug)
    assert isinstance(d, FlowExport)
    assert not reaches(h1, "10.78.0.2")  # no port on the bridge yet
    await d.bind("p1", VL100)
    await d.bind("p2", VL100)
    await d.bind("p3", VL200)
    assert connected(h1, "10.78.0.2")
    assert not reaches(h1, "10.78.0.3")
    assert await d.bindings() == {"p1": VL100, "p2": VL100, "p3": VL200}
    tags = sh("ovs-vsctl", f"--db={lab_ovs.db_socket(ovs.run)}", "get", "port", "p3",
              "tag").stdout.strip()
    assert tags == "200"
    # A vxlan segment rides a local VLAN, claimed once and kept.
    await d.bind("p3", VX)
    await d.bind("p2", VX)
    assert connected(h3, "10.78.0.2")
    assert not reaches(h3, "10.78.0.1")
    claims = await d._claims()
    assert claims == {3000: VX.key}
    assert (await d.bindings())["p2"] == VX
    await d.unbind("p2")
    assert (await d.bindings())["p2"] is None
    assert not reaches(h3, "10.78.0.2")
    with pytest.raises(PermanentDriverError, match="no port 'p9'"):
        await d.bind("p9", VL100)
    with pytest.raises(PermanentDriverError, match="local_vlans"):
        await d.bind("p1", Segment("vlan", 3001))
    # The userspace datapath refreshes the Interface table's statistics every 5 s.
    for _ in range(30):
        counters = await d.counters()
        if counters["p1"].rx_packets > 0:
            break
        await asyncio.sleep(0.5)
    assert counters["p1"].rx_packets > 0 and set(counters) == {"p1", "p2", "p3"}


async def test_real_sflow_datagrams_decode_to_the_flow_sent(ovs: Ovs) -> None:
    d, (h1, h2, _) = ovs.driver, ovs.hosts
    await d.bind("p1", VL100)
    await d.bind("p2", VL100)
    assert connected(h1, "10.78.0.2")
    dump = ovs.run / "datagrams.bin"
    receiver = subprocess.Popen(  # noqa: ASYNC220 (the test's own helpers)
        ["ip", "netns", "exec", ovs.switch, sys.executable, "-c", RECEIVER, str(dump), "8"],
        stdout=subprocess.PIPE, text=True)
    sink = subprocess.Popen(  # noqa: ASYNC220 (the test's own helpers)
        ["ip", "netns", "exec", h2, sys.executable, "-c", SINK, "10.78.0.2", "5201"])
    try:
        assert receiver.stdout is not None
        port = int(receiver.stdout.readline())
        assert await d.export_flows(f"127.0.0.1:{port}")
        await asyncio.sleep(0.5)
        sent = await asyncio.to_thread(
            subprocess.run, ["ip", "netns", "exec", h1, sys.executable, "-c", SEND,
                             "10.78.0.2", "5201", "2"], capture_output=True, text=True,
            timeout=30, check=True)
        sport = int(sent.stdout.strip())
        await asyncio.to_thread(receiver.wait, 30)
    finally:
        for p in (receiver, sink):
            if p.poll() is None:
                p.kill()
            p.wait()
    raw = dump.read_bytes()
    datagrams = []
    at = 0
    while at < len(raw):
        size = int.from_bytes(raw[at:at + 4], "big")
        datagrams.append(sflow.decode(raw[at + 4:at + 4 + size]))
        at += 4 + size
    assert datagrams, "the switch exported nothing"
    ports = await d.flow_ports()
    index = {name: i for i, name in ports.items()}
    assert {"p1", "p2"} <= set(index)
    estimated: collections.Counter[tuple[object, ...]] = collections.Counter()
    for dg in datagrams:
        for f in dg.flows:
            assert f.sampling_rate == 20
            if f.packet is not None:
                p = f.packet
                estimated[(f.input, f.output, p.protocol, p.src_ip, p.src_port, p.dst_ip,
                           p.dst_port)] += f.frame_length * f.sampling_rate
    (top, est), *_ = estimated.most_common(1)
    assert top == (index["p1"], index["p2"], sflow.TCP, "10.78.0.1", sport, "10.78.0.2",
                   5201), estimated.most_common(3)
    # The estimate agrees with what the port counted (the switch's own counters).
    received = (await d.counters())["p1"].rx_bytes
    assert 0.7 * received < est < 1.3 * received, (est, received)
    # Counter samples: the ports' interface counters, polled every second.
    polled = {c.if_index for dg in datagrams for c in dg.counters}
    assert index["p1"] in polled, polled
    await d.stop_flows()
