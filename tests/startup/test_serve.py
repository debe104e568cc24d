"""``barecloud serve`` and ``db upgrade`` (barecloud.startup): the schema, the lab
enrolled and made available, the clouds.yaml each mode writes, restarts, and the
refusal of a lab of the other mode."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import httpx
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests import preloaded
from tests.support import Service, free_port, start_service

BM = {"X-OpenStack-Ironic-API-Version": "1.78"}


def headers(svc: Service) -> dict[str, str]:
    return {**BM, "X-Auth-Token": svc.token()}


def alive(pid: int) -> bool:
    """Running, not a zombie left for an init that does not reap."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


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
        made = preloaded.run([openstack, "network", "create", "flat-net", "-f", "json"],
                             env=env, capture_output=True, text=True, timeout=120)
        assert made.returncode == 0, made.stderr
        listed = preloaded.run([openstack, "network", "list", "-f", "json"], env=env,
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
