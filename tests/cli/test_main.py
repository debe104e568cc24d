"""The barecloud command against a real service."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import yaml

from tests.support import Service

BM = {"X-OpenStack-Ironic-API-Version": "1.78"}


def alive(pid: int) -> bool:
    """Running, not a zombie left for an init that does not reap."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def run_cli(svc: Service, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "barecloud", *args, "--url", svc.url],
        capture_output=True, text=True, timeout=120,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def test_enroll_then_bulk_deploy_and_status(service: Service, tmp_path: Path) -> None:
    spec = [
        {"name": f"rack1-{i}", "driver": "fake-hardware", "resource_class": "gpu",
         "ports": [f"52:54:00:aa:00:{i:02x}"], "traits": ["CUSTOM_GPU"]}
        for i in range(4)
    ]
    path = tmp_path / "nodes.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = run_cli(service, "enroll", str(path), "--manage")
    assert "enrolled 4 node(s)" in out.stdout

    with httpx.Client(base_url=f"{service.baremetal}/v1", headers=BM) as c:
        node = c.get("/nodes/rack1-2").json()
        assert node["traits"] == ["CUSTOM_GPU"]
        ports = c.get("/ports", params={"node": "rack1-2"}).json()["ports"]
        assert [p["address"] for p in ports] == ["52:54:00:aa:00:02"]

    # manage was started; bulk waits for every node to settle.
    run_cli(service, "bulk", "provide", *[s["name"] for s in spec])
    out = run_cli(service, "bulk", "active", "all")
    assert "started on 4 node(s)" in out.stdout
    assert "done: 4 ok, 0 failed" in out.stdout

    status = run_cli(service, "status").stdout
    assert "4 nodes, 1 conductor(s)" in status
    assert [line.split() for line in status.splitlines() if "active" in line] == [
        ["active", "4"]
    ]


def test_bulk_reports_failures_and_exits_non_zero(service: Service) -> None:
    with httpx.Client(base_url=f"{service.baremetal}/v1", headers=BM) as c:
        c.post("/nodes", json={"name": "bad", "driver": "fake-hardware",
                               "driver_info": {"fake_fail": "validate"}}).raise_for_status()
    out = run_cli(service, "bulk", "manage", "bad", check=False)
    assert out.returncode == 1
    assert "FAILED bad: enroll" in out.stdout
    assert "validation failed as requested" in out.stdout


def test_unknown_node_is_a_clear_error(service: Service) -> None:
    out = run_cli(service, "bulk", "manage", "nope", check=False)
    assert out.returncode == 1
    assert "error 404: Node nope could not be found." in out.stderr


def test_db_upgrade_creates_the_schema(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "barecloud", "db", "upgrade", "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "is at head" in result.stdout
    assert (tmp_path / "barecloud.sqlite").stat().st_size > 0


def test_serve_with_lab_enrolls_available_machines_and_writes_clouds_yaml(
    tmp_path: Path,
) -> None:
    from tests.support import start_service

    svc = start_service(tmp_path / "lab", lab=3)
    try:
        clouds = yaml.safe_load(svc.clouds_yaml.read_text())
        endpoint = clouds["clouds"]["barecloud"]["baremetal_endpoint_override"]
        assert endpoint == svc.baremetal
        nodes = httpx.get(f"{endpoint}/v1/nodes", headers=BM).json()["nodes"]
        assert sorted(n["name"] for n in nodes) == ["lab-00001", "lab-00002", "lab-00003"]
        detail = httpx.get(f"{endpoint}/v1/nodes/detail", headers=BM).json()["nodes"]
        assert {(n["provision_state"], n["driver"], n["power_state"]) for n in detail} == {
            ("available", "ipmi", "power off")}
        assert {n["driver_info"]["ipmi_password"] for n in detail} == {"******"}
        lab_json = yaml.safe_load((tmp_path / "lab" / "lab" / "lab.json").read_text())
        pids = [shard["pid"] for shard in lab_json["shards"]]
        assert pids and all(alive(pid) for pid in pids)
        assert "openstack baremetal node list" in svc.log()
    finally:
        svc.stop()
    # Stopping the service stops the lab's processes too (they were started by it).
    assert not any(alive(pid) for pid in pids)
