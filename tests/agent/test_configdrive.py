"""Config drives on real disk images: sfdisk tables, an ext4 root, read back by cloud-init."""

from __future__ import annotations

import base64
import gzip
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pycdlib
import pytest

from barecloud.agent import configdrive, iso9660
from tests.agent.servers import sparse_file
from tests.agent.test_partitions import sfdisk, sfdisk_json, verify

MiB = 2**20
REPO = Path(__file__).resolve().parents[2]
CLOUD_INIT = REPO / ".cache/debian/cloud-init/usr/lib/python3/dist-packages"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

META = {"uuid": "83679162-1378-4288-a2d4-70e13ec132aa", "hostname": "web-1", "name": "web-1",
        "public_keys": {"mykey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIExample me@host"},
        "launch_index": 0, "availability_zone": "nova", "files": []}
NETWORK = {"links": [{"id": "port0", "type": "phy", "ethernet_mac_address": "52:54:00:10:00:01",
                      "mtu": 1500}],
           "networks": [{"id": "network0", "type": "ipv4_dhcp", "link": "port0",
                         "network_id": "network0"}],
           "services": []}
USER_DATA = b"#cloud-config\npackages: [htop]\n"
FILES = {
    "openstack/latest/meta_data.json": json.dumps(META).encode(),
    "openstack/latest/network_data.json": json.dumps(NETWORK).encode(),
    "openstack/latest/user_data": USER_DATA,
    "openstack/latest/vendor_data2.json": b"{}",
}


def files_params(files: dict[str, bytes] = FILES) -> dict[str, Any]:
    return {"files": {p: base64.b64encode(c).decode() for p, c in files.items()}}


def ext4_disk(tmp_path: Path, label: str, size: int = 256 * MiB) -> Path:
    """A disk image: an ext4 root partition holding /marker.txt, and a swap one."""
    disk = sparse_file(tmp_path / "disk.img", size)
    sfdisk(disk, f"label: {label}\nsize=100M,type=L\nsize=20M,type=S\n")
    root = tmp_path / "root"
    root.mkdir()
    (root / "marker.txt").write_text("the tenant's root file system\n")
    fs = tmp_path / "root.ext4"
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(root), str(fs), "100M"], check=True)
    start = sfdisk_json(disk)["partitions"][0]["start"] * 512
    with open(disk, "r+b") as out, open(fs, "rb") as src:
        out.seek(start)
        while chunk := src.read(4 * MiB):
            out.write(chunk)
    return disk


def marker_of(disk: Path, tmp_path: Path) -> str:
    """/marker.txt of partition 1, read by debugfs from a copy of the partition."""
    part = sfdisk_json(disk)["partitions"][0]
    copy = tmp_path / "p1.ext4"
    with open(disk, "rb") as src:
        src.seek(part["start"] * 512)
        copy.write_bytes(src.read(part["size"] * 512))
    subprocess.run(["e2fsck", "-fn", str(copy)], check=True, capture_output=True)
    return subprocess.run(["debugfs", "-R", "cat /marker.txt", str(copy)], check=True,
                          capture_output=True, text=True).stdout


def extract_with_pycdlib(disk: Path, offset: int, size: int, into: Path) -> None:
    with open(disk, "rb") as f:
        f.seek(offset)
        data = f.read(size)
    iso = pycdlib.PyCdlib()
    iso.open_fp(io.BytesIO(data))
    for root, _dirs, files in iso.walk(joliet_path="/"):
        for name in files:
            path = f"{root.rstrip('/')}/{name}"
            target = into / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            with open(target, "wb") as out:
                iso.get_file_from_iso_fp(out, joliet_path=path)
    iso.close()


def cloud_init_read(directory: Path) -> dict[str, Any]:
    """cloud-init's own ConfigDriveReader(directory).read_v2(), in a clean subprocess."""
    if not CLOUD_INIT.is_dir():
        if IN_CI:
            pytest.fail(f"{CLOUD_INIT} is missing: scripts/system-packages unpacks it")
        pytest.skip("cloud-init is not unpacked (run scripts/system-packages)")
    script = (
        "import json, sys\n"
        "from cloudinit.sources.helpers import openstack\n"
        "r = openstack.ConfigDriveReader(sys.argv[1]).read_v2()\n"
        "print(json.dumps({'metadata': r['metadata'], 'userdata': r['userdata'].decode(),\n"
        "                  'networkdata': r.get('networkdata'),\n"
        "                  'version': openstack.ConfigDriveReader(sys.argv[1])"
        "._find_working_version()}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(CLOUD_INIT)}
    out = subprocess.run([sys.executable, "-c", script, str(directory)], env=env,
                         capture_output=True, text=True, check=True).stdout
    result: dict[str, Any] = json.loads(out)
    return result


@pytest.mark.parametrize("label", ["gpt", "dos"])
def test_config_drive_partition_on_a_real_disk_image(tmp_path: Path, label: str) -> None:
    disk = ext4_disk(tmp_path, label)
    before = sfdisk_json(disk)["partitions"]
    with open(disk, "r+b") as f:
        f.truncate(1024 * MiB)  # the image went onto a bigger disk
    iso = configdrive.image_from_params(files_params())
    result = configdrive.write(str(disk), iso)

    after = sfdisk_json(disk)["partitions"]
    verify(disk)
    assert after[:2] == before
    assert len(after) == 3
    assert result["partition"] == 3
    assert result["offset"] == after[2]["start"] * 512
    assert result["size"] == after[2]["size"] * 512 >= 64 * MiB
    assert marker_of(disk, tmp_path) == "the tenant's root file system\n"
    blkid = subprocess.run(["blkid", "-p", "-o", "export", "-O", str(result["offset"]),
                            str(disk)], capture_output=True, text=True, check=True).stdout
    assert {"TYPE=iso9660", "LABEL=config-2"} <= set(blkid.splitlines())

    drive = tmp_path / "drive"
    extract_with_pycdlib(disk, result["offset"], result["size"], drive)
    assert (drive / "openstack/2012-08-10/meta_data.json").read_bytes() == FILES[
        "openstack/latest/meta_data.json"]
    read = cloud_init_read(drive)
    assert read["version"] == "2012-08-10"  # the dated copy is the one cloud-init picks
    assert read["metadata"]["uuid"] == META["uuid"]
    assert read["metadata"]["instance-id"] == META["uuid"]
    assert read["metadata"]["local-hostname"] == "web-1"
    assert read["metadata"]["public_keys"] == META["public_keys"]
    assert read["userdata"] == USER_DATA.decode()
    assert read["networkdata"] == NETWORK


def test_a_second_write_reuses_the_config_drive_partition(tmp_path: Path) -> None:
    disk = ext4_disk(tmp_path, "gpt")
    first = configdrive.write(str(disk), configdrive.build(FILES))
    changed = {**FILES, "openstack/latest/user_data": b"#cloud-config\n# second\n"}
    second = configdrive.write(str(disk), configdrive.build(changed))
    assert second == first
    assert len(sfdisk_json(disk)["partitions"]) == 3
    found = configdrive.read_config_drive(disk)
    assert found is not None
    assert found["user_data"] == b"#cloud-config\n# second\n"


def test_read_config_drive_for_the_lab_firmware(tmp_path: Path) -> None:
    disk = ext4_disk(tmp_path, "dos")
    assert configdrive.read_config_drive(disk) is None
    configdrive.write(str(disk), configdrive.build(FILES))
    found = configdrive.read_config_drive(disk)
    assert found is not None
    assert found["partition"] == 3
    assert found["meta_data"] == META
    assert found["network_data"] == NETWORK
    assert found["user_data"] == USER_DATA
    assert found["vendor_data"] is None  # this drive has none
    # A hypervisor's drive: its vendor data says where its host agent reports.
    vendor = {"barecloud_host_agent": {"url": "http://10.97.0.1:6385", "credential": "hv.x.y"}}
    configdrive.write(str(disk), configdrive.build(
        {**FILES, "openstack/latest/vendor_data.json": json.dumps(vendor).encode()}))
    found = configdrive.read_config_drive(disk)
    assert found is not None and found["vendor_data"] == vendor
    assert found["meta_data"] == META
    blank = sparse_file(tmp_path / "blank.img", 10 * MiB)
    assert configdrive.read_config_drive(blank) is None


def test_ironic_form_base64_of_a_gzipped_iso(tmp_path: Path) -> None:
    iso = iso9660.build({"openstack/latest/meta_data.json": b'{"uuid": "x"}'}, "config-2")
    params = {"image": base64.b64encode(gzip.compress(iso)).decode()}
    assert configdrive.image_from_params(params) == iso
    assert configdrive.image_from_params({"image": base64.b64encode(iso).decode()}) == iso
    disk = sparse_file(tmp_path / "disk.img", 200 * MiB)  # no table: gets an MBR
    result = configdrive.write(str(disk), configdrive.image_from_params(params))
    verify(disk)
    found = configdrive.read_config_drive(disk)
    assert found is not None and found["meta_data"] == {"uuid": "x"}
    assert result["partition"] == 1


def test_bad_parameters_say_what_is_wrong() -> None:
    with pytest.raises(configdrive.ConfigDriveError, match="needs 'files'"):
        configdrive.image_from_params({})
    with pytest.raises(configdrive.ConfigDriveError, match="not valid base64"):
        configdrive.image_from_params({"files": {"openstack/latest/user_data": "%%%"}})
    with pytest.raises(configdrive.ConfigDriveError, match="not valid gzip"):
        configdrive.image_from_params(
            {"image": base64.b64encode(b"\x1f\x8b" + b"junk" * 10).decode()})
    too_big = gzip.compress(b"\x00" * (64 * MiB + 1), compresslevel=1)
    with pytest.raises(configdrive.ConfigDriveError, match="64 MiB limit"):
        configdrive.image_from_params({"image": base64.b64encode(too_big).decode()})
    with pytest.raises(configdrive.ConfigDriveError, match="64 MiB limit"):
        configdrive.build({"big": b"\x00" * (64 * MiB)})


def test_a_full_disk_has_no_room_for_the_drive(tmp_path: Path) -> None:
    disk = sparse_file(tmp_path / "disk.img", 100 * MiB)
    sfdisk(disk, "label: gpt\nsize=+,type=L\n")
    with pytest.raises(configdrive.ConfigDriveError, match="no room"):
        configdrive.write(str(disk), configdrive.build(FILES))
