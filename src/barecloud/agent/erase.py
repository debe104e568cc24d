"""Erase a disk so nothing of the last tenant is left: quick or full.

Quick zeroes what makes data findable: the first and last 2 MiB of the disk
(MBR, GPT and its backup) and of every partition (file system, RAID and LVM
signatures sit at both ends).  Full zeroes every byte, with ``pwrite`` of
real zeros rather than a discard or a hole punch, so even a sparse lab disk
file ends up with every block written.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any, BinaryIO

from barecloud.agent import partitions

EDGE = 2 * 2**20
CHUNK = 8 * 2**20
PROGRESS_EVERY = 1.0

Progress = Callable[[int, int | None], None]
log = logging.getLogger(__name__)


def erase(disk: str, mode: str, progress: Progress | None = None) -> dict[str, Any]:
    """Erase ``disk``; ``{"mode", "bytes"}`` where bytes is how many were zeroed."""
    if mode not in ("quick", "full"):
        raise ValueError(f"erase mode must be 'quick' or 'full', not {mode!r}")
    with open(disk, "r+b", buffering=0) as f:
        size, sector_size = partitions.disk_geometry(f)
        regions = _edges(f, size, sector_size) if mode == "quick" else [(0, size)]
        done = _zero(f.fileno(), regions, progress)
        os.fsync(f.fileno())
    return {"mode": mode, "bytes": done}


def _edges(f: BinaryIO, size: int, sector_size: int) -> list[tuple[int, int]]:
    """(offset, length) of both ends of the disk and of each partition, merged."""
    spans = [(0, size)]
    try:
        table = partitions.read_table(f, size, sector_size)
    except partitions.PartitionError as exc:
        log.warning("erase: %s; zeroing the ends of the disk only", exc)
        table = None
    for part in table.partitions if table else ():
        start = min(part.offset, size)
        spans.append((start, min(part.offset + part.size, size) - start))
    regions = []
    for start, length in spans:
        regions.append((start, min(EDGE, length)))
        regions.append((start + max(0, length - EDGE), min(EDGE, length)))
    return _merge(regions)


def _merge(regions: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, length in sorted(r for r in regions if r[1] > 0):
        if merged and start <= merged[-1][0] + merged[-1][1]:
            last_start, last_length = merged[-1]
            merged[-1] = (last_start, max(last_length, start + length - last_start))
        else:
            merged.append((start, length))
    return merged


def _zero(fd: int, regions: list[tuple[int, int]], progress: Progress | None) -> int:
    total = sum(length for _, length in regions)
    zeros = memoryview(bytes(min(CHUNK, max(total, 1))))
    done = 0
    reported = time.monotonic()
    for start, length in regions:
        offset, end = start, start + length
        while offset < end:
            written = os.pwrite(fd, zeros[:min(len(zeros), end - offset)], offset)
            offset += written
            done += written
            if progress is not None and time.monotonic() - reported >= PROGRESS_EVERY:
                reported = time.monotonic()
                progress(done, total)
    if progress is not None:
        progress(done, total)
    return done
