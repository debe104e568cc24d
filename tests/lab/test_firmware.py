"""The lab firmware: its iPXE interpreter against a real HTTP server, and disk boot."""

from __future__ import annotations

import asyncio
import json
import threading
import time
import zipapp
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest

from barecloud.agent import configdrive
from barecloud.lab.firmware import BootFailed, Firmware, Script, expand
from barecloud.lab.machine import Machine, Profile
from tests.lab.conftest import PASSWORD, Lab

MAC = "52:54:00:10:00:07"


class Files(BaseHTTPRequestHandler):
    files: dict[str, bytes] = {}
    seen: list[str] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        body = self.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    Files.files, Files.seen = {}, []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_expand_knows_mac_and_hexhyp() -> None:
    variables = {"mac": MAC}
    assert expand("${mac} ${net0/mac:hexhyp} ${nope}.", variables) == (
        f"{MAC} 52-54-00-10-00-07 .")


def test_the_boot_path_barecloud_serves_is_followed(server: str) -> None:
    Files.files = {
        "/boot/boot.ipxe": b"#!ipxe\nchain nodes/${mac:hexhyp}.ipxe || exit\n",
        "/boot/nodes/52-54-00-10-00-07.ipxe": (
            f"#!ipxe\nkernel {server}/boot/agent/kernel barecloud.token=s3cret "
            "BOOTIF=01-${mac:hexhyp}\ninitrd ../agent/ramdisk\nboot\n").encode(),
        "/boot/agent/kernel": b"#!barecloud-lab-kernel\n",
        "/boot/agent/ramdisk": b"PK-zipapp",
    }
    console: list[str] = []
    script = Script(MAC, console.append)
    assert script.run(f"{server}/boot/boot.ipxe") == "boot"
    assert script.loaded.kernel == b"#!barecloud-lab-kernel\n"
    assert script.loaded.initrd == b"PK-zipapp"
    assert script.loaded.cmdline == "barecloud.token=s3cret BOOTIF=01-52-54-00-10-00-07"
    assert Files.seen == ["/boot/boot.ipxe", "/boot/nodes/52-54-00-10-00-07.ipxe",
                          "/boot/agent/kernel", "/boot/agent/ramdisk"]
    assert not any("s3cret" in line for line in console), console


def test_no_script_for_the_mac_exits_to_the_next_device(server: str) -> None:
    Files.files = {"/boot.ipxe": b"#!ipxe\nchain nodes/${mac:hexhyp}.ipxe || exit\n"}
    assert Script(MAC, print).run(f"{server}/boot.ipxe") == "exit"


def test_labels_variables_and_goto(server: str) -> None:
    Files.files = {"/s.ipxe": (
        b"#!ipxe\nset where disk\ngoto ${where}\n:pxe\nkernel /nope\nboot\n:disk\nexit\n")}
    assert Script(MAC, print).run(f"{server}/s.ipxe") == "exit"
    assert Files.seen == ["/s.ipxe"]


@pytest.mark.parametrize("body,error", [
    (b"not a script\n", "is not an iPXE script"),
    (b"#!ipxe\nsanboot iscsi:10.0.0.1::::iqn\n", "not supported by the lab: sanboot"),
    (b"#!ipxe\nboot\n", "no kernel loaded"),
    (b"#!ipxe\necho nothing to do\n", "ended without booting"),
    (b"#!ipxe\nchain /s.ipxe\n", "too many chained scripts"),
    (b"#!ipxe\ngoto nowhere\n", "no label 'nowhere'"),
    (b"#!ipxe\nkernel /missing\nboot\n", "could not fetch"),
])
def test_a_broken_script_fails_the_network_boot(server: str, body: bytes, error: str) -> None:
    Files.files = {"/s.ipxe": body}
    with pytest.raises(BootFailed, match=error):
        Script(MAC, print).run(f"{server}/s.ipxe")


def _machine(tmp_path: Path) -> Machine:
    return Machine.create(tmp_path / "machines", name="lab-00007", index=7, shard=0,
                          profile=Profile(disk_gb=1), mac_prefix="52:54:00", ipmi_port=16006,
                          username="admin", password="password")


async def test_a_disk_without_a_system_is_not_bootable(tmp_path: Path) -> None:
    m = _machine(tmp_path)
    m.runner = Firmware(m, lambda: "")
    m.power("on", "test")  # no boot override, empty disk: tries the network first
    assert m.runner.task is not None
    await m.runner.task
    log = m.console_path.read_text()
    assert "PXE: no DHCP answer" in log and "No bootable device" in log


async def test_a_disk_with_a_config_drive_boots_and_prints_it(tmp_path: Path) -> None:
    m = _machine(tmp_path)
    drive = configdrive.build({
        "openstack/latest/meta_data.json":
            b'{"uuid": "u-1", "hostname": "db-7", "public_keys": {"k": "ssh-rsa AAA k@x"}}',
        "openstack/latest/user_data": b"#cloud-config\n",
    })
    configdrive.write(str(m.disk_path), drive)
    m.runner = Firmware(m, lambda: "")
    m.set_boot("disk", "once")
    m.power("on", "test")
    assert m.runner.task is not None
    await m.runner.task
    log = m.console_path.read_text()
    assert "cloud-init: hostname db-7" in log
    assert "cloud-init: ssh key k: ssh-rsa AAA k@x" in log
    assert "user data, 14 bytes" in log


async def test_the_agent_s_exit_status_drives_the_power(tmp_path: Path) -> None:
    m = _machine(tmp_path)
    firmware = Firmware(m, lambda: "")
    m.runner = firmware
    m.power("on", "test")
    await asyncio.sleep(0)
    generation = firmware.generation
    firmware._agent_ended(101, 2048, generation)  # reboot: still on, booted again
    assert m.power_on and m.boots == 2
    firmware._agent_ended(100, 2048, firmware.generation)  # power off
    assert not firmware.machine.power_on
    m.power("on", "test")
    firmware._agent_ended(100, 2048, generation)  # a stale agent: ignored
    assert m.power_on
    firmware.stop()


RAMDISK = '''\
import json, sys
args = sys.argv[1:]
words = dict(w.split("=", 1) for w in args[args.index("--cmdline") + 1].split() if "=" in w)
with open(words["marker"], "w") as out:
    json.dump(json.load(open(args[args.index("--hardware") + 1])), out)
sys.exit(100)
'''


def test_a_loopback_machine_boots_the_ramdisk_from_the_boot_url(
    server: str, new_lab: Lab, tmp_path: Path
) -> None:
    src = tmp_path / "ramdisk"
    src.mkdir()
    (src / "__main__.py").write_text(RAMDISK)
    zipapp.create_archive(src, tmp_path / "ramdisk.pyz")
    marker = tmp_path / "marker.json"
    Files.files = {
        "/boot.ipxe": f"#!ipxe\nkernel /kernel marker={marker}\ninitrd /ramdisk\nboot\n".encode(),
        "/kernel": b"#!barecloud-lab-kernel\n",
        "/ramdisk": (tmp_path / "ramdisk.pyz").read_bytes(),
    }
    new_lab.up(1, "--boot-url", f"{server}/boot.ipxe")
    rsp = httpx.post(f"{new_lab.redfish}/redfish/v1/Systems/lab-00001/Actions/"
                     "ComputerSystem.Reset", json={"ResetType": "On"}, auth=("admin", PASSWORD))
    assert rsp.status_code < 300, rsp.text
    deadline = time.monotonic() + 30
    while new_lab.machine("lab-00001")["power_on"] and time.monotonic() < deadline:
        time.sleep(0.1)
    console = (new_lab.path / "machines" / "lab-00001" / "console.log").read_text()
    assert not new_lab.machine("lab-00001")["power_on"], console
    assert "agent exited with status 100" in console
    assert json.loads(marker.read_text())["interfaces"][0]["mac_address"] == "52:54:00:10:00:01"
    new_lab.down()
