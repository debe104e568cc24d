"""noVNC for VMs: ``openstack console url show --novnc`` gives Nova's URL of the
noVNC page the service serves, whose websocket (``/console/vnc``) reaches the
VM's VNC server through its host agent.

The service's app runs in this process (noauth), with the real host agent and
the fake driver; the test plays QEMU's VNC server (a Unix socket where the
driver says the VM's ``vnc.sock`` is) and its serial port.  Bare metal's
refusal through a lab is also in tests/api/compute/test_remote_consoles.py.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import shutil
import struct
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from playwright.async_api import async_playwright
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from barecloud.api.app import create_app
from barecloud.config import Settings
from barecloud.db.compute_models import Server
from barecloud.db.hypervisor_models import Hypervisor
from barecloud.db.session import Database
from barecloud.hostagent.consoles import Consoles
from barecloud.hostagent.driver import VmSpec
from barecloud.hostagent.fake import FakeDriver
from barecloud.hostagent.loop import PREFIX, HostAgent
from barecloud.hostagent.qemu import QemuDriver
from barecloud.services.compute import host_credentials
from barecloud.services.compute import status as st
from barecloud.services.context import Runtime
from tests import support
from tests.api.ui.browser import ARGS, CHROMIUM
from tests.hostagent.asgi import serving
from tests.hostagent.conftest import CAPACITY, eventually
from tests.hostagent.guest import guest_at

RFB = b"RFB 003.008\n"


@dataclass
class Cloud:
    url: str
    rt: Runtime
    host: Hypervisor
    credential: str  # the host's
    vm: str
    metal: str  # a bare-metal server (no VNC)
    driver: FakeDriver  # where the VM's sockets are (with the ``cloud`` fixture)


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """The fake hypervisor's directory: a Unix socket's path must be short."""
    path = Path(tempfile.mkdtemp(prefix="bc-vnc-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
async def service(tmp_path: Path, short_dir: Path) -> AsyncIterator[Cloud]:
    """The service with a VM on a host whose agent is not running."""
    shutil.copyfile(support.migrated_sqlite(), tmp_path / "db.sqlite")
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    settings = Settings(data_dir=tmp_path, auth_strategy="noauth",
                        conductor_name="test-consoles-vnc")
    rt = Runtime(db=db, settings=settings)
    vm, metal = str(uuid.uuid4()), str(uuid.uuid4())
    async with rt.db.session() as s:
        host = Hypervisor(hostname="hv-vnc", enabled=True)
        credential = await host_credentials.enrol(s, host)
    async with rt.db.session() as s:
        # The VM is kept out of its host's desired list (``networking``): the fake
        # agent does not build it, and the relay does not care.
        places: list[tuple[str, dict[str, Any], dict[str, Any]]] = [
            (vm, {"extra_specs": {}}, {"hypervisor_id": host.id}),
            (metal, {"extra_specs": {"resources:CUSTOM_BAREMETAL": "1"}},
             {"node_uuid": str(uuid.uuid4())})]
        for uid, flavor, where in places:
            s.add(Server(uuid=uid, name=f"s-{uid[:4]}", project_id="p", user_id="u",
                         flavor_id="f", flavor=flavor, image_ref=str(uuid.uuid4()),
                         reservation_id="r-1", vm_state=st.ACTIVE,
                         task_state=st.NETWORKING, **where))
    try:
        async with serving(create_app(rt)) as url:
            yield Cloud(url, rt, host, credential, vm, metal,
                        FakeDriver(CAPACITY, state_dir=short_dir))
    finally:
        await db.dispose()


@pytest.fixture
async def cloud(service: Cloud, tmp_path: Path) -> AsyncIterator[Cloud]:
    """The service, and the host's agent running with the fake driver."""
    agent = HostAgent(service.url, service.credential, service.driver, tmp_path / "agent",
                      poll_wait=2.0)
    task = asyncio.create_task(agent.run())
    try:
        await asyncio.wait_for(agent.registered.wait(), 10)
        yield service
    finally:
        agent.stop()
        await asyncio.wait_for(asyncio.gather(task, return_exceptions=True), 10)


def nova(cloud: Cloud, version: str = "2.6") -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=f"{cloud.url}/compute/v2.1", timeout=30, headers={
        "OpenStack-API-Version": f"compute {version}"})


async def console_url(cloud: Cloud, server: str, protocol: str, kind: str,
                      version: str = "2.6") -> httpx.Response:
    async with nova(cloud, version) as client:
        return await client.post(f"/servers/{server}/remote-consoles", json={
            "remote_console": {"protocol": protocol, "type": kind}})


def websocket_of(cloud: Cloud, page_url: str) -> str:
    """What vnc_lite.html opens: ``ws://`` + the page's host and port + ``/`` + path."""
    path = parse_qs(urlsplit(page_url).query)["path"][0]
    return f"{cloud.url.replace('http://', 'ws://')}/{path}"


def here(cloud: Cloud, url: str) -> str:
    """A serial console URL (``ws://<base_url>/…``) at the test's server."""
    return url.replace(cloud.rt.settings.base_url.replace("http://", "ws://"),
                       cloud.url.replace("http://", "ws://"))


async def refused(url: str) -> tuple[int | None, str]:
    async with connect(url, open_timeout=10, subprotocols=["binary"]) as ws:  # type: ignore[list-item]
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code is not None
        return ws.close_code, ws.close_reason or ""


async def receive(ws: ClientConnection, wanted: bytes) -> bytes:
    got = b""
    async with asyncio.timeout(10):
        while wanted not in got:
            message = await ws.recv()
            assert isinstance(message, bytes), message  # binary frames, as websockify's
            got += message
    return got


async def test_novnc_url_page_and_rfb_through_the_host_agent(cloud: Cloud) -> None:
    r = await console_url(cloud, cloud.vm, "vnc", "novnc")
    assert r.status_code == 200, r.text
    body = r.json()["remote_console"]
    assert (body["protocol"], body["type"]) == ("vnc", "novnc")
    url = body["url"]
    base = cloud.rt.settings.base_url
    match = re.fullmatch(re.escape(base) + r"/ui/novnc/vnc_lite\.html\?path=console/vnc"
                         r"%3Ftoken%3D([A-Za-z0-9_-]{40,})", url)
    assert match, url
    token = match.group(1)

    # The page and what it imports, from this process (no CDN), with no token.
    page_url = cloud.url + url[len(base):]
    async with httpx.AsyncClient(timeout=30) as http:
        page = await http.get(page_url)
        assert page.status_code == 200 and "noVNC" in page.text
        assert "import RFB from './core/rfb.js'" in page.text
        for module in ("core/rfb.js", "core/inflator.js",
                       "vendor/pako/lib/zlib/inflate.js"):
            got = await http.get(f"{cloud.url}/ui/novnc/{module}")
            assert got.status_code == 200, module
            assert "javascript" in got.headers["content-type"], got.headers
        assert (await http.get(f"{cloud.url}/ui/novnc/nope.js")).status_code == 404
        assert (await http.get(f"{cloud.url}/ui/novnc/../../api/app.py")).status_code == 404

    # The page's websocket reaches the VM's VNC server: raw RFB both ways.
    ws_url = websocket_of(cloud, url)
    assert ws_url.endswith(f"/console/vnc?token={token}")
    serial_url = here(cloud, (await console_url(cloud, cloud.vm, "serial", "serial")).json()[
        "remote_console"]["url"])
    async with guest_at(cloud.driver.vnc_socket(cloud.vm), RFB) as vnc, \
            guest_at(cloud.driver.console_socket(cloud.vm), b"vm login: ") as serial:
        async with connect(ws_url, open_timeout=10, subprotocols=["binary"]  # type: ignore[list-item]
                           ) as ws:
            assert ws.subprotocol == "binary"
            assert await receive(ws, RFB) == RFB
            await ws.send(RFB)
            await ws.send(b"\x01")  # security type: None
            await eventually(lambda: vnc.received == RFB + b"\x01", 10, "the server gets it")
            # One VNC client a VM (no watchers); the serial console of the same VM
            # opens beside it, and ends without ending the VNC one.
            assert await refused(ws_url) == (4409, f"The VNC console of {cloud.vm} is in use.")
            code, reason = await refused(ws_url + "&mode=watch")
            assert code == 4404 and "no watchers" in reason
            async with connect(serial_url, open_timeout=10) as term:
                assert await receive(term, b"vm login: ")
                await term.send(b"root\n")
                await eventually(lambda: serial.received == b"root\n", 10)
            await asyncio.wait_for(serial.hung_up.wait(), 10)
            assert vnc.writer is not None
            vnc.writer.write(b"\x00\x00\x00\x00")  # SecurityResult: OK
            assert await receive(ws, b"\x00\x00\x00\x00")
            await ws.send(b"\x01")  # ClientInit
            await eventually(lambda: vnc.received.endswith(b"\x01\x01"), 10)
            assert vnc.clients == 1
        # The browser leaving hangs up the VNC server; the token opens it again.
        await asyncio.wait_for(vnc.hung_up.wait(), 10)
        async with connect(ws_url, open_timeout=10) as again:
            assert await receive(again, RFB) == RFB
        assert vnc.clients == 2


async def test_tokens_open_their_own_kind_only(cloud: Cloud) -> None:
    vnc = (await console_url(cloud, cloud.vm, "vnc", "novnc")).json()["remote_console"]["url"]
    serial = (await console_url(cloud, cloud.vm, "serial", "serial")).json()[
        "remote_console"]["url"]
    vnc_token = parse_qs(urlsplit(websocket_of(cloud, vnc)).query)["token"][0]
    serial_token = parse_qs(urlsplit(serial).query)["token"][0]
    ws = cloud.url.replace("http://", "ws://")
    for url in (f"{ws}/console/vnc?token={serial_token}",
                f"{ws}/console/serial?token={vnc_token}",
                f"{ws}/console/vnc?token=nope", f"{ws}/console/vnc"):
        code, reason = await refused(url)
        assert code == 4401 and "not valid" in reason, (url, code, reason)


async def test_a_vnc_server_the_agent_cannot_reach(cloud: Cloud) -> None:
    """Nothing listens on the VM's vnc.sock (QEMU down): the user hears why, at once."""
    url = (await console_url(cloud, cloud.vm, "vnc", "novnc")).json()["remote_console"]["url"]
    async with asyncio.timeout(15):
        code, reason = await refused(websocket_of(cloud, url))
    assert code == 4503, reason
    assert reason.startswith("Not available on its host: cannot connect to its VNC server")


async def test_novas_refusals_and_the_older_action(cloud: Cloud) -> None:
    for server, protocol, kind, message in [
            (cloud.metal, "vnc", "novnc", "Unavailable console type novnc."),
            (cloud.vm, "vnc", "xvpvnc", "Unavailable console type xvpvnc."),
            (cloud.vm, "serial", "novnc", "Unavailable console type novnc.")]:
        r = await console_url(cloud, server, protocol, kind)
        assert r.status_code == 400, r.text
        assert r.json()["badRequest"]["message"] == message
    # Before 2.6: os-getVNCConsole (novnc by default) gives the same page.
    async with nova(cloud, "2.5") as old:
        for args in ({"type": "novnc"}, {}):
            r = await old.post(f"/servers/{cloud.vm}/action", json={"os-getVNCConsole": args})
            assert r.status_code == 200, r.text
            console = r.json()["console"]
            assert console["type"] == "novnc"
            assert "/ui/novnc/vnc_lite.html?path=console/vnc%3Ftoken%3D" in console["url"]
        r = await old.post(f"/servers/{cloud.metal}/action",
                           json={"os-getVNCConsole": {"type": "novnc"}})
        assert r.status_code == 400 and "Unavailable console type novnc." in r.text


async def receive_at_least(ws: ClientConnection, size: int) -> bytes:
    got = b""
    async with asyncio.timeout(10):
        while len(got) < size:
            message = await ws.recv()
            assert isinstance(message, bytes), message
            got += message
    return got


def test_the_url_keeps_a_path_of_the_base_url() -> None:
    from barecloud.services.compute.remote_consoles import novnc_url
    assert novnc_url("https://cloud.example/bc/", "T-k_1") == (
        "https://cloud.example/bc/ui/novnc/vnc_lite.html?path=bc/console/vnc%3Ftoken%3DT-k_1")
    assert novnc_url("http://10.0.0.1:8080", "T") == (
        "http://10.0.0.1:8080/ui/novnc/vnc_lite.html?path=console/vnc%3Ftoken%3DT")


@contextlib.asynccontextmanager
async def real_vm(service: Cloud, short_dir: Path) -> AsyncIterator[None]:
    """A QEMU VM of the real driver (a blank disk: its BIOS on the VGA is all there
    is to see) named ``vnc-vm``, and the agent's console relay."""
    if shutil.which("qemu-system-x86_64") is None:
        pytest.skip("qemu-system-x86_64 is not installed")
    blank = short_dir / "blank.raw"
    blank.write_bytes(bytes(2**20))
    driver = QemuDriver(short_dir / "qemu")
    consoles = Consoles(service.url + PREFIX, service.credential, driver,
                        logging.getLogger("test-vnc"), poll_wait=2.0)
    relaying = asyncio.create_task(consoles.run())
    await driver.create(VmSpec(uuid=service.vm, name="vnc-vm", vcpus=1, memory_mb=64,
                               disk_gb=0, image=blank, image_format="raw",
                               config_drive={}, nics=()))
    try:
        assert driver.vnc_socket(service.vm).is_socket()
        yield
    finally:
        relaying.cancel()
        await asyncio.gather(relaying, return_exceptions=True)
        await driver.delete(service.vm)
        await driver.close()


@pytest.mark.slow
async def test_a_real_qemu_vm_answers_rfb(service: Cloud, short_dir: Path) -> None:
    """The page's websocket speaks RFB with QEMU's VNC server through the agent's
    relay, up to its ServerInit (the display's size, the VM's name)."""
    async with real_vm(service, short_dir):
        url = (await console_url(service, service.vm, "vnc", "novnc")).json()[
            "remote_console"]["url"]
        async with connect(websocket_of(service, url), open_timeout=30,
                           subprotocols=["binary"]) as ws:  # type: ignore[list-item]
            assert await receive(ws, RFB) == RFB
            await ws.send(RFB)
            types = await receive_at_least(ws, 2)  # [count, types...]: None (1)
            assert len(types) == 1 + types[0], types
            assert types[0] >= 1 and 1 in types[1:], types
            await ws.send(b"\x01")
            assert await receive(ws, b"\x00\x00\x00\x00") == b"\x00\x00\x00\x00"
            await ws.send(b"\x01")  # ClientInit: shared
            init = await receive(ws, b"vnc-vm")
            width, height = struct.unpack(">HH", init[:4])
            assert width >= 640 and height >= 400, (width, height)
            assert init[24:] == b"QEMU (vnc-vm)", init  # its -name


@pytest.mark.slow
async def test_novnc_in_chromium_shows_a_real_qemu_vm(service: Cloud, short_dir: Path) -> None:
    """The URL opened in a browser, as a user of ``--novnc`` (or the web UI's
    graphics console, which frames the same page) does: noVNC's own page, in
    Debian's Chromium, connects through the relay to QEMU and draws its screen."""
    async with real_vm(service, short_dir):
        url = (await console_url(service, service.vm, "vnc", "novnc")).json()[
            "remote_console"]["url"]
        page_url = url.replace(service.rt.settings.base_url, service.url)
        async with async_playwright() as p:
            browser = await p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                page = await browser.new_page()
                errors: list[str] = []
                page.on("pageerror", lambda e: errors.append(str(e)))
                await page.goto(page_url)
                status = page.locator("#status")
                await status.filter(has_text="Connected").wait_for(timeout=60_000)
                assert "QEMU (vnc-vm)" in (await status.inner_text())
                canvas = page.locator("#screen canvas")
                box = await canvas.bounding_box()
                assert box is not None and box["width"] >= 640 and box["height"] >= 400, box
                assert not errors, errors
            finally:
                await browser.close()


async def test_the_page_needs_no_token(tmp_path: Path) -> None:
    """With Keystone, noVNC's files are public (the console token is in the page's
    URL, as with nova-novncproxy); the API next to them is not."""
    shutil.copyfile(support.migrated_sqlite(), tmp_path / "db.sqlite")
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite'}")
    rt = Runtime(db=db, settings=Settings(data_dir=tmp_path, auth_strategy="keystone"))
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(create_app(rt)),
                                     base_url="http://bc") as http:
            page = await http.get("/ui/novnc/vnc_lite.html")
            assert page.status_code == 200 and "<title>noVNC</title>" in page.text
            assert (await http.get("/ui/novnc/core/rfb.js")).status_code == 200
            assert (await http.get("/compute/v2.1/servers")).status_code == 401
    finally:
        await db.dispose()
