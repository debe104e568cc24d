"""The host agent's HTTP/1.1 client: asyncio streams, JSON, one kept-alive connection.

Hundreds of host agents share one process in the benchmark (and a
hypervisor's agent shares its event loop with the QEMU monitors), so there is
no thread per agent and no library a hypervisor would have to install.  A
client owns one connection, kept alive between calls and opened again after
any error; calls on one client take turns (an agent uses one client for its
long poll and another for its reports).  The caller decides what to retry:
:class:`TransportError` (connection refused or lost, timeout, a garbled
answer) and 5xx are worth it (:func:`retryable`), a 401 is
:class:`Unauthorized` and never is.  Deadlines are ``asyncio.timeout``, never
``asyncio.wait_for``: on Python 3.11 the latter swallows a cancellation that
arrives as the awaited call ends, and a fleet told to stop went on.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import urllib.parse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from barecloud import __version__
from barecloud.agent.client import ApiError, Unauthorized

__all__ = ["ApiError", "HttpClient", "TransportError", "Unauthorized", "download",
           "retryable"]

TIMEOUT = 30.0
MAX_JSON = 64 * 2**20  # a desired list of thousands of VMs fits; a runaway answer does not
MAX_HEAD = 64 * 2**10
CHUNK = 2**20
USER_AGENT = f"barecloud-host-agent/{__version__}"


class TransportError(ApiError):
    """No usable answer: connection refused or lost, a timeout, a garbled response."""

    def __init__(self, message: str) -> None:
        super().__init__(0, message)


def retryable(exc: BaseException) -> bool:
    """Whether trying again later may succeed: transport errors and 5xx."""
    return isinstance(exc, ApiError) and not isinstance(exc, Unauthorized) and (
        exc.status == 0 or exc.status >= 500)


class _Garbled(Exception):
    """The peer does not speak HTTP/1.1 as expected."""


@dataclass(frozen=True)
class _Target:
    scheme: str
    host: str
    port: int
    host_header: str
    path: str  # the base path, no trailing slash; or the full path and query of a URL

    @classmethod
    def parse(cls, url: str) -> _Target:
        parts = urllib.parse.urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"not an http(s) URL: {url!r}")
        port = parts.port or (443 if parts.scheme == "https" else 80)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        return cls(parts.scheme, parts.hostname, port, parts.netloc.rpartition("@")[2], path)

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        context = ssl.create_default_context() if self.scheme == "https" else None
        return await asyncio.open_connection(self.host, self.port, ssl=context,
                                             limit=MAX_HEAD)


class HttpClient:
    """JSON calls below ``base_url`` with ``Authorization: Bearer <credential>``."""

    def __init__(self, base_url: str, credential: str | None = None, *,
                 timeout: float = TIMEOUT) -> None:
        self._target = _Target.parse(base_url.rstrip("/") or base_url)
        self._base = self._target.path.rstrip("/")
        self.credential = credential
        self.timeout = timeout
        self.local_ip: str | None = None  # this end of the last connection: the host's IP
        self._conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._lock = asyncio.Lock()

    @property
    def base_url(self) -> str:
        return f"{self._target.scheme}://{self._target.host_header}{self._base}"

    async def call(self, method: str, path: str, body: Any = None, *,
                   timeout: float | None = None, content: bytes | None = None) -> Any:
        """The decoded JSON answer (None when empty) of one call; raises ApiError.
        ``content``: raw bytes to send instead of a JSON ``body``."""
        data = content if content is not None else (
            json.dumps(body).encode() if body is not None else None)
        kind = "application/octet-stream" if content is not None else "application/json"
        async with self._lock:
            status, headers, raw = await self._exchange(method, self._base + path, data,
                                                        timeout or self.timeout, kind)
        if 200 <= status < 300:
            if not raw.strip():
                return None
            try:
                return json.loads(raw)
            except ValueError:
                raise TransportError(f"{method} {path}: not JSON: {raw[:200]!r}") from None
        message = _error_message(raw) or headers.get("reason", "")
        if status == 401:
            raise Unauthorized(status, message)
        raise ApiError(status, f"{method} {path.split('?')[0]}: {message}")

    async def connect(self) -> None:
        """Open the connection now (so ``local_ip`` is known); TransportError if it fails."""
        async with self._lock:
            if self._conn is not None:
                return
            try:
                async with asyncio.timeout(self.timeout):
                    await self._open()
            except (OSError, TimeoutError) as exc:
                raise TransportError(f"connecting to {self.base_url}: {exc!r}") from None

    async def close(self) -> None:
        self._drop()

    async def _open(self) -> None:
        self._conn = await self._target.connect()
        sockname = self._conn[1].get_extra_info("sockname")
        if sockname:
            self.local_ip = str(sockname[0])

    async def _exchange(self, method: str, target: str, data: bytes | None,
                        timeout: float, kind: str = "application/json"
                        ) -> tuple[int, dict[str, str], bytes]:
        headers = {"Accept": "application/json"}
        if self.credential:
            headers["Authorization"] = f"Bearer {self.credential}"
        if data is not None:
            headers["Content-Type"] = kind
        request = _request(method, target, self._target.host_header, headers, data)
        for attempt in (1, 2):
            reused = self._conn is not None
            started = False  # whether any of the answer came back
            try:
                async with asyncio.timeout(timeout):
                    if self._conn is None:
                        await self._open()
                    assert self._conn is not None
                    reader, writer = self._conn
                    writer.write(request)
                    await writer.drain()
                    first = await reader.readline()
                    started = bool(first)
                    status, answer = await _read_head(reader, first)
                    collected = _Collector(MAX_JSON)
                    reusable = await _read_body(
                        reader, answer, collected.add, None,
                        head_only=method == "HEAD" or status in (204, 304))
            except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                    ValueError, _Garbled) as exc:
                self._drop()
                if reused and not started and attempt == 1:
                    continue  # the server had closed the kept-alive connection: once more
                raise TransportError(f"{method} {target.split('?')[0]}: {exc!r}") from None
            except TimeoutError:
                self._drop()
                raise TransportError(f"{method} {target.split('?')[0]}: no answer within "
                                     f"{timeout:g} s") from None
            except BaseException:  # cancelled mid-call: the connection is in an unknown state
                self._drop()
                raise
            if not reusable or answer.get("connection", "").lower() == "close":
                self._drop()
            return status, answer, collected.value()
        raise AssertionError("unreachable")

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn[1].close()


async def download(url: str, sink: Callable[[bytes], None], *, idle_timeout: float = 60.0,
                   max_redirects: int = 3) -> int:
    """GET ``url`` (no credential: it is signed), its body handed to ``sink`` piece by
    piece; the number of bytes.  ``idle_timeout``: the longest wait for any byte."""
    for _ in range(max_redirects + 1):
        target = _Target.parse(url)
        request = _request("GET", target.path, target.host_header,
                           {"Accept": "*/*", "Connection": "close"}, None)
        conn: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        try:
            async with asyncio.timeout(idle_timeout):
                conn = await target.connect()
                reader, writer = conn
                writer.write(request)
                await writer.drain()
            async with asyncio.timeout(idle_timeout):
                status, headers = await _read_head(reader, await reader.readline())
            if 300 <= status < 400 and headers.get("location"):
                url = urllib.parse.urljoin(url, headers["location"])
                continue
            if status != 200:
                body = _Collector(MAX_HEAD)
                with contextlib.suppress(_Garbled):
                    async with asyncio.timeout(idle_timeout):
                        await _read_body(reader, headers, body.add, None)
                message = _error_message(body.value())
                raise ApiError(status, f"GET {target.path.split('?')[0]}: {message}")
            count = 0

            def counted(piece: bytes) -> None:
                nonlocal count
                count += len(piece)
                sink(piece)

            await _read_body(reader, headers, counted, idle_timeout)
            return count
        except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError,
                ValueError, _Garbled, TimeoutError) as exc:
            raise TransportError(f"GET {target.path.split('?')[0]}: {exc!r}") from None
        finally:
            if conn is not None:
                conn[1].close()
    raise ApiError(310, f"more than {max_redirects} redirects from {url.split('?')[0]}")


class _Collector:
    """A body kept in memory, up to ``limit`` bytes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self.chunks: list[bytes] = []

    def add(self, piece: bytes) -> None:
        self.size += len(piece)
        if self.size > self.limit:
            raise _Garbled(f"answer bigger than {self.limit} bytes")
        self.chunks.append(piece)

    def value(self) -> bytes:
        return b"".join(self.chunks)


def _request(method: str, target: str, host: str, headers: dict[str, str],
             data: bytes | None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}", f"User-Agent: {USER_AGENT}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if data is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(data or b'')}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (data or b"")


async def _read_head(reader: asyncio.StreamReader, first: bytes) -> tuple[int, dict[str, str]]:
    """The status and headers (lower-case names; ``reason`` too), 1xx skipped."""
    while True:
        if not first:
            raise EOFError("connection closed before an answer")
        parts = first.decode("latin-1").rstrip("\r\n").split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise _Garbled(f"bad status line {first[:100]!r}")
        status = int(parts[1])
        headers = {"reason": parts[2] if len(parts) > 2 else ""}
        total = len(first)
        while True:
            line = await reader.readline()
            total += len(line)
            if total > MAX_HEAD:
                raise _Garbled("response head too long")
            if not line:
                raise EOFError("connection closed in the response head")
            if line in (b"\r\n", b"\n"):
                break
            name, sep, value = line.decode("latin-1").partition(":")
            if not sep:
                raise _Garbled(f"bad header line {line[:100]!r}")
            headers[name.strip().lower()] = value.strip()
        if not 100 <= status < 200:
            return status, headers
        first = await reader.readline()


async def _read_body(reader: asyncio.StreamReader, headers: dict[str, str],
                     sink: Callable[[bytes], None], idle: float | None, *,
                     head_only: bool = False) -> bool:
    """Hand the body to ``sink``; whether the connection can carry another request."""

    async def timed(read: Awaitable[bytes]) -> bytes:
        if not idle:
            return await read
        async with asyncio.timeout(idle):
            return await read

    if head_only:
        return True
    if "chunked" in headers.get("transfer-encoding", "").lower():
        while True:
            size_line = await timed(reader.readline())
            if not size_line.endswith(b"\n"):
                raise EOFError("connection closed in a chunked body")
            size = int(size_line.split(b";", 1)[0].strip(), 16)
            if size == 0:
                while (await timed(reader.readline())) not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return True
            left = size
            while left:
                piece = await timed(reader.read(min(left, CHUNK)))
                if not piece:
                    raise EOFError("connection closed in a chunk")
                sink(piece)
                left -= len(piece)
            await timed(reader.readexactly(2))
    if "content-length" in headers:
        left = int(headers["content-length"])
        while left > 0:
            piece = await timed(reader.read(min(left, CHUNK)))
            if not piece:
                raise EOFError(f"connection closed with {left} bytes of the body to come")
            sink(piece)
            left -= len(piece)
        return True
    while piece := await timed(reader.read(CHUNK)):  # the body ends with the connection
        sink(piece)
    return False


def _error_message(raw: bytes) -> str:
    """The message of a Nova (``{"unauthorized": {"message": ...}}``) or FastAPI
    (``{"detail": ...}``) error body, else its start."""
    try:
        body = json.loads(raw)
    except ValueError:
        return raw[:300].decode("utf-8", errors="replace").strip()
    if isinstance(body, dict):
        if "detail" in body:
            return str(body["detail"])
        for value in body.values():
            if isinstance(value, dict) and "message" in value:
                return str(value["message"])
    return str(body)[:300]
