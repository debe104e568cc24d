"""Real HTTP servers on loopback for the agent's tests: files, and the service's agent API."""

from __future__ import annotations

import json
import os
import re
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

API_VERSION_HEADER = "X-OpenStack-Ironic-API-Version"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False


def _start(server: ThreadingHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    return thread


class FileServer:
    """Serves the files of ``root`` with sendfile, Range requests, and injected faults.

    ``break_after``: the first response stops after that many bytes and the
    connection closes (a download that breaks off).  ``rate``: bytes a
    second, to make a download last.  ``ranges``: whether Range is honoured.
    ``length``: whether to send Content-Length (else the end is the close).
    ``sent``: the bytes of files sent so far, over all requests.
    """

    def __init__(self, root: Path, *, break_after: int | None = None,
                 rate: int | None = None, ranges: bool = True, length: bool = True) -> None:
        self.root = root
        self.length = length
        self.break_after = break_after
        self.rate = rate
        self.ranges = ranges
        self.requests: list[dict[str, str]] = []  # path, headers (lower-case names)
        self.sent = 0
        self._sent_lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                outer.requests.append({"path": self.path,
                                       **{k.lower(): v for k, v in self.headers.items()}})
                name = urllib.parse.urlsplit(self.path).path.lstrip("/")
                path = outer.root / urllib.parse.unquote(name)
                if not path.is_file():
                    self.send_error(404)
                    return
                size = path.stat().st_size
                start = 0
                match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range", ""))
                if match and outer.ranges:
                    start = int(match.group(1))
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{size - 1}/{size}")
                else:
                    self.send_response(200)
                if outer.length:
                    self.send_header("Content-Length", str(size - start))
                if outer.ranges:
                    self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                count = size - start
                if outer.break_after is not None and len(outer.requests) == 1:
                    count = min(count, outer.break_after)
                with open(path, "rb") as f:
                    try:
                        if outer.rate:
                            self._throttled(f, start, count)
                        else:
                            outer.count(self.connection.sendfile(f, start, count))
                    except OSError:
                        pass  # the client went away
                self.close_connection = True

            def _throttled(self, f: Any, start: int, count: int) -> None:
                chunk = max(1, outer.rate // 20)  # type: ignore[operator]
                sent = 0
                while sent < count:
                    n = self.connection.sendfile(f, start + sent, min(chunk, count - sent))
                    outer.count(n)
                    sent += n
                    time.sleep(0.05)

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = _start(self._server)

    def count(self, n: int) -> None:
        with self._sent_lock:
            self.sent += n

    def url(self, name: str) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/{name}"

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Report:
    command_id: str
    body: dict[str, Any]


@dataclass
class FakeApi:
    """The service's agent endpoints (docs/design/provisioning.md), in memory.

    Hands out ``commands`` one at a time: each stays current (returned by
    every poll) until the agent posts a final report for it.
    """

    node_uuid: str
    macs: set[str]
    token: str
    commands: list[dict[str, Any]] = field(default_factory=list)
    lookups_before_found: int = 0
    token_in_lookup: bool = False
    reports: list[Report] = field(default_factory=list)
    heartbeats: list[dict[str, Any]] = field(default_factory=list)
    lookups: list[str] = field(default_factory=list)
    headers_seen: list[dict[str, str]] = field(default_factory=list)  # lower-case names
    current: dict[str, Any] | None = None
    changed: threading.Condition = field(default_factory=threading.Condition)

    def start(self) -> str:
        api = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(self, status: int, body: Any = None) -> None:
                data = b"" if body is None else json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, message: str) -> None:
                fault = json.dumps({"faultstring": message, "faultcode": "Client"})
                self._reply(status, {"error_message": fault})

            def _body(self) -> Any:
                length = int(self.headers.get("Content-Length") or 0)
                return json.loads(self.rfile.read(length)) if length else None

            def do_GET(self) -> None:
                self._dispatch("GET")

            def do_POST(self) -> None:
                self._dispatch("POST")

            def _dispatch(self, method: str) -> None:
                api.headers_seen.append({k.lower(): v for k, v in self.headers.items()})
                if self.headers.get(API_VERSION_HEADER) != "1.22":
                    self._error(406, "version header missing")
                    return
                url = urllib.parse.urlsplit(self.path)
                query = urllib.parse.parse_qs(url.query)
                parts = url.path.split("/")[3:]  # after /baremetal/v1
                token_ok = self.headers.get("X-Agent-Token") == api.token
                if method == "GET" and parts == ["lookup"]:
                    self._lookup(query.get("addresses", [""])[0])
                elif method == "POST" and parts[:1] == ["heartbeat"]:
                    body = self._body()
                    api.heartbeats.append(body)
                    if body.get("agent_token") != api.token:
                        self._error(401, "Invalid or missing agent token received.")
                    else:
                        self._reply(202)
                elif not token_ok:
                    self._error(401, "Invalid or missing agent token received.")
                elif method == "GET" and parts[:1] == ["agent"] and parts[2:] == ["command"]:
                    self._reply(200, {"command": api.next_command(
                        float(query.get("wait", ["0"])[0]))})
                elif method == "POST" and parts[:1] == ["agent"] and len(parts) == 4:
                    status, message = api.report(parts[3], self._body())
                    if status == 202:
                        self._reply(202)
                    else:
                        self._error(status, message)
                else:
                    self._error(404, f"no route {method} {url.path}")

            def _lookup(self, addresses: str) -> None:
                api.lookups.append(addresses)
                if len(api.lookups) <= api.lookups_before_found or not (
                        set(addresses.split(",")) & api.macs):
                    self._error(404, "Node with the given addresses could not be found.")
                    return
                self._reply(200, {
                    "node": {"uuid": api.node_uuid},
                    "config": {"heartbeat_timeout": 30,
                               "agent_token": api.token if api.token_in_lookup else "******",
                               "agent_token_required": True},
                })

        self._server = _Server(("127.0.0.1", 0), Handler)
        self._thread = _start(self._server)
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def next_command(self, wait: float) -> dict[str, Any] | None:
        until = time.monotonic() + min(wait, 2.0)
        with self.changed:
            while True:
                if self.current is None and self.commands:
                    self.current = self.commands.pop(0)
                if self.current is not None:
                    return self.current
                left = until - time.monotonic()
                if left <= 0:
                    return None
                self.changed.wait(left)

    def report(self, command_id: str, body: dict[str, Any]) -> tuple[int, str]:
        with self.changed:
            if self.current is None or self.current["id"] != command_id:
                return 409, f"command {command_id} is not the current one"
            self.reports.append(Report(command_id, body))
            if body.get("status") in ("succeeded", "failed"):
                self.current = None
            self.changed.notify_all()
        return 202, ""

    def final(self, command_id: str) -> dict[str, Any]:
        """The final report of a command."""
        finals = [r.body for r in self.reports
                  if r.command_id == command_id and r.body["status"] != "running"]
        assert len(finals) == 1, self.reports
        return finals[0]

    def wait_for(self, command_id: str, timeout: float = 30.0) -> dict[str, Any]:
        until = time.monotonic() + timeout
        with self.changed:
            while not any(r.command_id == command_id and r.body["status"] != "running"
                          for r in self.reports):
                left = until - time.monotonic()
                assert left > 0, f"no final report of {command_id}: {self.reports}"
                self.changed.wait(left)
        return self.final(command_id)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def sparse_file(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        f.truncate(size)
    return path


def random_file(path: Path, size: int) -> Path:
    with open(path, "wb") as f:
        left = size
        while left:
            chunk = os.urandom(min(left, 2**20))
            f.write(chunk)
            left -= len(chunk)
    return path
