"""Benchmark (issue 5): N lab machines, N ``server create`` requests at once.

A barecloud service (SQLite by default, ``--postgresql`` for PostgreSQL) and
a loopback lab of N machines, enrolled and cleaned for real (each machine
network-boots the agent, which erases its disk).  A small raw image is
uploaded through the Image API and a bare-metal flavor created
(``resources:CUSTOM_BAREMETAL=1``).  Then N ``POST /compute/v2.1/servers``
go out at once, and the benchmark measures:

- time from the first request until every server is ACTIVE (each one a real
  deploy: PXE boot, the agent writes the image and the config drive, the
  machine boots its disk);
- the latency of ``GET /servers`` (median, p99), sampled continuously while
  the servers build;
- errors: servers in ERROR, 5xx answers.

Run: ``.venv/bin/python bench/server_create.py [--machines 200]``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import support
from tests.lab.conftest import make_lab

from barecloud.services.context import NOAUTH_PROJECT

MIB = 1 << 20
BM = {"X-OpenStack-Ironic-API-Version": "1.78"}
NOVA = {"X-OpenStack-Nova-API-Version": "2.79"}


def token_headers(svc: support.Service, cloud: str) -> tuple[dict[str, str], str | None]:
    """A token for ``cloud`` of the service's clouds.yaml, and its project id.

    In noauth mode there is no token and every request is the admin.
    """
    clouds = yaml.safe_load(svc.clouds_yaml.read_text())["clouds"]
    if cloud not in clouds:
        return {}, None
    auth = clouds[cloud].get("auth") or {}
    if clouds[cloud].get("auth_type") == "none" or "password" not in auth:
        return {}, None
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": auth["username"], "password": auth["password"],
        "domain": {"name": auth.get("user_domain_name", "Default")}}}},
        "scope": {"project": {"name": auth["project_name"],
                              "domain": {"name": auth.get("project_domain_name", "Default")}}}}}
    rsp = httpx.post(f"{svc.url}/identity/v3/auth/tokens", json=body, timeout=30)
    rsp.raise_for_status()
    return {"X-Auth-Token": rsp.headers["X-Subject-Token"]}, rsp.json()["token"]["project"]["id"]


def make_image(path: Path) -> None:
    with path.open("wb") as f:
        f.truncate(8 * MIB)
    subprocess.run(["sfdisk", "-q", str(path)], input="label: dos\nstart=2048, type=83\n",
                   text=True, check=True)


async def settle_nodes(bm: httpx.AsyncClient, state: str, count: int,
                       timeout: float = 1800) -> None:
    deadline = time.monotonic() + timeout
    while True:
        nodes = (await bm.get("/nodes", params={"fields": "provision_state,reservation",
                                                "limit": 1000})).json()["nodes"]
        done = [n for n in nodes if n["provision_state"] == state and not n["reservation"]]
        if len(done) >= count:
            return
        if time.monotonic() > deadline:
            raise SystemExit(f"{len(done)} of {count} nodes {state} after {timeout} s")
        await asyncio.sleep(1)


async def scenario(svc: support.Service, lab_dir: Path, n: int) -> dict[str, Any]:
    admin, _ = token_headers(svc, "barecloud-admin")
    demo, project = token_headers(svc, "barecloud")
    limits = httpx.Limits(max_connections=n + 10)
    async with httpx.AsyncClient(base_url=f"{svc.baremetal}/v1", headers={**BM, **admin},
                                 timeout=120) as bm, \
            httpx.AsyncClient(base_url=f"{svc.url}/compute/v2.1", headers={**NOVA, **demo},
                              timeout=300, limits=limits) as nova, \
            httpx.AsyncClient(base_url=f"{svc.url}/compute/v2.1", headers={**NOVA, **admin},
                              timeout=60) as nova_admin, \
            httpx.AsyncClient(base_url=f"{svc.url}/image/v2", headers=admin,
                              timeout=120) as glance:  # a public image is the admin's
        started = time.monotonic()
        names = [f"lab-{i:05d}" for i in range(1, n + 1)]
        for verb, state in (("manage", "manageable"), ("provide", "available")):
            await asyncio.gather(*(bm.put(f"/nodes/{name}/states/provision",
                                          json={"target": verb}) for name in names))
            await settle_nodes(bm, state, n)
        cleaned = time.monotonic() - started

        image = lab_dir.parent / "image.raw"
        make_image(image)
        rsp = await glance.post("/images", json={"name": "bench", "disk_format": "raw",
                                                 "container_format": "bare",
                                                 "visibility": "public"})
        rsp.raise_for_status()
        image_id = rsp.json()["id"]
        (await glance.put(f"/images/{image_id}/file", content=image.read_bytes(),
                          headers={"Content-Type": "application/octet-stream"})
         ).raise_for_status()
        rsp = await nova_admin.post("/flavors", json={"flavor": {
            "name": "bm.bench", "ram": 4096, "vcpus": 2, "disk": 1}})
        rsp.raise_for_status()
        flavor = rsp.json()["flavor"]["id"]
        (await nova_admin.post(f"/flavors/{flavor}/os-extra_specs", json={"extra_specs": {
            "resources:CUSTOM_BAREMETAL": "1", "resources:VCPU": "0",
            "resources:MEMORY_MB": "0", "resources:DISK_GB": "0"}})).raise_for_status()
        # The tenant's project may hold N servers (noauth: the one admin project).
        project = project or NOAUTH_PROJECT
        (await nova_admin.put(f"/os-quota-sets/{project}", json={"quota_set": {
            "instances": -1, "cores": -1, "ram": -1}})).raise_for_status()
        user_data = base64.b64encode(b"#cloud-config\n").decode()

        latencies: list[float] = []
        errors = {"5xx": 0}
        stop = asyncio.Event()

        async def sample() -> None:
            while not stop.is_set():
                t = time.monotonic()
                rsp = await nova.get("/servers")
                latencies.append(time.monotonic() - t)
                errors["5xx"] += rsp.status_code >= 500
                await asyncio.sleep(0.2)

        sampler = asyncio.create_task(sample())
        t0 = time.monotonic()
        answers = await asyncio.gather(*(nova.post("/servers", json={"server": {
            "name": f"bench-{i}", "imageRef": image_id, "flavorRef": flavor,
            "user_data": user_data, "networks": "none"}}) for i in range(n)))
        accepted = sum(r.status_code == 202 for r in answers)
        errors["5xx"] += sum(r.status_code >= 500 for r in answers)
        while True:
            servers = (await nova.get("/servers/detail")).json()["servers"]
            active = sum(s["status"] == "ACTIVE" for s in servers)
            failed = sum(s["status"] == "ERROR" for s in servers)
            if active + failed >= accepted:
                break
            if time.monotonic() - t0 > 3600:
                raise SystemExit(f"only {active} ACTIVE after an hour")
            await asyncio.sleep(0.5)
        all_active = time.monotonic() - t0
        stop.set()
        await sampler
        nodes = (await bm.get("/nodes", params={"fields": "instance_uuid",
                                                "limit": 1000})).json()["nodes"]
        used = [x["instance_uuid"] for x in nodes if x["instance_uuid"]]
        return {"machines": n, "cleaned_s": cleaned, "accepted": accepted, "active": active,
                "error": failed, "all_active_s": all_active, "5xx": errors["5xx"],
                "list_median_ms": statistics.median(latencies) * 1000,
                "list_p99_ms": sorted(latencies)[int(len(latencies) * 0.99) - 1] * 1000,
                "list_samples": len(latencies), "distinct_nodes": len(set(used)),
                "servers_on_nodes": len(used)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, default=200)
    parser.add_argument("--postgresql", action="store_true")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-server-create-"))
    lab = make_lab(tmp / "lab", args.machines)
    url = None
    db_name = None
    if args.postgresql:
        url, db_name = support.pg_create_database()
    svc = support.start_service(tmp / "svc", database_url=url, auth="keystone", extra_env={
        "BARECLOUD_POWER_SYNC_INTERVAL": "3600",
        "BARECLOUD_DEPLOY_CALLBACK_TIMEOUT": "1800",
    })
    try:
        admin, _ = token_headers(svc, "barecloud-admin")
        if admin:  # `lab up --enroll` speaks to the API as the admin
            os.environ["OS_TOKEN"] = admin["X-Auth-Token"]
        lab.up(args.machines, "--disk-gb", "1", "--boot-url", f"{svc.url}/boot/boot.ipxe",
               "--enroll", svc.url)
        fig = asyncio.run(scenario(svc, lab.path, args.machines))
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, "
              f"Python {platform.python_version()}, "
              f"{'PostgreSQL' if args.postgresql else 'SQLite'}")
        for key, value in fig.items():
            print(f"  {key:18} {value:.1f}" if isinstance(value, float) else
                  f"  {key:18} {value}")
    finally:
        svc.stop()
        lab.cli("down", check=False)
        lab.kill()
        if db_name:
            support.pg_drop_database(db_name)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
