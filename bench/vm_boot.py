"""Benchmark (issue 18): real VMs, from ``server create`` to the hostname on the console.

A barecloud service (SQLite), one hypervisor served by a real host agent
running QEMU (TCG on these machines: KVM hangs here), the project's small VM
image (scripts/build-vm-image) uploaded as qcow2.  For 1 VM, then for 4 at
once: seconds from ``POST /servers`` to ``os-getConsoleOutput`` showing
``barecloud-vm: hostname <name>``, and to status ACTIVE.  The first create
also fetches the image onto the host (its cache); the figures say which.

``--lab``: the hypervisor is a netns lab machine instead (``serve --lab 1
--netns --hypervisors 1``, root): the host agent and the QEMUs run in that
machine's namespace and reach the service over its cable, as issue 18's
"on one lab hypervisor" asks.

Run: ``.venv/bin/python bench/vm_boot.py [--rounds 3] [--lab]``.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import support
from tests.acceptance import vm_hosts

NOVA = {"OpenStack-API-Version": "compute 2.96"}


def boot(nova: httpx.Client, image: str, flavor: str, name: str) -> tuple[float, float]:
    """Seconds to the hostname on the console, and to ACTIVE; the VM deleted after."""
    t0 = time.monotonic()
    r = nova.post("/servers", json={"server": {"name": name, "imageRef": image,
                                               "flavorRef": flavor, "networks": "none"}})
    r.raise_for_status()
    sid = r.json()["server"]["id"]
    active = console = 0.0
    while not (active and console):
        if time.monotonic() - t0 > 300:
            raise SystemExit(f"{name}: no hostname on the console after 300 s")
        if not active:
            shown = nova.get(f"/servers/{sid}").json()["server"]
            status = shown["status"]
            if status == "ERROR":
                raise SystemExit(f"{name}: ERROR: {shown.get('fault')}")
            if status == "ACTIVE":
                active = time.monotonic() - t0
        if not console:
            out = nova.post(f"/servers/{sid}/action", json={"os-getConsoleOutput": {}})
            if f"barecloud-vm: hostname {name}" in out.json().get("output", ""):
                console = time.monotonic() - t0
        time.sleep(0.1)
    nova.delete(f"/servers/{sid}").raise_for_status()
    while nova.get(f"/servers/{sid}").status_code != 404:
        time.sleep(0.2)
    return console, active


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lab", action="store_true",
                        help="the hypervisor is a netns lab machine (root)")
    args = parser.parse_args()
    image_file = vm_hosts.build_vm_image()
    tmp = Path(tempfile.mkdtemp(prefix="bench-vm-boot-"))
    svc = (support.start_service(tmp / "svc", lab=1, netns=True, hypervisors=1, timeout=600)
           if args.lab else support.start_service(tmp / "svc"))
    try:
        if args.lab:
            agent: contextlib.AbstractContextManager[object] = contextlib.nullcontext()
        else:
            _, credential = vm_hosts.enrol(svc)
            agent = vm_hosts.host_agent(svc.url, tmp, credential, "--driver", "qemu")
        with agent, \
                httpx.Client(base_url=f"{svc.url}/compute/v2.1", headers=NOVA,
                             timeout=60) as nova, \
                httpx.Client(base_url=f"{svc.url}/image/v2", timeout=60) as glance:
            image = glance.post("/images", json={
                "name": "tiny", "disk_format": "qcow2", "container_format": "bare",
                "visibility": "public"}).json()["id"]
            glance.put(f"/images/{image}/file", content=image_file.read_bytes(),
                       headers={"Content-Type": "application/octet-stream"}
                       ).raise_for_status()
            flavor = next((f["id"] for f in nova.get("/flavors").json()["flavors"]
                           if f["name"] == "vm.tiny"), None) or nova.post("/flavors", json={
                "flavor": {"name": "vm.tiny", "ram": 256, "vcpus": 1, "disk": 1}}
            ).json()["flavor"]["id"]
            first = boot(nova, image, flavor, "vm-first")
            singles = [boot(nova, image, flavor, f"vm-one-{i}") for i in range(args.rounds)]
            fours: list[tuple[float, float]] = []
            for r in range(args.rounds):
                with ThreadPoolExecutor(4) as pool:
                    fours += pool.map(lambda i, r=r: boot(nova, image, flavor, f"vm-{r}-{i}"),
                                      range(4))
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, QEMU TCG, "
              f"image {image_file.stat().st_size / 2**20:.1f} MiB qcow2, hypervisor: "
              + ("a netns lab machine" if args.lab else "a host agent on this host"))
        print(f"  first VM (image fetched to the host): console {first[0]:.1f} s, "
              f"ACTIVE {first[1]:.1f} s")
        for label, runs in (("1 VM", singles), ("4 VMs at once", fours)):
            consoles = [c for c, _ in runs]
            actives = [a for _, a in runs]
            print(f"  {label:14} console median {statistics.median(consoles):.1f} s "
                  f"(max {max(consoles):.1f}), ACTIVE median {statistics.median(actives):.1f} s"
                  f" ({len(runs)} VMs)")
    finally:
        svc.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
