"""The barecloud command against a real service (with Identity: the operator
commands get their token as a cloud of the clouds.yaml the service wrote)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support import Service, free_port, start_service

BM = {"X-OpenStack-Ironic-API-Version": "1.78"}


@pytest.fixture
def service(keystone_service: Service) -> Service:
    return keystone_service


def headers(svc: Service) -> dict[str, str]:
    return {**BM, "X-Auth-Token": svc.token()}


def run_cli(svc: Service, *args: str, check: bool = True,
            cloud: str | None = "barecloud-admin") -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    if cloud:
        env.update(OS_CLIENT_CONFIG_FILE=str(svc.clouds_yaml), OS_CLOUD=cloud)
    result = subprocess.run(
        [sys.executable, "-m", "barecloud", *args, "--url", svc.url],
        capture_output=True, text=True, timeout=120, env=env,
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

    with httpx.Client(base_url=f"{service.baremetal}/v1", headers=headers(service)) as c:
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
    with httpx.Client(base_url=f"{service.baremetal}/v1", headers=headers(service)) as c:
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


def test_credentials_are_needed_and_checked(service: Service) -> None:
    out = run_cli(service, "status", check=False, cloud=None)
    assert out.returncode == 1
    assert "error 401: The request you have made requires authentication." in out.stderr
    out = run_cli(service, "status", check=False, cloud="barecloud")  # demo: no conductors
    assert out.returncode == 1 and "error 403" in out.stderr
    out = run_cli(service, "status", check=False, cloud="no-such-cloud")
    assert out.returncode == 1 and "no cloud 'no-such-cloud'" in out.stderr
    out = run_cli(service, "status", "--token", service.token(), cloud=None)
    assert "0 nodes, 1 conductor(s)" in out.stdout


def test_deploy_a_batch_and_read_its_report(service: Service) -> None:
    spec = [{"name": f"batch-{i}", "driver": "fake-hardware",
             "ports": [f"52:54:00:bb:00:{i:02x}"]} for i in range(3)]
    with httpx.Client(base_url=service.url, headers=headers(service), timeout=30) as c:
        for node in spec:
            c.post("/baremetal/v1/nodes", json={k: v for k, v in node.items()
                                                if k != "ports"}).raise_for_status()
        image = c.post("/image/v2/images", json={"name": "batch-img", "disk_format": "raw",
                                                 "container_format": "bare"}).json()
        c.put(f"/image/v2/images/{image['id']}/file", content=b"\x01" * 4096,
              headers={"Content-Type": "application/octet-stream"}).raise_for_status()
    names = [n["name"] for n in spec]
    run_cli(service, "bulk", "manage", *names)
    run_cli(service, "bulk", "provide", *names)
    out = run_cli(service, "deploy", "batch-img", *names, "--delivery", "http").stdout
    assert "3 OK, 0 KO of 3" in out, out
    rows = [line.split() for line in out.splitlines() if line.startswith("-  batch-")]
    assert sorted(r[1] for r in rows) == names and {r[2] for r in rows} == {"OK"}, out
    ref = out.split()[1].rstrip(":")
    again = run_cli(service, "deploy-report", ref).stdout
    assert f"batch {ref}: http, done: 3 OK, 0 KO of 3" in again
    busy = run_cli(service, "deploy", "batch-img", names[0], check=False)
    assert busy.returncode == 1
    assert "error 409: Cannot deploy node(s) batch-0 (active, not available)." in busy.stderr
    missing = run_cli(service, "deploy", "no-such-image", names[0], check=False)
    assert (missing.returncode, missing.stderr) == (
        1, "error: 0 images are named 'no-such-image'\n")


def test_a_bad_setting_is_one_line_not_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "BARECLOUD_DATA_DIR": str(tmp_path),
           "BARECLOUD_DEPLOY_BATCH_PROGRESS_TIMEOUT": "5"}
    result = subprocess.run([sys.executable, "-m", "barecloud", "serve"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr == (
        "error: settings: Value error, deploy_batch_progress_timeout (5 s) must be more "
        "than twice deploy_chain_stall_timeout (10 s)\n")


@pytest.mark.parametrize(("args", "says"), [
    (["--netns"], "--netns goes with --lab N"),
    (["--lab", "2", "--hypervisors", "1"], "--hypervisors goes with --lab N --netns"),
    (["--lab", "2", "--netns", "--hypervisors", "3"],
     "--hypervisors 3 is more than the lab's 2 machines"),
])
def test_serve_refuses_lab_options_that_do_not_go_together(
        tmp_path: Path, args: list[str], says: str) -> None:
    env = {**os.environ, "BARECLOUD_DATA_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "barecloud", "serve", *args], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert says in " ".join(result.stderr.split())
    assert not (tmp_path / "lab").exists()


def test_operator_commands_go_to_the_clouds_service(service: Service, tmp_path: Path) -> None:
    """status, enroll and bulk with --cloud and no --url reach the cloud's own URL (the
    service is not on 127.0.0.1:6385), not the default one."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "BARECLOUD_"))}
    env.update(OS_CLIENT_CONFIG_FILE=str(service.clouds_yaml))
    path = tmp_path / "nodes.yaml"
    path.write_text(yaml.safe_dump([{"name": "far-1", "driver": "fake-hardware"}]))

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "barecloud", *args,
                               "--cloud", "barecloud-admin"],
                              capture_output=True, text=True, timeout=120, env=env)

    enrolled = cli("enroll", str(path))
    assert enrolled.returncode == 0 and "enrolled 1 node(s)" in enrolled.stdout, enrolled
    managed = cli("bulk", "manage", "far-1")
    assert managed.returncode == 0 and "done: 1 ok, 0 failed" in managed.stdout, managed
    status = cli("status")
    assert status.returncode == 0 and "1 nodes, 1 conductor(s)" in status.stdout, status


@pytest.mark.parametrize("args", [["status"], ["bulk", "manage", "n1"], ["enroll", "x.yaml"],
                                  ["top-talkers"], ["deploy-report", "r-1"]])
def test_a_service_that_is_down_is_one_line_and_exit_2(
        tmp_path: Path, args: list[str]) -> None:
    port = free_port()  # nothing listens there
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(yaml.safe_dump({"clouds": {"gone": {"auth_type": "password", "auth": {
        "auth_url": f"http://127.0.0.1:{port}/identity", "username": "admin",
        "password": "secret", "project_name": "admin", "user_domain_id": "default",
        "project_domain_id": "default"}}}}))
    (tmp_path / "x.yaml").write_text("- {name: n1, driver: fake-hardware}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "BARECLOUD_"))}
    env.update(OS_CLIENT_CONFIG_FILE=str(clouds))
    for auth in (["--cloud", "gone"], ["--token", "t", "--url", f"http://127.0.0.1:{port}"]):
        result = subprocess.run([sys.executable, "-m", "barecloud", *args, *auth],
                                capture_output=True, text=True, timeout=60, env=env,
                                cwd=tmp_path)
        assert result.returncode == 2, (auth, result.stderr)
        assert result.stderr.count("\n") == 1, (auth, result.stderr)
        assert result.stderr.startswith("error: ") and f"127.0.0.1:{port}" in result.stderr
        assert "Traceback" not in result.stderr


def test_a_noauth_cloud_needs_no_url_and_no_token(tmp_path: Path) -> None:
    """The noauth clouds.yaml names its service by its endpoints: no auth_url, no token."""
    svc = start_service(tmp_path / "noauth")
    try:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "BARECLOUD_"))}
        env.update(OS_CLIENT_CONFIG_FILE=str(svc.clouds_yaml), OS_CLOUD="barecloud")
        result = subprocess.run([sys.executable, "-m", "barecloud", "status"], env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
        assert "0 nodes, 1 conductor(s)" in result.stdout
    finally:
        svc.stop()
