"""dnsmasq for real, on a veth pair into a network namespace the test creates.

The "machine" is barecloud.lab.netboot run inside the namespace: a raw-socket
DHCP client that looks like a PXE ROM or like iPXE, and a TFTP client.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from barecloud.config import Settings
from barecloud.drivers import ipxe
from barecloud.drivers.base import NodeView, PortView
from barecloud.services.boot.dhcp import DhcpError, Dnsmasq
from tests.support import start_service

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="needs root: network namespaces, veths and DHCP's port 67"
)

MAC_A = "52:54:00:d0:00:0a"
MAC_B = "52:54:00:d0:00:0b"
NODE = "5c0ffee0-0000-4000-8000-00000000000a"
IPXE_DIR = Path("/usr/lib/ipxe")


@dataclass(frozen=True)
class Link:
    netns: str
    host_if: str  # dnsmasq's side, in our namespace
    machine_if: str  # inside netns
    prefix: str  # "10.x.y"

    @property
    def host_ip(self) -> str:
        return f"{self.prefix}.1"


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def link() -> Iterator[Link]:
    if shutil.which("ethtool") is None:
        pytest.fail("ethtool is missing: run scripts/system-packages")
    pid = os.getpid()
    lk = Link(f"bc-dhcp-{pid}", f"bcd{pid}h", f"bcd{pid}m",
              f"10.{200 + pid // 256 % 50}.{pid % 256}")
    try:
        _ip("netns", "add", lk.netns)
        _ip("link", "add", lk.host_if, "type", "veth", "peer", "name", lk.machine_if)
        _ip("link", "set", lk.machine_if, "netns", lk.netns)
        _ip("addr", "add", f"{lk.host_ip}/24", "dev", lk.host_if)
        _ip("link", "set", lk.host_if, "up")
        _ip("-n", lk.netns, "link", "set", lk.machine_if, "up")
        # Else dnsmasq's answers leave with a checksum the veth never fills in.
        subprocess.run(["ethtool", "-K", lk.host_if, "tx", "off"], check=True,
                       capture_output=True)
        subprocess.run(["ip", "netns", "exec", lk.netns, "ethtool", "-K", lk.machine_if,
                        "tx", "off"], check=True, capture_output=True)
        yield lk
    finally:
        subprocess.run(["ip", "link", "del", lk.host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", lk.netns], capture_output=True)


def node(*macs: str) -> NodeView:
    return NodeView(
        uuid=NODE, name=None, driver="ipmi", driver_info={}, driver_internal_info={},
        properties={}, instance_info={}, power_state=None, provision_state="deploying",
        agent_token="t0ken", ports=tuple(PortView(m, True, {}) for m in macs),
    )


def settings_for(lk: Link, data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir, public_url=f"http://{lk.host_ip}:6385", dhcp_enabled=True,
        dhcp_interface=lk.host_if,
        dhcp_range=f"{lk.prefix}.100,{lk.prefix}.150,255.255.255.0",
    )


@pytest.fixture
async def server(link: Link, tmp_path: Path) -> AsyncIterator[Dnsmasq]:
    settings = settings_for(link, tmp_path)
    ipxe.configure(settings.data_dir, settings.base_url)
    await ipxe.IpxeBoot().prepare_ramdisk(node(MAC_A))
    dns = Dnsmasq(settings)
    await dns.start()
    try:
        yield dns
    finally:
        await dns.stop()
    assert not dns.alive()


async def netboot(lk: Link, *args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        "ip", "netns", "exec", lk.netns, sys.executable, "-m", "barecloud.lab.netboot", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await proc.communicate()
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def lease(lk: Link, mac: str, *extra: str, timeout: float = 3.0) -> dict[str, Any] | None:
    code, out, err = await netboot(lk, "dhcp", "--interface", lk.machine_if, "--mac", mac,
                                   "--timeout", str(timeout), *extra)
    assert code in (0, 2), err
    found: dict[str, Any] | None = json.loads(out)
    return found


def in_range(lk: Link, ip: str) -> bool:
    prefix, last = ip.rsplit(".", 1)
    return prefix == lk.prefix and 100 <= int(last) <= 150


async def test_ipxe_is_sent_the_boot_script_url(server: Dnsmasq, link: Link) -> None:
    got = await lease(link, MAC_A, "--ipxe")
    assert got is not None
    assert in_range(link, got["ip"])
    assert got["filename"] == f"http://{link.host_ip}:6385/boot/boot.ipxe"
    assert got["server"] == link.host_ip


async def test_a_pxe_rom_gets_ipxe_by_tftp(server: Dnsmasq, link: Link, tmp_path: Path) -> None:
    bios = await lease(link, MAC_A)
    uefi = await lease(link, MAC_A, "--arch", "7")
    assert bios is not None and uefi is not None
    assert (bios["filename"], uefi["filename"]) == ("undionly.kpxe", "ipxe.efi")
    assert bios["next_server"] == link.host_ip
    # The ROM now has its address: configure it, as the ROM's UDP stack would.
    _ip("-n", link.netns, "addr", "add", f"{bios['ip']}/24", "dev", link.machine_if)
    for name, blksize in (("undionly.kpxe", "1468"), ("ipxe.efi", "0")):
        out = tmp_path / f"got-{name}"
        code, _, err = await netboot(link, "tftp", "--server", bios["next_server"], "--file",
                                     name, "--blksize", blksize, "--out", str(out))
        assert code == 0, err
        assert out.read_bytes() == (IPXE_DIR / name).read_bytes()
    code, _, err = await netboot(link, "tftp", "--server", link.host_ip, "--file", "nope")
    assert code == 2 and "error" in err


async def test_an_unknown_mac_gets_no_answer(server: Dnsmasq, link: Link) -> None:
    started = time.monotonic()
    assert await lease(link, MAC_B, "--ipxe", timeout=1.5) is None
    assert time.monotonic() - started >= 1.5
    # It did reach dnsmasq, which chose not to answer.
    assert re.search(rf"DHCPDISCOVER\({link.host_if}\) {MAC_B} ignored", server.log_tail(400))


async def test_a_released_mac_gets_no_answer_at_once(server: Dnsmasq, link: Link) -> None:
    assert await lease(link, MAC_A, "--ipxe", "--discover-only") is not None
    released = time.monotonic()
    await ipxe.IpxeBoot().clean_up_ramdisk(node(MAC_A))
    # inotify: the very next DISCOVER is ignored (measured: well under 0.1 s).
    assert await lease(link, MAC_A, "--ipxe", "--discover-only", timeout=1.0) is None
    assert time.monotonic() - released < 2.0
    await ipxe.IpxeBoot().prepare_ramdisk(node(MAC_A))
    assert await lease(link, MAC_A, "--ipxe", "--discover-only") is not None


async def test_dnsmasq_keeps_answering_for_a_deleted_host_file(
    server: Dnsmasq, link: Link, tmp_path: Path,
) -> None:
    """Why releasing rewrites the entry as ``ignore`` instead of deleting the file."""
    (tmp_path / "dnsmasq" / "hosts" / NODE).unlink()
    await asyncio.sleep(0.5)
    assert await lease(link, MAC_A, "--ipxe", "--discover-only", timeout=1.5) is not None


async def test_a_restart_ends_the_dnsmasq_a_killed_service_left(
    server: Dnsmasq, link: Link, tmp_path: Path,
) -> None:
    left = server.proc
    assert left is not None
    again = Dnsmasq(server.settings)
    await again.start()
    try:
        assert await asyncio.wait_for(left.wait(), 5) == 0
        assert again.alive()
        assert await lease(link, MAC_A, "--ipxe", "--discover-only") is not None
    finally:
        await again.stop()


async def test_start_failures_are_explained(link: Link, tmp_path: Path) -> None:
    settings = settings_for(link, tmp_path)
    with pytest.raises(DhcpError, match="dnsmasq not found at /nonexistent/dnsmasq"):
        await Dnsmasq(settings, binary="/nonexistent/dnsmasq").start()
    with pytest.raises(DhcpError, match="dhcp_range"):
        await Dnsmasq(settings.model_copy(update={"dhcp_range": ""})).start()
    with pytest.raises(DhcpError, match=r"undionly\.kpxe is missing: install"):
        await Dnsmasq(settings, ipxe_dir=tmp_path).start()
    bad = Dnsmasq(settings.model_copy(update={"dhcp_interface": "bcnosuch0"}))
    with pytest.raises(DhcpError, match=r"exited with status \d+(.|\n)*unknown interface"):
        await bad.start()
    assert not bad.alive()


def test_the_service_runs_dnsmasq_while_it_runs(link: Link, tmp_path: Path) -> None:
    settings = settings_for(link, tmp_path / "svc")
    svc = start_service(settings.data_dir, extra_env={
        "BARECLOUD_DHCP_ENABLED": "true",
        "BARECLOUD_DHCP_INTERFACE": settings.dhcp_interface,
        "BARECLOUD_DHCP_RANGE": settings.dhcp_range,
        "BARECLOUD_DHCP_BOOT_URL": "http://boot.example/boot.ipxe",
    })
    try:
        pid = int((settings.data_dir / "dnsmasq" / "dnsmasq.pid").read_text())
        assert "dhcp-boot=tag:ipxe,http://boot.example/boot.ipxe" in (
            settings.data_dir / "dnsmasq" / "dnsmasq.conf").read_text()
        assert httpx.get(f"{svc.url}/boot/boot.ipxe").status_code == 200
        assert Path(f"/proc/{pid}").exists()
    finally:
        svc.stop()
    assert svc.proc.returncode == 0, svc.log()
    assert not Path(f"/proc/{pid}").exists()
