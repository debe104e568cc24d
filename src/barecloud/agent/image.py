"""Stream an image from a URL onto a disk, checking its hash on the way.

Three stages hand a small fixed pool of buffers round: a reader thread
fills a buffer from the socket (the image server's with ``readinto``, no
copy), a hasher
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

In a chain (``upstreams``, ``serve``: agent/chain.py) the bytes come from
the agents before this one first (agent/sources.py), and each buffer is
published to the chain server as soon as it is written, for the next
machine to pull.  Every hop adds a buffer's worth of latency to a chain 32
or more deep, so the buffers are small then (32 x 256 KiB), and the pages
the next machine is about to read are not dropped: only those more than
64 MiB behind the writer.  The last byte is served only once the hash is
verified.
"""

from __future__ import annotations

import hashlib
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from barecloud.agent.chain import Serving, Source
from barecloud.agent.sources import Feed
from barecloud.agent.sources import ImageError as ImageError  # raised by write_image

BUFFER_SIZE = 4 * 2**20
BUFFERS = 6
CHAIN_BUFFER_SIZE = 256 * 2**10
CHAIN_BUFFERS = 32
HASH_ALGOS = ("sha512", "sha256", "md5")
PROGRESS_EVERY = 1.0
WRITEBACK_EVERY = 32 * 2**20
SERVE_KEEP = 64 * 2**20  # page cache kept behind the writer for the next machine
TIMEOUT = 60.0
STALL_TIMEOUT = 10.0

Progress = Callable[[int, int | None], None]
# What goes down the pipeline: a filled buffer and its length, the end (None), or an error.
_Item = tuple[memoryview, int] | BaseException | None

log = logging.getLogger(__name__)


def write_image(url: str, disk: str, *, os_hash_algo: str = "sha512",
                os_hash_value: str | None = None, size: int | None = None,
                progress: Progress | None = None, buffer_size: int | None = None,
                buffers: int | None = None, timeout: float = TIMEOUT,
                upstreams: Sequence[str] = (), serve: Serving | None = None,
                stall_timeout: float = STALL_TIMEOUT) -> dict[str, Any]:
    """Write the image at ``url`` to ``disk`` from its first byte; ``{"bytes", "seconds",
    "os_hash_value"}``, and ``sources`` and ``failovers`` in a chain.  ``upstreams``:
    chain URLs tried before ``url``; ``serve``: serve what is written (needs the size:
    ``size``, or the source's).  Raises :class:`ImageError` on any failure."""
    if os_hash_algo not in HASH_ALGOS:
        raise ImageError(f"os_hash_algo must be one of {', '.join(HASH_ALGOS)}, "
                         f"not {os_hash_algo!r}")
    chained = bool(upstreams) or serve is not None
    buffer_size = buffer_size or (CHAIN_BUFFER_SIZE if chained else BUFFER_SIZE)
    buffers = buffers or (CHAIN_BUFFERS if chained else BUFFERS)
    hasher = hashlib.new(os_hash_algo, usedforsecurity=False)
    started = time.monotonic()
    served: Source | None = None
    try:
        if serve is not None and size is not None:
            served = serve.start(disk, size)  # at once: the next machine may be asking
        fd = os.open(disk, os.O_WRONLY | os.O_CLOEXEC)
        try:
            capacity = os.lseek(fd, 0, os.SEEK_END)
            feed = Feed(url, upstreams, size=size, timeout=timeout,
                        stall_timeout=stall_timeout)
            total = feed.total
            try:
                if total is not None and total > capacity:
                    raise ImageError(f"image of {total} bytes is bigger than disk {disk} "
                                     f"({capacity} bytes)")
                if serve is not None and served is None:
                    if total is None:
                        log.warning("image: size unknown, so not serving it to the chain")
                    else:
                        served = serve.start(disk, total)
            except BaseException:
                feed.close()
                raise
            written = _pipeline(feed, fd, hasher, capacity, total, progress, buffer_size,
                                buffers, served)
            if size is not None and written != size:
                raise ImageError(f"image size mismatch: expected {size} bytes, got {written}")
            digest = hasher.hexdigest()
            expected = (os_hash_value or "").strip().lower()
            if expected and digest != expected:
                raise ImageError(f"image checksum mismatch: expected {os_hash_algo} "
                                 f"{expected}, got {digest}")
            if served is not None:
                served.finish()
            os.fsync(fd)
        finally:
            os.close(fd)
    except BaseException as exc:
        if served is not None:
            served.fail(str(exc) or repr(exc))
        raise
    seconds = time.monotonic() - started
    log.info("wrote %d bytes to %s in %.1f s (%.0f MiB/s), %s %s", written, disk, seconds,
             written / 2**20 / max(seconds, 1e-9), os_hash_algo, digest)
    # Where the bytes came from, chained or not: the batch report shows it per machine.
    result: dict[str, Any] = {"bytes": written, "seconds": round(seconds, 3),
                              "os_hash_value": digest, "sources": feed.segments(),
                              "failovers": feed.failovers}
    if chained:
        log.info("image sources: %s", ", ".join(
            f"{s['url']} [{s['from']}, {s['to']})" for s in result["sources"]))
    return result


def _pipeline(source: Feed, fd: int, hasher: Any, capacity: int, total: int | None,
              progress: Progress | None, buffer_size: int, count: int,
              served: Source | None) -> int:
    """Run the reader and hasher threads; write here (and publish).  The bytes written."""
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
    behind = SERVE_KEEP if served is not None else 0
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
            if served is not None:
                served.publish(written)
            upto = written - behind
            if advise and upto - advised >= WRITEBACK_EVERY:
                # Start writing this window to the disk now, and drop the window
                # before it (on the disk by now) from the page cache.
                try:
                    os.posix_fadvise(fd, dropped, upto - dropped, os.POSIX_FADV_DONTNEED)
                except OSError:
                    advise = False  # not a file or block device: nothing to gain
                dropped, advised = advised, upto
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
