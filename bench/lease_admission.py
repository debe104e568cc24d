"""Benchmark (issue 7): how long admitting a lease takes as the calendar fills.

Why: every lease create and update runs admission: under the calendar lock
it reads the hosts and their facts, which hosts are busy over the window, and
their neighbouring allocations (for best fit). All of it happens in one
transaction, so admission time bounds how many lease requests a cloud
serves per second. Blazar users see lease creation slow down as the
allocation table grows. This measures whether barecloud's does.

For each database (SQLite file, PostgreSQL `test` on 127.0.0.1) and each
pool size H, the run enrolls H hosts with the service's own `hosts.create`,
with facts and extra capabilities. It then fills the calendar with L leases
(random windows over 90 days, 1-4 hosts each, a third of them with a
property filter) and times `leases.create` for 200 more leases at each fill
level L. It prints p50/p95 per level, and the ratio of each level's p50 to the
empty calendar's. It also times one lease manager pass (due events and the
monitor query) at the largest level.

    .venv/bin/python bench/lease_admission.py
    .venv/bin/python bench/lease_admission.py --hosts 1000 --levels 0,2000,10000 --db sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import platform
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg

from barecloud import states
from barecloud.config import Settings
from barecloud.db import migrate
from barecloud.db.models import Node
from barecloud.db.session import Database
from barecloud.errors import BarecloudError
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.reservation import hosts, leases, manager

ADMIN = RequestContext(request_id="req-bench", project="admin")
T0 = dt.datetime(2027, 1, 1)
PROPS = ["", '["=", "$gpu", "true"]', '[">=", "$memory_mb", "65536"]']


def set_clock(clock: Path, moment: dt.datetime) -> None:
    clock.write_text(moment.isoformat())


async def enroll(rt: Runtime, count: int) -> None:
    async with rt.db.session() as s:
        s.add_all(Node(uuid=str(uuid.uuid4()), name=f"h{i:05d}", driver="fake-hardware",
                       resource_class="baremetal", conductor_group="",
                       provision_state=states.AVAILABLE, power_state=states.POWER_OFF,
                       maintenance=False, driver_info={}, instance_info={},
                       driver_internal_info={}, extra={}, network_data={},
                       properties={"cpus": 16, "memory_mb": 32768 * (1 + i % 4),
                                   "local_gb": 500, "cpu_arch": "x86_64"})
                  for i in range(count))
    for i in range(count):
        await hosts.create(rt, ADMIN, {"name": f"h{i:05d}", "gpu": str(i % 5 == 0).lower(),
                                       "rack": f"r{i // 40}"})


def body(rng: random.Random, n: int) -> dict[str, Any]:
    start = T0 + dt.timedelta(hours=rng.randint(1, 24 * 90))
    end = start + dt.timedelta(hours=rng.randint(2, 96))
    count = rng.randint(1, 4)
    return {"name": f"l{n}", "start_date": start.strftime("%Y-%m-%d %H:%M"),
            "end_date": end.strftime("%Y-%m-%d %H:%M"), "before_end_date": None,
            "events": [], "reservations": [{
                "resource_type": "physical:host", "min": 1, "max": count,
                "hypervisor_properties": "",
                "resource_properties": PROPS[n % 3] if n % 3 == 0 else ""}]}


async def fill(rt: Runtime, rng: random.Random, start: int, stop: int) -> int:
    refused = 0
    for n in range(start, stop):
        ctx = RequestContext(request_id=f"req-{n}", project=f"p{n % 20}",
                             roles=("member", "reader"))
        try:
            await leases.create(rt, ctx, body(rng, n))
        except BarecloudError:
            refused += 1
    return refused


async def timed(rt: Runtime, rng: random.Random, first: int, count: int) -> list[float]:
    out = []
    for n in range(first, first + count):
        ctx = RequestContext(request_id=f"req-{n}", project=f"p{n % 20}",
                             roles=("member", "reader"))
        began = time.perf_counter()
        with contextlib.suppress(BarecloudError):
            await leases.create(rt, ctx, body(rng, n))
        out.append(time.perf_counter() - began)
    return out


async def run(db_name: str, url: str, hosts_count: int, levels: list[int],
              samples: int, clock: Path) -> None:
    await migrate.upgrade_async(url)
    db = Database(url)
    settings = Settings(data_dir=Path(tempfile.gettempdir()), lease_clock_file=str(clock))
    rt = Runtime(db, settings)
    rng = random.Random(1)
    set_clock(clock, T0)
    try:
        began = time.perf_counter()
        await enroll(rt, hosts_count)
        print(f"{db_name}: {hosts_count} hosts enrolled in {time.perf_counter() - began:.1f} s")
        made, base = 0, None
        n = 10_000_000
        for level in levels:
            began = time.perf_counter()
            refused = await fill(rt, rng, made, level)
            filled = time.perf_counter() - began
            made = level
            lat = await timed(rt, rng, n, samples)
            n += samples
            p50 = statistics.median(lat) * 1000
            p95 = statistics.quantiles(lat, n=20)[18] * 1000
            base = base or p50
            print(f"{db_name:10} hosts={hosts_count:5} leases={level:6}  admission "
                  f"p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  x{p50 / base:4.2f} of empty"
                  f"  (filled in {filled:.0f} s, {refused} refused)")
        set_clock(clock, T0 + dt.timedelta(days=45))
        for what in ("starting and ending half the leases", "nothing due (steady state)"):
            began = time.perf_counter()
            await manager.pass_once(rt, "bench")
            print(f"{db_name:10} one manager pass at day 45, {made} leases, {what}: "
                  f"{(time.perf_counter() - began) * 1000:.0f} ms")
    finally:
        await db.dispose()


async def pg_database() -> tuple[str, str]:
    name = f"bench_lease_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}", name


async def drop(name: str) -> None:
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/test")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--hosts", type=int, default=500)
    ap.add_argument("--levels", default="0,1000,5000")
    ap.add_argument("--samples", type=int, default=200)
    ap.add_argument("--db", default="sqlite,postgresql")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    cpu = os.cpu_count()
    print(f"{platform.node()}: {cpu} cores, Python {platform.python_version()}, "
          f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, load {os.getloadavg()[0]:.2f}")
    with tempfile.TemporaryDirectory() as tmp:
        clock = Path(tmp) / "clock"
        set_clock(clock, T0)
        for db_name in args.db.split(","):
            if db_name == "sqlite":
                await run("sqlite", f"sqlite+aiosqlite:///{tmp}/bench.sqlite", args.hosts,
                          levels, args.samples, clock)
            else:
                url, name = await pg_database()
                try:
                    await run("postgresql", url, args.hosts, levels, args.samples, clock)
                finally:
                    await drop(name)
    print(f"load at the end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    asyncio.run(main())
