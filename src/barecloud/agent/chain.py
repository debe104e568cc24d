"""The agent's chain server: it serves the image it is writing to the next machine.

Many machines get the same image; the image server's link would be the
bottleneck, so the service orders them in a chain and each agent *pulls*
from the one before it (Kadeploy3/Kastafior's pipelined broadcast).  Its
``write_image`` gets ``upstreams``: the chain URLs of the agents before it,
nearest first, then the image server last (``url``).  The protocol:

- ``GET <agent_url>/chain/<token>`` with ``Range: bytes=N-`` (or none: from
  byte 0) streams bytes N.. of the image the agent is writing, as soon as
  they are on its disk: 206 with ``Content-Range`` (200 without a Range),
  always ``Content-Length`` and ``Accept-Ranges: bytes``.  404: a token it
  does not know (yet: the agent may not have started that write, so a
  successor asks again for a while); 410: a write that failed, was replaced
  or sealed (the successor moves on at once); 416: a Range it cannot serve.
  The bytes are read back from the disk (page cache) in pieces of 256 KiB,
  so memory does not grow with the image.  ``X-Chain-Idle`` says how many
  seconds the agent has written nothing.
- The last byte is held back until the agent has verified the whole
  image's hash: a successor never completes from an upstream whose own
  image is bad.  If the agent's write fails (an error, a checksum
  mismatch), its open streams are cut short, and so are they when another
  command is about to change the disk (:meth:`ChainServer.seal`).
- Failover (agent/sources.py): a refused connection, an HTTP error or a
  stream that ends early sends the successor to its next upstream at once,
  resuming with a Range from the last byte it got; no byte for
  ``stall_timeout`` too, unless the upstream answers a second request and
  has itself been idle only briefly: it is failing over itself, and leaving
  it would pile the whole tail of the chain onto the head.  The image
  server is the last resort.
- Drain: before the machine goes down, :meth:`ChainServer.drain` waits for
  the open streams to end and one stream to have been served to the end,
  or for a grace period after the write when nobody came, never longer
  than a bound: a dead successor cannot keep the machine up.

The agent's address is its heartbeat's ``callback_url``,
``http://<ip>:<port>``, with the local address it uses to reach the service.
"""

from __future__ import annotations

import contextlib
import hmac
import logging
import os
import re
import socket
import threading
import time
import urllib.parse
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

PIECE = 256 * 2**10
DRAIN_GRACE = 20.0
DRAIN_LIMIT = 120.0
SEND_TIMEOUT = 60.0  # a successor that reads nothing for this long is dropped
IDLE_HEADER = "X-Chain-Idle"
TOKEN = re.compile(r"[A-Za-z0-9._~-]{1,200}")
_PATH = re.compile(r"/chain/([^/?#]+)")
_RANGE = re.compile(r"bytes=(\d+)-")

log = logging.getLogger(__name__)


class Source:
    """One write_image as served: bytes ``[0, written)`` of ``path`` are the image's.

    The writer calls :meth:`publish` after each write, then :meth:`finish`
    once the hash is verified, or :meth:`fail`.  Streams wait on ``cond``.
    """

    def __init__(self, token: str, path: str, size: int) -> None:
        self.token = token
        self.path = path
        self.size = size
        self.cond = threading.Condition()
        self.written = 0
        self.state = "writing"  # then "done" or "failed"
        self.error = ""
        self.changed = time.monotonic()  # the last byte written
        self.ended: float | None = None
        self.streams = 0  # open
        self.served = 0  # sent to the end
        self._sockets: set[socket.socket] = set()

    def publish(self, written: int) -> None:
        with self.cond:
            self.written = written
            self.changed = time.monotonic()
            self.cond.notify_all()

    def finish(self) -> None:
        """The image is written and its hash verified: serve the last byte too."""
        with self.cond:
            if self.state == "writing":
                self.state, self.ended = "done", time.monotonic()
                self.cond.notify_all()

    def fail(self, error: str) -> None:
        """Stop serving; open streams end short, so successors move to their next upstream."""
        with self.cond:
            if self.state == "failed":
                return
            self.state, self.error = "failed", error
            self.ended = self.ended or time.monotonic()
            self.cond.notify_all()
            self._cut()

    def idle(self) -> float:
        return time.monotonic() - self.changed

    def servable(self) -> int:
        """The end of what may be sent: all once verified, else all written but the last byte."""
        if self.state == "done":
            return self.size
        return max(0, min(self.written, self.size - 1))

    def _wait_beyond(self, pos: int, closed: threading.Event) -> int | None:
        """The end of what may be sent once it is beyond ``pos``; None: cut the stream."""
        with self.cond:
            while True:
                if self.state == "failed" or closed.is_set():
                    return None
                end = self.servable()
                if end > pos or self.state == "done":
                    return end
                self.cond.wait(1.0)

    def _opened(self, sock: socket.socket) -> None:
        with self.cond:
            self.streams += 1
            self._sockets.add(sock)
            if self.state == "failed":
                self._cut()

    def _closed(self, sock: socket.socket, complete: bool) -> None:
        with self.cond:
            self.streams -= 1
            self.served += complete
            self._sockets.discard(sock)
            self.cond.notify_all()

    def _cut(self) -> None:
        """Shut the open streams' sockets (a stream blocked sending wakes up too)."""
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    chain: ChainServer


class ChainServer:
    """Serves the current write_image's bytes at ``/chain/<token>``, one source at a time."""

    def __init__(self, port: int = 0, host: str = "0.0.0.0") -> None:
        self._lock = threading.Lock()
        self._source: Source | None = None
        self._gone: set[str] = set()  # tokens of writes that ended badly or were sealed
        self.closed = threading.Event()
        self._httpd = _HTTPServer((host, port), _Handler)
        self._httpd.chain = self
        self._thread = threading.Thread(target=self._httpd.serve_forever,
                                        kwargs={"poll_interval": 0.1}, name="chain-server",
                                        daemon=True)
        self._thread.start()

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def url_for(self, api_url: str) -> str | None:
        """``http://<ip>:<port>``: the address this machine reaches the service from."""
        ip = local_address(api_url)
        return f"http://{ip}:{self.port}" if ip else None

    def serve(self, token: str, path: str, size: int) -> Source:
        """Serve a new write of ``path`` at ``/chain/<token>``; it replaces the last one."""
        source = Source(token, path, size)
        with self._lock:
            old, self._source = self._source, source
            self._gone.discard(token)
            if old is not None and old.token != token:
                self._gone.add(old.token)
        if old is not None:
            old.fail("replaced by a new image")
        return source

    def find(self, token: str) -> Source | None:
        """The source served under ``token``: only the current write's (compared in
        constant time: the token is the successors' only credential)."""
        with self._lock:
            source = self._source
        if source is None or not hmac.compare_digest(source.token.encode(), token.encode()):
            return None
        return source

    def gone(self, token: str) -> bool:
        """Whether ``token``'s write failed or is no longer served (410, not 404)."""
        with self._lock:
            if token in self._gone:
                return True
            source = self._source
        return (source is not None and source.state == "failed"
                and hmac.compare_digest(source.token.encode(), token.encode()))

    def seal(self, limit: float = DRAIN_LIMIT) -> None:
        """Before another command changes the disk: let the open streams end (at most
        ``limit`` s), then stop serving; later requests get a 410."""
        with self._lock:
            source, self._source = self._source, None
            if source is not None:
                self._gone.add(source.token)
        if source is None:
            return
        started = time.monotonic()
        with source.cond:
            source.cond.wait_for(lambda: source.streams == 0 or source.state == "failed",
                                 timeout=limit)
            open_streams = source.streams
        if open_streams:
            log.warning("chain: %d stream(s) still open after %.0f s; cutting them",
                        open_streams, limit)
        elif time.monotonic() - started >= 0.1:
            log.info("chain: waited %.1f s for successors to finish before changing the disk",
                     time.monotonic() - started)
        source.fail("the disk is being changed")

    def drain(self, grace: float = DRAIN_GRACE, limit: float = DRAIN_LIMIT) -> str:
        """Wait before the machine goes down until the successors are served; what
        happened: ``served``, ``unused`` (nobody came in the grace after the write),
        ``timeout`` (streams still open after ``limit`` s) or ``nothing``."""
        with self._lock:
            source = self._source
        if source is None or source.state == "failed":
            return "nothing"
        started = time.monotonic()
        deadline = started + limit
        with source.cond:
            while True:
                now = time.monotonic()
                if source.streams == 0 and source.served:
                    outcome = "served"
                    break
                until = deadline
                if source.streams == 0 and source.ended is not None:
                    if now >= source.ended + grace:
                        outcome = "unused"
                        break
                    until = min(until, source.ended + grace)
                if now >= deadline:
                    outcome = "timeout"
                    break
                source.cond.wait(until - now)
            served, streams = source.served, source.streams
        waited = time.monotonic() - started
        if outcome == "served":
            log.info("chain: %d stream(s) served to the end (waited %.1f s)", served, waited)
        elif outcome == "unused":
            log.info("chain: no successor came for the image (waited %.1f s)", waited)
        else:
            log.warning("chain: %d stream(s) still open after %.0f s; going down anyway",
                        streams, waited)
        return outcome

    def close(self) -> None:
        """Stop the server and cut the open streams (the source itself is left alone)."""
        self.closed.set()
        with self._lock:
            source = self._source
        if source is not None:
            with source.cond:
                source.cond.notify_all()
                source._cut()
        self._httpd.shutdown()
        self._httpd.server_close()


@dataclass(frozen=True)
class Serving:
    """What ``write_image(serve=...)`` gets: the server, and the token to serve under."""

    server: ChainServer
    token: str

    def start(self, path: str, size: int) -> Source:
        return self.server.serve(self.token, path, size)


class _Handler(BaseHTTPRequestHandler):
    server: _HTTPServer
    timeout = SEND_TIMEOUT

    def setup(self) -> None:
        super().setup()
        # Small pieces go out at once: 32 hops must not each wait for a delayed ACK.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("chain: %s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        match = _PATH.fullmatch(self.path)
        token = urllib.parse.unquote(match.group(1)) if match else ""
        if self.server.chain.gone(token):
            self._empty(410)
            return
        source = self.server.chain.find(token)
        if source is None:
            self._empty(404)
            return
        start = 0
        asked = self.headers.get("Range")
        if asked is not None:
            wanted = _RANGE.fullmatch(asked.strip())
            if wanted is None or int(wanted.group(1)) >= source.size:
                self._empty(416, {"Content-Range": f"bytes */{source.size}"})
                return
            start = int(wanted.group(1))
        self.send_response(206 if asked is not None else 200)
        if asked is not None:
            self.send_header("Content-Range", f"bytes {start}-{source.size - 1}/{source.size}")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(source.size - start))
        self.send_header("Accept-Ranges", "bytes")
        self.send_header(IDLE_HEADER, f"{source.idle():.2f}")
        self.end_headers()
        self.close_connection = True
        self._stream(source, start)

    def _stream(self, source: Source, pos: int) -> None:
        """Send ``[pos, size)`` as it gets written; return early to cut the stream."""
        complete = False
        source._opened(self.connection)
        try:
            fd = os.open(source.path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                piece = memoryview(bytearray(PIECE))
                while pos < source.size:
                    end = source._wait_beyond(pos, self.server.chain.closed)
                    if end is None:
                        return
                    n = os.preadv(fd, [piece[:min(PIECE, end - pos)]], pos)
                    if n <= 0:
                        log.warning("chain: %s ends at byte %d", source.path, pos)
                        return
                    self.connection.sendall(piece[:n])
                    pos += n
                # Sent is not received: the last pieces may still sit in the socket and
                # the shaped link.  The successor closes its end once it has read the last
                # byte; only then is the stream served, so a drain that follows (and the
                # power-off after it) cannot cut bytes in flight.
                self.connection.shutdown(socket.SHUT_WR)
                self.connection.settimeout(SEND_TIMEOUT)
                while self.connection.recv(PIECE):
                    pass
                complete = True
            finally:
                os.close(fd)
        except OSError as exc:  # the successor went away, or the stream was cut
            log.debug("chain: stream to %s ended at byte %d: %s", self.address_string(), pos,
                      exc)
        finally:
            source._closed(self.connection, complete)

    def _empty(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.close_connection = True


def local_address(api_url: str) -> str | None:
    """The IPv4 address of the interface this machine uses to reach ``api_url``'s host
    (a UDP socket's connect sends nothing)."""
    parts = urllib.parse.urlsplit(api_url)
    if not parts.hostname:
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            parts.hostname, port, socket.AF_INET, socket.SOCK_DGRAM)[0]
        with socket.socket(family, kind, proto) as s:
            s.connect(address)
            return str(s.getsockname()[0])
    except (OSError, IndexError) as exc:
        log.warning("chain: no local address towards %s: %s", parts.hostname, exc)
        return None
