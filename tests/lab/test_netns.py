"""The lab in network namespaces: wiring, real DHCP and HTTP boot, isolation by bridge.

The tests play barecloud's side themselves: a bridge per segment in the lab's
switch namespace (as the linux-bridge driver makes), a "server" namespace
plugged into it running real dnsmasq and an HTTP server with an iPXE script,
the lab kernel and a tiny ramdisk.  Addresses are 10.199.x.0/24, only ever
inside namespaces the lab or the test made; everything the tests start is
ended by its PID, every namespace deleted.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
import zipapp
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from barecloud.agent import configdrive
from barecloud.lab import netns, nsboot
from barecloud.lab.enroll import port_body
from barecloud.lab.layout import LabDir, LabState
from barecloud.lab.machine import LabError, Machine, Profile
from barecloud.lab.netboot import Lease
from barecloud.wire.ipmi.client import IpmiSession
from tests.lab.conftest import PASSWORD, Lab, make_lab

ROOT = os.geteuid() == 0 and shutil.which("ip") is not None and shutil.which("tc") is not None
needs_root = pytest.mark.skipif(not ROOT, reason="needs root, ip and tc: network namespaces")
DNSMASQ = "/usr/sbin/dnsmasq"


# --- without root: names, ports, rates, what lab.json and enrollment say ----------


def _machines(tmp_path: Path, count: int, nics: int = 1) -> list[Machine]:
    return [Machine.create(tmp_path / "machines", name=f"lab-{i:05d}", index=i, shard=0,
                           profile=Profile(disk_gb=1, nics=nics), mac_prefix="52:54:00",
                           ipmi_port=16000 + i, username="admin", password=PASSWORD)
            for i in range(1, count + 1)]  # fmt: skip


def test_ports_are_numbered_in_order_and_kept_as_the_lab_grows(tmp_path: Path) -> None:
    machines = _machines(tmp_path, 3, nics=2)
    wiring = netns.plan(tmp_path / "lab", None, machines[:2])
    assert {m: link.ports for m, link in wiring.machines.items()} == {
        "lab-00001": {"eth0": "p1", "eth1": "p2"}, "lab-00002": {"eth0": "p3", "eth1": "p4"}}
    again = netns.plan(tmp_path / "lab", wiring, machines)
    assert again.machines["lab-00001"].ports == {"eth0": "p1", "eth1": "p2"}
    assert again.machines["lab-00003"].ports == {"eth0": "p5", "eth1": "p6"}
    ident = netns.lab_id(tmp_path / "lab")
    assert again.switch_netns == f"bcl-{ident}-sw"
    assert again.machines["lab-00003"].netns == f"bcl-{ident}-lab-00003"
    assert netns.lab_id(tmp_path / "other") != ident
    first = int(again.switch_id.split(":")[0], 16)
    assert first & 2 and not first & 1  # locally administered, unicast
    assert again.switch_definition() == {
        "lab-switch": {"driver": "linux-bridge", "netns": f"bcl-{ident}-sw"}}
    assert again.local_link("lab-00002", 1) == {
        "switch_id": again.switch_id, "port_id": "p4", "switch_info": "lab-switch"}


def test_lab_json_keeps_the_wiring_and_enrollment_sends_the_switch_port(
    tmp_path: Path,
) -> None:
    machines = _machines(tmp_path, 2)
    state = LabState(16000, 15000, "admin", PASSWORD, "tok", mode="netns",
                     netns=netns.plan(tmp_path, None, machines))  # fmt: skip
    lab = LabDir(tmp_path / "lab")
    lab.write(state)
    read = lab.read()
    assert read == state and read.netns is not None
    assert read.netns.machines["lab-00002"].ports == {"eth0": "p2"}
    assert port_body(read, machines[1], 0, "u-2") == {
        "address": "52:54:00:10:00:02", "node_uuid": "u-2",
        "local_link_connection": {"switch_id": read.netns.switch_id, "port_id": "p2",
                                  "switch_info": "lab-switch"}}  # fmt: skip
    loopback = LabState(16000, 15000, "admin", PASSWORD, "tok")
    assert port_body(loopback, machines[1], 0, "u-2") == {
        "address": "52:54:00:10:00:02", "node_uuid": "u-2"}
    # lab.json written before the netns mode existed still reads.
    old = {k: v for k, v in loopback.to_dict().items() if k not in ("mode", "netns")}
    (lab.path / "lab.json").write_text(json.dumps(old))
    assert lab.read().mode == "loopback" and lab.read().netns is None


def test_rates_are_bits_and_the_bucket_fits_them() -> None:
    assert netns.rate_bits("200mbit") == 200_000_000
    assert netns.rate_bits("1.5Gbit") == 1_500_000_000
    assert netns.tbf_args("200mbit") == ["tbf", "rate", "200000000", "burst", "250000",
                                         "latency", "50ms"]
    # Never below 128 KiB: a GSO packet (64 KiB and its headers) always fits.
    assert netns.tbf_args("1mbit")[4] == netns.tbf_args("50mbit")[4] == str(128 * 1024)
    for bad in ("200mbps", "fast", "100kb", "1bit"):
        with pytest.raises(LabError, match="rate"):
            netns.rate_bits(bad)


def test_the_lease_s_mask_gives_the_prefix() -> None:
    lease = Lease("10.199.1.5", "10.199.1.1", "0.0.0.0", "", {1: bytes([255, 255, 240, 0])})
    assert nsboot.prefix_of(lease) == 20
    assert nsboot.prefix_of(Lease("10.199.1.5", "10.199.1.1", "0.0.0.0", "")) == 24


def test_a_loopback_lab_stays_one(new_lab: Lab) -> None:
    new_lab.up(1)
    assert "--rate shapes the cables of a netns lab" in new_lab.cli(
        "up", "--nodes", "1", "--rate", "10mbit", check=False)
    if ROOT:
        assert "built in loopback mode" in new_lab.cli("up", "--nodes", "1", "--netns",
                                                       check=False)
    assert "loopback lab" in subprocess.run(
        [sys.executable, "-m", "barecloud.lab", "exec", "--lab-dir", str(new_lab.path),
         "lab-00001", "--", "true"], capture_output=True, text=True).stderr
    assert new_lab.state()["mode"] == "loopback"
    new_lab.down()


# --- with root: the namespaces themselves -----------------------------------------


def run(*argv: str, check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(argv)}: {proc.returncode}\n{proc.stdout}{proc.stderr}")
    return proc


def lab_exec(lab: Lab, machine: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return run(sys.executable, "-m", "barecloud.lab", "exec", "--lab-dir", str(lab.path),
               machine, "--", *argv, check=False)  # fmt: skip


def lab_namespaces(lab: Lab) -> set[str]:
    wiring = lab.state()["netns"]
    return {wiring["switch_netns"], wiring["outside_netns"],
            *(m["netns"] for m in wiring["machines"].values())}


def finish(lab: Lab) -> None:
    """Stop the lab; delete its namespaces even if ``down`` did not run or failed."""
    lab.cli("down", check=False)
    lab.kill()
    with contextlib.suppress(FileNotFoundError, KeyError, TypeError):
        state = LabDir(lab.path).read()
        if state.netns is not None:
            netns.unwire(state.netns)


@needs_root
@pytest.mark.slow
def test_wiring_rate_growth_and_teardown(tmp_path: Path) -> None:
    lab = make_lab(tmp_path / "lab", 4)
    try:
        out = lab.up(2, "--netns", "--nics", "2", "--rate", "200mbit")
        st = lab.state()
        sw = st["netns"]["switch_netns"]
        assert st["mode"] == "netns" and out["mode"] == "netns"
        assert out["switches"] == {"lab-switch": {"driver": "linux-bridge", "netns": sw}}
        assert out["wiring"]["lab-00002"]["ports"] == {"eth0": "p3", "eth1": "p4"}
        assert lab_namespaces(lab) <= netns.namespaces()
        # The switch: one port per NIC, up, on no bridge yet.
        links = run("ip", "-n", sw, "-j", "link", "show").stdout
        ports = {ln["ifname"]: ln for ln in json.loads(links) if ln["ifname"] != "lo"}
        assert set(ports) == {"p1", "p2", "p3", "p4"}
        assert all("master" not in p and "UP" in p["flags"] for p in ports.values())
        # A machine: its MACs on eth0/eth1, lo up, transmit checksumming off.
        m1 = lab.machine("lab-00001")
        shown = json.loads(lab_exec(lab, "lab-00001", "ip", "-j", "link", "show").stdout)
        nics = {ln["ifname"]: ln for ln in shown}
        assert [nics["eth0"]["address"], nics["eth1"]["address"]] == m1["macs"]
        assert "UP" in nics["lo"]["flags"] and "UP" in nics["eth0"]["flags"]
        assert "tx-checksumming: off" in lab_exec(lab, "lab-00001", "ethtool", "-k",
                                                  "eth0").stdout
        # --rate: a tbf qdisc on both ends of every cable.
        machine_ns = st["netns"]["machines"]["lab-00002"]["netns"]
        assert "tbf" in run("tc", "-n", sw, "qdisc", "show", "dev", "p4").stdout
        assert "rate 200Mbit" in run("tc", "-n", machine_ns, "qdisc", "show", "dev",
                                     "eth1").stdout
        status = lab.cli("status", "--machines")
        assert "mode netns" in status and f"namespace {sw}" in status
        assert f"netns {machine_ns}  ports eth0=p3,eth1=p4" in status
        # lab exec: the command's output and status, from inside the machine.
        assert lab_exec(lab, "lab-00002", "sh", "-c", "echo in; exit 3").returncode == 3
        assert lab_exec(lab, "switch", "ip", "-br", "link").stdout.count("@") == 4

        # Again, bigger: the new machine is cabled, the old cables stay as they were.
        index = {n: p["ifindex"] for n, p in ports.items()}
        lab.up(3, "--nics", "2")
        links = json.loads(run("ip", "-n", sw, "-j", "link", "show").stdout)
        now = {ln["ifname"]: ln["ifindex"] for ln in links if ln["ifname"] != "lo"}
        assert set(now) == {"p1", "p2", "p3", "p4", "p5", "p6"}
        assert {n: now[n] for n in index} == index
        assert "tbf" in run("tc", "-n", sw, "qdisc", "show", "dev", "p6").stdout
        mine = lab_namespaces(lab)
        assert len(mine) == 5  # the switch, the outside, three machines

        down = lab.down()
        assert "deleted 5 network namespace(s)" in down
        assert not mine & netns.namespaces()
        assert "not wired (lab down)" in lab.cli("status")
        # Up again: the same namespaces and port names come back.
        lab.up(3)
        assert lab_namespaces(lab) == mine and mine <= netns.namespaces()
        assert lab.state()["netns"]["machines"]["lab-00003"]["ports"] == {
            "eth0": "p5", "eth1": "p6"}
    finally:
        finish(lab)
    assert not lab_namespaces(lab) & netns.namespaces()


# --- with root: booting over the lab switch ----------------------------------------


@dataclass
class Net:
    """What the test plugs into the lab switch: namespaces, bridges, its processes."""

    switch: str
    tag: str = field(default_factory=lambda: f"bclt{os.getpid()}")
    namespaces: list[str] = field(default_factory=list)
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def bridge(self, name: str, *ports: str) -> None:
        """A segment, as barecloud's linux-bridge driver would make it."""
        run("ip", "-n", self.switch, "link", "add", name, "type", "bridge")
        run("ip", "-n", self.switch, "link", "set", name, "up")
        for port in ports:
            run("ip", "-n", self.switch, "link", "set", port, "master", name)

    def host(self, name: str, bridge: str, address: str) -> str:
        """A namespace of the test's own, cabled to ``bridge`` with ``address``."""
        ns = f"{self.tag}-{name}"
        run("ip", "netns", "add", ns)
        self.namespaces.append(ns)
        port = f"t-{name}"  # a port of the test's, in the lab's switch
        run("ip", "-n", self.switch, "link", "add", port, "type", "veth", "peer", "name",
            "eth0", "netns", ns)
        run("ip", "-n", self.switch, "link", "set", port, "master", bridge, "up")
        run("ip", "-n", ns, "addr", "add", address, "dev", "eth0")
        run("ip", "-n", ns, "link", "set", "eth0", "up")
        run("ip", "-n", ns, "link", "set", "lo", "up")
        run("ip", "netns", "exec", ns, "ethtool", "-K", "eth0", "tx", "off")
        return ns

    def start(self, ns: str, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        with log.open("ab") as out:
            proc = subprocess.Popen(["ip", "netns", "exec", ns, *argv], stdout=out,
                                    stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def dnsmasq(self, ns: str, workdir: Path, *lines: str) -> Path:
        """Real dnsmasq in ``ns``; returns its lease file."""
        workdir.mkdir(parents=True, exist_ok=True)
        leases = workdir / "leases"
        conf = workdir / "dnsmasq.conf"
        conf.write_text("\n".join([
            "port=0", "interface=eth0", "bind-interfaces", "no-ping", "log-dhcp",
            "log-facility=-", "keep-in-foreground", "no-resolv", "no-hosts", "user=root",
            f"dhcp-leasefile={leases}", f"pid-file={workdir / 'pid'}", *lines]) + "\n")
        self.start(ns, [DNSMASQ, f"--conf-file={conf}"], workdir / "log")
        return leases

    def close(self) -> None:
        for proc in self.procs:  # `ip netns exec` execs: the PID is the server's
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
        for ns in self.namespaces:
            run("ip", "netns", "del", ns, check=False)


def wait_for(what: str, check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def console(lab: Lab, name: str) -> str:
    path = lab.path / "machines" / name / "console.log"
    return path.read_text() if path.exists() else ""


def wait_console(lab: Lab, name: str, pattern: str, timeout: float = 30.0) -> re.Match[str]:
    try:
        found: re.Match[str] = wait_for(pattern, lambda: re.search(pattern, console(lab, name)),
                                        timeout)
    except AssertionError:
        text = console(lab, name)
        raise AssertionError(f"{name}: no {pattern!r} on the console:\n{text}") from None
    return found


async def _serial_shell(port: int, command: bytes) -> bytes:
    """Log in on the machine's serial console over IPMI SOL and run ``command``."""
    async with IpmiSession("127.0.0.1", port, "admin", PASSWORD) as session, \
            session.sol() as sol:
        await sol.write(b"\r")
        await sol.read_until(b"login: ", timeout=20)
        await sol.write(b"root\r")
        await sol.read_until(b"# ", timeout=20)
        await sol.write(command + b"; echo done-$((6*7))\r")
        return await sol.read_until(b"done-42", timeout=20)


def power(lab: Lab, name: str, action: str) -> None:
    rsp = httpx.post(f"{lab.redfish}/redfish/v1/Systems/{name}/Actions/ComputerSystem.Reset",
                     json={"ResetType": action}, auth=("admin", PASSWORD), timeout=10)
    assert rsp.status_code in (200, 202, 204), rsp.text


def listening(ns: str, port: int) -> bool:
    return f":{port} " in run("ip", "netns", "exec", ns, "ss", "-Hltn").stdout


def tcp(ns: str, address: str, port: int) -> str:
    """What a TCP client in ``ns`` reads from ``address:port`` ("" if it could not connect)."""
    code = ("import socket,sys\ntry:\n"
            f" s=socket.create_connection(({address!r},{port}),timeout=1.5)\n"
            " sys.stdout.write(s.recv(200).decode())\nexcept OSError:\n pass\n")
    return run("ip", "netns", "exec", ns, sys.executable, "-c", code).stdout


# ICMP echo by hand: no ping binary needed (the kernel answers it, not the lab).
PING = """\
import os, socket, struct, sys, time
def csum(b):
    total = sum(struct.unpack(f"!{len(b) // 2}H", b))
    total = (total & 0xFFFF) + (total >> 16)
    return ~(total + (total >> 16)) & 0xFFFF
ident = os.getpid() & 0xFFFF
msg = struct.pack("!BBHHH", 8, 0, 0, ident, 1) + b"barecloud-lab-ping"
msg = msg[:2] + struct.pack("!H", csum(msg)) + msg[4:]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
s.sendto(msg, (sys.argv[1], 0))
deadline = time.monotonic() + 1.5
while (left := deadline - time.monotonic()) > 0:
    s.settimeout(left)
    try:
        data, addr = s.recvfrom(2048)
    except TimeoutError:
        break
    ihl = (data[0] & 15) * 4
    if addr[0] == sys.argv[1] and data[ihl] == 0 and data[ihl + 4:ihl + 6] == msg[4:6]:
        sys.exit(0)
sys.exit(1)
"""


def ping(ns: str, address: str) -> bool:
    return run("ip", "netns", "exec", ns, sys.executable, "-c", PING, address,
               check=False).returncode == 0


# The first boot asks for a reboot (101), the second for power off (100).
RAMDISK_MAIN = '''\
import json, os, sys, urllib.request
args = sys.argv[1:]
words = dict(w.split("=", 1) for w in args[args.index("--cmdline") + 1].split() if "=" in w)
hello = urllib.request.urlopen(words["server"] + "/hello", timeout=10).read().decode()
first = not os.path.exists(words["marker"])
with open(words["marker"], "a") as out:
    out.write(json.dumps({"hello": hello}) + "\\n")
sys.exit(101 if first else 100)
'''


@pytest.fixture(scope="module")
def nslab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Three netns machines with one NIC each: p1, p2, p3."""
    if not ROOT:
        pytest.skip("needs root, ip and tc: network namespaces")
    lab = make_lab(tmp_path_factory.mktemp("nslab") / "lab", 3)
    try:
        lab.up(3, "--netns")
        yield lab
    finally:
        finish(lab)
    assert not lab_namespaces(lab) & netns.namespaces()


@pytest.fixture
def net(nslab: Lab) -> Iterator[Net]:
    made = Net(nslab.state()["netns"]["switch_netns"])
    try:
        yield made
    finally:
        made.close()
        for bridge in ("bcprov", "bcten1", "bcten2"):
            run("ip", "-n", made.switch, "link", "del", bridge, check=False)
    assert not set(made.namespaces) & netns.namespaces()


@needs_root
@pytest.mark.slow
def test_a_machine_network_boots_over_dhcp_and_http(
    nslab: Lab, net: Net, tmp_path: Path
) -> None:
    m1, m2 = nslab.machine("lab-00001"), nslab.machine("lab-00002")
    mac = m1["macs"][0]
    server = "http://10.199.1.1:8080"
    net.bridge("bcprov", "p1")  # the provisioning segment; p2 stays on no bridge
    srv = net.host("srv", "bcprov", "10.199.1.1/24")
    files = tmp_path / "www"
    (files / "nodes").mkdir(parents=True)
    marker = tmp_path / "marker.json"
    (files / "boot.ipxe").write_text("#!ipxe\nchain nodes/${mac:hexhyp}.ipxe || exit\n")
    (files / "nodes" / f"{mac.replace(':', '-')}.ipxe").write_text(
        f"#!ipxe\nkernel {server}/kernel server={server} marker={marker} BOOTIF=01-${{mac:hexhyp}}"
        "\ninitrd ../ramdisk.pyz\nboot\n")
    (files / "kernel").write_bytes(b"#!barecloud-lab-kernel\n")
    (files / "hello").write_text("hello from the provisioning network")
    src = tmp_path / "ramdisk"
    src.mkdir()
    (src / "__main__.py").write_text(RAMDISK_MAIN)
    zipapp.create_archive(src, files / "ramdisk.pyz")
    leases = net.dnsmasq(srv, tmp_path / "dnsmasq", "dhcp-range=10.199.1.100,10.199.1.150,24h",
                         f"dhcp-host={mac},10.199.1.11", "dhcp-match=set:ipxe,175",
                         f"dhcp-boot=tag:ipxe,{server}/boot.ipxe")
    http_log = tmp_path / "http.log"
    net.start(srv, [sys.executable, "-m", "http.server", "8080", "--bind", "10.199.1.1",
                    "--directory", str(files)], http_log)
    wait_for("dnsmasq and the HTTP server", lambda: listening(srv, 8080)
             and (tmp_path / "dnsmasq" / "pid").exists())

    power(nslab, "lab-00001", "On")  # empty disks: the boot order picks the network
    power(nslab, "lab-00002", "On")
    wait_console(nslab, "lab-00001", "agent exited with status 100")
    wait_for("the agent's power off", lambda: not nslab.machine("lab-00001")["power_on"])
    log = console(nslab, "lab-00001")
    assert "agent exited with status 101" in log and "reset, booting from pxe (via os" in log
    assert nslab.machine("lab-00001")["boots"] == 2
    assert (f"PXE: eth0 {mac}: DHCP 10.199.1.11/24 from 10.199.1.1, "
            f"boot file {server}/boot.ipxe") in log
    assert f"iPXE: {server}/ramdisk.pyz" in log
    # The ramdisk ran inside the machine and reached the server over its cable.
    assert [json.loads(line)["hello"] for line in marker.read_text().splitlines()] == [
        "hello from the provisioning network"] * 2
    served = http_log.read_text()
    for path in ("/boot.ipxe", f"/nodes/{mac.replace(':', '-')}.ipxe", "/kernel",
                 "/ramdisk.pyz", "/hello"):
        assert re.search(rf'^10\.199\.1\.11 .*"GET {re.escape(path)} ', served, re.M), served
    assert f"{mac} 10.199.1.11" in leases.read_text()
    # Powered off: no address left, nothing running in the machine.
    assert "inet " not in lab_exec(nslab, "lab-00001", "ip", "-4", "addr", "show", "eth0").stdout
    assert not ping(srv, "10.199.1.11")

    # The machine on no bridge heard nothing and fell back to its (empty) disk.
    wait_console(nslab, "lab-00002", "No bootable device")
    log2 = console(nslab, "lab-00002")
    assert "PXE: no DHCP offer on eth0; trying the disk" in log2
    assert m2["macs"][0] not in leases.read_text()
    assert nslab.machine("lab-00002")["power_on"]  # halted, as a PC with nothing to boot
    power(nslab, "lab-00002", "ForceOff")


@needs_root
@pytest.mark.slow
def test_a_booted_disk_is_reachable_on_its_segment_only(
    nslab: Lab, net: Net, tmp_path: Path
) -> None:
    name = "lab-00003"
    m3 = nslab.machine(name)
    drive = configdrive.build({"openstack/latest/meta_data.json":
                               b'{"uuid": "u-3", "hostname": "web-3", "public_keys": {}}'})
    configdrive.write(str(nslab.path / "machines" / name / "disk.img"), drive)
    net.bridge("bcten1", "p3")  # the tenant's network
    net.bridge("bcten2")  # another tenant's, same addresses
    ten1 = net.host("ten1", "bcten1", "10.199.2.1/24")
    ten2 = net.host("ten2", "bcten2", "10.199.2.2/24")
    leases = net.dnsmasq(ten1, tmp_path / "dnsmasq", "dhcp-range=10.199.2.100,10.199.2.150,24h",
                         f"dhcp-host={m3['macs'][0]},10.199.2.50", "dhcp-option=3,10.199.2.1")

    power(nslab, name, "On")  # the disk now has a partition table: the boot order picks it
    wait_console(nslab, name, r"cloud-init: eth0 10\.199\.2\.50/24", timeout=45)
    log = console(nslab, name)
    assert "booting from disk" in log and "cloud-init: hostname web-3" in log
    assert "login: web-3 is up" in log
    assert f"{m3['macs'][0]} 10.199.2.50" in leases.read_text()
    assert "default via 10.199.2.1 dev eth0" in lab_exec(nslab, name, "ip", "route").stdout
    # Its serial port, over the BMC's Serial-over-LAN: a login, and a shell in the
    # machine's namespace (its routes, not the host's).
    routes = asyncio.run(_serial_shell(nslab.port(name), b"ip route"))
    assert b"default via 10.199.2.1 dev eth0" in routes, routes[-600:]
    wait_for("the machine's services", lambda: listening(
        nslab.state()["netns"]["machines"][name]["netns"], 22))

    # Its segment reaches it: ping (the namespace's kernel), SSH and HTTP (its "OS").
    assert ping(ten1, "10.199.2.50")
    assert tcp(ten1, "10.199.2.50", 22).splitlines() == ["SSH-2.0-barecloud-lab"]
    http = tcp(ten1, "10.199.2.50", 80).splitlines()
    assert (http[0], http[-1]) == ("HTTP/1.0 200 OK", "web-3")
    # The machine reaches its segment too (lab exec, from inside).
    assert lab_exec(nslab, name, sys.executable, "-c", PING, "10.199.2.1").returncode == 0
    # Another segment, same subnet: nothing.
    assert not ping(ten2, "10.199.2.50")
    assert tcp(ten2, "10.199.2.50", 22) == ""
    assert lab_exec(nslab, name, sys.executable, "-c", PING, "10.199.2.2").returncode == 1

    # Power off: everything the machine ran is gone, it answers nothing.
    machine_ns = nslab.state()["netns"]["machines"][name]["netns"]
    power(nslab, name, "ForceOff")
    assert not ping(ten1, "10.199.2.50")
    assert tcp(ten1, "10.199.2.50", 22) == ""
    wait_for("the machine's processes to go", lambda: run(
        "ip", "netns", "pids", machine_ns).stdout.strip() == "", timeout=5)
