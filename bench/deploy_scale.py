"""Benchmark: enroll, deploy and list a fleet through the Bare Metal API.

Starts the real ``barecloud serve`` as a separate process (fake-hardware with
no delays), once on SQLite and once on a fresh PostgreSQL database, and for
each:

1. enrolls N nodes (default 10,000) with one port each, through the API;
2. brings them to ``available`` (manage, then provide) through the API;
3. deploys D of them (default 1,000) at once and polls the API until every
   one is ``active``: the figure is the time from the first deploy request
   to the last node seen active;
4. measures ``GET /v1/nodes/detail``: the default page (the API caps a page
   at ``api_max_limit``, 1,000, like Ironic) and a walk over every node by
   marker pagination.

Every response status is counted; a 5xx anywhere fails the run.  Figures are
printed as a table with the PostgreSQL/SQLite ratio.  This is a benchmark,
not a test: it prints, it asserts only that the work was done.

    .venv/bin/python bench/deploy_scale.py                 # the full run
    .venv/bin/python bench/deploy_scale.py --nodes 2000 --deploys 200   # quicker
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests import support  # noqa: E402

HEADERS = {"X-OpenStack-Ironic-API-Version": "1.78"}


@dataclass
class Figures:
    backend: str
    nodes: int = 0
    deploys: int = 0
    enroll_s: float = 0.0
    manage_s: float = 0.0
    provide_s: float = 0.0
    deploy_requests_s: float = 0.0
    deploy_s: float = 0.0
    active: int = 0
    deploy_failed: int = 0
    page_median: float = 0.0
    page_p95: float = 0.0
    page_items: int = 0
    page_bytes: int = 0
    walk_page_median: float = 0.0
    walk_page_p95: float = 0.0
    walk_median: float = 0.0
    walk_p95: float = 0.0
    walk_items: int = 0
    statuses: collections.Counter[int] = field(default_factory=collections.Counter)
    # CPU seconds the service process used, per phase (robust to a busy machine).
    cpu: dict[str, float] = field(default_factory=dict)
    # CPU seconds this benchmark (the client) used, per phase.
    client_cpu: dict[str, float] = field(default_factory=dict)
    load: list[float] = field(default_factory=list)
    pg_sessions: int = 0

    @property
    def errors_5xx(self) -> int:
        return sum(n for code, n in self.statuses.items() if code >= 500)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


class Client:
    """httpx clients that count every status, ``concurrency`` requests at most in flight.

    One AsyncClient per request slot, each with one connection: httpx's pool
    costs CPU in proportion to its size, and one client with 32 connections
    used 2.5 times the CPU per request of 32 clients with one each, on a
    machine whose two cores the client shares with the service.
    """

    def __init__(self, base: str, figures: Figures, concurrency: int) -> None:
        self.figures = figures
        self.all = [
            httpx.AsyncClient(
                base_url=f"{base}/baremetal/v1", headers=HEADERS, timeout=120.0,
                limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
            )
            for _ in range(concurrency)
        ]
        self.free: asyncio.Queue[httpx.AsyncClient] = asyncio.Queue()
        for http in self.all:
            self.free.put_nowait(http)

    async def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        http = await self.free.get()
        try:
            r = await http.request(method, url, **kw)
        finally:
            self.free.put_nowait(http)
        self.figures.statuses[r.status_code] += 1
        if r.status_code >= 500:
            print(f"  !! {method} {url}: {r.status_code} {r.text[:200]}", flush=True)
        return r

    async def aclose(self) -> None:
        for http in self.all:
            await http.aclose()


async def run_all(items: list[Any], fn: Callable[[Any], Awaitable[None]]) -> None:
    await asyncio.gather(*(fn(i) for i in items))


def mac(i: int) -> str:
    return "52:54:" + ":".join(f"{(i >> s) & 255:02x}" for s in (24, 16, 8, 0))


async def count_in_state(c: Client, state: str) -> int:
    """Nodes in ``state``, by walking the pages."""
    total, marker = 0, None
    while True:
        params: dict[str, Any] = {"provision_state": state, "fields": "uuid", "limit": 1000}
        if marker:
            params["marker"] = marker
        r = await c.request("GET", "/nodes", params=params)
        r.raise_for_status()
        body = r.json()
        page = body["nodes"]
        total += len(page)
        if not page or "next" not in body:
            return total
        marker = page[-1]["uuid"]


async def any_in_state(c: Client, state: str) -> bool:
    r = await c.request("GET", "/nodes", params={"provision_state": state, "fields": "uuid",
                                                 "limit": 1})
    r.raise_for_status()
    return bool(r.json()["nodes"])


async def wait_until_none(c: Client, pending: tuple[str, ...], *, timeout: float,
                          interval: float = 1.0) -> float:
    """Poll until no node is in any of ``pending``; the time it was first seen so.

    Each poll asks for one node per state (``limit=1``), so that waiting costs
    the service little while thousands of nodes are still on their way.
    """
    start = time.monotonic()
    last_print = start
    while True:
        left = [s for s in pending if await any_in_state(c, s)]
        now = time.monotonic()
        if not left or now - start > timeout:
            return now
        if now - last_print > 30:
            print(f"    ... {now - start:.0f} s, nodes still {' or '.join(left)}", flush=True)
            last_print = now
        await asyncio.sleep(interval)


async def wait_active(c: Client, want: int, *, timeout: float,
                      interval: float) -> tuple[int, int, float]:
    """Poll the active (and deploy failed) count until ``want`` are accounted for."""
    start = time.monotonic()
    while True:
        got = await count_in_state(c, "active")
        failed = await count_in_state(c, "deploy failed")
        now = time.monotonic()
        if got + failed >= want or now - start > timeout:
            return got, failed, now
        await asyncio.sleep(interval)


async def provision(c: Client, uuids: list[str], target: str) -> None:
    async def one(u: str) -> None:
        r = await c.request("PUT", f"/nodes/{u}/states/provision", json={"target": target})
        if r.status_code != 202:
            raise RuntimeError(f"{target} {u}: {r.status_code} {r.text[:300]}")

    await run_all(uuids, one)


async def scenario(base: str, pid: int, fig: Figures, args: argparse.Namespace) -> None:
    c = Client(base, fig, args.concurrency)
    cpu0, client0 = cpu_seconds(pid), time.process_time()

    def phase(name: str) -> None:
        nonlocal cpu0, client0
        now, client = cpu_seconds(pid), time.process_time()
        fig.cpu[name] = now - cpu0
        fig.client_cpu[name] = client - client0
        cpu0, client0 = now, client

    try:
        # --- enroll -----------------------------------------------------
        uuids: list[str] = [""] * args.nodes

        async def enroll(i: int) -> None:
            r = await c.request("POST", "/nodes", json={
                "name": f"bench-{i:05d}", "driver": "fake-hardware",
                "driver_info": {"fake_delay": 0},
                "properties": {"cpus": 4, "memory_mb": 8192, "local_gb": 40,
                               "cpu_arch": "x86_64"},
                "resource_class": "bench",
            })
            if r.status_code != 201:
                raise RuntimeError(f"enroll {i}: {r.status_code} {r.text[:300]}")
            uuids[i] = r.json()["uuid"]
            r = await c.request("POST", "/ports", json={"node_uuid": uuids[i],
                                                        "address": mac(i)})
            if r.status_code != 201:
                raise RuntimeError(f"port {i}: {r.status_code} {r.text[:300]}")

        t0 = time.monotonic()
        await run_all(list(range(args.nodes)), enroll)
        fig.enroll_s = time.monotonic() - t0
        fig.nodes = args.nodes
        phase("enroll")
        print(f"  enrolled {args.nodes} nodes (+1 port each) in {fig.enroll_s:.1f} s "
              f"({args.nodes / fig.enroll_s:.0f} nodes/s)", flush=True)

        # --- manage, provide ---------------------------------------------
        for target, pending, state, attr in (
            ("manage", ("enroll", "verifying"), "manageable", "manage_s"),
            ("provide", ("manageable", "cleaning", "clean wait"), "available", "provide_s"),
        ):
            t0 = time.monotonic()
            await provision(c, uuids, target)
            t1 = await wait_until_none(c, pending, timeout=args.timeout)
            got = await count_in_state(c, state)
            if got < args.nodes:
                raise RuntimeError(f"only {got}/{args.nodes} nodes reached {state}")
            setattr(fig, attr, t1 - t0)
            phase(target)
            print(f"  {target}: {args.nodes} nodes {state} in {t1 - t0:.1f} s", flush=True)

        # --- deploy --------------------------------------------------------
        targets = uuids[: args.deploys]
        fig.deploys = len(targets)
        t0 = time.monotonic()
        poller = asyncio.create_task(
            wait_active(c, len(targets), timeout=args.timeout, interval=args.poll)
        )
        await provision(c, targets, "active")
        fig.deploy_requests_s = time.monotonic() - t0
        got, failed, t1 = await poller
        fig.deploy_s = t1 - t0
        fig.active, fig.deploy_failed = got, failed
        phase("deploy")
        print(f"  deploy: {got}/{len(targets)} active ({failed} deploy failed) in "
              f"{fig.deploy_s:.1f} s (requests sent in {fig.deploy_requests_s:.1f} s)",
              flush=True)

        # --- list detail -----------------------------------------------------
        page_times: list[float] = []
        for _ in range(args.list_requests):
            t = time.monotonic()
            r = await c.request("GET", "/nodes/detail")
            page_times.append(time.monotonic() - t)
            r.raise_for_status()
            fig.page_items = len(r.json()["nodes"])
            fig.page_bytes = len(r.content)
        fig.page_median, fig.page_p95 = statistics.median(page_times), pct(page_times, 0.95)
        print(f"  GET /nodes/detail (default page, {fig.page_items} nodes, "
              f"{fig.page_bytes / 1e6:.1f} MB): median {fig.page_median * 1000:.0f} ms, "
              f"p95 {fig.page_p95 * 1000:.0f} ms", flush=True)
        phase("page")

        walk_times: list[float] = []
        walk_pages: list[float] = []
        for _ in range(args.walks):
            t = time.monotonic()
            url: str | None = "/nodes/detail"
            items = 0
            while url:
                tp = time.monotonic()
                r = await c.request("GET", url)
                walk_pages.append(time.monotonic() - tp)
                r.raise_for_status()
                body = r.json()
                items += len(body["nodes"])
                nxt = body.get("next")
                url = nxt.split("/baremetal/v1", 1)[1] if nxt else None
            walk_times.append(time.monotonic() - t)
            fig.walk_items = items
        fig.walk_median, fig.walk_p95 = statistics.median(walk_times), pct(walk_times, 0.95)
        fig.walk_page_median = statistics.median(walk_pages)
        fig.walk_page_p95 = pct(walk_pages, 0.95)
        print(f"  walk /nodes/detail by marker ({fig.walk_items} nodes, "
              f"{len(walk_pages) // max(args.walks, 1)} pages): walk median "
              f"{fig.walk_median:.2f} s, p95 {fig.walk_p95:.2f} s; per page median "
              f"{fig.walk_page_median * 1000:.0f} ms, p95 {fig.walk_page_p95 * 1000:.0f} ms",
              flush=True)
        phase("walk")
    finally:
        await c.aclose()


def pg_sessions(name: str) -> int:
    """Connections the service opened to its database (PostgreSQL's own count)."""
    import asyncpg

    async def read() -> int:
        conn = await asyncpg.connect(support.PG_ADMIN_DSN)
        try:
            await asyncio.sleep(1.5)  # statistics are flushed about every second
            value = await conn.fetchval(
                "SELECT sessions FROM pg_stat_database WHERE datname = $1", name)
            return int(value or 0)
        finally:
            await conn.close()

    return asyncio.run(read())


def run_backend(backend: str, args: argparse.Namespace) -> Figures:
    fig = Figures(backend)
    data_dir = Path(tempfile.mkdtemp(prefix=f"bc-bench-{backend}-"))
    db_name = None
    url = None
    if backend == "postgresql":
        why = support.pg_available()
        if why:
            raise SystemExit(why)
        url, db_name = support.pg_create_database()
    env = {
        "BARECLOUD_MAX_CONCURRENT_DEPLOYS": str(max(args.deploys, 1)),
        "BARECLOUD_MAX_CONCURRENT_WORKFLOWS": str(max(args.deploys, 1000)),
    }
    print(f"\n== {backend}: {args.nodes} nodes, {args.deploys} deploys "
          f"(data in {data_dir})", flush=True)
    svc: support.Service | None = None
    try:
        svc = support.start_service(data_dir, database_url=url, extra_env=env)
        fig.load.append(os.getloadavg()[0])
        asyncio.run(scenario(svc.url, svc.proc.pid, fig, args))
        fig.load.append(os.getloadavg()[0])
    except BaseException:
        if svc is not None:
            print(svc.log()[-5000:], file=sys.stderr)
        raise
    finally:
        if svc is not None:
            svc.stop()
            errors = [line for line in svc.log().splitlines() if " ERROR " in line]
            if errors:
                print(f"  service logged {len(errors)} error line(s), first: {errors[0]}")
        if db_name:
            fig.pg_sessions = pg_sessions(db_name)
            support.pg_drop_database(db_name)
        if not args.keep:
            shutil.rmtree(data_dir, ignore_errors=True)
    return fig


ROWS: list[tuple[str, str, Callable[[Figures], float], str]] = [
    ("enroll rate", "nodes/s", lambda f: f.nodes / f.enroll_s if f.enroll_s else 0, "{:.0f}"),
    ("enroll (node + port)", "s", lambda f: f.enroll_s, "{:.1f}"),
    ("manage -> manageable", "s", lambda f: f.manage_s, "{:.1f}"),
    ("provide -> available", "s", lambda f: f.provide_s, "{:.1f}"),
    ("deploy requests sent", "s", lambda f: f.deploy_requests_s, "{:.1f}"),
    ("deploy: first request -> all active", "s", lambda f: f.deploy_s, "{:.1f}"),
    ("deployed active", "nodes", lambda f: f.active, "{:.0f}"),
    ("deploy failed", "nodes", lambda f: f.deploy_failed, "{:.0f}"),
    ("detail, default page: median", "ms", lambda f: f.page_median * 1000, "{:.0f}"),
    ("detail, default page: p95", "ms", lambda f: f.page_p95 * 1000, "{:.0f}"),
    ("detail, nodes per default page", "nodes", lambda f: f.page_items, "{:.0f}"),
    ("detail, walk all by marker: median", "ms", lambda f: f.walk_median * 1000, "{:.0f}"),
    ("detail, walk all by marker: p95", "ms", lambda f: f.walk_p95 * 1000, "{:.0f}"),
    ("detail, walk: per page median", "ms", lambda f: f.walk_page_median * 1000, "{:.0f}"),
    ("detail, walk: per page p95", "ms", lambda f: f.walk_page_p95 * 1000, "{:.0f}"),
    ("service CPU: enroll", "s", lambda f: f.cpu.get("enroll", 0), "{:.1f}"),
    ("service CPU: manage", "s", lambda f: f.cpu.get("manage", 0), "{:.1f}"),
    ("service CPU: provide", "s", lambda f: f.cpu.get("provide", 0), "{:.1f}"),
    ("service CPU: deploy", "s", lambda f: f.cpu.get("deploy", 0), "{:.1f}"),
    ("service CPU: detail pages", "s", lambda f: f.cpu.get("page", 0) + f.cpu.get("walk", 0),
     "{:.1f}"),
    ("client CPU: enroll", "s", lambda f: f.client_cpu.get("enroll", 0), "{:.1f}"),
    ("client CPU: deploy", "s", lambda f: f.client_cpu.get("deploy", 0), "{:.1f}"),
    ("load average, start", "", lambda f: f.load[0] if f.load else 0, "{:.2f}"),
    ("load average, end", "", lambda f: f.load[-1] if f.load else 0, "{:.2f}"),
    ("database connections opened", "count", lambda f: f.pg_sessions, "{:.0f}"),
    ("requests", "count", lambda f: sum(f.statuses.values()), "{:.0f}"),
    ("5xx responses", "count", lambda f: f.errors_5xx, "{:.0f}"),
]


def table(figs: list[Figures]) -> str:
    head = ["metric", "unit", *[f.backend for f in figs]]
    if len(figs) == 2:
        head.append(f"{figs[1].backend}/{figs[0].backend}")
    rows = [head]
    for name, unit, get, fmt in ROWS:
        values = [get(f) for f in figs]
        row = [name, unit, *[fmt.format(v) for v in values]]
        if len(figs) == 2:
            row.append(f"{values[1] / values[0]:.2f}" if values[0] else "-")
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = []
    for n, r in enumerate(rows):
        lines.append("| " + " | ".join(
            c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths,
                                                                              strict=True)))
            + " |")
        if n == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--nodes", type=int, default=10_000)
    p.add_argument("--deploys", type=int, default=1_000)
    p.add_argument("--concurrency", type=int, default=32,
                   help="client requests in flight at once")
    p.add_argument("--list-requests", type=int, default=20,
                   help="requests of the default /nodes/detail page")
    p.add_argument("--walks", type=int, default=5, help="walks over every node by marker")
    p.add_argument("--backends", default="sqlite,postgresql")
    p.add_argument("--timeout", type=float, default=1800.0, help="per phase, seconds")
    p.add_argument("--target", type=float, default=60.0, help="deploy target, seconds")
    p.add_argument("--poll", type=float, default=0.5,
                   help="seconds between polls of the active count while deploying")
    p.add_argument("--keep", action="store_true", help="keep the data directories")
    args = p.parse_args()
    if args.deploys > args.nodes:
        p.error("--deploys cannot exceed --nodes")

    figs = [run_backend(b.strip(), args) for b in args.backends.split(",") if b.strip()]
    print()
    print(table(figs))
    print()
    ok = True
    for f in figs:
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(f.statuses.items()))
        verdict = "meets" if f.deploy_s < args.target else "MISSES"
        print(f"{f.backend}: status codes {{{codes}}}; {f.active}/{f.deploys} active; deploy "
              f"{f.deploy_s:.1f} s {verdict} the {args.target:.0f} s target; default detail page "
              f"median {f.page_median * 1000:.0f} ms "
              f"({'meets' if f.page_median < 1 else 'MISSES'} the 1 s target)")
        ok = ok and f.errors_5xx == 0 and f.active == f.deploys
    if len(figs) == 2 and figs[0].deploy_s:
        print(f"deploy time ratio {figs[1].backend}/{figs[0].backend}: "
              f"{figs[1].deploy_s / figs[0].deploy_s:.2f}")
    if not ok:
        raise SystemExit("FAILED: a 5xx was seen or not every deploy reached active")


if __name__ == "__main__":
    main()
