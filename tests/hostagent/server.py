"""The service's side of the host agent protocol, on asyncio streams, for the tests.

It implements the contract's two calls (docs/design/host-agent-protocol.md)
as the tests need them: reports recorded, desired lists the test sets
(each set bumps that host's generation and wakes its long poll), ``wait``
honoured, faults injected (``fail_next``), and files served under
``/images/`` with a download count.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

PREFIX = "/compute/barecloud-host-agent/v1"


@dataclass
class Host:
    credential: str
    generation: int = 0
    vms: list[dict[str, Any]] = field(default_factory=list)
    reports: list[dict[str, Any]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)


class ApiServer:
    def __init__(self, *, report_interval: float = 0.2, chunked: bool = False) -> None:
        self.report_interval = report_interval
        self.chunked = chunked  # answer API calls with Transfer-Encoding: chunked
        self.hosts: dict[str, Host] = {}
        self.files: dict[str, bytes] = {}
        self.downloads: Counter[str] = Counter()
        self.requests: list[tuple[str, str, dict[str, str]]] = []  # method, path, headers
        self.connections = 0
        self.faults: list[tuple[str, int]] = []  # (path prefix, status), served once each
        self.served_faults: list[tuple[str, int]] = []
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[Any]] = set()
        self.url = ""

    async def start(self) -> ApiServer:
        self._server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in self._handlers:
                task.cancel()
            await asyncio.gather(*self._handlers, return_exceptions=True)
            await self._server.wait_closed()

    # -- what tests do ---------------------------------------------------------

    def add_host(self, credential: str) -> Host:
        host = self.hosts[credential] = Host(credential)
        return host

    def set_desired(self, credential: str, vms: list[dict[str, Any]]) -> int:
        host = self.hosts[credential]
        host.vms = [dict(vm) for vm in vms]
        host.generation += 1
        host.changed.set()
        host.changed = asyncio.Event()
        return host.generation

    def fail_next(self, path_prefix: str, status: int) -> None:
        self.faults.append((path_prefix, status))

    # -- HTTP ------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader,
                          writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            while True:
                line = await reader.readline()
                if not line:
                    return
                method, target, _ = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (header := await reader.readline()) not in (b"\r\n", b""):
                    name, _, value = header.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", 0)))
                self.requests.append((method, target, headers))
                status, answer, raw = await self._handle(method, target, headers, body)
                if raw is None:
                    raw = json.dumps(answer).encode()
                self._write(writer, status, raw)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._handlers.discard(task)
            writer.close()

    def _write(self, writer: asyncio.StreamWriter, status: int, raw: bytes) -> None:
        head = f"HTTP/1.1 {status} X\r\ncontent-type: application/json\r\n"
        if self.chunked:
            head += "transfer-encoding: chunked\r\n\r\n"
            parts = [raw[i:i + 7] for i in range(0, len(raw), 7)]
            writer.write(head.encode() + b"".join(
                f"{len(p):x};ext=1\r\n".encode() + p + b"\r\n" for p in parts) + b"0\r\n\r\n")
        else:
            writer.write(f"{head}content-length: {len(raw)}\r\n\r\n".encode() + raw)

    async def _handle(self, method: str, target: str, headers: dict[str, str],
                      body: bytes) -> tuple[int, Any, bytes | None]:
        url = urllib.parse.urlsplit(target)
        for fault in self.faults:
            if url.path.startswith(fault[0]):
                self.faults.remove(fault)
                self.served_faults.append(fault)
                return fault[1], {"error": "injected"}, None
        if url.path.startswith("/images/"):
            name = url.path[len("/images/"):]
            if name not in self.files:
                return 404, {"error": "no such file"}, None
            self.downloads[name] += 1
            return 200, None, self.files[name]
        auth = headers.get("authorization", "")
        host = self.hosts.get(auth.removeprefix("Bearer ")) if auth.startswith("Bearer ") \
            else None
        if host is None:
            return 401, {"unauthorized": {"code": 401, "message": "bad credential"}}, None
        if method == "POST" and url.path == PREFIX + "/report":
            host.reports.append(json.loads(body))
            return 200, {"hypervisor": {"uuid": host.credential.split(".")[1],
                                        "hostname": "hv1"},
                         "generation": host.generation,
                         "report_interval": self.report_interval}, None
        if method == "GET" and url.path == PREFIX + "/desired":
            query = urllib.parse.parse_qs(url.query)
            since = int(query["since"][0])
            wait = min(float(query.get("wait", ["30"])[0]), 30.0)
            if host.generation <= since:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(host.changed.wait(), wait)
            return 200, {"generation": host.generation, "vms": host.vms}, None
        return 404, {"itemNotFound": {"code": 404, "message": "no such call"}}, None
