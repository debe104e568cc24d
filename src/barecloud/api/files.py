"""Streaming a stored file to a client: large reads on a thread, one byte range.

The file is opened before the answer starts, so a file deleted meanwhile is
a clean 404 rather than a broken 200, and an open file keeps its bytes even
if it is unlinked while it streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import BinaryIO

from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from barecloud.errors import NotFound

CHUNK = 1 << 20
_RANGE_RE = re.compile(r"^bytes=(\d*)-(\d*)$")


async def open_file(path: Path, missing: str) -> tuple[BinaryIO, int]:
    """The open file and its size, or NotFound(``missing``)."""

    def opened() -> tuple[BinaryIO, int]:
        f = path.open("rb")
        with contextlib.suppress(AttributeError, OSError):
            os.posix_fadvise(f.fileno(), 0, 0, os.POSIX_FADV_SEQUENTIAL)
        return f, os.fstat(f.fileno()).st_size

    try:
        return await asyncio.to_thread(opened)
    except FileNotFoundError:
        raise NotFound(missing) from None


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    """The one satisfiable range asked for; None to send everything (no header, or
    one that is malformed or has several ranges, which RFC 9110 lets us ignore)."""
    match = _RANGE_RE.match((header or "").replace(" ", ""))
    if match is None or match.group(1) == match.group(2) == "":
        return None
    first, last = match.groups()
    if first == "":
        return max(size - int(last), 0), size
    start = int(first)
    end = min(int(last) + 1, size) if last else size
    if start >= size or end <= start:
        return (size, size)
    return start, end


async def _read(f: BinaryIO, start: int, end: int) -> AsyncIterator[bytes]:
    try:
        await asyncio.to_thread(f.seek, start)
        position = start
        while position < end:
            block = await asyncio.to_thread(f.read, min(CHUNK, end - position))
            if not block:
                break
            position += len(block)
            yield block
    finally:
        f.close()


def stream(request: Request, f: BinaryIO, size: int,
           headers: Mapping[str, str] | None = None) -> Response:
    """Answer with the bytes of ``f`` (all, or the single range the request names)."""
    out = {"Accept-Ranges": "bytes", **(headers or {})}
    span = _range(request.headers.get("range"), size) if request.method == "GET" else None
    status = 200
    start, end = 0, size
    if span is not None:
        start, end = span
        if start >= size:
            f.close()
            return Response(status_code=416, headers={"Content-Range": f"bytes */{size}"})
        status = 206
        out["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        out.pop("Content-MD5", None)
    out["Content-Length"] = str(end - start)
    if request.method == "HEAD":
        f.close()
        return Response(status_code=status, headers=out, media_type="application/octet-stream")
    return StreamingResponse(_read(f, start, end), status_code=status, headers=out,
                             media_type="application/octet-stream")
