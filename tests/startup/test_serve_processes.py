"""No process outlives ``barecloud serve``, not even after a SIGKILL of it.

Its children are the lab's shards (and their machines' processes), ``lab
up``, the provisioning dnsmasq and each tenant network's dnsmasq.  Every
one of them runs with the data directory in its command line or as its
working directory (``start_service`` starts the service there), which is
how they are found here.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support import start_service

pytestmark = pytest.mark.slow


def processes_of(data_dir: Path) -> dict[int, str]:
    """pid -> command line of every live process run from or about ``data_dir``."""
    root = str(data_dir.resolve())
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
            cwd = os.readlink(entry / "cwd")
            state = (entry / "stat").read_text().rpartition(")")[2].split()[0]
        except OSError:
            continue
        if state in ("Z", "X"):
            continue
        if root.encode() in cmdline or cwd == root or cwd.startswith(root + "/"):
            found[int(entry.name)] = cmdline.replace(b"\0", b" ").decode(errors="replace")
    return found


def left_after(data_dir: Path, timeout: float = 20) -> dict[int, str]:
    deadline = time.monotonic() + timeout
    while (left := processes_of(data_dir)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def kill_all(pids: dict[int, str]) -> None:
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def lab_down(data_dir: Path) -> None:
    """The netns lab's namespaces (not processes) stay after a kill: remove them."""
    subprocess.run([sys.executable, "-m", "barecloud.lab", "down", "--lab-dir",
                    str(data_dir / "lab")], capture_output=True, timeout=120, check=False)


def test_sigkill_of_a_loopback_lab_service_leaves_no_process(tmp_path: Path) -> None:
    svc = start_service(tmp_path / "svc", lab=2, timeout=300)
    try:
        running = processes_of(svc.data_dir)
        assert any("barecloud.lab.shard" in cmd for cmd in running.values()), running
        svc.kill(signal.SIGKILL)
        left = left_after(svc.data_dir)
        assert not left, f"left behind by a SIGKILLed serve: {left}"
    finally:
        svc.kill()
        kill_all(processes_of(svc.data_dir))


def test_two_loopback_labs_run_at_once(tmp_path: Path) -> None:
    """Each lab picks its own free BMC ports: both reach available side by side."""
    services = []
    try:
        for name in ("one", "two"):
            services.append(start_service(tmp_path / name, lab=2, timeout=300))
        ports = set()
        for svc in services:
            nodes = httpx.get(f"{svc.baremetal}/v1/nodes/detail",
                              headers={"X-OpenStack-Ironic-API-Version": "latest"}).json()
            assert [n["provision_state"] for n in nodes["nodes"]] == ["available"] * 2, nodes
            ports |= {n["driver_info"]["ipmi_port"] for n in nodes["nodes"]}
        assert len(ports) == 4
    finally:
        for svc in services:
            svc.stop()
            kill_all(processes_of(svc.data_dir))


@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("tc") is None,
                    reason="the netns lab needs root, ip and tc")
def test_sigkill_of_a_netns_lab_service_leaves_no_process(tmp_path: Path) -> None:
    """The provisioning dnsmasq, a tenant network's dnsmasq, the lab's shards: all
    end with the service (their DHCP would otherwise answer with its dead URLs)."""
    svc = start_service(tmp_path / "svc", lab=1, netns=True, timeout=300)
    network_id = None
    try:
        api = f"{svc.url}/network/v2.0"
        network_id = httpx.post(f"{api}/networks", json={"network": {"name": "n1"}}).json()[
            "network"]["id"]
        subnet = {"network_id": network_id, "ip_version": 4, "cidr": "10.61.0.0/24"}
        assert httpx.post(f"{api}/subnets", json={"subnet": subnet}).status_code == 201
        # A port bound to a host: the network's DHCP starts.
        port = {"network_id": network_id, "binding:host_id": "lab-00001"}
        assert httpx.post(f"{api}/ports", json={"port": port}).status_code == 201
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            running = processes_of(svc.data_dir)
            dnsmasqs = [cmd for cmd in running.values() if "dnsmasq" in cmd]
            if len(dnsmasqs) >= 2:
                break
            time.sleep(0.2)
        assert len(dnsmasqs) == 2, running  # provisioning and network n1
        assert any("barecloud.lab.shard" in cmd for cmd in running.values()), running
        svc.kill(signal.SIGKILL)
        left = left_after(svc.data_dir)
        assert not left, f"left behind by a SIGKILLed serve: {left}"
    finally:
        svc.kill()
        kill_all(processes_of(svc.data_dir))
        lab_down(svc.data_dir)
        if network_id:
            subprocess.run(["ip", "netns", "del", f"qdhcp-{network_id}"], capture_output=True,
                           check=False)
        subprocess.run(["ip", "link", "del", "bcprov0"], capture_output=True, check=False)
