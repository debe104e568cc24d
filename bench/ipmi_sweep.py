"""Benchmark: a power-state sweep over N lab BMCs, asyncio client vs ipmitool.

Starts N BMCs (barecloud.wire.ipmi.server) sharded over S processes, then
times, all on 127.0.0.1:

1. cold: barecloud's asyncio client, a fresh pool: login + Get Chassis
   Status for every BMC, ``--concurrency`` at a time;
2. warm: the same sweep again on the sessions the pool kept open;
3. baseline: one ``ipmitool -I lanplus -C 3 ... power status`` process per
   BMC with ``--workers`` workers, over the first ``--baseline`` BMCs only
   (it is slow), extrapolated linearly to N.

Every answer is checked (the BMCs start powered off).  BMC servers, client
and ipmitool share this machine's cores, so the figures are what one box
does, not what a conductor alone would.

    .venv/bin/python bench/ipmi_sweep.py                    # N=1000
    .venv/bin/python bench/ipmi_sweep.py --nodes 10000 --baseline 0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from barecloud.wire.ipmi.pool import BmcTarget, IpmiPool
from barecloud.wire.ipmi.server import raise_open_files_limit


def start_bmcs(nodes: int, shards: int) -> tuple[list[subprocess.Popen[str]], list[int]]:
    procs, ports = [], []
    per = [nodes // shards + (i < nodes % shards) for i in range(shards)]
    for count in per:
        cmd = [sys.executable, "-m", "barecloud.wire.ipmi.server", "--count", str(count)]
        cmd += ["--user", "admin", "--password", "secret"]
        procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True))
    for proc in procs:
        assert proc.stdout is not None
        ports += json.loads(proc.stdout.readline())["ports"]
    return procs, ports


def stop_bmcs(procs: list[subprocess.Popen[str]]) -> None:
    for proc in procs:
        os.kill(proc.pid, 15)
    for proc in procs:
        proc.wait(10)


async def sweeps(ports: list[int], concurrency: int) -> tuple[float, float]:
    targets = [BmcTarget("127.0.0.1", p, "admin", "secret") for p in ports]
    pool = IpmiPool(concurrency=concurrency, timeout=10)
    try:
        started = time.perf_counter()
        cold = await asyncio.gather(*(pool.get_power(t) for t in targets))
        cold_s = time.perf_counter() - started
        started = time.perf_counter()
        warm = await asyncio.gather(*(pool.get_power(t) for t in targets))
        warm_s = time.perf_counter() - started
        assert not any(cold) and not any(warm), "a BMC answered 'on'"
        return cold_s, warm_s
    finally:
        await pool.close()


def ipmitool_status(tool: str, port: int) -> None:
    out = subprocess.run(
        [tool, "-I", "lanplus", "-C", "3", "-H", "127.0.0.1", "-p", str(port),
         "-U", "admin", "-P", "secret", "power", "status"],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout  # fmt: skip
    assert "Chassis Power is off" in out, out


def baseline(ports: list[int], workers: int) -> float:
    tool = shutil.which("ipmitool")
    if tool is None:
        raise SystemExit("ipmitool missing: run scripts/system-packages")
    started = time.perf_counter()
    with ThreadPoolExecutor(workers) as ex:
        list(ex.map(lambda p: ipmitool_status(tool, p), ports))
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--shards", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--baseline", type=int, default=200, help="0: skip ipmitool")
    parser.add_argument("--workers", type=int, default=8)
    args = parser.parse_args()
    raise_open_files_limit(args.nodes + 512)
    started = time.perf_counter()
    procs, ports = start_bmcs(args.nodes, args.shards)
    print(
        f"{args.nodes} BMCs in {args.shards} processes up in {time.perf_counter() - started:.1f}s"
    )
    try:
        cold, warm = asyncio.run(sweeps(ports, args.concurrency))
        n = args.nodes
        print(f"async client, concurrency {args.concurrency}:")
        for name, secs in (("cold (login + status)", cold), ("warm (status only)", warm)):
            print(f"  {name:22}: {secs:6.2f}s  {secs / n * 1e3:6.3f} ms/BMC  {n / secs:7.0f}/s")
        if args.baseline:
            b = min(args.baseline, n)
            base = baseline(ports[:b], args.workers)
            full = base / b * n
            print(f"ipmitool, one process per BMC, {args.workers} workers:")
            print(
                f"  {b} BMCs: {base:6.2f}s  {base / b * 1e3:6.2f} ms/BMC; "
                f"extrapolated to {n}: {full:6.1f}s (measured on {b} only)"
            )
            print(f"speed-up: cold {full / cold:5.1f}x, warm {full / warm:5.1f}x")
    finally:
        stop_bmcs(procs)


if __name__ == "__main__":
    main()
