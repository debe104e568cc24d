"""Request limits, played by an attacker against a real service over real sockets:
oversized bodies (declared or streamed) get a 413 in the service's own error
format and are not read, slow clients are cut off, a client that hangs up
mid-body is one log line, and errors quote no more than a prefix of the input."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests import support

CAP = 1024 * 1024  # image_size_cap in these tests
TIMEOUT = 1.0  # the header and body time-outs in these tests
NODE = "1be26c0b-03f2-4d2c-ae87-c02d7a1d7a5e"


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Service]:
    service = support.start_service(
        tmp_path_factory.mktemp("limits"), auth="keystone",
        extra_env={"BARECLOUD_IMAGE_SIZE_CAP": str(CAP),
                   "BARECLOUD_API_HEADER_TIMEOUT": str(TIMEOUT),
                   "BARECLOUD_API_BODY_TIMEOUT": str(TIMEOUT)})
    try:
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="module")
def token(svc: support.Service) -> str:
    return svc.token()


def _nova(body: dict[str, Any]) -> tuple[int, str]:
    return body["overLimit"]["code"], body["overLimit"]["message"]


def _keystone(body: dict[str, Any]) -> tuple[int, str]:
    return body["error"]["code"], body["error"]["message"]


def _glance(body: dict[str, Any]) -> tuple[int, str]:
    return int(body["code"].split()[0]), body["message"]


def _neutron(body: dict[str, Any]) -> tuple[int, str]:
    assert body["NeutronError"]["type"] == "HTTPRequestEntityTooLarge"
    return 413, body["NeutronError"]["message"]


def _blazar(body: dict[str, Any]) -> tuple[int, str]:
    return body["error_code"], body["error_message"]


def _ironic(body: dict[str, Any]) -> tuple[int, str]:
    return 413, json.loads(body["error_message"])["faultstring"]


# Every API, and the agent's endpoints, which answer without a token.
APIS: list[tuple[str, str, Callable[[dict[str, Any]], tuple[int, str]]]] = [
    ("POST", "/compute/v2.1/servers", _nova),
    ("POST", "/identity/v3/auth/tokens", _keystone),
    ("POST", "/image/v2/images", _glance),
    ("POST", "/network/v2.0/networks", _neutron),
    ("POST", "/reservation/v1/leases", _blazar),
    ("POST", "/baremetal/v1/nodes", _ironic),
    ("POST", f"/baremetal/v1/heartbeat/{NODE}", _ironic),
    ("POST", f"/baremetal/v1/agent/{NODE}/command/c-1", _ironic),
]


def _connect(svc: support.Service) -> socket.socket:
    url = urlsplit(svc.url)
    sock = socket.create_connection((url.hostname, url.port), timeout=10)
    return sock


def _read_response(sock: socket.socket, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of the one response on ``sock`` (read until it closes
    or the body is in)."""
    sock.settimeout(timeout)
    raw = b""
    while b"\r\n\r\n" not in raw:
        chunk = sock.recv(65536)
        if not chunk:
            break
        raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1]) if lines[0] else 0
    headers = {k.strip().lower(): v.strip() for k, v in
               (line.split(":", 1) for line in lines[1:] if ":" in line)}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return status, headers, body


def _closed(sock: socket.socket, within: float) -> bool:
    """Whether the server closes ``sock`` within ``within`` seconds (what it may have
    written first is read and dropped)."""
    sock.settimeout(within)
    try:
        while sock.recv(65536):
            pass
        return True
    except TimeoutError:
        return False
    except ConnectionResetError:
        return True


@pytest.mark.parametrize(("method", "path", "fault"), APIS, ids=[p for _, p, _ in APIS])
def test_a_declared_oversize_body_is_refused_before_it_is_read(
        svc: support.Service, method: str, path: str,
        fault: Callable[[dict[str, Any]], tuple[int, str]]) -> None:
    # A terabyte announced, not a byte sent: the answer comes at once.
    with _connect(svc) as sock:
        sock.sendall(f"{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     f"\r\nContent-Length: {2**40}\r\n\r\n".encode())
        started = time.monotonic()
        status, headers, body = _read_response(sock)
        assert time.monotonic() - started < 5
    assert status == 413
    assert headers["connection"] == "close"
    code, message = fault(json.loads(body))
    assert code == 413
    assert message and len(body) < 1024


# The agent's endpoints refuse an unknown node or token before they read a body.
STREAMED = APIS[:6]


@pytest.mark.parametrize(("method", "path", "fault"), STREAMED,
                         ids=[p for _, p, _ in STREAMED])
def test_a_streamed_body_over_the_limit_is_cut_off(
        svc: support.Service, token: str, method: str, path: str,
        fault: Callable[[dict[str, Any]], tuple[int, str]]) -> None:
    # Chunked, no length: 2 MB of a JSON name, sent until the service stops reading.
    sent = 0

    def body() -> Iterator[bytes]:
        nonlocal sent
        yield b'{"name": "'
        for _ in range(200):
            sent += 10_000
            yield b"x" * 10_000
        yield b'"}'

    rsp = httpx.request(method, svc.url + path, content=body(), timeout=30,
                        headers={"X-Auth-Token": token, "Content-Type": "application/json"})
    assert rsp.status_code == 413, rsp.text
    code, message = fault(rsp.json())
    assert code == 413 and message
    assert "xxxx" not in rsp.text and len(rsp.content) < 1024


def test_an_image_upload_over_the_cap_is_cut_off(svc: support.Service, token: str) -> None:
    headers = {"X-Auth-Token": token}
    image = httpx.post(f"{svc.url}/image/v2/images", headers=headers, timeout=30, json={
        "name": "big", "disk_format": "raw", "container_format": "bare"}).json()

    def body() -> Iterator[bytes]:
        for _ in range(2 * CAP // 65536):
            yield b"\0" * 65536

    rsp = httpx.put(f"{svc.url}/image/v2/images/{image['id']}/file", content=body(),
                    headers={**headers, "Content-Type": "application/octet-stream"},
                    timeout=30)
    assert rsp.status_code == 413, rsp.text
    assert rsp.json()["code"] == "413 Request Entity Too Large"
    assert "too large" in rsp.json()["message"]
    after = httpx.get(f"{svc.url}/image/v2/images/{image['id']}", headers=headers,
                      timeout=30).json()
    assert after["status"] == "killed"
    # Under the cap, an upload is streamed in as before.
    small = httpx.post(f"{svc.url}/image/v2/images", headers=headers, timeout=30, json={
        "name": "small", "disk_format": "raw", "container_format": "bare"}).json()
    rsp = httpx.put(f"{svc.url}/image/v2/images/{small['id']}/file", content=b"\1" * CAP,
                    headers={**headers, "Content-Type": "application/octet-stream"},
                    timeout=30)
    assert rsp.status_code == 204, rsp.text


def test_a_body_under_the_limit_is_served(svc: support.Service, token: str) -> None:
    # 100 KB of JSON fits the 112 KiB limit: the handler sees it (and refuses the name).
    rsp = httpx.post(f"{svc.url}/compute/v2.1/flavors", headers={"X-Auth-Token": token},
                     json={"flavor": {"name": "x" * 100_000, "ram": 1, "vcpus": 1, "disk": 1}},
                     timeout=30)
    assert rsp.status_code == 400, rsp.text
    assert len(rsp.content) < 1024  # it quoted a prefix of the name, not the name twice
    assert "x" * 64 + "..." in rsp.json()["badRequest"]["message"]


def test_a_silent_connection_is_closed(svc: support.Service) -> None:
    with _connect(svc) as sock:
        assert _closed(sock, within=TIMEOUT + 4)


def test_half_the_headers_are_cut_off(svc: support.Service) -> None:
    with _connect(svc) as sock:
        sock.sendall(b"POST /compute/v2.1/servers HTTP/1.1\r\nHost: x\r\nX-Auth-")
        started = time.monotonic()
        status, _, _ = _read_response(sock, timeout=TIMEOUT + 4)
        assert status == 408
        assert time.monotonic() - started < TIMEOUT + 4
        assert _closed(sock, within=2)


def test_headers_sent_slowly_are_cut_off(svc: support.Service) -> None:
    # One header line every half time-out: each byte keeps it alive, the deadline not.
    with _connect(svc) as sock:
        sock.sendall(b"GET /identity/v3 HTTP/1.1\r\n")
        started = time.monotonic()
        try:
            for i in range(int(4 * TIMEOUT / 0.5)):
                sock.sendall(f"X-Slow-{i}: 1\r\n".encode())
                time.sleep(0.5)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert _closed(sock, within=TIMEOUT + 4)
        assert time.monotonic() - started < 4 * TIMEOUT + 4


def test_keep_alive_requests_still_work(svc: support.Service) -> None:
    # The header timer restarts with each request on one connection.
    with httpx.Client(base_url=svc.url, timeout=10) as client:
        for _ in range(3):
            assert client.get("/identity/v3").status_code == 200
            time.sleep(TIMEOUT * 0.6)


@pytest.mark.parametrize(("path", "code_of"), [
    ("/identity/v3/auth/tokens", lambda b: b["error"]["code"]),
    ("/compute/v2.1/servers", lambda b: b["computeFault"]["code"]),
    ("/baremetal/v1/nodes", lambda b: "timed out" not in b["error_message"] and 408),
    ("/network/v2.0/networks", lambda b: b["NeutronError"]["type"] == "HTTPRequestTimeout"
     and 408),
])
def test_half_a_body_is_cut_off_with_408(svc: support.Service, token: str, path: str,
                                         code_of: Callable[[dict[str, Any]], Any]) -> None:
    with _connect(svc) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"X-Auth-Token: {token}\r\nContent-Length: 1000\r\n\r\n{{\"a\": ".encode())
        started = time.monotonic()
        status, headers, body = _read_response(sock, timeout=TIMEOUT + 4)
        assert status == 408
        assert TIMEOUT * 0.9 < time.monotonic() - started < TIMEOUT + 4
        assert headers["connection"] == "close"
        assert code_of(json.loads(body)) == 408
        assert _closed(sock, within=2)


def test_a_body_left_unread_cannot_be_dripped_forever(svc: support.Service) -> None:
    # A heartbeat for no node is answered at once; the rest of its body, sent a
    # byte at a time, does not keep the connection.
    with _connect(svc) as sock:
        sock.sendall(f"POST /baremetal/v1/heartbeat/{NODE} HTTP/1.1\r\nHost: x\r\n"
                     "Content-Length: 1000\r\n\r\n".encode())
        started = time.monotonic()
        try:
            for _ in range(int(6 * TIMEOUT / 0.3)):
                sock.sendall(b" ")
                time.sleep(0.3)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert _closed(sock, within=TIMEOUT + 4)
        assert time.monotonic() - started < 6 * TIMEOUT


def test_a_body_dripped_slowly_is_cut_off(svc: support.Service) -> None:
    # A byte every half time-out: a JSON body must be in within the time-out.
    with _connect(svc) as sock:
        sock.sendall(b"POST /identity/v3/auth/tokens HTTP/1.1\r\nHost: x\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n")
        started = time.monotonic()
        try:
            for _ in range(int(6 * TIMEOUT / 0.5)):
                sock.sendall(b" ")
                time.sleep(0.5)
        except (BrokenPipeError, ConnectionResetError):
            pass
        assert _closed(sock, within=TIMEOUT + 4)
        assert time.monotonic() - started < 6 * TIMEOUT


def _hang_up_mid_body(svc: support.Service, path: str, headers: str = "") -> None:
    with _connect(svc) as sock:
        sock.sendall(f"POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     f"{headers}Content-Length: 50000\r\n\r\n".encode() + b"{" * 1000)
        time.sleep(0.2)


def test_a_client_that_hangs_up_mid_body_is_one_log_line(svc: support.Service,
                                                         token: str) -> None:
    before = len(svc.log().splitlines())
    _hang_up_mid_body(svc, "/identity/v3/auth/tokens")
    _hang_up_mid_body(svc, "/compute/v2.1/servers", f"X-Auth-Token: {token}\r\n")
    image = httpx.post(f"{svc.url}/image/v2/images", headers={"X-Auth-Token": token},
                       timeout=30, json={"name": "cut", "disk_format": "raw",
                                         "container_format": "bare"}).json()
    with _connect(svc) as sock:
        sock.sendall(f"PUT /image/v2/images/{image['id']}/file HTTP/1.1\r\nHost: x\r\n"
                     f"X-Auth-Token: {token}\r\nContent-Type: application/octet-stream\r\n"
                     "Content-Length: 500000\r\n\r\n".encode() + b"\0" * 100_000)
        time.sleep(0.5)
    time.sleep(1.5)
    new = svc.log().splitlines()[before:]
    assert "Traceback" not in "\n".join(new)
    assert len([line for line in new if "hung up" in line]) == 3, new
    assert len(new) == 3, new


def _peak_rss_kb(pid: int) -> int:
    """The process's peak resident memory so far (VmHWM): a body read whole and
    freed again still shows."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def _pour(svc: support.Service, head: str, total: int, *, chunked: bool = False) -> int:
    """Send ``head`` then up to ``total`` bytes of body (in 1 MiB chunks of the
    chunked encoding if ``chunked``); how many went before the service stopped
    taking them."""
    sent = 0
    chunk = b"x" * (1 << 20)
    if chunked:
        chunk = b"%x\r\n%s\r\n" % (len(chunk), chunk)
    with _connect(svc) as sock:
        sock.settimeout(10)
        try:
            sock.sendall(head.encode())
            while sent < total:
                sock.sendall(chunk)
                sent += 1 << 20
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass
    return sent


def test_200_megabytes_do_not_raise_the_services_memory(svc: support.Service,
                                                        token: str) -> None:
    total = 200 * 2**20
    pid = svc.proc.pid
    before = _peak_rss_kb(pid)
    # Declared, to Compute with a token and to a heartbeat without one.
    _pour(svc, f"POST /compute/v2.1/servers HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token}\r\n"
               f"Content-Type: application/json\r\nContent-Length: {total}\r\n\r\n", total)
    _pour(svc, f"POST /baremetal/v1/heartbeat/{NODE} HTTP/1.1\r\nHost: x\r\n"
               f"Content-Type: application/json\r\nContent-Length: {total}\r\n\r\n", total)
    # Chunked, so no length to refuse up front: the reading stops at the limit.
    sent = _pour(svc, "POST /identity/v3/auth/tokens HTTP/1.1\r\nHost: x\r\nContent-Type: "
                      "application/json\r\nTransfer-Encoding: chunked\r\n\r\n", total,
                 chunked=True)
    after = _peak_rss_kb(pid)
    assert after - before < 50 * 1024, (before, after)
    assert sent < total  # the service stopped reading


def test_errors_quote_a_prefix_of_the_input(svc: support.Service, token: str) -> None:
    headers = {"X-Auth-Token": token}
    big = "y" * 100_000
    name = f"q-{uuid.uuid4().hex[:8]}"
    cases: list[tuple[str, str, Any]] = [
        ("POST", "/compute/v2.1/servers", {"server": {"name": big[:100_000 - 100]}}),
        ("POST", "/compute/v2.1/servers", {"server": big}),
        ("POST", "/compute/v2.1/os-keypairs", {"keypair": {"name": big}}),
        ("POST", "/baremetal/v1/nodes", {"driver": big}),
        ("POST", "/baremetal/v1/ports", {"address": big, "node_uuid": NODE}),
        ("POST", "/image/v2/images", {"name": big}),
        ("POST", "/image/v2/images", {"name": name, "disk_format": big}),
        ("POST", "/network/v2.0/networks", {"network": {"name": big}}),
        ("POST", "/identity/v3/users", {"user": {"name": big}}),
        ("POST", "/identity/v3/projects", {"project": {"name": big}}),
        ("GET", "/compute/v2.1/servers/" + "y" * 8000, None),
        ("GET", "/baremetal/v1/nodes/" + "y" * 8000, None),
        ("GET", "/image/v2/images?created_at=" + "y" * 8000, None),
        ("GET", "/baremetal/v1/nodes?limit=" + "y" * 8000, None),
        ("GET", "/identity/v3/users/" + "y" * 8000, None),
        ("GET", "/network/v2.0/networks/" + "y" * 8000, None),
        ("GET", "/reservation/v1/leases/" + "y" * 8000, None),
    ]
    for method, path, body in cases:
        rsp = httpx.request(method, svc.url + path, json=body, headers=headers, timeout=30)
        assert 400 <= rsp.status_code < 500, (path, rsp.status_code, rsp.text[:300])
        assert len(rsp.content) < 1024, (path, rsp.text[:300])
        assert "y" * 65 not in rsp.text, (path, rsp.text[:300])
