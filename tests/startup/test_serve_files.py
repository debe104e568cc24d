"""At rest: after a real service start and use, nothing in its data directory is
readable by group or others, and no BMC or switch password is in the database
in plaintext or in the service's log."""

from __future__ import annotations

import json
import os
import stat
import time
from pathlib import Path

import httpx

from tests.support import free_port, start_service

BMC_SECRET = "Bmc-Secret-4q"
SWITCH_SECRET = "Switch-Secret-5r"
IRONIC = {"X-OpenStack-Ironic-API-Version": "latest"}


def readable_by_others(root: Path) -> list[str]:
    found = []
    for path in [root, *root.rglob("*")]:
        mode = path.lstat().st_mode
        if not stat.S_ISLNK(mode) and mode & 0o077:
            found.append(f"{oct(stat.S_IMODE(mode))} {path.relative_to(root.parent)}")
    return found


def test_the_data_directory_is_private_and_holds_no_plaintext_password(
    tmp_path: Path,
) -> None:
    data = tmp_path / "svc"
    # What an older barecloud left: a 0755 directory, a 0644 image.
    (data / "images").mkdir(parents=True)
    os.chmod(data, 0o755)
    (data / "images" / "old-image").write_bytes(b"private bytes")
    os.chmod(data / "images" / "old-image", 0o644)
    switches = {"tor1": {"driver": "generic-ssh", "device_type": "cisco_ios",
                         "address": "127.0.0.1", "port": free_port(), "username": "admin",
                         "password": SWITCH_SECRET, "timeout": 2}}
    svc = start_service(data, extra_env={"BARECLOUD_SWITCHES": json.dumps(switches),
                                         "BARECLOUD_SWITCH_COUNTER_INTERVAL": "0.5"})
    try:
        bm = httpx.Client(base_url=f"{svc.baremetal}/v1", headers=IRONIC, timeout=30)
        node = bm.post("/nodes", json={"driver": "ipmi", "driver_info": {
            "ipmi_address": "127.0.0.1", "ipmi_port": free_port(), "ipmi_username": "admin",
            "ipmi_password": BMC_SECRET, "ipmi_timeout": 1, "ipmi_retries": 0}}).json()
        assert node["driver_info"]["ipmi_password"] == "******"
        # The driver uses the password (and fails: nothing answers there).
        bm.put(f"/nodes/{node['uuid']}/states/provision", json={"target": "manage"})
        images = httpx.Client(base_url=f"{svc.url}/image/v2", timeout=30)
        image = images.post("/images", json={"name": "i", "disk_format": "raw",
                                             "container_format": "bare"}).json()
        assert images.put(f"/images/{image['id']}/file", content=b"\0" * 4096, headers={
            "Content-Type": "application/octet-stream"}).status_code == 204
        deadline = time.monotonic() + 30
        while not (shown := bm.get(f"/nodes/{node['uuid']}").json())["last_error"]:
            assert time.monotonic() < deadline, "manage did not fail"
            time.sleep(0.2)
        assert BMC_SECRET not in shown["last_error"]
        time.sleep(1.5)  # a few switch counter samples
    finally:
        svc.stop()
    # The harness's own log of the service was made before the start: fixed too.
    assert readable_by_others(data) == []
    for db_file in data.glob("barecloud.sqlite*"):
        assert BMC_SECRET.encode() not in db_file.read_bytes(), db_file
    log = svc.log()
    assert BMC_SECRET not in log and SWITCH_SECRET not in log
