"""Remote consoles through the Compute API: a URL with a token, a websocket that
reaches the machine's serial port (IPMI Serial-over-LAN to a loopback lab
machine's BMC), Nova's refusals, and tokens that expire or name another
project's server.  VMs' consoles (their host agent's relay) are
tests/hostagent/test_console_relay.py's."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests import support
from tests.api.compute.nova import fault

BIN = Path(sys.executable).parent
TTL = 6.0
NOVA = "compute 2.96"


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Service]:
    service = support.start_service(
        tmp_path_factory.mktemp("consoles") / "svc", lab=2, auth="keystone", timeout=180,
        extra_env={"BARECLOUD_CONSOLE_TOKEN_TTL": str(TTL)})
    try:
        yield service
    finally:
        service.stop()


def _nova(svc: support.Service, cloud: str, version: str = NOVA) -> httpx.Client:
    return httpx.Client(base_url=f"{svc.url}/compute/v2.1", timeout=60, headers={
        "X-Auth-Token": svc.token(cloud), "OpenStack-API-Version": version})


def _server(nova: httpx.Client, name: str) -> str:
    flavor = next(f["id"] for f in nova.get("/flavors").json()["flavors"]
                  if f["name"] == "bm.baremetal")
    image = httpx.get(f"{nova.base_url.scheme}://{nova.base_url.netloc.decode()}"
                      "/image/v2/images", params={"name": "barecloud-demo"},
                      headers={"X-Auth-Token": nova.headers["X-Auth-Token"]}
                      ).json()["images"][0]["id"]
    r = nova.post("/servers", json={"server": {"name": name, "imageRef": image,
                                               "flavorRef": flavor, "networks": "none"}})
    assert r.status_code == 202, r.text
    server = str(r.json()["server"]["id"])
    deadline = time.monotonic() + 180
    while nova.get(f"/servers/{server}").json()["server"]["status"] != "ACTIVE":
        assert time.monotonic() < deadline, nova.get(f"/servers/{server}").text
        time.sleep(0.5)
    return server


@pytest.fixture(scope="module")
def servers(svc: support.Service) -> dict[str, str]:
    with _nova(svc, "barecloud") as demo, _nova(svc, "barecloud-admin") as admin:
        return {"demo": _server(demo, "con-demo"), "admin": _server(admin, "con-admin")}


def _url(nova: httpx.Client, server: str, protocol: str = "serial",
         kind: str = "serial") -> httpx.Response:
    return nova.post(f"/servers/{server}/remote-consoles",
                     json={"remote_console": {"protocol": protocol, "type": kind}})


def _read_until(ws: ClientConnection, marker: bytes, timeout: float = 30) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0, f"{marker!r} not on the console: {seen[-500:]!r}"
        try:
            message = ws.recv(timeout=left)
        except TimeoutError:
            continue
        seen += message if isinstance(message, bytes) else message.encode()
    return seen


def _close_code(url: str) -> tuple[int | None, str]:
    with connect(url, open_timeout=30) as ws:
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=30)
        return ws.close_code, ws.close_reason or ""


def test_a_serial_console_url_reaches_the_machine(svc: support.Service,
                                                  servers: dict[str, str]) -> None:
    with _nova(svc, "barecloud") as demo:
        r = _url(demo, servers["demo"])
        assert r.status_code == 200, r.text
        body = r.json()["remote_console"]
        assert (body["protocol"], body["type"]) == ("serial", "serial")
        assert body["url"].startswith("ws://") and "/console/serial?token=" in body["url"]
        with connect(body["url"], open_timeout=30, subprotocols=["binary"]) as ws:  # type: ignore[list-item]
            ws.send(b"\r")
            _read_until(ws, b"login:")
            ws.send(b"tester\r")
            _read_until(ws, b"$ ")
            ws.send(b"hostname\r")
            assert b"con-demo" in _read_until(ws, b"con-demo\r\n")
            # One writer a console: a second attach is told the console is in use;
            # a watcher sees what it prints, and what it types goes nowhere.
            second = _url(demo, servers["demo"]).json()["remote_console"]["url"]
            code, reason = _close_code(second)
            assert code == 4409 and "in use" in reason, (code, reason)
            watch = _url(demo, servers["demo"]).json()["remote_console"]["url"]
            with connect(watch + "&mode=watch", open_timeout=30) as watcher:
                time.sleep(0.5)  # attached before the writer types
                watcher.send(b"reboot\r")
                ws.send(b"echo watched\r")
                assert b"watched" in _read_until(watcher, b"watched\r\n")
                assert b"reboot" not in _read_until(ws, b"$ ")
        # Once the first has left, a URL opens it again.
        again = _url(demo, servers["demo"]).json()["remote_console"]["url"]
        with connect(again, open_timeout=30) as ws:
            ws.send(b"\r")
            _read_until(ws, b"$ ")


def test_novas_refusals(svc: support.Service, servers: dict[str, str]) -> None:
    with _nova(svc, "barecloud") as demo:
        assert fault(_url(demo, servers["demo"], "vnc", "novnc"), 400) == \
            "Unavailable console type novnc."
        assert fault(_url(demo, servers["demo"], "serial", "novnc"), 400) == \
            "Unavailable console type novnc."
        fault(_url(demo, servers["demo"], "telnet", "serial"), 400)  # not in Nova's schema
        fault(_url(demo, servers["admin"]), 404)  # another project's server
        r = demo.post(f"/servers/{servers['demo']}/remote-consoles", json={})
        fault(r, 400)
    # Before 2.6 the action answers; the resource does not exist yet.
    with _nova(svc, "barecloud", "compute 2.5") as old:
        fault(_url(old, servers["demo"]), 404)
        r = old.post(f"/servers/{servers['demo']}/action",
                     json={"os-getSerialConsole": {"type": "serial"}})
        assert r.status_code == 200, r.text
        assert r.json()["console"]["type"] == "serial"
        assert "/console/serial?token=" in r.json()["console"]["url"]


def test_a_watcher_needs_a_writer(svc: support.Service, servers: dict[str, str]) -> None:
    with _nova(svc, "barecloud") as demo:
        url = _url(demo, servers["demo"]).json()["remote_console"]["url"]
    code, reason = _close_code(url + "&mode=watch")
    assert code == 4404 and "Nobody is attached" in reason, (code, reason)


def test_tokens_open_one_server_until_they_expire(svc: support.Service,
                                                  servers: dict[str, str]) -> None:
    base = svc.url.replace("http://", "ws://")
    for token in ("", "nope", "x" * 300):
        code, reason = _close_code(f"{base}/console/serial?token={token}")
        assert code == 4401 and "not valid" in reason, (token, code, reason)
    with _nova(svc, "barecloud-admin") as admin:
        url = _url(admin, servers["admin"]).json()["remote_console"]["url"]
    # The admin's token opens the admin's server, whoever holds it; the demo
    # project's user cannot get one for it (404 above), nor use its own for it.
    with connect(url, open_timeout=30) as ws:
        ws.send(b"\r")
        _read_until(ws, b"login:")
    time.sleep(TTL + 0.5)
    code, reason = _close_code(url)
    assert code == 4401 and "expired" in reason, (code, reason)


def test_barecloud_console_attaches_a_pipe(svc: support.Service,
                                           servers: dict[str, str]) -> None:
    env = {"OS_CLIENT_CONFIG_FILE": str(svc.clouds_yaml), "PATH": "/usr/bin:/bin"}
    proc = subprocess.Popen([str(BIN / "barecloud"), "console", "con-demo", "--cloud",
                             "barecloud", "--linger", "3"], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert proc.stdin is not None
    for line in (b"\r", b"tester\r", b"hostname\r"):
        time.sleep(1.5)
        proc.stdin.write(line)
        proc.stdin.flush()
    proc.stdin.close()
    assert proc.stdout is not None and proc.stderr is not None
    out, err = proc.stdout.read(), proc.stderr.read()
    assert proc.wait(60) == 0, err
    assert b"con-demo login:" in out and b"\r\ncon-demo\r\n" in out, out[-800:]
    refused = subprocess.run([str(BIN / "barecloud"), "console", "con-admin", "--cloud",
                              "barecloud"], stdin=subprocess.DEVNULL, capture_output=True,
                             env=env, timeout=60)
    assert refused.returncode == 1 and b"no server(s) named con-admin" in refused.stderr


def test_ironics_console_api(svc: support.Service, servers: dict[str, str]) -> None:
    """``baremetal node console enable|show|disable``: a websocket URL with a token of
    the node, valid while the console is enabled."""
    ironic = httpx.Client(base_url=f"{svc.url}/baremetal/v1", timeout=60, headers={
        "X-Auth-Token": svc.token(), "X-OpenStack-Ironic-API-Version": "latest"})
    with ironic:
        [node] = [n for n in ironic.get("/nodes", params={"fields": "uuid,instance_uuid"})
                  .json()["nodes"] if n["instance_uuid"] == servers["admin"]]
        uuid = node["uuid"]
        shown = ironic.get(f"/nodes/{uuid}/states/console").json()
        assert shown == {"console_enabled": False, "console_info": None}
        r = ironic.put(f"/nodes/{uuid}/states/console", json={"enabled": True})
        assert r.status_code == 400 and "no console to enable" in r.text, r.text
        r = ironic.patch(f"/nodes/{uuid}", json=[
            {"op": "replace", "path": "/console_interface", "value": "ipmi-sol"}])
        assert r.status_code == 200, r.text
        r = ironic.put(f"/nodes/{uuid}/states/console", json={"enabled": "yes"})
        assert r.status_code == 400, r.text
        r = ironic.put(f"/nodes/{uuid}/states/console", json={"enabled": True})
        assert r.status_code == 202, r.text
        shown = ironic.get(f"/nodes/{uuid}/states/console").json()
        assert shown["console_enabled"] is True
        assert shown["console_info"]["type"] == "websocket"
        url = shown["console_info"]["url"]
        with connect(url, open_timeout=30) as ws:
            ws.send(b"\r")
            _read_until(ws, b"con-admin login:")
        assert ironic.get(f"/nodes/{uuid}").json()["console_enabled"] is True
        r = ironic.put(f"/nodes/{uuid}/states/console", json={"enabled": False})
        assert r.status_code == 202, r.text
        code, reason = _close_code(url)  # disabling revoked the node's tokens
        assert code == 4401, (code, reason)
        assert ironic.get(f"/nodes/{uuid}/states/console").json()["console_info"] is None
