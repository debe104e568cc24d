"""Where the image's bytes come from: upstream agents first, then the image server.

A :class:`Feed` fills buffers from the first live source of its list and
keeps an offset: when a source fails, the next one is asked for the rest
with ``Range: bytes=<offset>-`` and must answer 206 from that very byte, so
the bytes already written are never fetched twice nor skipped.  An upstream
agent is tried once (see agent/chain.py for when a stall is waited out);
the image server, always last, keeps its own retries and resumes.  The
feed notes each source's segment (``sources``) and each failure
(``failovers``) for the command's result.
"""

from __future__ import annotations

import http.client
import logging
import re
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from typing import Any

from barecloud.agent.chain import IDLE_HEADER

CONNECT_ATTEMPTS = 5
RESUMES = 5
PATIENCE = 6  # stall timeouts an upstream that is failing over itself gets
NOT_STARTED_POLL = 0.1  # a 404 from an upstream that has not started its write yet
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")

log = logging.getLogger(__name__)


class ImageError(Exception):
    """The download failed, the image does not fit, or its hash is not the expected one."""


class SourceError(Exception):
    """This source cannot give the rest of the image: on to the next one."""


def public_url(url: str) -> str:
    """A source's URL for results, errors and logs: a chain URL without its token, any
    URL without its query (a signed image URL's signature, a temporary URL's)."""
    parts = urllib.parse.urlsplit(url)
    if parts.path.startswith("/chain/"):
        return f"{parts.scheme}://{parts.netloc}"
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def content_range(value: str | None) -> tuple[int, int | None] | None:
    """``bytes 5-9/10`` → (5, 10); the total is None for ``*``."""
    match = _CONTENT_RANGE.fullmatch((value or "").strip())
    if match is None:
        return None
    return int(match.group(1)), None if match.group(3) == "*" else int(match.group(3))


class Download:
    """The image server: an HTTP GET from ``offset``, retried and resumed with Range."""

    def __init__(self, url: str, timeout: float, offset: int = 0,
                 on_resume: Callable[[BaseException], None] | None = None) -> None:
        self.url = url
        self.shown = public_url(url)  # without a signature, for errors and logs
        self.timeout = timeout
        self.offset = offset
        self.resumes_left = RESUMES
        self.on_resume = on_resume
        # No proxy from the environment: the image server is the service's.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._response = self._open()
        self.total: int | None = None
        length = self._response.headers.get("Content-Length")
        if offset:
            found = content_range(self._response.headers.get("Content-Range"))
            self.total = found[1] if found else None
            self.ranges = True
        else:
            self.total = int(length) if length and length.isdigit() else None
            self.ranges = self._response.headers.get("Accept-Ranges", "").lower() == "bytes"

    def _open(self) -> http.client.HTTPResponse:
        headers = {"Range": f"bytes={self.offset}-"} if self.offset else {}
        request = urllib.request.Request(self.url, headers=headers)
        delay = 1.0
        for attempt in range(1, CONNECT_ATTEMPTS + 1):
            try:
                response: http.client.HTTPResponse = self._opener.open(
                    request, timeout=self.timeout)
            except urllib.error.HTTPError as exc:
                exc.close()
                if exc.code < 500 or attempt == CONNECT_ATTEMPTS:
                    raise ImageError(f"cannot download {self.shown}: HTTP {exc.code} "
                                     f"{exc.reason}") from None
                problem = f"HTTP {exc.code}"
            except (OSError, http.client.HTTPException) as exc:
                if attempt == CONNECT_ATTEMPTS:
                    raise ImageError(f"cannot download {self.shown}: {exc}") from None
                problem = str(exc)
            else:
                if self.offset:
                    found = content_range(response.headers.get("Content-Range"))
                    if response.status != 206 or found is None or found[0] != self.offset:
                        response.close()
                        raise ImageError(
                            f"cannot resume {self.shown} at byte {self.offset}: the server "
                            f"answered {response.status} "
                            f"{response.headers.get('Content-Range') or ''}".rstrip()
                            + (", not 206" if response.status != 206 else ""))
                return response
            log.warning("download of %s: %s; retrying in %.0f s", self.shown, problem, delay)
            time.sleep(delay)
            delay = min(delay * 2, 15.0)
        raise AssertionError("unreachable")

    def read_some(self, buf: memoryview) -> int:
        """Bytes into ``buf`` (0 at the end of the image), resuming if the stream breaks."""
        while True:
            try:
                n = self._response.readinto(buf)
                if not n and self.total is not None and self.offset < self.total:
                    raise http.client.IncompleteRead(b"", self.total - self.offset)
            except (OSError, http.client.HTTPException) as exc:
                self._resume(exc)
                continue
            self.offset += n
            return n

    def _resume(self, exc: BaseException) -> None:
        where = f"at byte {self.offset}" + (f" of {self.total}" if self.total else "")
        if not self.ranges or self.resumes_left <= 0:
            raise ImageError(f"download of {self.shown} broke off {where}: {exc!r}") from None
        self.resumes_left -= 1
        log.warning("download of %s broke off %s (%r); resuming", self.shown, where, exc)
        self._response.close()
        if self.on_resume is not None:
            self.on_resume(exc)
        self._response = self._open()

    def close(self) -> None:
        self._response.close()


class Upstream:
    """An agent before this one in the chain: its ``/chain/<token>`` from ``offset``."""

    def __init__(self, url: str, offset: int, stall_timeout: float) -> None:
        self.url = url
        self.offset = offset
        self.stall_timeout = stall_timeout
        self.total: int | None = None
        self._conn: http.client.HTTPConnection | None = None
        self._response = self._open(first=True)

    def _open(self, *, first: bool) -> http.client.HTTPResponse:
        parts = urllib.parse.urlsplit(self.url)
        if parts.scheme != "http" or not parts.hostname:
            raise SourceError(f"not an http URL: {public_url(self.url)}")
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        until = time.monotonic() + self.stall_timeout
        while True:
            conn = http.client.HTTPConnection(parts.hostname, parts.port or 80,
                                              timeout=self.stall_timeout)
            try:
                conn.request("GET", path, headers={"Range": f"bytes={self.offset}-"})
                response = conn.getresponse()
            except BaseException:
                conn.close()
                raise
            # 404: its agent has not started this write yet, so ask again for a while;
            # anything but a 206 from our offset (410: its write failed): the next source.
            if response.status == 404 and first and time.monotonic() < until:
                conn.close()
                time.sleep(NOT_STARTED_POLL)
                continue
            found = content_range(response.getheader("Content-Range"))
            if response.status != 206 or found is None or found[0] != self.offset:
                conn.close()
                raise SourceError(f"HTTP {response.status} {response.reason}" + (
                    f" from byte {found[0]}, not {self.offset}"
                    if response.status == 206 and found else ""))
            self.total = found[1]
            self._conn = conn
            return response

    def read_some(self, buf: memoryview) -> int:
        """Bytes into ``buf`` as they come (0: the stream ended)."""
        while True:
            try:
                n = self._response.readinto1(buf)
            except TimeoutError:
                self._ask_again()
                continue
            self.offset += n
            return n

    def _ask_again(self) -> None:
        """No byte for ``stall_timeout``: stay only if the upstream answers a new request
        and has itself written nothing for a short while (it is failing over)."""
        stalled = f"no byte for {self.stall_timeout:g} s"
        self.close()
        try:
            response = self._open(first=False)
        except (OSError, http.client.HTTPException, SourceError) as exc:
            raise SourceError(f"{stalled}, then: {exc}") from None
        try:
            idle = float(response.getheader(IDLE_HEADER) or "")
        except ValueError:
            idle = None
        if idle is None or idle >= PATIENCE * self.stall_timeout:
            self.close()
            raise SourceError(stalled + ("" if idle is None else
                                         f" (it has written nothing for {idle:.0f} s)"))
        log.info("upstream %s: %s, but it answers and has been idle %.1f s itself: "
                 "waiting on", public_url(self.url), stalled, idle)
        self._response = response

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


class Feed:
    """The image's bytes from ``upstreams`` in order, then ``url``, failing over with
    Range requests; opens the first live source at once (so ``total`` is known)."""

    def __init__(self, url: str, upstreams: Sequence[str] = (), *, size: int | None = None,
                 timeout: float, stall_timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self.stall_timeout = stall_timeout
        self.offset = 0
        self.total: int | None = size
        self.sources: list[dict[str, Any]] = []
        self.failovers: list[dict[str, Any]] = []
        self._left = list(upstreams)
        self._source: Upstream | Download | None = None
        self._source_url = ""
        self._next()

    def _next(self) -> None:
        """Open the next source at the current offset; the image server is the last."""
        while self._left:
            url = self._left.pop(0)
            try:
                upstream = Upstream(url, self.offset, self.stall_timeout)
                if self.total is not None and upstream.total != self.total:
                    upstream.close()
                    raise SourceError(f"it has an image of {upstream.total} bytes, not "
                                      f"{self.total}")
            except (OSError, http.client.HTTPException, SourceError) as exc:
                self._failed(url, exc)
                continue
            self._use(url, upstream)
            return
        download = Download(self.url, self.timeout, self.offset, self._resumed)
        if self.total is not None and download.total is not None and (
                download.total != self.total):
            download.close()
            raise ImageError(f"image size mismatch: expected {self.total} bytes, the server "
                             f"sends {download.total}")
        self._use(self.url, download)

    def _use(self, url: str, source: Upstream | Download) -> None:
        if self.offset:
            log.info("image: resuming at byte %d from %s", self.offset, public_url(url))
        self._source, self._source_url = source, url
        self.total = self.total if self.total is not None else source.total
        self.sources.append({"url": public_url(url), "from": self.offset, "to": self.offset})

    def _failed(self, url: str, exc: BaseException) -> None:
        error = str(exc) or type(exc).__name__
        if isinstance(exc, TimeoutError):
            error = f"timed out ({error})"
        log.warning("image: source %s failed at byte %d: %s", public_url(url), self.offset,
                    error)
        self.failovers.append({"url": public_url(url), "at": self.offset, "error": error})

    def _resumed(self, exc: BaseException) -> None:
        """The image server broke off and resumes: a failover to itself."""
        self._failed(self.url, exc)
        self.sources.append({"url": public_url(self.url), "from": self.offset,
                             "to": self.offset})

    def fill(self, buf: memoryview) -> int:
        """Fill ``buf`` (less only at the end of the image); the bytes put in it."""
        got = 0
        while got < len(buf) and self._source is not None:
            source = self._source
            try:
                n = source.read_some(buf[got:])
                if (not n and isinstance(source, Upstream) and self.total is not None
                        and self.offset < self.total):
                    raise SourceError(f"the stream ended at byte {self.offset} of "
                                      f"{self.total}")
            except (OSError, http.client.HTTPException, SourceError) as exc:
                # Only an upstream gets here: the image server resumes itself or raises.
                source.close()
                self._source = None
                self._failed(self._source_url, exc)
                self._next()
                continue
            if not n:
                break
            got += n
            self.offset += n
            self.sources[-1]["to"] = self.offset
        return got

    def segments(self) -> list[dict[str, Any]]:
        """The sources that gave bytes, in order."""
        return [s for s in self.sources if s["to"] > s["from"]]

    def close(self) -> None:
        if self._source is not None:
            self._source.close()
