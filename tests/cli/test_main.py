"""The barecloud command against a real service (with Identity: the operator
commands get their token as a cloud of the clouds.yaml the service wrote)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.support import Service, free_port, start_service

BM = {"X-OpenStack-Ironic-API-Version": "1.78"}


@pytest.fixture
def service(keystone_service: Service) -> Service:
    return keystone_service


def headers(svc: Service) -> dict[str, str]:
    return {**BM, "X-Auth-Token": svc.token()}


def alive(pid: int) -> bool:
    """Running, not a zombie left for an init that does not reap."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


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
    svc = start_service(tmp_path / "lab", lab=3, auth="keystone")
    try:
        clouds = yaml.safe_load(svc.clouds_yaml.read_text())["clouds"]
        assert stat.S_IMODE(svc.clouds_yaml.stat().st_mode) == 0o600
        assert sorted(clouds) == ["barecloud", "barecloud-admin"]
        admin = clouds["barecloud-admin"]
        assert admin["auth"]["auth_url"] == f"{svc.url}/identity"
        assert (admin["auth_type"], admin["region_name"], admin["identity_api_version"]) == (
            "password", "RegionOne", 3)
        assert "has_identity" not in admin and "baremetal_endpoint_override" not in admin
        endpoint = svc.baremetal
        nodes = httpx.get(f"{endpoint}/v1/nodes", headers=headers(svc)).json()["nodes"]
        assert sorted(n["name"] for n in nodes) == ["lab-00001", "lab-00002", "lab-00003"]
        detail = httpx.get(f"{endpoint}/v1/nodes/detail",
                           headers=headers(svc)).json()["nodes"]
        assert {(n["provision_state"], n["driver"], n["power_state"]) for n in detail} == {
            ("available", "ipmi", "power off")}
        assert {n["driver_info"]["ipmi_password"] for n in detail} == {"******"}
        lab_json = yaml.safe_load((tmp_path / "lab" / "lab" / "lab.json").read_text())
        pids = [shard["pid"] for shard in lab_json["shards"]]
        assert pids and all(alive(pid) for pid in pids)
        assert "openstack baremetal node list" in svc.log()
        assert "OS_CLOUD=barecloud-admin" in svc.log()
        assert "created flavor bm.baremetal, image barecloud-demo" in svc.log()
        # The demo project's member gets a machine at once, with what the
        # first start made: the flavor of the lab's class and the demo image.
        openstack = Path(sys.executable).parent / "openstack"
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        env.update(OS_CLIENT_CONFIG_FILE=str(svc.clouds_yaml), OS_CLOUD="barecloud",
                   PYTHONWARNINGS="ignore")

        def run(*args: str) -> str:
            proc = subprocess.run([str(openstack), *args], env=env, capture_output=True,
                                  text=True, timeout=300)
            assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
            return proc.stdout

        run("keypair", "create", "--public-key", str(write_key(tmp_path)), "laptop")
        server = yaml.safe_load(run("server", "create", "--flavor", "bm.baremetal", "--image",
                                    "barecloud-demo", "--key-name", "laptop", "--wait",
                                    "-f", "json", "first-light"))
        assert server["status"] == "ACTIVE", server
        console = run("console", "log", "show", "first-light")
        assert "cloud-init: hostname first-light" in console
        assert f"cloud-init: ssh key laptop: {PUBLIC_KEY}" in console
    finally:
        svc.stop()
    # Stopping the service stops the lab's processes too (they were started by it).
    assert not any(alive(pid) for pid in pids)


PUBLIC_KEY = Ed25519PrivateKey.generate().public_key().public_bytes(
    serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()


def write_key(tmp_path: Path) -> Path:
    path = tmp_path / "laptop.pub"
    path.write_text(PUBLIC_KEY + "\n")
    return path


def test_noauth_writes_the_noauth_clouds_yaml(tmp_path: Path) -> None:
    svc = start_service(tmp_path / "noauth")
    try:
        (cloud,) = yaml.safe_load(svc.clouds_yaml.read_text())["clouds"].values()
        assert cloud["auth_type"] == "none" and "auth" not in cloud
        assert cloud["baremetal_endpoint_override"] == svc.baremetal
        assert httpx.get(f"{svc.baremetal}/v1/nodes", headers=BM).status_code == 200
        # The unmodified CLI reaches every API through the overrides, Network too.
        env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(svc.clouds_yaml),
               "OS_CLOUD": "barecloud"}
        openstack = str(Path(sys.executable).parent / "openstack")
        made = subprocess.run([openstack, "network", "create", "flat-net", "-f", "json"],
                              env=env, capture_output=True, text=True, timeout=120)
        assert made.returncode == 0, made.stderr
        listed = subprocess.run([openstack, "network", "list", "-f", "json"], env=env,
                                capture_output=True, text=True, timeout=120)
        assert [n["Name"] for n in json.loads(listed.stdout)] == ["flat-net"], listed.stderr
    finally:
        svc.stop()


def test_restart_keeps_accounts_and_keys(tmp_path: Path) -> None:
    svc = start_service(tmp_path / "twice", auth="keystone")
    try:
        first = yaml.safe_load(svc.clouds_yaml.read_text())
        token = svc.token()
    finally:
        svc.stop()
    port = int(svc.url.rsplit(":", 1)[1])  # the same URL: clouds.yaml names it
    svc = start_service(tmp_path / "twice", auth="keystone", port=port)
    try:
        assert yaml.safe_load(svc.clouds_yaml.read_text()) == first
        rsp = httpx.get(f"{svc.baremetal}/v1/nodes", headers={**BM, "X-Auth-Token": token})
        assert rsp.status_code == 200  # the same Fernet keys: tokens outlive restarts
    finally:
        svc.stop()


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


def test_serve_netns_on_a_loopback_labs_data_gives_a_hint_that_works(tmp_path: Path) -> None:
    """The loopback lab's machines are the data directory's nodes: serve refuses to swap
    a netns lab under them, and names the command that works (its own data directory),
    not `lab down --purge`, which left the old nodes and servers in the database."""
    data = tmp_path / "data"
    built = subprocess.run(
        [sys.executable, "-m", "barecloud.lab", "up", "--nodes", "1", "--lab-dir",
         str(data / "lab"), "--ipmi-base-port", str(free_port()), "--redfish-base-port",
         str(free_port())], capture_output=True, text=True, timeout=120)
    assert built.returncode == 0, built.stderr
    subprocess.run([sys.executable, "-m", "barecloud.lab", "down", "--lab-dir",
                    str(data / "lab")], capture_output=True, timeout=60, check=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BARECLOUD_")}
    result = subprocess.run([sys.executable, "-m", "barecloud", "serve", "--lab", "6",
                             "--netns", "--data-dir", str(data)], capture_output=True,
                            text=True, timeout=60, env=env)
    assert result.returncode == 2
    assert result.stderr == (
        f"error: {data / 'lab'} holds a loopback lab, whose machines are the nodes of this "
        f"data directory; a netns lab needs one of its own: barecloud serve --lab 6 --netns "
        f"--data-dir {tmp_path / 'data-netns'}\n")
    assert "lab down --purge" not in result.stderr


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
