"""Benchmark (issue 4): deploy a 1 GiB raw image to one lab machine over loopback.

A barecloud service (SQLite) and a one-machine loopback lab; the image is
uploaded through the Image API and deployed through the Bare Metal API, so
the machine network-boots, runs the real agent, streams the image from
``/boot/images/<id>`` onto its disk file and boots it.  Figures:

- request → ``active``: the whole deploy (boot, write, config drive, power);
- the agent's write throughput (bytes / seconds of its ``write_image``);
- the baseline: ``curl -s <the image's bytes> | dd of=<file> bs=4M conv=fsync`` on
  the same machine, from the same service (Glance's download: ``/boot/images``
  serves only a deploying node's signed URL), run alternately with the deploys
  so both see the same noise;
- the ratio of the two (target ≥ 0.80) and the agent's peak memory (the
  lab firmware reads the agent process's ru_maxrss when it exits; target
  < 64 MiB).

Run: ``.venv/bin/python bench/deploy_image.py [--size-mib 1024] [--runs 3]``.
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import support
from tests.lab.conftest import make_lab

HEADERS = {"X-OpenStack-Ironic-API-Version": "1.78"}
MIB = 1 << 20
NAME = "lab-00001"
RATE = re.compile(r"agent write_image: succeeded \((\d+) MiB in ([\d.]+) s")
PEAK = re.compile(r"agent exited with status \d+, peak memory ([\d.]+) MiB")


def settle(bm: httpx.Client, state: str, timeout: float = 900) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        node: dict[str, Any] = bm.get(f"/nodes/{NAME}").json()
        if node["target_provision_state"] is None and node["reservation"] is None:
            if node["provision_state"] != state:
                raise SystemExit(f"node ended {node['provision_state']}: {node['last_error']}")
            return node
        if time.monotonic() > deadline:
            raise SystemExit(f"node still {node['provision_state']} after {timeout} s")
        time.sleep(0.05)


def provision(bm: httpx.Client, target: str, **extra: Any) -> None:
    rsp = bm.put(f"/nodes/{NAME}/states/provision", json={"target": target, **extra})
    rsp.raise_for_status()


def make_image(path: Path, size_mib: int) -> None:
    block = os.urandom(64 * MIB)
    with path.open("wb") as f:
        for _ in range(size_mib // 64):
            f.write(block)
            block = block[1:] + block[:1]  # no two blocks alike


def upload(url: str, path: Path) -> str:
    with httpx.Client(base_url=f"{url}/image/v2", timeout=600) as image:
        rsp = image.post("/images", json={"name": "bench-1g", "disk_format": "raw",
                                          "container_format": "bare"})
        rsp.raise_for_status()
        image_id = str(rsp.json()["id"])
        with path.open("rb") as f:
            image.put(f"/images/{image_id}/file", content=f,
                      headers={"Content-Type": "application/octet-stream"}).raise_for_status()
    return image_id


def curl_dd(url: str, target: Path) -> float:
    target.unlink(missing_ok=True)
    started = time.monotonic()
    subprocess.run(f"curl -sf '{url}' | dd of='{target}' bs=4M iflag=fullblock conv=fsync "
                   "status=none", shell=True, check=True)
    took = time.monotonic() - started
    target.unlink()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-deploy-image-"))
    lab = make_lab(tmp / "lab", 1)
    svc = support.start_service(tmp / "svc", extra_env={
        "BARECLOUD_POWER_SYNC_INTERVAL": "3600",
        "BARECLOUD_DEPLOY_CALLBACK_TIMEOUT": "900",
    })
    bm = httpx.Client(base_url=f"{svc.baremetal}/v1", headers=HEADERS, timeout=60)
    try:
        disk_gb = max(2, args.size_mib // 1024 + 1)
        lab.up(1, "--disk-gb", str(disk_gb), "--boot-url", f"{svc.url}/boot/boot.ipxe",
               "--enroll", svc.url)
        provision(bm, "manage")
        settle(bm, "manageable")
        provision(bm, "provide")
        settle(bm, "available")
        image = tmp / "image.raw"
        make_image(image, args.size_mib)
        image_id = upload(svc.url, image)
        image.unlink()
        bm.patch(f"/nodes/{NAME}", json=[{"op": "add", "path": "/instance_info/image_source",
                                          "value": image_id}]).raise_for_status()
        # The baseline reads the same bytes from the same service through Glance's
        # download (/boot/images serves only a deploying node's signed URL).
        url = f"{svc.url}/image/v2/images/{image_id}/file"
        console = lab.path / "machines" / NAME / "console.log"
        base, agent, total, peaks = [], [], [], []
        for run in range(1, args.runs + 1):
            took = curl_dd(url, tmp / "baseline.img")
            base.append(args.size_mib / took)
            started = time.monotonic()
            provision(bm, "active")
            settle(bm, "active")
            total.append(time.monotonic() - started)
            history = bm.get(f"/nodes/{NAME}/history", params={"detail": "true"}).json()
            written = [RATE.search(h["event"]) for h in history["history"]]
            size, seconds = next(m for m in reversed(written) if m).groups()
            agent.append(int(size) / float(seconds))
            peaks.append(float(PEAK.findall(console.read_text())[-1]))
            print(f"run {run}: curl|dd {base[-1]:.0f} MiB/s, agent {agent[-1]:.0f} MiB/s "
                  f"(ratio {agent[-1] / base[-1]:.2f}), request→active {total[-1]:.1f} s, "
                  f"agent peak {peaks[-1]:.1f} MiB", flush=True)
            provision(bm, "deleted")
            settle(bm, "available")
        ratio = statistics.median(a / b for a, b in zip(agent, base, strict=True))
        print()
        print(f"machine: {platform.processor() or platform.machine()}, "
              f"{os.cpu_count()} CPUs, Python {platform.python_version()}")
        print(f"image {args.size_mib} MiB raw, {args.runs} runs (medians):")
        print(f"  request → active      {statistics.median(total):.1f} s")
        print(f"  agent write           {statistics.median(agent):.0f} MiB/s")
        print(f"  curl | dd baseline    {statistics.median(base):.0f} MiB/s")
        print(f"  ratio agent/baseline  {ratio:.2f}   (target ≥ 0.80)")
        print(f"  agent peak memory     {max(peaks):.1f} MiB (target < 64 MiB)")
    finally:
        bm.close()
        svc.stop()
        lab.cli("down", check=False)
        lab.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
