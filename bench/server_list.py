"""Benchmark: Nova's server list, a page of 1,000 of a project's 4,552 VMs.

A ``barecloud serve`` on SQLite (Keystone tokens, as a cloud is used) whose
database gets, written directly, the rows a VM storm leaves behind: 355 hosts
(``up``) and ``--servers`` VMs of project ``demo`` made by multi-creates of 13
(names ``vm-B-I``, one reservation each, spread over the hosts, ACTIVE, no
addresses), as bench/vm_storm.py's database holds them.  Then ``--requests``
sequential ``GET /compute/v2.1/servers/detail?limit=1000`` (after a few to
warm up) as demo (``--admin``: as the admin, with ``all_tenants=1``), and the
benchmark prints their latency (median, p90) and the service's CPU time per
request (its utime + stime from /proc, before and after, divided by the
number of requests: what the list costs, whatever the client waits for), and
what the idle service burns per second by itself (its background loops).

    .venv/bin/python bench/server_list.py
    .venv/bin/python bench/server_list.py --requests 100 --microversion 2.96 --admin
    .venv/bin/python bench/server_list.py --summary            # GET /servers

To compare trees, run it with ``PYTHONPATH=<tree>/src``: the service is started
with this process's environment, and the first line says which barecloud ran.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import random
import shutil
import statistics
import string
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import support

import barecloud
from barecloud.db import compute_models  # noqa: F401  (its tables join Base.metadata)
from barecloud.db.hypervisor_models import UP
from barecloud.db.models import Base

HOSTS = 355
BATCH = 13  # servers per multi-create, as the storm makes them
FLAVOR = {"id": "3840b9f6-f6e6-46f6-b8d0-22d1e9f5d325", "name": "vm.tiny", "vcpus": 1,
          "ram": 512, "disk": 1, "ephemeral": 0, "swap": 0, "rxtx_factor": 1.0,
          "extra_specs": {}}
IMAGE = "0ca9a647-a0fc-4e9e-a5b7-4f1146d59e8b"
TICK = os.sysconf("SC_CLK_TCK")


def login(svc: support.Service, cloud: str) -> tuple[str, str, str]:
    """A token of ``cloud``'s user, with its user and project ids."""
    auth = svc.credentials(cloud)
    rsp = httpx.post(f"{svc.identity}/auth/tokens", timeout=30, json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": auth["username"], "domain": {"id": auth["user_domain_id"]},
            "password": auth["password"]}}},
        "scope": {"project": {"name": auth["project_name"],
                              "domain": {"id": auth["project_domain_id"]}}}}})
    rsp.raise_for_status()
    token = rsp.json()["token"]
    return rsp.headers["X-Subject-Token"], token["user"]["id"], token["project"]["id"]


def fill(database: Path, project: str, user: str, count: int) -> None:
    """``count`` VMs of ``project`` on HOSTS hosts, as a storm's database has them."""
    rng = random.Random(1)
    start = dt.datetime(2026, 12, 7, 5, 11, 22, 450507)
    engine = sa.create_engine(f"sqlite:///{database}")
    # Reported in the future: the service's host checks never mark them down.
    reported = dt.datetime.now() + dt.timedelta(days=365)
    hosts = [{"hostname": f"hv-{i:04d}", "state": UP, "hypervisor_type": "fake",
              "hypervisor_version": 1000, "host_ip": "127.0.0.1", "vcpus": 16,
              "memory_mb": 32768, "disk_gb": 200, "reported_at": reported,
              "credential_hash": f"{rng.getrandbits(256):064x}",
              "created_at": start - dt.timedelta(seconds=13)} for i in range(HOSTS)]
    servers: list[dict[str, Any]] = []
    for batch in range(-(-count // BATCH)):
        reservation = "r-" + "".join(rng.choices(string.ascii_lowercase + string.digits, k=8))
        created = start + dt.timedelta(seconds=batch * 0.19)
        for index in range(min(BATCH, count - batch * BATCH)):
            name = f"vm-{batch}-{index + 1}"
            launched = created + dt.timedelta(seconds=11 + rng.random() * 2)
            servers.append({
                "name": name, "hostname": name, "project_id": project, "user_id": user,
                "flavor": FLAVOR, "flavor_id": FLAVOR["id"], "vcpus": 1, "memory_mb": 512,
                "image_ref": IMAGE, "metadata": {}, "availability_zone": "nova",
                "networks": "none", "scheduler_hints": {}, "config_drive": True,
                "reservation_id": reservation, "launch_index": index, "vm_state": "active",
                "power_state": 1, "attempts": [], "addresses": {}, "launched_at": launched,
                "created_at": created + dt.timedelta(microseconds=index * 2),
                "updated_at": launched, "hypervisor_id": len(servers) % HOSTS + 1,
                "action_seq": 1})
    with engine.begin() as conn:
        # By column name (the table's ``metadata`` is ``Server.meta``).
        conn.execute(sa.insert(Base.metadata.tables["hypervisors"]), hosts)
        conn.execute(sa.insert(Base.metadata.tables["servers"]), servers)
    engine.dispose()


def cpu_seconds(pid: int) -> tuple[float, float]:
    """The process's user and system CPU time so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) / TICK, int(fields[12]) / TICK


def run(svc: support.Service, token: str, args: argparse.Namespace) -> dict[str, Any]:
    params: dict[str, Any] = {"limit": args.limit}
    if args.admin:
        params["all_tenants"] = 1
    headers = {"X-Auth-Token": token, "X-OpenStack-Nova-API-Version": args.microversion}
    path = "/servers" if args.summary else "/servers/detail"
    latencies: list[float] = []
    with httpx.Client(base_url=f"{svc.url}/compute/v2.1", headers=headers,
                      timeout=60) as nova:
        for _ in range(args.warmup):
            rsp = nova.get(path, params=params)
            rsp.raise_for_status()
        shown = len(rsp.json()["servers"])
        idle0 = sum(cpu_seconds(svc.proc.pid))
        time.sleep(args.idle)
        idle = sum(cpu_seconds(svc.proc.pid)) - idle0
        user0, system0 = cpu_seconds(svc.proc.pid)
        for _ in range(args.requests):
            t = time.perf_counter()
            rsp = nova.get(path, params=params)
            latencies.append(time.perf_counter() - t)
            rsp.raise_for_status()
        user, system = cpu_seconds(svc.proc.pid)
    latencies.sort()
    return {"servers_shown": shown, "body_bytes": len(rsp.content),
            "median_ms": statistics.median(latencies) * 1000,
            "p90_ms": latencies[int(len(latencies) * 0.9) - 1] * 1000,
            "server_cpu_ms_per_request": (user - user0 + system - system0) / args.requests * 1000,
            "server_system_ms_per_request": (system - system0) / args.requests * 1000,
            "idle_server_cpu_ms_per_s": idle / args.idle * 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--servers", type=int, default=4552)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--idle", type=float, default=2.0,
                        help="seconds the idle service's own CPU use is measured over")
    parser.add_argument("--microversion", default="2.79")
    parser.add_argument("--admin", action="store_true",
                        help="list as the admin, all_tenants=1")
    parser.add_argument("--summary", action="store_true",
                        help="GET /servers (ids, names and links) instead of /servers/detail")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-server-list-"))
    svc = support.start_service(tmp / "svc", auth="keystone", extra_env={
        "BARECLOUD_POWER_SYNC_INTERVAL": "3600"})
    try:
        admin, _, _ = login(svc, "barecloud-admin")
        demo, user, project = login(svc, "barecloud")
        fill(svc.data_dir / "barecloud.sqlite", project, user, args.servers)
        fig = run(svc, admin if args.admin else demo, args)
        print(f"barecloud: {Path(barecloud.__file__).parent}")
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, "
              f"Python {platform.python_version()}, SQLite, {args.servers} servers")
        print(f"{args.requests} x GET {'/servers' if args.summary else '/servers/detail'}"
              f"?limit={args.limit}{'&all_tenants=1 as admin' if args.admin else ' as member'}"
              f", microversion {args.microversion}")
        for key, value in fig.items():
            print(f"  {key:29} {value:.1f}" if isinstance(value, float) else
                  f"  {key:29} {value}")
    finally:
        svc.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
