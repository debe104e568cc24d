"""The HTTP client against real servers: headers, Ironic error bodies, retries."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from barecloud.agent.client import ApiError, Client, Conflict, NotFound, Unauthorized
from tests.agent.servers import FakeApi


@pytest.fixture
def flaky() -> Iterator[tuple[str, list[dict[str, str]]]]:
    """A server answering 503 twice, then 200 with a JSON body."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            seen.append({k.lower(): v for k, v in self.headers.items()})
            status, body = (503, b"busy") if len(seen) <= 2 else (200, b'{"ok": true}')
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_retries_5xx_with_backoff(flaky: tuple[str, list[dict[str, str]]]) -> None:
    url, seen = flaky
    client = Client(url, "tok", max_backoff=0.1)
    assert client.call("GET", "/anything") == {"ok": True}
    assert len(seen) == 3
    assert seen[-1]["x-openstack-ironic-api-version"] == "1.22"
    assert seen[-1]["x-agent-token"] == "tok"
    seen.clear()
    with pytest.raises(ApiError, match="HTTP 503"):
        Client(url).call("GET", "/x", retry=False)
    assert len(seen) == 1


def test_connection_refused_without_retry_is_an_api_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(ApiError, match="Connection refused"):
        Client(f"http://127.0.0.1:{port}").call("GET", "/x", retry=False)


def test_ironic_errors_map_to_exceptions(
        fake_api: Callable[..., tuple[FakeApi, str]]) -> None:
    api, url = fake_api(commands=[{"id": "c1", "name": "erase", "params": {}}])
    client = Client(url + "/baremetal/v1", "wrong")
    assert client.base_url == url
    with pytest.raises(Unauthorized, match="HTTP 401: Invalid or missing agent token"):
        client.next_command(api.node_uuid, 0)
    client.token = api.token
    assert client.next_command(api.node_uuid, 0) == {"id": "c1", "name": "erase", "params": {}}
    with pytest.raises(Conflict, match="409"):
        client.report(api.node_uuid, "c9", "succeeded", retry=False)
    with pytest.raises(NotFound, match="could not be found"):
        client.call("GET", Client.lookup_path(["00:00:00:00:00:99"]), retry=False)
    client.report(api.node_uuid, "c1", "succeeded", result={"mode": "quick"})
    assert api.reports[-1].body == {"status": "succeeded", "result": {"mode": "quick"}}
    assert client.next_command(api.node_uuid, 0.2) is None
    assert api.headers_seen[-1]["user-agent"].startswith("barecloud-agent/")


def test_lookup_waits_for_the_node(fake_api: Callable[..., tuple[FakeApi, str]]) -> None:
    api, url = fake_api(lookups_before_found=1)
    found = Client(url, max_backoff=0.1).lookup(["52:54:00:10:00:01"])
    assert found["node"]["uuid"] == api.node_uuid
    assert len(api.lookups) == 2
