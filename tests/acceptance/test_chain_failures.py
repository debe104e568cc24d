"""A machine killed in the middle of a chain, on rate-limited links in namespaces.

``barecloud serve --lab 4 --netns --rate 40mbit``: four machines, each in its
own network namespace, every cable (barecloud's own included) shaped with tc
tbf.  A chain batch deploys one image to all four; when the second machine
of the chain has written part of it, its agent process is killed.  Its
successor must resume from the first machine at the byte it had got, the
killed machine must be rebooted and written alone, and every disk must hold
the image.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from barecloud.lab.netns import PREFIX, lab_id
from tests import support

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the netns lab needs root"),
]

MIB = 1 << 20
SIZE = 40 * MIB  # about 8.4 s a copy at 40 Mbit/s
NAMES = [f"lab-{i:05d}" for i in range(1, 5)]
HEADERS = {"X-OpenStack-Ironic-API-Version": "1.78"}


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Service]:
    base = tmp_path_factory.mktemp("chain")
    service = support.start_service(
        base / "svc", lab=4, netns=True, rate="40mbit", timeout=420, extra_env={
            # A killed machine's successor may see its upstream vanish without a reset
            # (the lab takes the dead machine's address away): it moves on after 3 s.
            "BARECLOUD_DEPLOY_CHAIN_STALL_TIMEOUT": "3",
            "BARECLOUD_DEPLOY_BATCH_PROGRESS_TIMEOUT": "12",
            "BARECLOUD_DEADLINE_CHECK_INTERVAL": "1",
            "BARECLOUD_POWER_SYNC_INTERVAL": "3600",
        })
    try:
        yield service
    finally:
        service.stop()


def _agent_pid(svc: support.Service, machine: str) -> int | None:
    """The agent process running in ``machine``'s namespace (one this test started)."""
    netns = f"{PREFIX}-{lab_id(svc.data_dir / 'lab')}-{machine}"
    out = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True,
                         check=False).stdout
    for pid in out.split():
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"ramdisk.pyz" in cmdline:
            return int(pid)
    return None


def _node(bm: httpx.Client, name: str) -> dict[str, Any]:
    return dict(bm.get(f"/nodes/{name}").json())


def test_a_machine_killed_mid_chain_is_skipped_and_retried_alone(
        svc: support.Service) -> None:
    data = os.urandom(SIZE)
    with httpx.Client(base_url=f"{svc.url}/image/v2", timeout=120) as images:
        image_id = images.post("/images", json={
            "name": "chain", "disk_format": "raw", "container_format": "bare"}).json()["id"]
        rsp = images.put(f"/images/{image_id}/file", content=data,
                         headers={"Content-Type": "application/octet-stream"})
        assert rsp.status_code == 204, rsp.text
    bm = httpx.Client(base_url=f"{svc.baremetal}/v1", headers=HEADERS, timeout=30)
    rsp = bm.post("/barecloud-deploy-batches", json={
        "nodes": NAMES, "image_source": image_id, "delivery": "chain"})
    assert rsp.status_code == 202, rsp.text
    ref = rsp.json()["uuid"]

    # Wait until the second of the chain has written a sixteenth, then kill its agent.
    # What the test reads lags what the machine has written (the agent reports its
    # progress every second, the test's reads take their time on a busy machine), and
    # the successor gets whatever is on the victim's disk: at 100 Mbit/s a copy took
    # 3.4 s and the successor had twice got the whole image before the kill, never
    # having to move to the head of the chain.  At 40 Mbit/s a copy takes 8.4 s.
    deadline = time.monotonic() + 240
    victim = killed = None
    while killed is None:
        assert time.monotonic() < deadline, bm.get(f"/barecloud-deploy-batches/{ref}").json()
        batch = bm.get(f"/barecloud-deploy-batches/{ref}").json()
        second = [m for m in batch["members"] if m["position"] == 1]
        if second and second[0]["state"] == "writing":
            victim = second[0]["node_name"]
            command = _node(bm, victim)["driver_internal_info"].get("agent_command") or {}
            done = (command.get("progress") or {}).get("bytes") or 0
            if command.get("name") == "write_image" and done >= SIZE // 16:
                assert done < SIZE, "too late: the write had ended"
                pid = _agent_pid(svc, victim)
                assert pid is not None, f"no agent process in {victim}'s namespace"
                os.kill(pid, signal.SIGKILL)
                killed = done
        time.sleep(0.1)

    deadline = time.monotonic() + 300
    while True:
        batch = bm.get(f"/barecloud-deploy-batches/{ref}").json()
        states = {n: _node(bm, n)["provision_state"] for n in NAMES}
        if batch["state"] == "done" and set(states.values()) == {"active"}:
            break
        assert time.monotonic() < deadline, (batch, states)
        time.sleep(0.5)
    assert (batch["ok"], batch["ko"]) == (4, 0), batch
    rows = {m["node_name"]: m for m in batch["members"]}
    by_position = {m["position"]: m for m in batch["members"]}
    dead = rows[victim]
    # The killed machine went silent, was rebooted and written alone from the server.
    assert dead["retried"] and dead["delivery"] == "http", dead
    assert "Timeout reached" in dead["failures"][0]["error"], dead
    assert dead["bytes"] == SIZE
    # Its successor left it for the head of the chain, at the byte it had got.
    after = by_position[2]
    head_url = by_position[0]["agent_url"]
    assert [s["url"] for s in after["sources"]][:1] == [dead["agent_url"]], after
    moved = [s for s in after["sources"] if s["url"] == head_url]
    assert moved and 0 < moved[0]["from"] < SIZE, after
    assert not after["retried"] and after["bytes"] == SIZE
    digest = hashlib.sha512(data).hexdigest()
    for name in NAMES:
        disk = svc.data_dir / "lab" / "machines" / name / "disk.img"
        with disk.open("rb") as f:
            assert hashlib.sha512(f.read(SIZE)).hexdigest() == digest, name
    bm.close()
