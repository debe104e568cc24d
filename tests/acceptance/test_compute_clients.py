"""openstacksdk and the ``openstack`` CLI, unmodified, against barecloud's Compute API.

The clients are configured only by the clouds.yaml the service writes: the
noauth cloud ``barecloud`` (every request the admin of one project), and for
quotas, which ``openstack quota set`` resolves through Identity, the
keystone clouds ``barecloud-admin`` and ``barecloud`` (demo).  Servers land
on fake-hardware nodes, which deploy at once; the last test deploys real
lab machines and reads what they printed on their serial consoles.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import openstack
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from openstack import exceptions
from openstack.connection import Connection

from tests import support
from tests.acceptance.openstack_cli import OPENSTACK, Cli
from tests.api.compute.nova import Nova, console_file
from tests.lab.conftest import make_lab

MIB = 1 << 20

Connect = Callable[..., Connection]


@pytest.fixture
def connect(monkeypatch: pytest.MonkeyPatch) -> Iterator[Connect]:
    made: list[Connection] = []

    def make(svc: support.Service, cloud: str = "barecloud") -> Connection:
        monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(svc.clouds_yaml))
        monkeypatch.delenv("OS_CLOUD", raising=False)
        conn = openstack.connect(cloud=cloud)
        made.append(conn)
        return conn

    yield make
    for conn in made:
        conn.close()


def _nodes(svc: support.Service, count: int, rc: str = "baremetal",
           **kw: Any) -> list[dict[str, Any]]:
    helper = Nova(svc)
    try:
        return [helper.node(rc, **kw) for _ in range(count)]
    finally:
        helper.close()


@pytest.mark.slow
@pytest.mark.parametrize("which", ["service", "pg_service"])
def test_openstacksdk(which: str, request: pytest.FixtureRequest, connect: Connect,
                      tmp_path: Path) -> None:
    svc: support.Service = request.getfixturevalue(which)
    log = console_file(tmp_path, 10)
    [node] = _nodes(svc, 1, driver_info={"console_log": str(log)})
    conn = connect(svc)
    cc = conn.compute

    image = conn.image.create_image(name="sdk-img", data=b"\x05" * 8192, disk_format="raw",
                                    container_format="bare", visibility="public")
    flavor = cc.create_flavor(name="sdk-bm", ram=1024, vcpus=1, disk=1)
    cc.create_flavor_extra_specs(flavor, {"resources:CUSTOM_BAREMETAL": "1",
                                          "resources:VCPU": "0"})
    assert cc.fetch_flavor_extra_specs(flavor).extra_specs["resources:CUSTOM_BAREMETAL"] == "1"
    assert "sdk-bm" in [f.name for f in cc.flavors()]
    keypair = cc.create_keypair(name="sdk-key")
    assert keypair.private_key.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert [k.name for k in cc.keypairs()] == ["sdk-key"]

    server = cc.create_server(name="sdk-1", image_id=image.id, flavor_id=flavor.id,
                              networks="none", key_name="sdk-key",
                              metadata={"who": "sdk"})
    server = cc.wait_for_server(server, status="ACTIVE", wait=60, interval=0.5)
    assert server.hypervisor_hostname == node["uuid"] and server.key_name == "sdk-key"
    assert server.flavor.original_name == "sdk-bm" and server.metadata == {"who": "sdk"}
    assert [s.id for s in cc.servers()] == [server.id]
    assert cc.get_server(server.id).status == "ACTIVE"

    cc.stop_server(server)
    cc.wait_for_server(server, status="SHUTOFF", wait=60, interval=0.5)
    cc.start_server(server)
    cc.wait_for_server(server, status="ACTIVE", wait=60, interval=0.5)
    output = cc.get_server_console_output(server, length=2)["output"]
    # Nova's tail: the last ``length`` pieces of the log split at newlines, the empty
    # one after the final newline among them.
    assert output == "line 10\n"

    limits = cc.get_limits()
    assert limits.absolute.instances_used == 1 and limits.absolute.instances == 10
    project = server.project_id
    assert cc.get_quota_set(project).instances == 10
    assert {z.name for z in cc.availability_zones()} == {"nova"}
    assert node["uuid"] in [h.id for h in cc.hypervisors(details=True)]

    cc.delete_server(server)
    cc.wait_for_delete(server, wait=60, interval=0.5)
    with pytest.raises(exceptions.NotFoundException):
        cc.get_server(server.id)
    cc.delete_keypair("sdk-key")
    assert list(cc.keypairs()) == []


# --- the openstack CLI -------------------------------------------------------
cli_only = pytest.mark.skipif(not OPENSTACK.exists(), reason="openstack CLI not installed")


@pytest.mark.slow
@cli_only
def test_openstack_cli(service: support.Service, tmp_path: Path) -> None:
    log = console_file(tmp_path, 5)
    _nodes(service, 6, driver_info={"console_log": str(log)})
    cli = Cli(service)
    image_file = tmp_path / "cli.raw"
    image_file.write_bytes(b"\x07" * 16384)
    for name in ("cli-img", "cli-img2"):
        cli.run("image", "create", "--disk-format", "raw", "--container-format", "bare",
                "--public", "--file", str(image_file), name)
    flavor = cli.json("flavor", "create", "--ram", "1024", "--disk", "1", "--vcpus", "1",
                      "--property", "resources:CUSTOM_BAREMETAL=1",
                      "--property", "resources:VCPU=0", "cli-bm")
    assert flavor["properties"] == {"resources:CUSTOM_BAREMETAL": "1", "resources:VCPU": "0"}
    private = cli.run("keypair", "create", "cli-key").stdout
    assert private.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
    assert [k["Name"] for k in cli.json("keypair", "list")] == ["cli-key"]

    s = cli.json("server", "create", "--image", "cli-img", "--flavor", "cli-bm",
                 "--key-name", "cli-key", "--wait", "cli-1")
    assert s["status"] == "ACTIVE" and s["key_name"] == "cli-key"
    listed = {x["Name"]: x for x in cli.json("server", "list")}
    assert listed["cli-1"]["Status"] == "ACTIVE" and listed["cli-1"]["Image"] == "cli-img"
    cli.run("server", "reboot", "--wait", "cli-1")
    cli.run("server", "stop", "cli-1")
    _wait_cli_status(cli, "cli-1", "SHUTOFF")
    cli.run("server", "start", "cli-1")
    _wait_cli_status(cli, "cli-1", "ACTIVE")
    cli.run("server", "rebuild", "--image", "cli-img2", "--wait", "cli-1")
    shown = cli.json("server", "show", "cli-1")
    assert shown["status"] == "ACTIVE" and "cli-img2" in shown["image"]
    assert cli.run("console", "log", "show", "--lines", "2", "cli-1").stdout == \
        "line 5\n"  # Nova's tail (above)
    cli.run("server", "delete", "--wait", "cli-1")
    assert "cli-1" not in {x["Name"] for x in cli.json("server", "list")}

    cli.run("server", "create", "--image", "cli-img", "--flavor", "cli-bm", "--min", "5",
            "--max", "5", "--wait", "many")
    many = [x for x in cli.json("server", "list", "--long") if x["Name"].startswith("many-")]
    assert sorted(x["Name"] for x in many) == [f"many-{i}" for i in range(1, 6)]
    assert {x["Status"] for x in many} == {"ACTIVE"}
    assert len({x["Host"] for x in many}) == 5  # five distinct nodes
    cli.run("server", "delete", "--wait", *[x["ID"] for x in many])


def _wait_cli_status(cli: Cli, name: str, status: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while cli.json("server", "show", name)["status"] != status:
        assert time.monotonic() < deadline, f"{name} never reached {status}"
        time.sleep(0.5)


@pytest.mark.slow
@cli_only
def test_openstack_cli_quota(keystone_service: support.Service, tmp_path: Path) -> None:
    """``quota set`` by the admin, then the demo project goes over it: Nova's 403."""
    cli = Cli(keystone_service, cloud="barecloud-admin")
    image_file = tmp_path / "q.raw"
    image_file.write_bytes(b"\x08" * 4096)
    cli.run("image", "create", "--disk-format", "raw", "--container-format", "bare",
            "--public", "--file", str(image_file), "q-img")
    cli.run("flavor", "create", "--ram", "512", "--disk", "0", "--vcpus", "1",
            "--property", "resources:CUSTOM_NOWHERE=1", "q-bm")
    cli.run("quota", "set", "--instances", "2", "demo")
    quota = {q["Resource"]: q["Limit"] for q in cli.json("quota", "show", "--compute", "demo")}
    assert quota["instances"] == 2
    for i in range(2):  # no node has CUSTOM_NOWHERE: they end in ERROR, and still count
        cli.run("server", "create", "--image", "q-img", "--flavor", "q-bm", f"q-{i}",
                cloud="barecloud")
    refused = cli.run("server", "create", "--image", "q-img", "--flavor", "q-bm", "q-2",
                      ok=False, cloud="barecloud")
    assert ("Quota exceeded for instances: Requested 1, but already used 2 of 2 instances"
            in refused.stderr), refused.stderr
    assert "403" in refused.stderr
    names = {x["Name"] for x in cli.json("server", "list", cloud="barecloud")}
    assert names == {"q-0", "q-1"}


# --- lab machines --------------------------------------------------------------
@pytest.mark.slow
def test_a_server_on_a_lab_machine_boots_its_config_drive(
    tmp_path: Path, connect: Connect,
) -> None:
    lab = make_lab(tmp_path / "lab", 2)
    svc = support.start_service(tmp_path / "svc", extra_env={
        "BARECLOUD_POWER_SYNC_INTERVAL": "3600", "BARECLOUD_DEPLOY_CALLBACK_TIMEOUT": "60",
        "BARECLOUD_CLEAN_CALLBACK_TIMEOUT": "60"})
    try:
        lab.up(2, "--disk-gb", "1", "--boot-url", f"{svc.url}/boot/boot.ipxe",
               "--enroll", svc.url)
        helper = Nova(svc)
        for name in ("lab-00001", "lab-00002"):
            for verb, state in (("manage", "manageable"), ("provide", "available")):
                helper.bm.put(f"/nodes/{name}/states/provision", json={"target": verb})
                helper.wait_node(name, lambda n, s=state: n["provision_state"] == s
                                 and n["reservation"] is None, timeout=120)
        helper.close()
        image_file = tmp_path / "disk.raw"
        with image_file.open("wb") as f:
            f.truncate(4 * MIB)
        subprocess.run(["sfdisk", "-q", str(image_file)], check=True, text=True,
                       input="label: dos\nstart=2048, size=4096, type=83\n")
        conn = connect(svc)
        cc = conn.compute
        image = conn.image.create_image(name="lab-img", filename=str(image_file),
                                        disk_format="raw", container_format="bare")
        flavor = cc.create_flavor(name="lab-bm", ram=1024, vcpus=1, disk=1)
        cc.create_flavor_extra_specs(flavor, {"resources:CUSTOM_BAREMETAL": "1"})
        public = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
        cc.create_keypair(name="lab-key", public_key=public)
        server = cc.create_server(name="Lab Web", image_id=image.id, flavor_id=flavor.id,
                                  networks="none", key_name="lab-key")
        server = cc.wait_for_server(server, status="ACTIVE", wait=180, interval=1)
        output = cc.get_server_console_output(server)["output"]
        booted = output[output.rindex("booting from disk"):]
        assert f"cloud-init: instance {server.id}" in booted
        assert "cloud-init: hostname lab-web" in booted
        assert f"cloud-init: ssh key lab-key: {public}" in booted
        node = server.hypervisor_hostname
        cc.delete_server(server)
        cc.wait_for_delete(server, wait=180, interval=1)
        helper = Nova(svc)
        cleaned = helper.wait_node(node, lambda n: n["provision_state"] == "available"
                                   and n["instance_uuid"] is None, timeout=180)
        helper.close()
        assert cleaned["last_error"] is None
    finally:
        svc.stop()
        lab.cli("down", check=False)
        lab.kill()
