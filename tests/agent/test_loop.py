"""The whole agent as the machine runs it: a process against a stdlib server playing the API."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from barecloud.agent import bundle, configdrive
from tests.agent.servers import FakeApi, FileServer, sparse_file
from tests.agent.test_partitions import sfdisk, sfdisk_json, verify

MiB = 2**20
MAC = "52:54:00:10:00:01"
BOOTIF = "BOOTIF=01-52-54-00-10-00-01"


def machine(tmp_path: Path, disk_size: int = 256 * MiB) -> tuple[Path, Path]:
    """A lab machine's hardware file and its (sparse) disk."""
    disk = sparse_file(tmp_path / "disk.img", disk_size)
    hw = tmp_path / "hardware.json"
    hw.write_text(json.dumps({
        "interfaces": [{"name": "eth0", "mac_address": MAC},
                       {"name": "eth1", "mac_address": "52:54:00:10:00:02"}],
        "disks": [{"name": "vda", "path": str(disk), "size": disk_size}],
        "cpus": 2, "memory_mb": 4096, "cpu_arch": "x86_64", "platform": "lab"}))
    return hw, disk


def gpt_image(tmp_path: Path) -> tuple[Path, str]:
    """A small whole-disk image with a GPT, and its sha512."""
    (tmp_path / "images").mkdir()
    image = sparse_file(tmp_path / "images" / "disk.raw", 6 * MiB)
    sfdisk(image, "label: gpt\nsize=3M,type=L\n")
    with open(image, "r+b") as f:
        f.seek(MiB)
        f.write(os.urandom(3 * MiB))
    return image, hashlib.sha512(image.read_bytes()).hexdigest()


def run_agent(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout)


def agent_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "barecloud.agent", *args]


def finals(api: FakeApi) -> dict[str, dict[str, Any]]:
    return {r.command_id: r.body for r in api.reports if r.body["status"] != "running"}


def test_deploy_through_the_agent_process(
        tmp_path: Path, fake_api: Callable[..., tuple[FakeApi, str]],
        serve: Callable[..., FileServer]) -> None:
    hw, disk = machine(tmp_path)
    image, sha512 = gpt_image(tmp_path)
    # About 4 s: the writer and the reporter each tick every second, so at least two
    # of the reporter's ticks see new progress (at 2 s, a loaded CI run saw none).
    images = serve(image.parent, rate=3 * MiB // 2)
    files = {"openstack/latest/meta_data.json": json.dumps(
        {"uuid": "i-1", "hostname": "web-1", "public_keys": {"k": "ssh-ed25519 AAA"}}).encode()}
    api, url = fake_api(lookups_before_found=1, commands=[
        {"id": "c1", "name": "get_inventory", "params": {}},
        {"id": "c2", "name": "write_image", "params": {
            "url": images.url("disk.raw"), "os_hash_algo": "sha512", "os_hash_value": sha512,
            "size": image.stat().st_size, "disk": "vda"}},
        {"id": "c3", "name": "write_configdrive", "params": {
            "files": {p: base64.b64encode(c).decode() for p, c in files.items()}}},
        {"id": "c4", "name": "frobnicate", "params": {}},
        {"id": "c5", "name": "power_off", "params": {}},
    ])
    done = run_agent(agent_argv(
        "--cmdline", f"console=ttyS0 barecloud.api={url} barecloud.token={api.token} {BOOTIF}",
        "--hardware", str(hw), "--heartbeat-interval", "0.2", "--poll-wait", "1"))

    assert done.returncode == 100, done.stderr  # the lab's "power off"
    assert len(api.lookups) == 2 and api.lookups[0].split(",")[0] == MAC
    assert api.heartbeats and api.heartbeats[0]["agent_token"] == api.token
    assert api.heartbeats[0]["agent_version"]
    assert re.fullmatch(r"http://127\.0\.0\.1:\d+", api.heartbeats[0]["callback_url"])
    result = finals(api)
    assert list(result) == ["c1", "c2", "c3", "c4", "c5"]
    inventory = result["c1"]["result"]["inventory"]
    assert inventory["disks"][0]["path"] == str(disk)
    assert inventory["boot"]["pxe_interface"] == MAC
    assert result["c2"] == {"status": "succeeded", "result": {
        "bytes": image.stat().st_size, "os_hash_value": sha512,
        "seconds": result["c2"]["result"]["seconds"], "failovers": [],
        "sources": [{"url": images.url("disk.raw"), "from": 0, "to": image.stat().st_size}]}}
    progress = [r.body["progress"] for r in api.reports
                if r.command_id == "c2" and r.body["status"] == "running" and "progress" in
                r.body]
    assert progress and 0 < progress[0]["bytes"] <= image.stat().st_size
    assert progress[0]["total"] == image.stat().st_size
    assert api.reports[[r.command_id for r in api.reports].index("c2")].body == {
        "status": "running"}  # the first word on a command
    assert result["c3"]["status"] == "succeeded"
    assert result["c3"]["result"]["partition"] == 2
    assert result["c4"]["status"] == "failed"
    assert "unknown command 'frobnicate'" in result["c4"]["error"]
    assert result["c5"] == {"status": "succeeded", "result": {}}

    verify(disk)
    assert len(sfdisk_json(disk)["partitions"]) == 2
    with open(disk, "rb") as f:
        f.seek(MiB)  # the image's partition, untouched by the config drive's
        assert f.read(3 * MiB) == image.read_bytes()[MiB:4 * MiB]
    found = configdrive.read_config_drive(disk)
    assert found is not None and found["meta_data"]["hostname"] == "web-1"
    assert "command write_image" in done.stderr and "powering off" in done.stderr


def test_the_agent_serves_its_image_to_the_next_machine_before_powering_off(
        tmp_path: Path, fake_api: Callable[..., tuple[FakeApi, str]],
        serve: Callable[..., FileServer]) -> None:
    """The chain server at the heartbeat's callback_url; power_off waits for the successor."""
    hw, _ = machine(tmp_path)
    image, sha512 = gpt_image(tmp_path)
    images = serve(image.parent)
    api, url = fake_api(commands=[
        {"id": "w", "name": "write_image", "params": {
            "url": images.url("disk.raw"), "os_hash_value": sha512,
            "size": image.stat().st_size, "upstreams": [], "serve": {"token": "chain-tok"}}},
        {"id": "p", "name": "power_off", "params": {}},
    ])
    with subprocess.Popen(agent_argv(
            "--cmdline", f"barecloud.api={url} barecloud.token={api.token} {BOOTIF}",
            "--hardware", str(hw), "--heartbeat-interval", "0.2", "--poll-wait", "1"),
            stderr=subprocess.PIPE, text=True) as agent:
        assert api.wait_for("w")["status"] == "succeeded"
        started = time.monotonic()
        agent_url = api.heartbeats[-1]["callback_url"]
        with urllib.request.urlopen(f"{agent_url}/chain/chain-tok", timeout=10) as response:
            assert response.read() == image.read_bytes()
        _, stderr = agent.communicate(timeout=30)
    assert agent.returncode == 100, stderr
    assert time.monotonic() - started < 10  # not the 20 s grace: the successor was served
    assert finals(api)["p"]["status"] == "succeeded"
    assert "stream(s) served to the end" in stderr
    assert "'serve': {'token': '******'}" in stderr and "chain-tok" not in stderr


def test_the_zipapp_runs_under_a_bare_python(
        tmp_path: Path, fake_api: Callable[..., tuple[FakeApi, str]],
        serve: Callable[..., FileServer]) -> None:
    """The ramdisk as the lab firmware starts it: ``python3 -I ramdisk --cmdline ...``."""
    hw, disk = machine(tmp_path)
    image, sha512 = gpt_image(tmp_path)
    images = serve(image.parent)
    api, url = fake_api(commands=[
        {"id": "w", "name": "write_image", "params": {
            "url": images.url("disk.raw"), "os_hash_value": sha512}},
        {"id": "e", "name": "erase", "params": {"mode": "quick"}},
        {"id": "r", "name": "reboot", "params": {}},
    ])
    ramdisk = bundle.build(tmp_path / "boot" / "ramdisk")
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    done = run_agent([python, "-I", str(ramdisk), "--cmdline",
                      f"barecloud.api={url} barecloud.token={api.token} {BOOTIF}",
                      "--hardware", str(hw), "--poll-wait", "1"])
    assert done.returncode == 101, done.stderr  # the lab's "reboot"
    result = finals(api)
    assert result["w"]["result"]["os_hash_value"] == sha512
    assert result["e"] == {"status": "succeeded",
                           "result": {"mode": "quick", "bytes": result["e"]["result"]["bytes"]}}
    assert result["e"]["result"]["bytes"] >= 4 * MiB
    assert result["r"]["status"] == "succeeded"
    data = disk.read_bytes()
    assert data[:2 * MiB] == bytes(2 * MiB)  # the GPT is gone
    assert subprocess.run(["sfdisk", "--json", str(disk)], capture_output=True,
                          text=True).stdout.find('"partitions"') == -1


def test_token_from_the_lookup_and_api_from_the_option(
        tmp_path: Path, fake_api: Callable[..., tuple[FakeApi, str]]) -> None:
    hw, _ = machine(tmp_path)
    api, url = fake_api(token_in_lookup=True, commands=[
        {"id": "p", "name": "power_off", "params": {}}])
    done = run_agent(agent_argv("--cmdline", BOOTIF, "--api", url + "/baremetal/v1/",
                                "--hardware", str(hw), "--poll-wait", "1"))
    assert done.returncode == 100, done.stderr
    assert finals(api)["p"]["status"] == "succeeded"
    polls = [h for h in api.headers_seen if "x-agent-token" in h]
    assert polls and all(h["x-agent-token"] == api.token for h in polls)


def test_a_refused_token_it_cannot_replace_stops_the_agent(
        tmp_path: Path, fake_api: Callable[..., tuple[FakeApi, str]]) -> None:
    hw, _ = machine(tmp_path)
    api, url = fake_api(commands=[{"id": "p", "name": "power_off", "params": {}}])
    done = run_agent(agent_argv("--cmdline", f"barecloud.api={url} barecloud.token=wrong "
                                f"{BOOTIF}", "--hardware", str(hw), "--poll-wait", "1"))
    assert done.returncode == 1
    assert "refuses the agent token" in done.stderr
    assert api.reports == []
    assert len(api.lookups) == 2  # the first, and one to try for a new token


def test_missing_api_or_hardware_is_a_usage_error(tmp_path: Path) -> None:
    hw, _ = machine(tmp_path)
    done = run_agent(agent_argv("--cmdline", BOOTIF, "--hardware", str(hw)))
    assert done.returncode == 2 and "no API URL" in done.stderr
    done = run_agent(agent_argv("--cmdline", "barecloud.api=http://127.0.0.1:9",
                                "--hardware", str(tmp_path / "none.json")))
    assert done.returncode == 2 and "cannot read the hardware file" in done.stderr


def test_help_of_the_module() -> None:
    done = run_agent(agent_argv("--help"))
    assert done.returncode == 0
    assert "--cmdline" in done.stdout and "--hardware" in done.stdout
