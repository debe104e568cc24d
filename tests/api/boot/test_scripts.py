"""/boot/ through a real service: what iPXE and the lab firmware fetch."""

from __future__ import annotations

import http.client
import os
import subprocess
import zipfile
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from barecloud.drivers import ipxe
from barecloud.drivers.base import NodeView, PortView
from tests import support

MAC = "52:54:00:ab:cd:01"


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Service]:
    service = support.start_service(tmp_path_factory.mktemp("boot") / "svc")
    try:
        yield service
    finally:
        service.stop()


def raw_get(url: str, path: str) -> tuple[int, bytes]:
    """GET ``path`` exactly as written: no client-side normalisation of dots or %2F."""
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_boot_ipxe_chains_the_node_script_or_exits(svc: support.Service) -> None:
    r = httpx.get(f"{svc.url}/boot/boot.ipxe")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    assert r.text == "#!ipxe\nchain nodes/${mac:hexhyp}.ipxe || exit\n"


async def test_node_script_is_served_once_written(svc: support.Service) -> None:
    url = f"{svc.url}/boot/nodes/52-54-00-ab-cd-01.ipxe"
    async with httpx.AsyncClient() as client:
        assert (await client.get(url)).status_code == 404
        ipxe.configure(svc.data_dir, svc.url)
        view = NodeView(
            uuid="0d1e2f3a-0000-4000-8000-000000000001", name=None, driver="ipmi",
            driver_info={}, driver_internal_info={}, properties={}, instance_info={},
            power_state=None, provision_state="deploying", agent_token="the-token",
            ports=(PortView(MAC, True, {}),),
        )
        await ipxe.IpxeBoot().prepare_ramdisk(view)
        try:
            r = await client.get(url)
            assert r.status_code == 200
            assert r.headers["content-type"].startswith("text/plain")
            assert r.text.startswith("#!ipxe\n")
            assert f"barecloud.api={svc.url} barecloud.token=the-token" in r.text
            assert r.headers["cache-control"] == "no-store"
            # Once: it carries the token of one boot (tests/api/baremetal/test_agent_token.py).
            assert (await client.get(url)).status_code == 404
            await ipxe.IpxeBoot().prepare_ramdisk(view)
            assert (await client.get(url.replace("ab-cd", "AB-CD"))).status_code == 200
            await ipxe.IpxeBoot().prepare_ramdisk(view)
        finally:
            await ipxe.IpxeBoot().clean_up_ramdisk(view)
        assert (await client.get(url)).status_code == 404


@pytest.mark.parametrize("path", [
    "/boot/nodes/..%2Fsecret.ipxe",
    "/boot/nodes/%2e%2e%2Fsecret.ipxe",
    "/boot/nodes/../secret.ipxe",
    "/boot/nodes/..%2F..%2Fdnsmasq%2Fsecret.ipxe",
    "/boot/nodes/52-54-00-ab-cd-01.ipxe%00.ipxe",
    "/boot/nodes/secret.ipxe",
])
def test_no_path_leaves_the_scripts_directory(svc: support.Service, path: str) -> None:
    for where in (svc.data_dir / "boot", svc.data_dir / "boot" / "nodes"):
        where.mkdir(parents=True, exist_ok=True)
    (svc.data_dir / "boot" / "secret.ipxe").write_text("SECRET")
    (svc.data_dir / "boot" / "nodes" / "secret.ipxe").write_text("SECRET")
    status, body = raw_get(svc.url, path)
    assert status in (400, 404)
    assert b"SECRET" not in body


def test_the_lab_kernel_is_served_by_default(svc: support.Service) -> None:
    r = httpx.get(f"{svc.url}/boot/agent/kernel")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/octet-stream"
    assert r.content.split(b"\n", 1)[0] == b"#!barecloud-lab-kernel"


def test_the_ramdisk_is_the_agent_zipapp(svc: support.Service, tmp_path: Path) -> None:
    r = httpx.get(f"{svc.url}/boot/agent/ramdisk", timeout=60)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/octet-stream"
    ramdisk = tmp_path / "ramdisk"
    ramdisk.write_bytes(r.content)
    assert zipfile.is_zipfile(ramdisk)
    # Isolated mode: nothing of this checkout or its virtualenv on the path.
    run = subprocess.run(["python3", "-I", str(ramdisk), "--help"], capture_output=True,
                         text=True, timeout=60, cwd=tmp_path, env={"PATH": os.environ["PATH"]})
    assert run.returncode == 0, run.stderr
    assert "--cmdline" in run.stdout
    # Built once, then served from the cache.
    cached = svc.data_dir / "boot" / "agent.pyz"
    built = cached.stat().st_mtime_ns
    assert httpx.get(f"{svc.url}/boot/agent/ramdisk", timeout=60).content == r.content
    assert cached.stat().st_mtime_ns == built


def test_configured_kernel_and_ramdisk_are_served(tmp_path: Path) -> None:
    kernel, initrd = tmp_path / "vmlinuz", tmp_path / "initrd.img"
    kernel.write_bytes(os.urandom(300_000))
    initrd.write_bytes(os.urandom(1_000_000))
    service = support.start_service(tmp_path / "svc", extra_env={
        "BARECLOUD_AGENT_KERNEL": str(kernel), "BARECLOUD_AGENT_RAMDISK": str(initrd),
    })
    try:
        for name, path in (("kernel", kernel), ("ramdisk", initrd)):
            r = httpx.get(f"{service.url}/boot/agent/{name}")
            assert r.status_code == 200
            assert r.headers["content-type"] == "application/octet-stream"
            assert r.content == path.read_bytes()
        kernel.unlink()
        r = httpx.get(f"{service.url}/boot/agent/kernel")
        assert r.status_code == 500
        assert "agent_kernel" in r.text
    finally:
        service.stop()
