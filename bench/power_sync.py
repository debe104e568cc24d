"""Benchmark (issue 3): a full power-state sync of N lab machines, IPMI and Redfish.

barecloud's own sweep (``Reconcilers.sync_power``) against a baseline that
works the way Ironic's default ``ipmitool`` power interface does: one
``ipmitool`` process per node, ``--workers`` at a time.  All in one run:

1. ``python -m barecloud.lab up --nodes N --shards K --json`` in a temporary
   directory: N machines, each with an IPMI 2.0 lanplus BMC on its own UDP
   port, and one Redfish service per shard process;
2. ``--on`` of the machines (10 %, at random) are powered on through the
   lab's Redfish service, so the answers are not all the same;
3. two SQLite databases (migrated with ``barecloud.db.migrate``), one per
   protocol, get a node per machine through ``services.nodes.create`` with
   the lab's own enrollment body (``barecloud.lab.enroll.node_body``,
   what ``barecloud lab enroll`` POSTs); the benchmark then sets
   ``provision_state`` to ``manageable`` and ``power_state`` to
   ``power off`` directly in the database (a sweep skips ``enroll``);
4. per protocol, on an in-process ``Conductor`` (not started: the sweep is
   called directly): a cold sweep (no IPMI session, no HTTP connection
   yet: every BMC is logged in to), ``--repeat`` warm sweeps (sessions and
   connections reused), a sweep with ``--faults`` of the machines
   ``unreachable`` (a lab fault: their BMCs go silent), and one after the
   fault is cleared.  Before each warm or fault sweep ``--flip`` of the
   machines change power through the lab, so every sweep has drift to find;
5. the baseline: ``ipmitool -I lanplus -H 127.0.0.1 -p PORT -U USER -P PASS
   power status``, one process per node, ``--workers`` threads, over a
   random ``--baseline`` nodes (all by default), extrapolated linearly to N
   when fewer.

Every sweep is checked: ``report.checked`` is N, ``report.changed`` is the
number of nodes whose database state differed from the machine's (computed
from the lab's own machine files), ``report.failed`` is the number of
unreachable machines, and afterwards every node's ``power_state`` in the
database is what the lab says (unreachable nodes keep their old state and
count one failure).  For IPMI, sessions are counted: a cold sweep logs in
to every BMC once, a warm one to none.  Every ipmitool answer is checked
against the lab too.  The lab, the databases and the temporary directory
are removed at the end; only processes this benchmark started are stopped.

    .venv/bin/python bench/power_sync.py                        # N=10,000
    .venv/bin/python bench/power_sync.py --nodes 1000 --baseline 200
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from sqlalchemy import select, update

from barecloud import states
from barecloud.conductor.engine import Conductor
from barecloud.conductor.node_views import node_view
from barecloud.config import Settings
from barecloud.db import migrate, sealed
from barecloud.db.models import Node
from barecloud.db.session import Database
from barecloud.drivers import hardware, ipmi
from barecloud.lab.enroll import node_body
from barecloud.lab.layout import HOST, LabDir
from barecloud.lab.machine import Machine
from barecloud.services.baremetal import nodes
from barecloud.services.context import RequestContext, Runtime
from barecloud.wire.ipmi.server import raise_open_files_limit

CTX = RequestContext(request_id="req-bench-power-sync")
ON, OFF = states.POWER_ON, states.POWER_OFF
# The drivers' default per-call timeouts (driver_info ipmi_timeout, redfish_timeout).
TIMEOUTS = {"ipmi": 5.0, "redfish": 10.0}


# --- the lab ----------------------------------------------------------------------------


def free_range(count: int, kind: socket.SocketKind, first: int) -> int:
    """``first``, or the next base with ``count`` free ports below the ephemeral range.

    Tests start labs on random ranges above 20000 on the same machine.
    """
    base = first
    while base + count <= 32768:
        held: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                s = socket.socket(socket.AF_INET, kind)
                held.append(s)
                s.bind((HOST, port))
            return base
        except OSError:
            base = port + 1
        finally:
            for s in held:
                s.close()
    raise SystemExit(f"no {count} consecutive free ports from {first} below 32768")


def lab_cli(*args: str) -> str:
    out = subprocess.run([sys.executable, "-m", "barecloud.lab", *args],
                         capture_output=True, text=True, check=False)  # fmt: skip
    if out.returncode != 0:
        raise SystemExit(f"lab {' '.join(args[:1])} failed:\n{out.stderr}{out.stdout}")
    return out.stdout


class Lab:
    """The lab's machines, and power and faults changed through the lab itself."""

    def __init__(self, path: Path) -> None:
        self.dir = LabDir(path)
        self.state = self.dir.read()
        self.machines: list[Machine] = list(self.dir.machines())
        self.url = {n: s.redfish_url for s in self.state.shards for n in s.machines}

    def truth(self) -> dict[str, bool]:
        """Power of every machine as the lab keeps it (its files, written through)."""
        return {m.uuid: m.power_on for m in self.dir.machines()}

    async def set_power(self, machines: list[Machine], on: bool) -> None:
        """Power machines on or off through their Redfish BMC (outside barecloud)."""
        limit = asyncio.Semaphore(32)
        body = {"ResetType": "On" if on else "ForceOff"}
        async with httpx.AsyncClient(timeout=30) as http:

            async def one(m: Machine) -> None:
                async with limit:
                    rsp = await http.post(
                        f"{self.url[m.name]}/redfish/v1/Systems/{m.name}"
                        "/Actions/ComputerSystem.Reset",
                        json=body, auth=(m.username, m.password),
                    )  # fmt: skip
                    rsp.raise_for_status()

            await asyncio.gather(*(one(m) for m in machines))

    async def flip(self, machines: list[Machine], truth: dict[str, bool]) -> None:
        await self.set_power([m for m in machines if truth[m.uuid]], False)
        await self.set_power([m for m in machines if not truth[m.uuid]], True)

    async def fault(self, machines: list[Machine], kind: str, on: bool) -> None:
        """Set or clear a fault through the shard's control API (as ``lab fault``)."""
        limit = asyncio.Semaphore(32)
        headers = {"X-Lab-Token": self.state.control_token}
        async with httpx.AsyncClient(timeout=30, headers=headers) as http:

            async def one(m: Machine) -> None:
                async with limit:
                    url = f"{self.url[m.name]}/lab/v1/machines/{m.name}/faults/{kind}"
                    rsp = await (http.put(url) if on else http.delete(url))
                    rsp.raise_for_status()
                    assert (kind in rsp.json()["faults"]) == on

            await asyncio.gather(*(one(m) for m in machines))


# --- barecloud's side ---------------------------------------------------------------------


@dataclass
class Row:
    protocol: str
    sweep: str
    seconds: float
    checked: int
    changed: int
    failed: int
    logins: int | None = None
    note: str = ""


@dataclass
class Fleet:
    """One protocol's database, conductor and what the database says now."""

    protocol: str
    db: Database
    conductor: Conductor
    db_power: dict[str, str | None] = field(default_factory=dict)


async def enroll(tmp: Path, protocol: str, lab: Lab, settings: Settings) -> tuple[Fleet, float]:
    url = f"sqlite+aiosqlite:///{tmp / f'{protocol}.sqlite'}"
    await migrate.upgrade_async(url)
    db = Database(url)
    rt = Runtime(db, settings)
    started = time.perf_counter()
    for m in lab.machines:
        await nodes.create(rt, CTX, node_body(m, protocol, lab.url[m.name]),
                           initial=states.ENROLL)  # fmt: skip
    # Benchmark set-up, not the state machine: a sweep skips nodes in enroll.
    async with db.session() as s:
        await s.execute(update(Node).values(provision_state=states.MANAGEABLE, power_state=OFF))
    took = time.perf_counter() - started
    fleet = Fleet(protocol, db, Conductor(db, settings))
    fleet.db_power = {m.uuid: OFF for m in lab.machines}
    return fleet, took


async def ipmi_logins(fleet: Fleet) -> int:
    """Log-ins the loop's IPMI sessions made so far, over the fleet's nodes."""
    async with fleet.db.session() as s:
        rows = (await s.scalars(select(Node))).all()
        keys = sealed.keyring(fleet.conductor.settings.data_dir)
        views = [node_view(n, keys, with_ports=False) for n in rows]
    return sum(ipmi.session_of(v).logins for v in views)


async def sweep(fleet: Fleet, lab: Lab, name: str, dead: set[str], note: str = "") -> Row:
    truth = lab.truth()
    want = {u: ON if on else OFF for u, on in truth.items()}
    expect_changed = sum(1 for u, p in want.items() if u not in dead and fleet.db_power[u] != p)
    before = await ipmi_logins(fleet) if fleet.protocol == "ipmi" else 0
    report = await fleet.conductor.reconcilers.sync_power()
    logins = await ipmi_logins(fleet) - before if fleet.protocol == "ipmi" else None
    n = len(truth)
    assert report.checked == n, (name, report)
    assert report.failed == len(dead), (name, report, len(dead))
    assert report.changed == expect_changed, (name, report, expect_changed)
    async with fleet.db.session() as s:
        rows = (await s.execute(select(Node.uuid, Node.power_state,
                                       Node.power_sync_failures))).all()  # fmt: skip
    assert len(rows) == n
    for uuid, power, failures in rows:
        if uuid in dead:
            assert power == fleet.db_power[uuid] and failures >= 1, (name, uuid, power, failures)
        else:
            assert power == want[uuid] and failures == 0, (name, uuid, power, want[uuid])
    fleet.db_power = {u: p for u, p, _ in rows}
    return Row(fleet.protocol, name, report.seconds, report.checked, report.changed,
               report.failed, logins, note)  # fmt: skip


async def measure(
    fleet: Fleet, lab: Lab, args: argparse.Namespace, rng: random.Random
) -> list[Row]:
    rows: list[Row] = []
    n = len(lab.machines)
    flips = max(1, round(n * args.flip))
    rows.append(await sweep(fleet, lab, "cold", set(), "first sweep: log-ins / connects"))
    if fleet.protocol == "ipmi":
        assert rows[-1].logins == n, rows[-1]
    for i in range(args.repeat):
        await lab.flip(rng.sample(lab.machines, flips), lab.truth())
        rows.append(await sweep(fleet, lab, f"warm {i + 1}", set(), f"{flips} flipped before"))
        if fleet.protocol == "ipmi":
            assert rows[-1].logins == 0, rows[-1]
    dead_machines = rng.sample(lab.machines, max(1, round(n * args.faults)))
    dead = {m.uuid for m in dead_machines}
    alive = [m for m in lab.machines if m.uuid not in dead]
    await lab.flip(rng.sample(alive, flips), lab.truth())  # (a silent BMC cannot be asked)
    await lab.fault(dead_machines, "unreachable", on=True)
    try:
        rows.append(await sweep(fleet, lab, "faults", dead,
                                f"{len(dead)} unreachable, {flips} flipped"))  # fmt: skip
    finally:
        await lab.fault(dead_machines, "unreachable", on=False)
    rows.append(await sweep(fleet, lab, "recovered", set(), "fault cleared"))
    return rows


async def barecloud_side(
    tmp: Path, lab: Lab, args: argparse.Namespace, rng: random.Random
) -> tuple[list[Row], dict[str, float]]:
    settings = Settings(
        data_dir=tmp, conductor_name="bench-conductor", power_sync_interval=3600,
        deadline_check_interval=3600, conductor_heartbeat_interval=3600,
        **({"power_sync_workers": args.sync_workers} if args.sync_workers else {}),
    )  # fmt: skip
    rows: list[Row] = []
    enroll_s: dict[str, float] = {}
    for protocol in args.protocols:
        fleet, took = await enroll(tmp, protocol, lab, settings)
        enroll_s[protocol] = took
        print(f"{protocol}: {len(lab.machines)} nodes enrolled in {took:.1f}s", flush=True)
        try:
            for row in await measure(fleet, lab, args, rng):
                rows.append(row)
                print_row(row)
        finally:
            await hardware.close_connections()
            await fleet.db.dispose()
    return rows, enroll_s


# --- the baseline: ipmitool, one process per node ----------------------------------------


def ipmitool_status(tool: str, m: Machine, expect_on: bool) -> None:
    out = subprocess.run(
        [tool, "-I", "lanplus", "-H", HOST, "-p", str(m.ipmi_port),
         "-U", m.username, "-P", m.password, "power", "status"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stdout  # fmt: skip
    want = f"Chassis Power is {'on' if expect_on else 'off'}"
    assert want in out, (m.name, out)


def baseline(lab: Lab, sample: list[Machine], workers: int) -> float:
    tool = shutil.which("ipmitool")
    if tool is None:
        raise SystemExit("ipmitool missing: run scripts/system-packages")
    truth = lab.truth()
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        list(ex.map(lambda m: ipmitool_status(tool, m, truth[m.uuid]), sample))
    return time.perf_counter() - started


# --- report -------------------------------------------------------------------------------


def print_row(r: Row) -> None:
    logins = "" if r.logins is None else f"{r.logins:>7}"
    print(f"  {r.protocol:8} {r.sweep:10} {r.seconds:7.2f}s  checked {r.checked:>6}  "
          f"changed {r.changed:>5}  failed {r.failed:>4}  logins {logins:>7}  {r.note}",
          flush=True)  # fmt: skip


def machine_info() -> str:
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "?")  # fmt: skip
    mem = next(int(line.split()[1]) for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal"))  # fmt: skip
    return (
        f"{os.cpu_count()} CPUs ({model}), {mem / 2**20:.1f} GiB RAM, "
        f"Python {platform.python_version()}, {platform.system()} {platform.release()}; "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


def summary(rows: list[Row], base_full: float | None, n: int) -> None:
    print(
        f"\n{'protocol':8} {'sweep':10} {'seconds':>8} {'per node':>9} {'nodes/s':>8}"
        f" {'changed':>7} {'failed':>6}  baseline/this"
    )
    for r in rows:
        ratio = f"{base_full / r.seconds:8.1f}x" if base_full and r.failed == 0 else ""
        print(f"{r.protocol:8} {r.sweep:10} {r.seconds:8.2f} {r.seconds / n * 1e3:7.3f}ms"
              f" {n / r.seconds:8.0f} {r.changed:>7} {r.failed:>6}  {ratio}")  # fmt: skip
    if base_full:
        print(
            f"{'ipmitool':8} {'baseline':10} {base_full:8.2f} {base_full / n * 1e3:7.3f}ms"
            f" {n / base_full:8.0f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--on", type=float, default=0.10, help="fraction powered on at first")
    parser.add_argument(
        "--flip", type=float, default=0.02, help="fraction changing power before each later sweep"
    )
    parser.add_argument(
        "--faults", type=float, default=0.01, help="fraction unreachable in the fault sweep"
    )
    parser.add_argument("--repeat", type=int, default=3, help="warm sweeps")
    parser.add_argument(
        "--baseline", type=int, default=None, help="nodes asked by ipmitool (default all; 0: skip)"
    )
    parser.add_argument("--workers", type=int, default=8, help="ipmitool workers")
    parser.add_argument(
        "--sync-workers",
        type=int,
        default=0,
        help="power_sync_workers (default: barecloud's default)",
    )
    parser.add_argument(
        "--protocols", nargs="+", default=["ipmi", "redfish"], choices=["ipmi", "redfish"]
    )
    parser.add_argument(
        "--ipmi-base-port", type=int, default=16000, help="UDP port of machine 1 (or the next free)"
    )
    parser.add_argument(
        "--redfish-base-port",
        type=int,
        default=15000,
        help="TCP port of shard 0 (or the next free)",
    )
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    raise_open_files_limit(2 * args.nodes + 1024)  # a UDP socket per IPMI session
    print(machine_info())
    tmp = Path(tempfile.mkdtemp(prefix="barecloud-power-sync-"))
    lab_dir = tmp / "lab"
    try:
        started = time.perf_counter()
        ipmi_base = free_range(args.nodes, socket.SOCK_DGRAM, args.ipmi_base_port)
        redfish_base = free_range(args.shards, socket.SOCK_STREAM, args.redfish_base_port)
        ports = [f"--ipmi-base-port={ipmi_base}", f"--redfish-base-port={redfish_base}"]
        up = json.loads(lab_cli("up", "--nodes", str(args.nodes), "--shards", str(args.shards),
                                "--lab-dir", str(lab_dir), *ports, "--json"))  # fmt: skip
        print(
            f"lab: {up['machines']} machines in {len(up['shards'])} shard processes "
            f"(pids {', '.join(str(s['pid']) for s in up['shards'])}), "
            f"up in {time.perf_counter() - started:.1f}s",
            flush=True,
        )
        lab = Lab(lab_dir)
        n = len(lab.machines)
        assert n == args.nodes
        asyncio.run(lab.set_power(rng.sample(lab.machines, round(n * args.on)), True))
        print(f"{sum(lab.truth().values())} machines powered on through the lab", flush=True)

        rows, _ = asyncio.run(barecloud_side(tmp, lab, args, rng))

        base_full = None
        sample_n = n if args.baseline is None else min(args.baseline, n)
        if sample_n:
            sample = lab.machines if sample_n == n else rng.sample(lab.machines, sample_n)
            base = baseline(lab, sample, args.workers)
            base_full = base / sample_n * n
            how = "all" if sample_n == n else f"a random {sample_n}, extrapolated linearly"
            print(
                f"ipmitool, one process per node, {args.workers} workers: {sample_n} nodes in "
                f"{base:.1f}s ({base / sample_n * 1e3:.2f} ms/node); {n} nodes: "
                f"{base_full:.1f}s ({how})",
                flush=True,
            )
        print(f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        summary(rows, base_full, n)
        if base_full:
            for proto in args.protocols:
                cold = next(r for r in rows if r.protocol == proto and r.sweep == "cold")
                warm = statistics.median(
                    r.seconds for r in rows if r.protocol == proto and r.sweep.startswith("warm")
                )
                print(f"{proto}: cold {cold.seconds:.2f}s ({base_full / cold.seconds:.1f}x), "
                      f"warm median {warm:.2f}s ({base_full / warm:.1f}x) vs ipmitool "
                      f"{base_full:.1f}s")  # fmt: skip
        workers = args.sync_workers or Settings().power_sync_workers
        for r in rows:
            if r.sweep == "faults":
                timeout = TIMEOUTS[r.protocol]
                waves = math.ceil(r.failed / workers)
                print(f"{r.protocol} faults: {r.seconds:.2f}s with {r.failed} unreachable; "
                      f"timeout {timeout:g}s, power_sync_workers {workers}: the dead alone "
                      f"need >= {waves} x {timeout:g}s; one after the other they would "
                      f"take {r.failed * timeout:.0f}s")  # fmt: skip
    finally:
        if (lab_dir / "lab.json").exists():
            lab_cli("down", "--lab-dir", str(lab_dir))
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
