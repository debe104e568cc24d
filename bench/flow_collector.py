"""Benchmark (issue 20): the sFlow collector's flow rate, and its CPU share at a 1 Gbit/s flood.

Why: the collector runs inside barecloud's own process (one per switch that
exports flows), on the cores the APIs and the conductor use.  A switch
sampling 1 packet in 1,000 of a 1 Gbit/s flood sends 81 samples a second
when the frames are full-size (1,518 bytes + 20 of preamble and gap on the
wire: 81,274 frames/s) and 1,488 a second when they are minimum-size (84
bytes on the wire: 1,488,095 frames/s); this measures what those cost.

Three phases, in this process, on SQLite (a fresh database under a temporary
directory, migrated), with the product's ``fake`` switch playing a switch
that exports flows (``flow_export``; port N is ifIndex N) and ``--machines``
servers' Neutron ports (a MAC and an address each) to attribute flows to:

1. **decode**: ``--datagrams`` datagrams of 7 flow samples each (what Open
   vSwitch packs into one, 128-byte headers), TCP between random pairs of
   the machines, decoded and summed per flow by the collector's table
   (``FlowTable.add_datagram``): samples per second, one core.
2. **attribute + write**: the table's ``--flows`` distinct flows attributed
   (switch ports, MACs, addresses: one read of each) and written, one row
   per flow (``FlowCollector.flush``): flows per second.
3. **flood**: the real collector (its UDP socket, its leader, its flushes every
   ``flow_interval``) fed by a generator process that sends datagrams at the
   sample rate of a 1 Gbit/s flood sampled 1 in 1,000 (full-size and
   minimum-size frames, and ``--stress`` times the latter), for
   ``--seconds`` each: this process's CPU seconds over the window (the
   collector's share of one core), and whether every sample was received.
   The generator is synthetic (this machine cannot forward 1 Gbit/s through
   Open vSwitch's userspace datapath and sample it at the same time): what
   it sends is what such a switch would.

    .venv/bin/python bench/flow_collector.py
"""

from __future__ import annotations

import argparse
import asyncio
import random
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import select

from barecloud.config import Settings
from barecloud.db import migrate
from barecloud.db.network_models import IPAllocation
from barecloud.db.session import Database
from barecloud.drivers.switches import registry
from barecloud.drivers.switches.fake import FakeSwitch
from barecloud.services.context import Runtime
from barecloud.services.network import flows, networks, ports, subnets
from barecloud.services.tenancy import service_context
from barecloud.wire import sflow
from host import load, machine_info  # bench/host.py, next to this file

PER_DATAGRAM = 7
RATE = 1000
FULL = 81_274  # frames/s of 1 Gbit/s at 1,518-byte frames
SMALL = 1_488_095  # frames/s of 1 Gbit/s at 64-byte frames

GENERATOR = """
import random, socket, sys, time
sys.path[:0] = sys.argv[5].split(":")
from barecloud.wire import sflow
host, port, rate, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
frames = [bytes.fromhex(f) for f in sys.argv[6].split(",")]
machines = len(frames)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 22)
rng = random.Random(2)
start = time.monotonic(); sent = seq = 0
while (now := time.monotonic()) - start < seconds:
    due = int((now - start) * rate)
    while sent < due:
        samples = []
        for _ in range(7):
            i = rng.randrange(machines)
            samples.append(sflow.encode_flow_sample(sequence=seq, source=i + 1, rate=1000,
                pool=seq * 1000, inp=i + 1, outp=(i + 1) % machines + 1, frame=frames[i],
                frame_length=1518))
            seq += 1
        s.sendto(sflow.encode_datagram("10.0.0.254", seq, seq, samples), (host, port))
        sent += 7
    time.sleep(0.002)
print(sent)
"""


def frame(src_mac: str, dst_mac: str, src: str, dst: str, sport: int, dport: int) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 1500, 1, 0, 64, 6, 0, socket.inet_aton(src),
                     socket.inet_aton(dst))
    tcp = struct.pack("!HHIIHHHH", sport, dport, 0, 0, 0x5010, 0, 0, 0)
    return (bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex(src_mac.replace(":", ""))
            + b"\x08\x00" + ip + tcp + b"x" * 60)


async def setup(rt: Runtime, machines: int) -> list[tuple[str, str]]:
    """``machines`` Neutron ports on one network: (MAC, address) each."""
    ctx = service_context("req-bench")
    net = await networks.create(rt, ctx, {"name": "bench", "project_id": "p" * 32})
    await subnets.create(rt, ctx, {"network_id": net.id, "cidr": "10.40.0.0/16",
                                   "ip_version": 4, "project_id": "p" * 32})
    out = []
    for i in range(machines):
        port = await ports.create_port(rt, ctx, project_id="p" * 32, network_id=net.id,
                                       device_id=f"server-{i}", device_owner="compute:nova")
        async with rt.db.session() as s:
            ip = await s.scalar(select(IPAllocation.ip_address).where(
                IPAllocation.port_id == port.id))
        out.append((port.mac_address, str(ip)))
    return out


def datagrams(vifs: list[tuple[str, str]], count: int, distinct: int) -> list[bytes]:
    rng = random.Random(1)
    pairs = [(rng.randrange(len(vifs)), rng.randrange(len(vifs)), 1024 + k)
             for k in range(distinct)]
    frames = [frame(vifs[a][0], vifs[b][0], vifs[a][1], vifs[b][1], sport, 5201)
              for a, b, sport in pairs]
    out = []
    seq = 0
    for _ in range(count):
        samples = []
        for _ in range(PER_DATAGRAM):
            k = rng.randrange(distinct)
            a, b, _ = pairs[k]
            samples.append(sflow.encode_flow_sample(
                sequence=seq, source=a + 1, rate=RATE, pool=seq * RATE, inp=a % 64 + 1,
                outp=b % 64 + 1, frame=frames[k], frame_length=1518))
            seq += 1
        out.append(sflow.encode_datagram("10.0.0.254", seq, seq, samples))
    return out


async def flood(collector: flows.FlowCollector, vifs: list[tuple[str, str]], rate: float,
                seconds: float) -> tuple[int, int, float, float]:
    """(sent, received, CPU seconds of this process, wall seconds)."""
    assert collector.target is not None
    host, port = collector.target.rsplit(":", 1)
    hexes = ",".join(frame(vifs[i][0], vifs[(i + 1) % len(vifs)][0], vifs[i][1],
                           vifs[(i + 1) % len(vifs)][1], 40000 + i, 5201).hex()
                     for i in range(min(len(vifs), 64)))
    received0 = collector.table.samples  # cumulative: flushes do not reset it
    cpu0, wall0 = time.process_time(), time.monotonic()
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", GENERATOR, host, port, str(rate), str(seconds),
        ":".join(sys.path), hexes, stdout=subprocess.PIPE)
    out, _ = await proc.communicate()
    await asyncio.sleep(0.5)  # the last datagrams in flight
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    return int(out.strip() or 0), collector.table.samples - received0, cpu, wall


async def main(args: argparse.Namespace) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-flows-"))
    url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    await migrate.upgrade_async(url)
    db = Database(url)
    settings = Settings(data_dir=tmp, host="127.0.0.1", flow_interval=args.interval,
                        switches={"tor": {"driver": "fake", "flow_export": True,
                                          "ports": [f"p{i}" for i in range(1, 65)]}})
    rt = Runtime(db, settings)
    print(f"# flow collector benchmark: {machine_info()}; load {load()}")
    vifs = await setup(rt, args.machines)

    # 1. decode and sum
    data = datagrams(vifs, args.datagrams, args.flows)
    table = flows.FlowTable()
    cpu0, t0 = time.process_time(), time.perf_counter()
    for d in data:
        table.add_datagram(d)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    n = len(data) * PER_DATAGRAM
    assert table.samples == n and table.errors == 0
    print(f"decode+sum: {n} samples in {wall:.2f} s ({cpu:.2f} s CPU): "
          f"{n / wall:,.0f} samples/s; {len(table.flows)} flows")

    # 2. attribute and write
    collector = flows.FlowCollector(rt, "tor")
    collector.table = table
    t0 = time.perf_counter()
    written = await collector.flush()
    wall = time.perf_counter() - t0
    print(f"attribute+write: {written} flows in {wall:.2f} s: {written / wall:,.0f} flows/s "
          f"(one row per flow per {args.interval:g} s interval)")

    # 3. flood
    await collector.start()
    for _ in range(200):
        if collector.target is not None:
            break
        await asyncio.sleep(0.05)
    tor = registry.switch_driver("tor", settings)
    assert isinstance(tor, FakeSwitch) and tor.flow_target == collector.target
    for label, frames_per_s in (("1 Gbit/s, 1518-byte frames", FULL),
                                ("1 Gbit/s, 64-byte frames", SMALL),
                                (f"{args.stress} x 1 Gbit/s, 64-byte frames",
                                 SMALL * args.stress)):
        rate = frames_per_s / RATE
        sent, got, cpu, wall = await flood(collector, vifs, rate, args.seconds)
        print(f"flood {label}, 1 in {RATE}: {rate:,.0f} samples/s for {args.seconds:g} s: "
              f"received {got}/{sent}, collector CPU {cpu:.2f} s in {wall:.1f} s = "
              f"{100 * cpu / wall:.1f} % of a core")
    await collector.stop()
    print(f"rows written during the floods: {collector.written - written}")
    await db.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=64)
    parser.add_argument("--datagrams", type=int, default=20_000)
    parser.add_argument("--flows", type=int, default=2_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--interval", type=float, default=10.0)
    parser.add_argument("--stress", type=int, default=10)
    asyncio.run(main(parser.parse_args()))
