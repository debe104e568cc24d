"""Benchmark (issue 18): the seed's scale on the control plane.

Grid'5000 deployed hypervisors onto 355 machines and launched 4,552 VMs on
them.  Here: a barecloud service (SQLite, or PostgreSQL with
``--postgresql``) with keystone tokens; 355 hypervisors enrolled through the
API, each served by a real host agent (``python -m barecloud.hostagent
fleet``) with the fake driver (VMs that start at once), the agents sharded
over a few processes as the lab shards BMCs; then 4,552 ``POST /servers``
of a VM flavor with the tenant's token, 64 in flight at a time (or fewer
requests of ``--per-request`` servers each, Nova's min_count/max_count).
Measured:

- time from the first create until every server is ACTIVE;
- ``GET /servers/detail?limit=1000`` median and p99 while the servers build,
  two a second on a fixed schedule, whatever their latency;
- 5xx answers, servers in ERROR, and whether any host went past its ratios.

Run: ``.venv/bin/python bench/vm_storm.py [--hosts 355 --vms 4552] [--per-request 13]
[--postgresql [--api-processes N]]``.  With ``--api-processes N`` the service
(``serve``: APIs and conductor) is joined by N-1 ``barecloud api`` processes on
the same database and data directory, as a scaled-out deployment runs them
(docs/design/processes.md); the host agents' shards and the creates are spread
over them as a load balancer would, the sampler and the admin reads use the first.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.server_create import token_headers
from tests import support

from barecloud.services.context import NOAUTH_PROJECT

NOVA = {"X-OpenStack-Nova-API-Version": "2.79"}
HOST = {"vcpus": 16, "memory_mb": 32768, "disk_gb": 200}
RATIOS = {"cpu": 4.0, "ram": 1.0, "disk": 1.0}
IN_FLIGHT = 64
SAMPLE_PERIOD = 0.5


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1000


async def scenario(svc: support.Service, tmp: Path, hosts: int, vms: int,
                   shards: int, per_request: int = 1, apis: list[str] | None = None
                   ) -> dict[str, Any]:
    """``apis``: the URLs of every API process (the service's first); host agents'
    shards and the creates are spread over them, as a load balancer would."""
    apis = apis or [svc.url]
    admin, _ = token_headers(svc, "barecloud-admin")
    demo, project = token_headers(svc, "barecloud")
    async with httpx.AsyncClient(base_url=f"{svc.url}/compute/v2.1", headers={**NOVA, **admin},
                                 timeout=120) as nova_admin, \
            httpx.AsyncClient(base_url=f"{svc.url}/compute/v2.1", headers={**NOVA, **demo},
                              timeout=300, limits=httpx.Limits(max_connections=IN_FLIGHT + 8)
                              ) as nova, \
            contextlib.AsyncExitStack() as stack, \
            httpx.AsyncClient(base_url=f"{svc.url}/image/v2", headers=admin,
                              timeout=120) as glance:
        credentials = []
        for i in range(hosts):
            rsp = await nova_admin.post("/barecloud-hypervisors", json={"hypervisor": {
                "hostname": f"hv-{i:04d}"}})
            rsp.raise_for_status()
            credentials.append(rsp.json()["hypervisor"]["credential"])
        creators = [nova] + [await stack.enter_async_context(httpx.AsyncClient(
            base_url=f"{url}/compute/v2.1", headers={**NOVA, **demo}, timeout=300,
            limits=httpx.Limits(max_connections=IN_FLIGHT + 8))) for url in apis[1:]]
        agents = start_fleet(apis, tmp, credentials, shards)
        try:
            return await _storm(nova_admin, nova, glance, project, hosts, vms, agents,
                                per_request, creators)
        finally:
            for proc in agents:
                proc.send_signal(signal.SIGTERM)
            for proc in agents:
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()


def start_fleet(apis: list[str], tmp: Path, credentials: list[str],
                shards: int) -> list[subprocess.Popen[bytes]]:
    procs = []
    for shard in range(shards):
        mine = credentials[shard::shards]
        path = tmp / f"credentials-{shard}"
        path.write_text("\n".join(mine) + "\n")
        path.chmod(0o600)
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "barecloud.hostagent", "fleet", "--url",
             apis[shard % len(apis)],
             "--credentials-file", str(path), "--state-dir", str(tmp / f"fleet-{shard}"),
             "--fake-vcpus", str(HOST["vcpus"]), "--fake-memory-mb", str(HOST["memory_mb"]),
             "--fake-disk-gb", str(HOST["disk_gb"])],
            stdout=(tmp / f"fleet-{shard}.log").open("wb"), stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(support.REPO / "src")}))
    return procs


async def _storm(nova_admin: httpx.AsyncClient, nova: httpx.AsyncClient,
                 glance: httpx.AsyncClient, project: str | None, hosts: int, vms: int,
                 agents: list[subprocess.Popen[bytes]], per_request: int,
                 creators: list[httpx.AsyncClient]) -> dict[str, Any]:
    deadline = time.monotonic() + 120
    while True:  # every host agent has reported
        listed = (await nova_admin.get("/barecloud-hypervisors")).json()["hypervisors"]
        if sum(h["state"] == "up" for h in listed) == hosts:
            break
        if time.monotonic() > deadline or any(a.poll() is not None for a in agents):
            raise SystemExit(f"{sum(h['state'] == 'up' for h in listed)} of {hosts} hosts up")
        await asyncio.sleep(0.5)
    rsp = await glance.post("/images", json={"name": "tiny", "disk_format": "raw",
                                             "container_format": "bare",
                                             "visibility": "public"})
    rsp.raise_for_status()
    image = rsp.json()["id"]
    (await glance.put(f"/images/{image}/file", content=b"\0" * 65536,
                      headers={"Content-Type": "application/octet-stream"})).raise_for_status()
    rsp = await nova_admin.post("/flavors", json={"flavor": {
        "name": "vm.tiny", "ram": 512, "vcpus": 1, "disk": 1}})
    rsp.raise_for_status()
    flavor = rsp.json()["flavor"]["id"]
    (await nova_admin.put(f"/os-quota-sets/{project or NOAUTH_PROJECT}", json={"quota_set": {
        "instances": -1, "cores": -1, "ram": -1}})).raise_for_status()

    latencies: list[float] = []
    create_latencies: list[float] = []
    errors = {"5xx": 0}
    stop = asyncio.Event()

    async def one_list() -> None:
        t = time.monotonic()
        rsp = await nova.get("/servers/detail", params={"limit": 1000})
        latencies.append(time.monotonic() - t)
        errors["5xx"] += rsp.status_code >= 500

    async def sample() -> None:
        """A page every SAMPLE_PERIOD seconds on a fixed schedule (a dashboard's
        refresh), each on its own: a slow answer holds back no later sample, and
        every tree serves the same number of lists."""
        pending: set[asyncio.Task[None]] = set()
        due = time.monotonic()
        while not stop.is_set():
            task = asyncio.create_task(one_list())
            pending.add(task)
            task.add_done_callback(pending.discard)
            due += SAMPLE_PERIOD
            await asyncio.sleep(max(0.0, due - time.monotonic()))
        await asyncio.gather(*pending)

    gate = asyncio.Semaphore(IN_FLIGHT)

    async def create(i: int, count: int) -> tuple[int, int]:
        body: dict[str, Any] = {"name": f"vm-{i}", "imageRef": image, "flavorRef": flavor,
                                "networks": "none"}
        if count > 1:
            body.update(min_count=count, max_count=count)
        async with gate:
            t = time.monotonic()
            rsp = await creators[i % len(creators)].post("/servers", json={"server": body})
            create_latencies.append(time.monotonic() - t)
            return rsp.status_code, count

    t0 = time.monotonic()
    sampler = asyncio.create_task(sample())
    counts = [min(per_request, vms - i) for i in range(0, vms, per_request)]
    codes = await asyncio.gather(*(create(i, n) for i, n in enumerate(counts)))
    accepted_s = time.monotonic() - t0
    accepted = sum(n for c, n in codes if c == 202)
    errors["5xx"] += sum(c >= 500 for c, _ in codes)
    while True:
        listed = (await nova_admin.get("/barecloud-hypervisors")).json()["hypervisors"]
        active = sum(h["running_vms"] for h in listed)
        failed = (await nova.get("/servers", params={"status": "ERROR", "limit": 1000})
                  ).json()["servers"]
        if active + len(failed) >= accepted:
            break
        if time.monotonic() - t0 > 1800:
            raise SystemExit(f"only {active} running after 30 minutes")
        await asyncio.sleep(0.25)
    running_s = time.monotonic() - t0
    while True:  # every server reads ACTIVE through the API
        statuses = await _statuses(nova)
        if statuses.get("ACTIVE", 0) + statuses.get("ERROR", 0) >= accepted:
            break
        await asyncio.sleep(0.25)
    all_active = time.monotonic() - t0
    stop.set()
    await sampler
    idle = []
    for _ in range(10):  # the same page once the storm is over: the list's own cost
        t = time.monotonic()
        (await nova.get("/servers/detail", params={"limit": 1000})).raise_for_status()
        idle.append(time.monotonic() - t)
    over = [h["hypervisor_hostname"] for h in (await nova_admin.get(
        "/os-hypervisors/detail", headers={"X-OpenStack-Nova-API-Version": "2.87"}))
        .json()["hypervisors"] if h["vcpus_used"] > h["vcpus"] * RATIOS["cpu"]
        or h["memory_mb_used"] > h["memory_mb"] * RATIOS["ram"]]
    per_host = [h["running_vms"] for h in listed]
    return {"hosts": hosts, "vms": vms, "create_requests": len(counts), "accepted": accepted,
            "creates_answered_s": accepted_s,
            "create_p99_ms": p(create_latencies, 0.99),
            "all_running_on_hosts_s": running_s, "all_active_s": all_active,
            "active": statuses.get("ACTIVE", 0), "error": statuses.get("ERROR", 0),
            "5xx": errors["5xx"], "hosts_over_ratio": len(over),
            "vms_per_host_min_max": f"{min(per_host)}..{max(per_host)}",
            "list_median_ms": statistics.median(latencies) * 1000,
            "list_p99_ms": p(latencies, 0.99), "list_samples": len(latencies),
            "list_idle_median_ms": statistics.median(idle) * 1000}


async def _statuses(nova: httpx.AsyncClient) -> dict[str, int]:
    counts: dict[str, int] = {}
    marker = None
    while True:
        params: dict[str, Any] = {"limit": 1000}
        if marker:
            params["marker"] = marker
        page = (await nova.get("/servers/detail", params=params)).json()["servers"]
        for s in page:
            counts[s["status"]] = counts.get(s["status"], 0) + 1
        if len(page) < 1000:
            return counts
        marker = page[-1]["id"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, default=355)
    parser.add_argument("--vms", type=int, default=4552)
    parser.add_argument("--shards", type=int, default=3)
    parser.add_argument("--postgresql", action="store_true")
    parser.add_argument("--per-request", type=int, default=1,
                        help="servers per create request (min_count = max_count)")
    parser.add_argument("--api-processes", type=int, default=1,
                        help="with --postgresql: the service and N-1 `barecloud api` "
                        "processes (scale-out, docs/design/processes.md); host agents' "
                        "shards and creates spread over them, as behind a load balancer")
    args = parser.parse_args()
    if args.api_processes > 1 and not args.postgresql:
        parser.error("--api-processes needs --postgresql (SQLite is one process's)")
    tmp = Path(tempfile.mkdtemp(prefix="bench-vm-storm-"))
    url = db_name = None
    if args.postgresql:
        url, db_name = support.pg_create_database()
    svc = support.start_service(tmp / "svc", database_url=url, auth="keystone", extra_env={
        "BARECLOUD_CPU_ALLOCATION_RATIO": str(RATIOS["cpu"]),
        "BARECLOUD_RAM_ALLOCATION_RATIO": str(RATIOS["ram"])})
    apis = [svc.url]
    extra: list[subprocess.Popen[bytes]] = []
    try:
        for n in range(1, args.api_processes):
            port = support.free_port()
            extra.append(subprocess.Popen(
                [sys.executable, "-m", "barecloud", "api", "--port", str(port)],
                env={**svc.env, "BARECLOUD_PORT": str(port)},
                stdout=(tmp / f"api-{n}.log").open("wb"), stderr=subprocess.STDOUT))
            apis.append(f"http://127.0.0.1:{port}")
        for url in apis[1:]:
            deadline = time.monotonic() + 60
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                        break
                if time.monotonic() > deadline:
                    raise SystemExit(f"API process at {url} did not start")
                time.sleep(0.2)
        fig = asyncio.run(scenario(svc, tmp, args.hosts, args.vms, args.shards,
                                   args.per_request, apis))
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, "
              f"Python {platform.python_version()}, "
              f"{'PostgreSQL' if args.postgresql else 'SQLite'}, "
              f"{args.api_processes} API process(es)")
        for key, value in fig.items():
            print(f"  {key:24} {value:.1f}" if isinstance(value, float) else
                  f"  {key:24} {value}")
    finally:
        for proc in extra:
            proc.send_signal(signal.SIGTERM)
        for proc in extra:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        svc.stop()
        if db_name:
            support.pg_drop_database(db_name)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
