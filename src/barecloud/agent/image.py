"""Stream an image from a URL onto a disk, checking its hash on the way.

Three stages hand a small fixed pool of buffers round: a reader thread
fills a buffer straight from the socket (``readinto``, no copy), a hasher
thread hashes it, the calling thread ``pwrite``s it and gives it back to the
pool.  Socket reads, hashlib on big buffers and ``os.pwrite`` all release
the GIL, so the stages run at once on different cores, and memory stays at
the pool's size (6 x 4 MiB) whatever the image's.  Every 32 MiB the writer
asks the kernel to start writing what it has to the disk
(``POSIX_FADV_DONTNEED``), so the disk works while the download goes on
instead of all at the final fsync, and the page cache of a ramdisk machine
does not fill up with the image.  The disk is fsynced before the result is
returned: a power-off right after must not lose the image.  A download
that breaks off resumes with a Range request where the server allows it.
"""

from __future__ import annotations

import hashlib
import http.client
import logging
import os
import queue
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

BUFFER_SIZE = 4 * 2**20
BUFFERS = 6
HASH_ALGOS = ("sha512", "sha256", "md5")
PROGRESS_EVERY = 1.0
WRITEBACK_EVERY = 32 * 2**20
TIMEOUT = 60.0
CONNECT_ATTEMPTS = 5
RESUMES = 5

Progress = Callable[[int, int | None], None]
# What goes down the pipeline: a filled buffer and its length, the end (None), or an error.
_Item = tuple[memoryview, int] | BaseException | None

log = logging.getLogger(__name__)


class ImageError(Exception):
    """The download failed, the image does not fit, or its hash is not the expected one."""


def write_image(url: str, disk: str, *, os_hash_algo: str = "sha512",
                os_hash_value: str | None = None, size: int | None = None,
                progress: Progress | None = None, buffer_size: int = BUFFER_SIZE,
                buffers: int = BUFFERS, timeout: float = TIMEOUT) -> dict[str, Any]:
    """Write the image at ``url`` to ``disk`` from its first byte; ``{"bytes", "seconds",
    "os_hash_value"}``.  Raises :class:`ImageError` on any failure."""
    if os_hash_algo not in HASH_ALGOS:
        raise ImageError(f"os_hash_algo must be one of {', '.join(HASH_ALGOS)}, "
                         f"not {os_hash_algo!r}")
    hasher = hashlib.new(os_hash_algo, usedforsecurity=False)
    started = time.monotonic()
    fd = os.open(disk, os.O_WRONLY | os.O_CLOEXEC)
    try:
        capacity = os.lseek(fd, 0, os.SEEK_END)
        source = _Download(url, timeout)
        total = source.total if source.total is not None else size
        try:
            if size is not None and source.total is not None and size != source.total:
                raise ImageError(f"image size mismatch: expected {size} bytes, the server "
                                 f"sends {source.total}")
            if total is not None and total > capacity:
                raise ImageError(f"image of {total} bytes is bigger than disk {disk} "
                                 f"({capacity} bytes)")
        except BaseException:
            source.close()
            raise
        written = _pipeline(source, fd, hasher, capacity, total, progress, buffer_size,
                            buffers)
        if size is not None and written != size:
            raise ImageError(f"image size mismatch: expected {size} bytes, got {written}")
        os.fsync(fd)
    finally:
        os.close(fd)
    digest = hasher.hexdigest()
    expected = (os_hash_value or "").strip().lower()
    if expected and digest != expected:
        raise ImageError(f"image checksum mismatch: expected {os_hash_algo} {expected}, "
                         f"got {digest}")
    seconds = time.monotonic() - started
    log.info("wrote %d bytes to %s in %.1f s (%.0f MiB/s), %s %s", written, disk, seconds,
             written / 2**20 / max(seconds, 1e-9), os_hash_algo, digest)
    return {"bytes": written, "seconds": round(seconds, 3), "os_hash_value": digest}


def _pipeline(source: _Download, fd: int, hasher: Any, capacity: int, total: int | None,
              progress: Progress | None, buffer_size: int, count: int) -> int:
    """Run the reader and hasher threads; write here.  The bytes written."""
    free: queue.SimpleQueue[memoryview | None] = queue.SimpleQueue()
    for _ in range(count):
        free.put(memoryview(bytearray(buffer_size)))
    hashing: queue.SimpleQueue[_Item] = queue.SimpleQueue()
    writing: queue.SimpleQueue[_Item] = queue.SimpleQueue()
    stop = threading.Event()

    def read() -> None:
        """Fill buffers until the end; own the download (close it when done)."""
        received = 0
        try:
            while not stop.is_set():
                buf = free.get()
                if buf is None or stop.is_set():
                    break
                n = source.fill(buf)
                received += n
                if received > capacity:
                    raise ImageError(f"image is bigger than the disk ({capacity} bytes)")
                if n:
                    hashing.put((buf, n))
                if n < len(buf):
                    break
            hashing.put(None)
        except BaseException as exc:  # handed to the writer, which raises it
            hashing.put(exc)
        finally:
            source.close()

    def digest() -> None:
        while True:
            item = hashing.get()
            if isinstance(item, tuple):
                hasher.update(item[0][:item[1]])
            writing.put(item)
            if not isinstance(item, tuple):
                return

    threads = [threading.Thread(target=read, name="image-read", daemon=True),
               threading.Thread(target=digest, name="image-hash", daemon=True)]
    for thread in threads:
        thread.start()
    written = 0
    advised = dropped = 0
    advise = True
    reported = time.monotonic()
    try:
        while True:
            item = writing.get()
            if item is None:
                break
            if isinstance(item, BaseException):
                raise item
            buf, n = item
            _pwrite_all(fd, buf[:n], written)
            written += n
            free.put(buf)
            if advise and written - advised >= WRITEBACK_EVERY:
                # Start writing this window to the disk now, and drop the window
                # before it (on the disk by now) from the page cache.
                try:
                    os.posix_fadvise(fd, dropped, written - dropped, os.POSIX_FADV_DONTNEED)
                except OSError:
                    advise = False  # not a file or block device: nothing to gain
                dropped, advised = advised, written
            if progress is not None and time.monotonic() - reported >= PROGRESS_EVERY:
                reported = time.monotonic()
                progress(written, total)
    finally:
        # On an error the reader stops after its current buffer and closes the
        # download; nothing here waits for a socket that may be slow to time out.
        stop.set()
        free.put(None)
    for thread in threads:
        thread.join()
    if progress is not None:
        progress(written, total)
    return written


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while data:
        n = os.pwrite(fd, data, offset)
        data, offset = data[n:], offset + n


class _Download:
    """An HTTP GET that fills buffers, resuming with Range when the stream breaks."""

    def __init__(self, url: str, timeout: float) -> None:
        self.url = url
        self.timeout = timeout
        self.offset = 0
        self.resumes_left = RESUMES
        # No proxy from the environment: the image server is the service's.
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self._response = self._open()
        length = self._response.headers.get("Content-Length")
        self.total: int | None = int(length) if length and length.isdigit() else None
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
                    raise ImageError(f"cannot download {self.url}: HTTP {exc.code} "
                                     f"{exc.reason}") from None
                problem = f"HTTP {exc.code}"
            except (OSError, http.client.HTTPException) as exc:
                if attempt == CONNECT_ATTEMPTS:
                    raise ImageError(f"cannot download {self.url}: {exc}") from None
                problem = str(exc)
            else:
                if self.offset and response.status != 206:
                    response.close()
                    raise ImageError(f"cannot resume {self.url} at byte {self.offset}: "
                                     f"the server answered {response.status}, not 206")
                return response
            log.warning("download of %s: %s; retrying in %.0f s", self.url, problem, delay)
            time.sleep(delay)
            delay = min(delay * 2, 15.0)
        raise AssertionError("unreachable")

    def fill(self, buf: memoryview) -> int:
        """Fill ``buf`` (less only at the end of the image); the bytes put in it."""
        got = 0
        while got < len(buf):
            try:
                n = self._response.readinto(buf[got:])
                if not n and self.total is not None and self.offset < self.total:
                    raise http.client.IncompleteRead(b"", self.total - self.offset)
            except (OSError, http.client.HTTPException) as exc:
                self._resume(exc)
                continue
            if not n:
                break
            got += n
            self.offset += n
        return got

    def _resume(self, exc: BaseException) -> None:
        where = f"at byte {self.offset}" + (f" of {self.total}" if self.total else "")
        if not self.ranges or self.resumes_left <= 0:
            raise ImageError(f"download of {self.url} broke off {where}: {exc!r}") from None
        self.resumes_left -= 1
        log.warning("download of %s broke off %s (%r); resuming", self.url, where, exc)
        self._response.close()
        self._response = self._open()

    def close(self) -> None:
        self._response.close()
