"""Benchmark (issue 6): how long moving machines' switch ports takes, per switch driver.

Why: every deploy moves each NIC's switch port three times (onto the
provisioning segment, off it, onto the tenant's) and every delete three
more, and a rack's machines are deployed together, so all of their moves
reach the same top-of-rack switch at once.  Both drivers serialize the calls
to one switch (an asyncio lock per driver instance): ``linux-bridge`` runs a
few ``ip`` commands per call, ``generic-ssh`` logs in over SSH for every
call and saves the configuration at the end of it, as
networking-generic-switch does.  This measures what that costs when many
ports move at once, so the cost of a rack deploy can be read off.

``linux-bridge`` (needs root and iproute2): per size N, a switch namespace
``bcb-<run>-sw<N>`` and a namespace ``bcb-<run>-h<N>`` holding the far ends
of N veth pairs (the "machines"); the N switch-side ends ``p0`` … are the
ports.  N concurrent ``bind(p<i>, Segment("vxlan", 5000 + i % 4, …))`` through
the driver (``asyncio.gather``), checked with ``bindings()``, then N
concurrent ``unbind``, checked again (every port on no segment, every bridge
gone).  Then ``--singles`` binds and unbinds of one port alone.  Both
namespaces are deleted at the end of each size (also on error); deleting a
namespace deletes its interfaces.

``generic-ssh``: per vendor, the lab's SSH switch (``barecloud.lab.ssh_switch``)
started in this process on 127.0.0.1, on a free port, with N ports.  First the
unit cost: ``--singles`` log-ins alone (the driver's log-in: SSH handshake,
password, ``enable``, no paging), then ``--singles`` single binds and
unbinds (log-in, config lines, save, log-out).  Then, per size, N concurrent
binds (VLAN segments 100 + i % 4) and N concurrent unbinds, each checked
against the switch's state (its access VLAN per port, its saved
configuration) and its log-in count (one per session: the driver batches
the moves queued behind a session, at most ``max_batch`` per session).  The
switch and the driver share this process and its core, as a real switch's
CPU would not: the figures are an upper bound on the driver's own cost and a lower bound
on a real switch's (which often takes seconds to ``write memory``).

Times are wall clock; the CPU seconds of this process and of its children
(the ``ip`` commands) per phase are printed too, since the machine may be
shared.  Nothing outside loopback and the namespaces this run creates is
touched, and the only processes started are the driver's own ``ip``
commands.

    .venv/bin/python bench/switch_binding.py
    .venv/bin/python bench/switch_binding.py --drivers generic-ssh --vendors cisco_ios
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import subprocess
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from barecloud.drivers.switches import Segment, SwitchDriver, build
from barecloud.drivers.switches.generic_ssh.driver import GenericSshSwitch
from barecloud.drivers.switches.linux_bridge import LinuxBridgeSwitch
from barecloud.lab.ssh_switch import DEVICE_TYPES, SshSwitch
from host import load, machine_info  # bench/host.py, next to this file

T = TypeVar("T")

DRIVERS = ("linux-bridge", "generic-ssh")
MAX_PORTS = 1024  # bounds every loop over ports (and the veths a run makes)
MAX_SINGLES = 100
SEGMENTS = 4  # ports are spread over this many segments (i % 4)
VNI_BASE = 5000
VLAN_BASE = 100
USERNAME = "admin"
# Rack arithmetic for the extrapolation.
RACK_MACHINES = 40
MOVES_PER_DEPLOY = 3
MOVES_PER_DELETE = 3


def port_name(vendor: str, i: int) -> str:
    if vendor == "juniper_junos":
        return f"ge-0/0/{i}"
    if vendor == "arista_eos":
        return f"Ethernet{i + 1}"
    return f"GigabitEthernet1/0/{i + 1}"


def network_id(i: int) -> str:
    """A stable Neutron-like network id per segment index."""
    return str(uuid.UUID(int=0xBC0000 + i % SEGMENTS))


# --- measuring ---------------------------------------------------------------------------


@dataclass
class Timed:
    """Wall seconds, and CPU seconds of this process and of its finished children."""

    wall: float = 0.0
    cpu: float = 0.0
    children_cpu: float = 0.0


async def timed(work: Awaitable[T]) -> tuple[T, Timed]:
    t0, c0 = time.perf_counter(), os.times()
    result = await work
    t1, c1 = time.perf_counter(), os.times()
    return result, Timed(
        wall=t1 - t0,
        cpu=(c1.user - c0.user) + (c1.system - c0.system),
        children_cpu=(c1.children_user - c0.children_user)
        + (c1.children_system - c0.children_system),
    )


async def median_of(count: int, make: Callable[[], Awaitable[object]]) -> float:
    """Median wall seconds of ``count`` runs of ``make()``, one at a time."""
    times: list[float] = []
    for _ in range(count):
        _, t = await timed(make())
        times.append(t.wall)
    return statistics.median(times)


@dataclass
class Row:
    driver: str
    variant: str  # linux-bridge: "vxlan"; generic-ssh: the vendor
    n: int
    bind: Timed
    unbind: Timed
    note: str = ""
    extra: dict[str, float] = field(default_factory=dict)

    @property
    def per_bind_ms(self) -> float:
        return self.bind.wall / self.n * 1e3

    @property
    def per_unbind_ms(self) -> float:
        return self.unbind.wall / self.n * 1e3


def print_row(r: Row) -> None:
    print(
        f"  {r.driver:12} {r.variant:13} N={r.n:<4} bind {r.bind.wall:7.3f}s "
        f"({r.per_bind_ms:7.2f} ms/port, cpu {r.bind.cpu:.2f}s + children "
        f"{r.bind.children_cpu:.2f}s)  unbind {r.unbind.wall:7.3f}s "
        f"({r.per_unbind_ms:7.2f} ms/port)  {r.note}",
        flush=True,
    )


# --- linux-bridge ------------------------------------------------------------------------


def sh(*argv: str, check: bool = True, stdin: str | None = None) -> str:
    proc = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise RuntimeError(f"`{' '.join(argv)}` failed: {proc.stderr.strip()}")
    return proc.stdout


@dataclass
class Namespaces:
    """The namespaces one size of the run made; ``delete()`` removes exactly those."""

    made: list[str] = field(default_factory=list)

    def add(self, name: str) -> str:
        sh("ip", "netns", "add", name)
        self.made.append(name)
        return name

    def delete(self) -> None:
        for ns in reversed(self.made):
            sh("ip", "netns", "del", ns, check=False)
        self.made.clear()


def make_ports(switch_ns: str, hosts_ns: str, n: int) -> list[str]:
    """N veth pairs: ``h<i>`` up in ``hosts_ns``, ``p<i>`` (a port) in ``switch_ns``."""
    ports = [f"p{i}" for i in range(n)]
    batch = "".join(f"link add h{i} type veth peer name p{i} netns {switch_ns}\n"
                    f"link set h{i} up\n" for i in range(n))  # fmt: skip
    sh("ip", "-n", hosts_ns, "-batch", "-", stdin=batch)
    sh("ip", "-n", switch_ns, "link", "set", "lo", "up")
    return ports


def count_commands(driver: LinuxBridgeSwitch) -> list[int]:
    """Count the driver's ``ip``/``bridge`` child processes (a bench-local wrapper)."""
    counter = [0]
    run = driver._run

    async def counted(*argv: str, ok: tuple[str, ...] = ()) -> str:
        counter[0] += 1
        return await run(*argv, ok=ok)

    driver._run = counted  # type: ignore[method-assign]
    return counter


async def linux_bridge_size(run_tag: str, n: int, singles: int) -> Row:
    spaces = Namespaces()
    try:
        sw = spaces.add(f"bcb-{run_tag}-sw{n}")
        hosts = spaces.add(f"bcb-{run_tag}-h{n}")
        ports = make_ports(sw, hosts, n)
        driver = build("bench-lb", {"driver": "linux-bridge", "netns": sw, "timeout": 30})
        assert isinstance(driver, LinuxBridgeSwitch)
        commands = count_commands(driver)
        segments = [Segment("vxlan", VNI_BASE + i % SEGMENTS, network_id(i)) for i in range(n)]

        _, t_bind = await timed(asyncio.gather(
            *(driver.bind(p, s) for p, s in zip(ports, segments, strict=True))))  # fmt: skip
        bind_commands = commands[0]
        seen = await driver.bindings()
        for p, s in zip(ports, segments, strict=True):
            got = seen.get(p)
            assert got is not None and got.key == s.key, (p, got, s)

        commands[0] = 0
        _, t_unbind = await timed(asyncio.gather(*(driver.unbind(p) for p in ports)))
        unbind_commands = commands[0]
        seen = await driver.bindings()
        assert all(seen.get(p) is None for p in ports), seen
        left = sh("ip", "-n", sw, "-o", "link", "show", "type", "bridge").strip()
        assert not left, f"bridges left after unbinding every port: {left}"

        # One port alone on a switch with N ports (the unit cost, at this size).
        single_bind, single_unbind = await singles_alone(
            driver, ports[0], Segment("vxlan", VNI_BASE, network_id(0)), singles)
    finally:
        spaces.delete()
    return Row(
        "linux-bridge", "vxlan", n, t_bind, t_unbind,
        note=f"ip commands: {bind_commands / n:.2f}/bind, {unbind_commands / n:.2f}/unbind",
        extra={"single_bind_ms": single_bind * 1e3, "single_unbind_ms": single_unbind * 1e3},
    )  # fmt: skip


async def singles_alone(driver: SwitchDriver, port: str, segment: Segment,
                        count: int) -> tuple[float, float]:
    """Median wall seconds of one bind, and of one unbind, each alone (``count`` times)."""
    binds: list[float] = []
    unbinds: list[float] = []
    for _ in range(count):
        _, t = await timed(driver.bind(port, segment))
        binds.append(t.wall)
        _, t = await timed(driver.unbind(port))
        unbinds.append(t.wall)
    return statistics.median(binds), statistics.median(unbinds)


# --- generic-ssh -------------------------------------------------------------------------


@dataclass
class Unit:
    """One call alone against one vendor's switch: medians in ms."""

    vendor: str
    login_ms: float
    bind_ms: float
    unbind_ms: float
    bind_lines: int  # lines the switch received for one bind (log-in to log-out)


def ssh_driver(sw: SshSwitch, password: str) -> GenericSshSwitch:
    d = build("bench-tor", {"driver": "generic-ssh", "device_type": sw.state.device_type,
                            "address": "127.0.0.1", "port": sw.port, "username": USERNAME,
                            "password": password, "timeout": 60})  # fmt: skip
    assert isinstance(d, GenericSshSwitch)
    return d


async def ssh_login_only(driver: GenericSshSwitch) -> None:
    # The driver's own log-in (handshake, password, enable, no paging), then
    # the connection is dropped.
    session = await driver.cli.connect()
    session.conn.close()
    await session.conn.wait_closed()


async def ssh_unit(vendor: str, password: str, singles: int) -> Unit:
    sw = SshSwitch(vendor, USERNAME, password, ports=[port_name(vendor, 0)])
    await sw.start("127.0.0.1", 0)
    try:
        driver = ssh_driver(sw, password)
        port, seg = port_name(vendor, 0), Segment("vlan", VLAN_BASE, network_id(0))
        await driver.bind(port, seg)  # warm-up: imports, first key exchange
        await driver.unbind(port)
        login = await median_of(singles, lambda: ssh_login_only(driver))
        sw.state.commands.clear()
        await driver.bind(port, seg)
        lines = len(sw.state.commands)
        await driver.unbind(port)
        logins0 = sw.state.logins
        bind_s, unbind_s = await singles_alone(driver, port, seg, singles)
        assert sw.state.logins - logins0 == 2 * singles
        assert sw.state.access_vlan(port) is None and sw.state.startup is not None
        await driver.close()
    finally:
        await sw.close()
    return Unit(vendor, login * 1e3, bind_s * 1e3, unbind_s * 1e3, lines)


async def ssh_size(vendor: str, password: str, n: int) -> Row:
    ports = [port_name(vendor, i) for i in range(n)]
    sw = SshSwitch(vendor, USERNAME, password, ports=ports)
    await sw.start("127.0.0.1", 0)
    try:
        driver = ssh_driver(sw, password)
        segments = [Segment("vlan", VLAN_BASE + i % SEGMENTS, network_id(i)) for i in range(n)]
        # Moves queued behind a session share the next one (at most max_batch each).
        most = -(-n // driver.max_batch) + 1
        logins0 = sw.state.logins
        _, t_bind = await timed(asyncio.gather(
            *(driver.bind(p, s) for p, s in zip(ports, segments, strict=True))))  # fmt: skip
        bind_logins = sw.state.logins - logins0
        assert 1 <= bind_logins <= most, (bind_logins, n)
        assert sw.state.startup is not None
        for p, s in zip(ports, segments, strict=True):
            assert sw.state.access_vlan(p) == s.segmentation_id, (p, sw.state.access_vlan(p))
            assert sw.state.startup.interfaces[p].vlan == s.segmentation_id, p
        logins0 = sw.state.logins
        _, t_unbind = await timed(asyncio.gather(*(driver.unbind(p) for p in ports)))
        unbind_logins = sw.state.logins - logins0
        assert 1 <= unbind_logins <= most, (unbind_logins, n)
        assert all(sw.state.access_vlan(p) is None for p in ports)
        await driver.close()
    finally:
        await sw.close()
    return Row("generic-ssh", vendor, n, t_bind, t_unbind,
               note=f"log-ins: {bind_logins} for the binds, {unbind_logins} for the unbinds")


# --- report ------------------------------------------------------------------------------


def summary(rows: list[Row], units: list[Unit]) -> None:
    print("\n| driver | variant | N | binds, s | per bind, ms | unbinds, s | per unbind, ms "
          "| CPU (self + children), bind phase, s | single bind alone, ms | note |")
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|---|")
    by_vendor = {u.vendor: u for u in units}
    for r in rows:
        if r.driver == "linux-bridge":
            single = f"{r.extra['single_bind_ms']:.1f}"
        else:
            u = by_vendor.get(r.variant)
            single = f"{u.bind_ms:.1f}" if u else ""
        print(f"| {r.driver} | {r.variant} | {r.n} | {r.bind.wall:.3f} | {r.per_bind_ms:.2f} "
              f"| {r.unbind.wall:.3f} | {r.per_unbind_ms:.2f} "
              f"| {r.bind.cpu:.2f} + {r.bind.children_cpu:.2f} | {single} "
              f"| {r.note} |")  # fmt: skip
    if units:
        print("\n| vendor | log-in alone, ms | bind alone, ms | unbind alone, ms "
              "| lines per bind | log-in share of a bind |")
        print("|---|--:|--:|--:|--:|--:|")
        for u in units:
            print(f"| {u.vendor} | {u.login_ms:.1f} | {u.bind_ms:.1f} | {u.unbind_ms:.1f} "
                  f"| {u.bind_lines} | {u.login_ms / u.bind_ms:.0%} |")  # fmt: skip
    moves = RACK_MACHINES * MOVES_PER_DEPLOY
    for r in rows:
        if r.driver != "generic-ssh":
            continue
        deploy = moves * r.per_bind_ms / 1e3
        cycle = RACK_MACHINES * (MOVES_PER_DEPLOY + MOVES_PER_DELETE) * r.per_bind_ms / 1e3
        u = by_vendor.get(r.variant)
        ratio = f", {r.per_bind_ms / u.bind_ms:.2f}x the single bind" if u else ""
        print(f"{r.variant} N={r.n}: {r.per_bind_ms:.1f} ms per call at concurrency {r.n}"
              f"{ratio}; a rack of {RACK_MACHINES} deployed at once = {moves} moves "
              f"on its switch = {deploy:.1f} s (deploy + delete: {cycle:.1f} s)")


async def run(args: argparse.Namespace) -> tuple[list[Row], list[Unit]]:
    rows: list[Row] = []
    units: list[Unit] = []
    run_tag = uuid.uuid4().hex[:6]
    if "linux-bridge" in args.drivers:
        for n in args.sizes:
            row = await linux_bridge_size(run_tag, n, args.singles)
            rows.append(row)
            print_row(row)
            print(f"    one port alone on a switch of {n} ports: bind "
                  f"{row.extra['single_bind_ms']:.1f} ms, unbind "
                  f"{row.extra['single_unbind_ms']:.1f} ms (medians)",
                  flush=True)  # fmt: skip
    if "generic-ssh" in args.drivers:
        password = f"bench-{uuid.uuid4().hex}"
        for vendor in args.vendors:
            u = await ssh_unit(vendor, password, args.singles)
            units.append(u)
            print(f"  generic-ssh  {vendor:13} unit: log-in {u.login_ms:.1f} ms, bind alone "
                  f"{u.bind_ms:.1f} ms, unbind alone {u.unbind_ms:.1f} ms, "
                  f"{u.bind_lines} lines per bind", flush=True)  # fmt: skip
            for n in args.ssh_sizes:
                row = await ssh_size(vendor, password, n)
                rows.append(row)
                print_row(row)
    return rows, units


def sizes(text: str) -> list[int]:
    out = [int(x) for x in text.split(",") if x.strip()]
    if not out or any(not 1 <= n <= MAX_PORTS for n in out):
        raise argparse.ArgumentTypeError(f"sizes are 1-{MAX_PORTS}, comma-separated")
    return out


def names(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    def parse(text: str) -> list[str]:
        out = [x.strip() for x in text.split(",") if x.strip()]
        bad = [x for x in out if x not in choices]
        if not out or bad:
            raise argparse.ArgumentTypeError(f"choose from {', '.join(choices)}")
        return out

    return parse


def main() -> None:
    assert __doc__
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=sizes, default=[8, 32, 128],
                        help="linux-bridge: ports moved at once (default 8,32,128)")
    parser.add_argument("--ssh-sizes", type=sizes, default=[8, 32],
                        help="generic-ssh: ports moved at once (default 8,32)")
    parser.add_argument("--vendors", type=names(DEVICE_TYPES),
                        default=["cisco_ios", "juniper_junos"],
                        help="generic-ssh: lab switch CLIs (default cisco_ios,juniper_junos)")
    parser.add_argument("--drivers", type=names(DRIVERS), default=list(DRIVERS),
                        help="default linux-bridge,generic-ssh")
    parser.add_argument("--singles", type=int, default=20,
                        help="single calls timed alone for the unit cost (median)")
    args = parser.parse_args()
    if not 1 <= args.singles <= MAX_SINGLES:
        parser.error(f"--singles is 1-{MAX_SINGLES}")
    if "linux-bridge" in args.drivers and (os.geteuid() != 0 or shutil.which("ip") is None):
        parser.error("linux-bridge needs root and iproute2 (or: --drivers generic-ssh)")
    print(machine_info())
    print(f"load average at start {load()}", flush=True)
    rows, units = asyncio.run(run(args))
    print(f"load average at end {load()}")
    summary(rows, units)


if __name__ == "__main__":
    main()
