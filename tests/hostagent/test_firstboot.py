"""hostagent/firstboot.py: what a hypervisor's boot reads from its config drive
(the image's /init runs it as a command, the netns lab calls its functions)."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from barecloud.hostagent import firstboot

NETWORK: dict[str, Any] = {
    "links": [{"id": "tap1", "type": "phy", "ethernet_mac_address": "52:54:00:AA:BB:01"},
              {"id": "tap2", "type": "phy", "ethernet_mac_address": "52:54:00:aa:bb:02"}],
    "networks": [
        {"id": "network0", "link": "tap1", "type": "ipv4", "ip_address": "10.97.0.5",
         "netmask": "255.255.255.0",
         "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.97.0.1"}]},
        {"id": "network1", "link": "tap2", "type": "ipv4_dhcp"},
        {"id": "network2", "link": "tap2", "type": "ipv6", "ip_address": "fd00::5",
         "netmask": "ffff:ffff:ffff:ffff::"},
        {"id": "network3", "link": "nowhere", "type": "ipv4", "ip_address": "10.0.0.9",
         "netmask": "255.0.0.0"},
        {"id": "network4", "link": "tap2", "type": "ipv4", "ip_address": "not an address",
         "netmask": "255.0.0.0"},
        {"id": "network5", "link": "tap2", "type": "ipv4", "ip_address": "192.0.2.9",
         "netmask": "255.255.255.128", "routes": []},
    ]}


def test_static_ipv4_addresses_by_mac_with_their_gateway() -> None:
    assert firstboot.static_addresses(NETWORK) == [
        ("52:54:00:aa:bb:01", "10.97.0.5/24", "10.97.0.1"),
        ("52:54:00:aa:bb:02", "192.0.2.9/25", None)]
    assert firstboot.static_addresses(None) == []
    assert firstboot.static_addresses({"networks": "no"}) == []


def test_the_agent_needs_an_http_url_and_a_credential() -> None:
    good = {firstboot.VENDOR_KEY: {"url": "http://10.97.0.1:6385", "credential": "hv.x"}}
    assert firstboot.agent_config(good) == ("http://10.97.0.1:6385", "hv.x")
    for bad in (None, {}, {firstboot.VENDOR_KEY: "x"},
                {firstboot.VENDOR_KEY: {"url": "ftp://x", "credential": "hv.x"}},
                {firstboot.VENDOR_KEY: {"url": "http://x", "credential": ""}}):
        assert firstboot.agent_config(bad) is None, bad


def run(src: Path, out: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "barecloud.hostagent.firstboot", str(src),
                           str(out)], capture_output=True, text=True, timeout=30, check=False)


def test_the_images_init_gets_its_files(tmp_path: Path) -> None:
    src, out = tmp_path / "latest", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    (src / "meta_data.json").write_text(json.dumps({"hostname": "hv-1.example"}))
    (src / "network_data.json").write_text(json.dumps(NETWORK))
    (src / "vendor_data.json").write_text(json.dumps(
        {firstboot.VENDOR_KEY: {"url": "http://10.97.0.1:6385", "credential": "hv.secret"}}))
    done = run(src, out)
    assert done.returncode == 0, done.stderr
    assert (out / "hostname").read_text() == "hv-1\n"
    assert (out / "url").read_text() == "http://10.97.0.1:6385\n"
    assert (out / "credential").read_text() == "hv.secret\n"
    assert stat.S_IMODE((out / "credential").stat().st_mode) == 0o600
    assert (out / "static").read_text() == (
        "52:54:00:aa:bb:01 10.97.0.5/24 10.97.0.1\n"
        "52:54:00:aa:bb:02 192.0.2.9/25\n")


def test_a_drive_without_the_agent_says_so(tmp_path: Path) -> None:
    src, out = tmp_path / "latest", tmp_path / "out"
    src.mkdir()
    out.mkdir()
    (src / "vendor_data.json").write_text("{not json")
    done = run(src, out)
    assert done.returncode == 1
    assert "vendor_data.json" in done.stderr
    assert not (out / "credential").exists()
