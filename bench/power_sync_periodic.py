"""Benchmark (issue 15): periodic power syncs at the default interval, keep-alives on and off.

``bench/power_sync.py`` times sweeps back to back; a conductor sweeps every
``power_sync_interval`` (60 s), longer than a BMC keeps an idle session (60 s
on the lab's BMCs and the spec's, 30 s on some).  This run times what a
conductor really pays, over N lab machines and both settings at once:

1. ``barecloud.lab up`` (as ``bench/power_sync.py``; the lab's BMCs end
   sessions idle for 60 s), ``--on`` of the machines powered on;
2. two arms, each its own process, SQLite database (the lab's enrollment
   body, ``bench/power_sync.py``'s ``enroll``) and ``Conductor``: ``on`` with
   the default ``ipmi_keepalive_interval`` (20 s), ``off`` with 0;
3. each arm sweeps (``Reconcilers.sync_power``) ``--sweeps`` times, sleeping
   ``--interval`` between the end of one and the start of the next, as the
   conductor's reconciler does; the ``off`` arm starts half an interval later,
   so that the two arms' sweeps never overlap; the ``on`` arm's keep-alives
   run all the time, during the ``off`` arm's sweeps too;
4. every sweep is checked as in ``bench/power_sync.py`` (checked = N, failed
   = 0, the database matches the lab) and its log-ins counted; the arm also
   counts keep-alives answered and its own CPU time between sweeps.

    .venv/bin/python bench/power_sync_periodic.py                    # N=10,000
    .venv/bin/python bench/power_sync_periodic.py --nodes 1000 --sweeps 3
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from barecloud.config import Settings
from barecloud.drivers import hardware, ipmi
from barecloud.wire.ipmi.commands import CMD_GET_DEVICE_ID, NETFN_APP, DeviceId
from barecloud.wire.ipmi.crypto import cipher_suite, derive_keys
from barecloud.wire.ipmi.errors import CC_OK
from barecloud.wire.ipmi.framing import IpmiRequest, PayloadType, build_v20_packet
from barecloud.wire.ipmi.server import raise_open_files_limit
from host import load, machine_info  # bench/host.py, next to this file
from power_sync import Lab, enroll, free_range, lab_cli, sweep

KEEPALIVE = Settings().ipmi_keepalive_interval


def keepalive_bytes() -> tuple[int, int]:
    """UDP payload of one keep-alive request and its answer (suite 3), without IP/UDP."""
    suite = cipher_suite(3)
    keys = derive_keys(suite, b"password", bytes(16), bytes(16), 4, b"admin")
    req = IpmiRequest(NETFN_APP, CMD_GET_DEVICE_ID, b"", 1).encode()
    rsp = IpmiRequest(NETFN_APP, CMD_GET_DEVICE_ID, b"", 1).response(
        CC_OK, DeviceId().encode()).encode()
    return (len(build_v20_packet(PayloadType.IPMI, req, 1, 1, keys)),
            len(build_v20_packet(PayloadType.IPMI, rsp, 1, 1, keys)))


# --- one arm: its own process, database and conductor --------------------------------


async def arm(args: argparse.Namespace) -> None:
    tmp = Path(args.tmp)
    lab = Lab(Path(args.lab_dir))
    settings = Settings(
        data_dir=tmp / args.arm, conductor_name=f"bench-{args.arm}",
        deadline_check_interval=3600, conductor_heartbeat_interval=3600,
        power_sync_interval=args.interval,
        ipmi_keepalive_interval=KEEPALIVE if args.arm == "on" else 0.0,
    )  # fmt: skip
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    # (enroll makes the Conductor, which configures the pools' keep-alives.)
    fleet, took = await enroll(settings.data_dir, "ipmi", lab, settings)
    emit({"arm": args.arm, "enrolled": took})
    start = float(await asyncio.to_thread(sys.stdin.readline))  # when both arms are ready
    await asyncio.sleep(max(0.0, start - time.time()))
    try:
        cpu = time.process_time()
        for i in range(args.sweeps):
            if i:
                await asyncio.sleep(args.interval)  # as Reconcilers._every: end to start
            idle_cpu = time.process_time() - cpu
            sent = sum(p.keepalives for p in ipmi.pools())
            started_cpu = time.process_time()
            row = await sweep(fleet, lab, "cold" if i == 0 else f"periodic {i}", set())
            cpu = time.process_time()
            emit({"arm": args.arm, "sweep": row.sweep, "seconds": row.seconds,
                  "checked": row.checked, "changed": row.changed, "failed": row.failed,
                  "logins": row.logins, "keepalives_before": sent, "idle_cpu": idle_cpu,
                  "sweep_cpu": cpu - started_cpu, "load": load(), "at": time.time()})
        pools = ipmi.pools()
        emit({"arm": args.arm, "done": True, "keepalives": sum(p.keepalives for p in pools),
              "dropped": sum(p.dropped for p in pools),
              "expired": sum(p.expired for p in pools)})
    finally:
        await hardware.close_connections()
        await fleet.db.dispose()


def emit(record: dict[str, Any]) -> None:
    print(json.dumps(record), flush=True)


# --- the run ------------------------------------------------------------------------------


def start_arm(name: str, args: argparse.Namespace, tmp: Path,
              lab_dir: Path) -> subprocess.Popen[str]:
    cmd = [sys.executable, __file__, "--arm", name, "--tmp", str(tmp), "--lab-dir", str(lab_dir),
           "--sweeps", str(args.sweeps), "--interval", str(args.interval)]  # fmt: skip
    return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--shards", type=int, default=4)
    parser.add_argument("--on", type=float, default=0.10, help="fraction powered on")
    parser.add_argument("--sweeps", type=int, default=5, help="per arm: cold, then periodic")
    parser.add_argument("--interval", type=float, default=Settings().power_sync_interval,
                        help="seconds from the end of a sweep to the next (power_sync_interval)")
    parser.add_argument("--ipmi-base-port", type=int, default=16000)
    parser.add_argument("--redfish-base-port", type=int, default=15000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--arm", choices=["on", "off"], help=argparse.SUPPRESS)
    parser.add_argument("--tmp", help=argparse.SUPPRESS)
    parser.add_argument("--lab-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    raise_open_files_limit(2 * args.nodes + 1024)  # a UDP socket per IPMI session
    if args.arm:
        asyncio.run(arm(args))
        return

    print(machine_info())
    print(f"load average at the start: {load()}")
    req, rsp = keepalive_bytes()
    print(f"keep-alive: Get Device ID, {req} bytes out and {rsp} back (UDP payload, suite 3); "
          f"one per session per {KEEPALIVE:g} s at most")
    rng = random.Random(args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="barecloud-power-periodic-"))
    lab_dir = tmp / "lab"
    arms: list[subprocess.Popen[str]] = []
    try:
        started = time.perf_counter()
        ipmi_base = free_range(args.nodes, socket.SOCK_DGRAM, args.ipmi_base_port)
        redfish_base = free_range(args.shards, socket.SOCK_STREAM, args.redfish_base_port)
        up = json.loads(lab_cli("up", "--nodes", str(args.nodes), "--shards", str(args.shards),
                                "--lab-dir", str(lab_dir), f"--ipmi-base-port={ipmi_base}",
                                f"--redfish-base-port={redfish_base}", "--json"))  # fmt: skip
        print(f"lab: {up['machines']} machines in {len(up['shards'])} shard processes, "
              f"up in {time.perf_counter() - started:.1f}s", flush=True)
        lab = Lab(lab_dir)
        asyncio.run(lab.set_power(rng.sample(lab.machines, round(args.nodes * args.on)), True))
        # Both arms enroll at once, then sweep: "off" half an interval after "on".
        arms = [start_arm("on", args, tmp, lab_dir), start_arm("off", args, tmp, lab_dir)]
        records = []
        for proc in arms:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line:
                raise SystemExit("an arm failed to enroll")
            records.append(json.loads(line))
            print(f"  {line.strip()}", flush=True)
        start = time.time() + 1
        for proc, at in zip(arms, (start, start + args.interval / 2), strict=True):
            assert proc.stdin is not None
            proc.stdin.write(f"{at}\n")
            proc.stdin.close()
        records += collect(arms)
    finally:
        for proc in arms:
            if proc.poll() is None:
                proc.terminate()
                proc.wait(30)
        if (lab_dir / "lab.json").exists():
            lab_cli("down", "--lab-dir", str(lab_dir))
        shutil.rmtree(tmp, ignore_errors=True)
    report(records, args)


def collect(arms: list[subprocess.Popen[str]]) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = []
    streams = {proc.stdout: proc for proc in arms}
    import selectors

    sel = selectors.DefaultSelector()
    for stream in streams:
        assert stream is not None
        sel.register(stream, selectors.EVENT_READ)
    open_streams = len(streams)
    while open_streams:
        for key, _ in sel.select():
            line = key.fileobj.readline()  # type: ignore[union-attr]
            if not line:
                sel.unregister(key.fileobj)
                open_streams -= 1
                continue
            record = json.loads(line)
            records.append(record)
            print(f"  {json.dumps(record)}", flush=True)
    for proc in arms:
        if proc.wait() != 0:
            raise SystemExit(f"an arm failed with {proc.returncode}")
    return records


def report(records: list[dict[str, Any]], args: argparse.Namespace) -> None:
    sweeps = {a: [r for r in records if r.get("arm") == a and "sweep" in r] for a in ("on", "off")}
    done = {r["arm"]: r for r in records if r.get("done")}
    print(f"\n{args.nodes} BMCs, a sweep every {args.interval:g} s (end to start), "
          f"keep-alive interval {KEEPALIVE:g} s vs none")
    print("(CPU: the arm's own process, in the sweep and in the gap before it; "
          "keep-alives/s: sent in that gap)")
    print(f"{'sweep':11} {'on: s':>7} {'log-ins':>8} {'CPU':>5} {'off: s':>7} {'log-ins':>8} "
          f"{'CPU':>5} {'off/on':>7} {'CPU off/on':>10}  {'gap CPU on':>10} {'off':>5} "
          f"{'keep-alives/s':>13}")
    last: dict[str, Any] | None = None
    for on, off in zip(sweeps["on"], sweeps["off"], strict=True):
        ratio = off["seconds"] / on["seconds"]
        cpu = off["sweep_cpu"] / on["sweep_cpu"]
        rate = ""
        if last is not None:
            sent = on["keepalives_before"] - last["keepalives_before"]
            rate = f"{sent / (on['at'] - last['at']):.0f}"
        last = on
        print(f"{on['sweep']:11} {on['seconds']:7.2f} {on['logins']:>8} {on['sweep_cpu']:5.2f} "
              f"{off['seconds']:7.2f} {off['logins']:>8} {off['sweep_cpu']:5.2f} {ratio:6.2f}x "
              f"{cpu:9.2f}x  {on['idle_cpu']:10.2f} {off['idle_cpu']:5.2f} {rate:>13}")
    for what in ("seconds", "sweep_cpu"):
        periodic = {a: [r[what] for r in rows[1:]] for a, rows in sweeps.items()}
        if periodic["on"] and periodic["off"]:
            on_m, off_m = statistics.median(periodic["on"]), statistics.median(periodic["off"])
            cold_on, cold_off = sweeps["on"][0][what], sweeps["off"][0][what]
            print(f"{what}: periodic median on {on_m:.2f}, off {off_m:.2f}, off/on "
                  f"{off_m / on_m:.2f}x; cold: on {cold_on:.2f}, off {cold_off:.2f}")
    for a in ("on", "off"):
        d = done.get(a, {})
        print(f"arm {a}: keep-alives answered {d.get('keepalives')}, sessions dropped "
              f"{d.get('dropped')}, expired {d.get('expired')}")
    print(f"load average at the end: {load()}")


if __name__ == "__main__":
    main()
