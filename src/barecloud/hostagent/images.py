"""The host's image cache: each image fetched once, then the read-only base of overlays.

``<root>/<image id>`` appears only complete and checked: the download goes to
a temporary file, its SHA-512 is compared with the one the desired list
gives, and a rename makes it visible.  The digest is kept beside it
(``<image id>.sha512``) so a later VM that names the same image with another
digest is refused rather than booted from what may not be that image.
Concurrent requests for one image wait for the same download.  A download
that fails for a reason that may pass (the service restarting, a 5xx) is
tried again a few times before the VMs waiting for it are failed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from barecloud.agent.sources import public_url
from barecloud.hostagent.http import ApiError, download, retryable

ATTEMPTS = 3
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")

log = logging.getLogger(__name__)


class ImageError(Exception):
    """The image cannot be had: a bad entry, a failed download, a wrong digest."""


class ImageCache:
    """Images under ``root``, fetched on first use.  One instance may serve many
    agents of one process (the fleet): an image id names the same bytes for all."""

    def __init__(self, root: Path, *, idle_timeout: float = 60.0,
                 retry_delay: float = 1.0) -> None:
        self.root = root
        self.idle_timeout = idle_timeout
        self.retry_delay = retry_delay
        self.downloads = 0  # completed downloads, for tests and logs
        self._pending: dict[str, asyncio.Future[Path]] = {}
        self._digests: dict[str, str | None] = {}  # image id → its recorded SHA-512
        root.mkdir(parents=True, exist_ok=True)
        for stale in root.glob(".*.part"):  # left by a process that died mid-download
            stale.unlink(missing_ok=True)

    async def get(self, image: Mapping[str, Any]) -> Path:
        """The local file of the desired entry's ``image`` ({id, url, sha512, size})."""
        image_id = str(image.get("id") or "")
        if not _SAFE_ID.match(image_id):
            raise ImageError(f"bad image id {image_id!r}")
        want = str(image.get("sha512") or "").lower() or None
        path = self.root / image_id
        if path.exists():
            self._check_known(image_id, want)
            return path
        pending = self._pending.get(image_id)
        if pending is None:
            pending = asyncio.ensure_future(self._fetch(image, image_id, want, path))
            self._pending[image_id] = pending
            pending.add_done_callback(lambda done: self._forget(image_id, done))
        # A waiter cancelled (its VM deleted meanwhile) leaves the download to the others.
        found = await asyncio.shield(pending)
        self._check_known(image_id, want)
        return found

    def _check_known(self, image_id: str, want: str | None) -> None:
        """Refuse a cached image whose recorded digest is not the one asked for."""
        if want is None:
            return
        if image_id not in self._digests:
            try:
                known = (self.root / f"{image_id}.sha512").read_text().strip()
            except FileNotFoundError:
                known = None
            self._digests[image_id] = known
        known = self._digests[image_id]
        if known is not None and known != want:
            raise ImageError(f"image {image_id}: the cached copy has SHA-512 {known[:16]}…, "
                             f"the desired list says {want[:16]}…")

    def _forget(self, image_id: str, done: asyncio.Future[Path]) -> None:
        self._pending.pop(image_id, None)  # a failed download is tried again next time
        if not done.cancelled():
            done.exception()  # retrieved, even when every waiter has gone

    async def _fetch(self, image: Mapping[str, Any], image_id: str, want: str | None,
                     path: Path) -> Path:
        url = image.get("url")
        if not isinstance(url, str) or not url:
            raise ImageError(f"image {image_id}: no url")
        size = image.get("size")
        delay = self.retry_delay
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await self._fetch_once(url, image_id, want, size, path)
            except ApiError as exc:
                if not retryable(exc) or attempt == ATTEMPTS:
                    raise ImageError(f"image {image_id}: {exc}") from None
                log.warning("image %s from %s: %s; again in %.0f s (attempt %d of %d)",
                            image_id, public_url(url), exc, delay, attempt + 1, ATTEMPTS)
            await asyncio.sleep(delay)
            delay *= 2
        raise AssertionError("unreachable")

    async def _fetch_once(self, url: str, image_id: str, want: str | None, size: Any,
                          path: Path) -> Path:
        temp = self.root / f".{image_id}.{os.getpid()}.{id(self):x}.part"
        log.info("image %s: fetching from %s", image_id, public_url(url))
        sink = _HashedFile(temp)
        try:
            try:
                count = await download(url, sink.write, idle_timeout=self.idle_timeout)
                sink.sync()
            finally:
                sink.close()
            if isinstance(size, int) and size >= 0 and count != size:
                raise ImageError(f"image {image_id}: {count} bytes, the image has {size}")
            got = sink.digest.hexdigest()
            if want is not None and got != want:
                raise ImageError(f"image {image_id}: SHA-512 {got[:16]}… is not the "
                                 f"expected {want[:16]}…")
            (self.root / f"{image_id}.sha512").write_text(got + "\n")
            self._digests[image_id] = got
            os.chmod(temp, 0o444)  # a base of overlays: never written again
            os.replace(temp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
        self.downloads += 1
        log.info("image %s: %d bytes, checked", image_id, count)
        return path


class _HashedFile:
    """A file being written, and the SHA-512 of what went into it."""

    def __init__(self, path: Path) -> None:
        self.digest = hashlib.sha512()
        self._f = open(path, "wb")  # noqa: SIM115 - closed by close()

    def write(self, piece: bytes) -> None:
        self.digest.update(piece)
        self._f.write(piece)

    def sync(self) -> None:
        self._f.flush()
        os.fsync(self._f.fileno())

    def close(self) -> None:
        self._f.close()
