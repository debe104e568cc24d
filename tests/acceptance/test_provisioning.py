"""Deploy real images onto lab machines through the real boot path, and wipe them.

A barecloud service and a loopback lab of real BMCs: each machine
network-boots from the service (its iPXE script over HTTP), runs the real
agent against its own disk file, and later boots that disk.  Images are
built here with real tools (sfdisk, mkfs.ext4, qemu-img) and uploaded
through the Image API; everything else goes through the Bare Metal API.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pycdlib
import pytest

from tests import support
from tests.acceptance.lab_cloud import HEADERS, Cloud
from tests.lab.conftest import make_lab

pytestmark = pytest.mark.slow

MACHINES = 6
MIB = 1 << 20
MARKER = b"barecloud tenant marker 7f3a9c\n"
SSH_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0bareCloudTestKeyOnly tenant@laptop"
CALLBACK_TIMEOUT = 30


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cloud]:
    tmp = tmp_path_factory.mktemp("provisioning")
    lab = make_lab(tmp / "lab", MACHINES)
    svc = support.start_service(tmp / "svc", extra_env={
        "BARECLOUD_POWER_SYNC_INTERVAL": "3600",
        "BARECLOUD_DEADLINE_CHECK_INTERVAL": "1",
        "BARECLOUD_DEPLOY_CALLBACK_TIMEOUT": str(CALLBACK_TIMEOUT),
        "BARECLOUD_CLEAN_CALLBACK_TIMEOUT": str(CALLBACK_TIMEOUT),
    })
    bm = httpx.Client(base_url=f"{svc.baremetal}/v1", headers=HEADERS, timeout=30)
    try:
        lab.up(MACHINES, "--disk-gb", "1", "--boot-url", f"{svc.url}/boot/boot.ipxe",
               "--enroll", svc.url)
        c = Cloud(svc, bm, lab)
        names = [f"lab-{i:05d}" for i in range(1, MACHINES + 1)]
        for name in names:
            c.provision(name, "manage")
        for name in names:
            c.settle(name, "manageable")
        # Cleaning on provide boots each machine's agent for real and erases.
        for name in names:
            c.provision(name, "provide")
        for name in names:
            c.settle(name, "available")
        yield c
    finally:
        bm.close()
        svc.stop()
        lab.cli("down", check=False)
        lab.kill()


# --- images built with real tools ----------------------------------------------------

def run(*cmd: str, input_text: str | None = None) -> str:
    return subprocess.run(cmd, check=True, capture_output=True, text=True,
                          input=input_text).stdout


@pytest.fixture(scope="module")
def raw_image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An MBR disk image: one ext4 partition at 1 MiB holding a marker file."""
    tmp = tmp_path_factory.mktemp("image")
    root = tmp / "root"
    (root / "etc").mkdir(parents=True)
    (root / "marker.txt").write_bytes(MARKER)
    (root / "etc" / "os-release").write_text('NAME="barecloud test image"\n')
    fs = tmp / "fs.img"
    run("mkfs.ext4", "-q", "-F", "-L", "tenant-root", "-d", str(root), str(fs), "24M")
    image = tmp / "disk.raw"
    with image.open("wb") as f:
        f.truncate(26 * MIB)
    run("sfdisk", "-q", str(image), input_text="label: dos\nstart=2048, size=49152, type=83\n")
    with image.open("r+b") as f:
        f.seek(MIB)
        f.write(fs.read_bytes())
    return image


def partitions(disk: Path) -> list[dict[str, Any]]:
    table = json.loads(run("sfdisk", "--json", str(disk)))["partitiontable"]
    return list(table["partitions"])


def read(disk: Path, offset: int, size: int) -> bytes:
    with disk.open("rb") as f:
        f.seek(offset)
        return f.read(size)


def marker_of(disk: Path, tmp: Path) -> bytes:
    """The marker file as ext4 has it, read by debugfs from partition 1."""
    part = partitions(disk)[0]
    fs = tmp / "part1.img"
    fs.write_bytes(read(disk, part["start"] * 512, part["size"] * 512))
    out = subprocess.run(["debugfs", "-R", "cat /marker.txt", str(fs)], capture_output=True)
    return out.stdout


def assert_image_on_disk(disk: Path, image: bytes) -> None:
    """Byte for byte, but for the partition-table slots the config drive may take."""
    on_disk = read(disk, 0, len(image))
    assert on_disk[:446 + 16] == image[:446 + 16]  # boot code and partition 1
    assert on_disk[510:] == image[510:]
    assert hashlib.sha256(on_disk[MIB:]).hexdigest() == hashlib.sha256(image[MIB:]).hexdigest()


def config_drive(disk: Path, tmp: Path) -> dict[str, Any]:
    """The config drive partition read with pycdlib, an ISO reader that is not ours."""
    parts = partitions(disk)
    assert len(parts) == 2, parts
    drive = parts[1]
    iso_path = tmp / "config-2.iso"
    iso_path.write_bytes(read(disk, drive["start"] * 512, drive["size"] * 512))
    iso = pycdlib.PyCdlib()
    iso.open(str(iso_path))
    try:
        assert iso.pvd.volume_identifier.decode().strip() == "config-2"
        files = {}
        for name in ("meta_data.json", "user_data", "network_data.json"):
            out = io.BytesIO()
            iso.get_file_from_iso_fp(out, joliet_path=f"/openstack/latest/{name}")
            files[name] = out.getvalue()
    finally:
        iso.close()
    return {"meta_data": json.loads(files["meta_data.json"]),
            "user_data": files["user_data"],
            "network_data": json.loads(files["network_data.json"])}


# --- the tests ---------------------------------------------------------------------

def test_a_raw_image_deploys_byte_for_byte_with_its_config_drive(
    cloud: Cloud, raw_image: Path, tmp_path: Path,
) -> None:
    name = "lab-00001"
    machine = cloud.lab.machine(name)
    image_id = cloud.upload(raw_image, "raw")
    user_data = b"#cloud-config\nruncmd: [echo hello]\n"
    cloud.deploy(name, image_id, configdrive={
        "meta_data": {"hostname": "tenant-web-1", "public_keys": {"laptop": SSH_KEY}},
        "user_data": user_data.decode(),
    })
    node = cloud.settle(name, "active")
    assert node["power_state"] == "power on" and node["last_error"] is None

    disk = cloud.disk(name)
    assert_image_on_disk(disk, raw_image.read_bytes())
    assert marker_of(disk, tmp_path) == MARKER
    drive = config_drive(disk, tmp_path)
    assert drive["meta_data"]["uuid"] == node["uuid"]
    assert drive["meta_data"]["hostname"] == "tenant-web-1"
    assert drive["meta_data"]["public_keys"] == {"laptop": SSH_KEY}
    assert drive["user_data"] == user_data
    assert [link["ethernet_mac_address"] for link in drive["network_data"]["links"]] == \
        machine["macs"]

    # The machine booted its disk and found what the tenant gave it.
    console = cloud.console(name)
    booted = console.rindex("booting from disk")
    assert "cloud-init: hostname tenant-web-1" in console[booted:]
    assert f"cloud-init: ssh key laptop: {SSH_KEY}" in console[booted:]
    # ... and before that it ran the real agent, which never printed its token.
    assert "barecloud.token=******" in console
    token_free = json.dumps(node)
    assert "agent_token" not in token_free
    # It fetched the image with the URL signed for it, which shows nowhere; unsigned,
    # the image server gives nothing.
    assert "signature=" not in console and "signature=" not in token_free
    assert httpx.get(f"{cloud.svc.url}/boot/images/{image_id}").status_code == 401

    events = cloud.events(name)
    for expected in ("deploy step prepare ramdisk: done", "deploy step boot device pxe: done",
                     "deploy step write image: sent to the agent",
                     "deploy step write config drive: sent to the agent",
                     "deploy step boot device disk: done", "deploy step power on: done"):
        assert expected in events, (expected, events)
    assert any(e.startswith("agent write_image: succeeded (") and "MiB/s)" in e
               for e in events), events


def test_a_qcow2_image_is_converted_and_deploys_as_raw(
    cloud: Cloud, raw_image: Path, tmp_path: Path,
) -> None:
    name = "lab-00002"
    qcow2 = tmp_path / "disk.qcow2"
    run("qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw_image), str(qcow2))
    assert qcow2.stat().st_size < raw_image.stat().st_size
    image_id = cloud.upload(qcow2, "qcow2")
    cloud.deploy(name, image_id, configdrive={"meta_data": {"hostname": "tenant-db-1"}})
    cloud.settle(name, "active")
    disk = cloud.disk(name)
    assert_image_on_disk(disk, raw_image.read_bytes())
    assert marker_of(disk, tmp_path) == MARKER
    assert "cloud-init: hostname tenant-db-1" in cloud.console(name)


def test_undeploy_cleans_quickly_and_a_full_clean_leaves_no_byte(
    cloud: Cloud, raw_image: Path, tmp_path: Path,
) -> None:
    name = "lab-00003"
    image_id = cloud.upload(raw_image, "raw")
    cloud.deploy(name, image_id)
    cloud.settle(name, "active")
    disk = cloud.disk(name)
    assert marker_of(disk, tmp_path) == MARKER

    cloud.provision(name, "deleted")
    cloud.settle(name, "available")
    # Quick erase: no partition table, no file system to mount, at either end.
    assert read(disk, 0, 2 * MIB) == bytes(2 * MIB)
    assert read(disk, disk.stat().st_size - 2 * MIB, 2 * MIB) == bytes(2 * MIB)
    assert subprocess.run(["sfdisk", "--json", str(disk)], capture_output=True).stdout in (
        b"", b"\n") or not partitions(disk)
    events = cloud.events(name)
    assert "clean step erase disk: sent to the agent" in events, events

    cloud.provision(name, "manage")
    cloud.settle(name, "manageable")
    cloud.provision(name, "clean", clean_steps=[{"interface": "deploy",
                                                 "step": "erase_devices"}])
    cloud.settle(name, "manageable", timeout=180)
    size = disk.stat().st_size
    with disk.open("rb") as f:
        zero = bytes(8 * MIB)
        for offset in range(0, size, len(zero)):
            chunk = f.read(len(zero))
            assert chunk == zero[:len(chunk)], f"non-zero bytes near offset {offset}"
    assert any(e.startswith("agent erase: succeeded") for e in cloud.events(name))


def test_a_corrupted_image_fails_the_deploy_then_the_node_recovers(
    cloud: Cloud, raw_image: Path,
) -> None:
    name = "lab-00004"
    image_id = cloud.upload(raw_image, "raw")
    stored = [p for p in (cloud.svc.data_dir / "images").rglob(f"*{image_id}*") if p.is_file()]
    assert stored, list((cloud.svc.data_dir / "images").rglob("*"))
    for path in stored:  # a bit flips in the store, after the checksum was taken
        with path.open("r+b") as f:
            f.seek(MIB + 4096)
            byte = f.read(1)
            f.seek(MIB + 4096)
            f.write(bytes([byte[0] ^ 0xFF]))
    cloud.deploy(name, image_id)
    node = cloud.settle(name, "deploy failed")
    assert "checksum" in node["last_error"] and "write_image" in node["last_error"], node
    assert "signature=" not in json.dumps(node) + cloud.console(name)
    cloud.provision(name, "deleted")
    cloud.settle(name, "available")


def test_an_agent_that_never_calls_back_fails_at_the_deadline(
    cloud: Cloud, raw_image: Path,
) -> None:
    name = "lab-00005"
    # The node's port no longer names the machine's NIC: the machine finds no
    # boot script for its MAC, falls back to its (empty) disk and never runs
    # an agent.
    ports = cloud.bm.get("/ports", params={"node": name}).json()["ports"]
    for port in ports:
        assert cloud.bm.delete(f"/ports/{port['uuid']}").status_code == 204
    node_uuid = cloud.node(name)["uuid"]
    rsp = cloud.bm.post("/ports", json={"address": "52:54:00:ee:ee:01", "node_uuid": node_uuid})
    assert rsp.status_code == 201, rsp.text
    image_id = cloud.upload(raw_image, "raw")
    started = time.monotonic()
    cloud.deploy(name, image_id)
    node = cloud.settle(name, "deploy failed", timeout=CALLBACK_TIMEOUT + 60)
    assert time.monotonic() - started >= CALLBACK_TIMEOUT - 1
    assert "Timeout reached while waiting for callback" in node["last_error"]
    assert "No bootable device" in cloud.console(name)


def test_the_lab_machine_knows_only_its_macs_disk_and_urls(cloud: Cloud) -> None:
    """No side door: the agent found its node by MAC through the API."""
    name = "lab-00006"
    console = cloud.console(name)
    assert "PXE: " in console and "iPXE: chain" in console
    hardware = json.loads((cloud.lab.path / "machines" / name / "hardware.json").read_text())
    assert set(hardware) == {"interfaces", "disks", "cpus", "memory_mb", "cpu_arch",
                             "system_vendor", "platform"}
    assert os.path.samefile(hardware["disks"][0]["path"], cloud.disk(name))
