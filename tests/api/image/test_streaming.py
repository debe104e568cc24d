"""A 300 MiB image through the API without the server holding it in memory.

The server's peak resident size (VmHWM in /proc/<pid>/status) is read before
and after the upload and the downloads: streaming in blocks keeps its growth
a small fraction of the image.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests import support
from tests.api.boot.machine import machine_url
from tests.api.image.glance import OCTETS, Glance

MiB = 1 << 20
BLOCKS = 300
GROWTH_LIMIT = 64 * MiB


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM in /proc status")


class Payload:
    """300 distinct 1 MiB blocks, hashed as they are produced."""

    def __init__(self) -> None:
        self.block = os.urandom(MiB)
        self.md5 = hashlib.md5()
        self.sha512 = hashlib.sha512()

    def chunks(self) -> Iterator[bytes]:
        for i in range(BLOCKS):
            chunk = i.to_bytes(8, "big") + self.block[8:]
            self.md5.update(chunk)
            self.sha512.update(chunk)
            yield chunk


def fetch_hash(url: str) -> tuple[int, str]:
    sha512 = hashlib.sha512()
    size = 0
    with httpx.stream("GET", url, timeout=120) as r:
        assert r.status_code == 200
        for chunk in r.iter_bytes():
            sha512.update(chunk)
            size += len(chunk)
    return size, sha512.hexdigest()


def test_large_upload_streams(service: support.Service) -> None:
    glance = Glance(service)
    try:
        warm = glance.active("warm-up", b"w" * MiB)  # imports and buffers the first upload needs
        fetch_hash(machine_url(service, warm["id"]))  # and the first deploy and download
        before = peak_rss(service.proc.pid)

        payload = Payload()
        image = glance.create(name="big")
        r = glance.request("PUT", f"/images/{image['id']}/file", content=payload.chunks(),
                           headers={**OCTETS, "Content-Length": str(BLOCKS * MiB)})
        assert r.status_code == 204, r.text
        shown = glance.image(image["id"])
        assert shown["status"] == "active" and shown["size"] == BLOCKS * MiB
        assert shown["checksum"] == payload.md5.hexdigest()
        assert shown["os_hash_value"] == payload.sha512.hexdigest()
        after_upload = peak_rss(service.proc.pid)
        assert after_upload - before < GROWTH_LIMIT, (before, after_upload)

        expected = (BLOCKS * MiB, payload.sha512.hexdigest())
        assert fetch_hash(f"{service.url}/image/v2/images/{image['id']}/file") == expected
        assert fetch_hash(machine_url(service, image["id"])) == expected
        after_downloads = peak_rss(service.proc.pid)
        assert after_downloads - before < GROWTH_LIMIT, (before, after_downloads)
        print(f"peak RSS {before / MiB:.0f} MiB -> {after_downloads / MiB:.0f} MiB")
    finally:
        glance.close()
