"""The image store: files under ``<data_dir>/images``, complete or absent.

An upload streams into a hidden temporary file, hashed on the way (md5 and
sha512, as Glance), never held in memory; a qcow2 upload is then checked and
converted to raw with ``qemu-img`` so deploys can stream raw bytes without
converting on every machine.  Only a finished file is renamed to its final
name, so a reader never sees half an image.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import json
import os
import secrets
import shutil
import signal
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from barecloud.config import Settings
from barecloud.errors import BarecloudError, ClientError, InvalidParameter
from barecloud.services import children, private_files

# Writes and hashes go to a thread in blocks this large: few hand-offs, and a
# bounded amount of the upload in memory whatever its size.
BLOCK = 1 << 20
# qemu-img parses untrusted headers: keep its memory and CPU small (as Nova does).
INFO_LIMITS = ("--as=1073741824", "--cpu=30")
INFO_TIMEOUT = 60.0


class InvalidImageData(InvalidParameter):
    """The bytes are not what the image's disk_format says."""


class UploadInterrupted(InvalidParameter):
    """The client went away before the last byte."""


class StorageFull(ClientError):
    code = 413


class ConversionFailed(BarecloudError):
    """qemu-img is missing or failed on data it had accepted."""


@dataclass(frozen=True)
class Stored:
    """What an upload produced: the file as sent, and the raw bytes to deploy."""

    size: int
    md5: str
    sha512: str
    virtual_size: int
    raw_size: int
    raw_sha512: str


def directory(settings: Settings) -> Path:
    return settings.data_dir / "images"


def data_path(settings: Settings, image_id: str) -> Path:
    """The file exactly as uploaded (what ``GET /images/{id}/file`` returns)."""
    return directory(settings) / image_id


def raw_path(settings: Settings, image_id: str, disk_format: str | None) -> Path:
    """The raw bytes a machine's disk receives: the upload itself unless it was qcow2."""
    if disk_format == "qcow2":
        return directory(settings) / f"{image_id}.raw"
    return data_path(settings, image_id)


def staging_path(settings: Settings, image_id: str) -> Path:
    """Data staged for an import (``PUT /images/{id}/stage``), until it is imported."""
    return directory(settings) / "staging" / image_id


def cache_path(settings: Settings, image_id: str) -> Path:
    """The image cache's copy of the data (services/image/cache.py)."""
    return settings.data_dir / "image-cache" / image_id


def remove(settings: Settings, image_id: str) -> None:
    for path in (data_path(settings, image_id), raw_path(settings, image_id, "qcow2"),
                 staging_path(settings, image_id), cache_path(settings, image_id)):
        path.unlink(missing_ok=True)


async def copy_in(target: Path, chunks: AsyncIterator[bytes]) -> int:
    """Write ``chunks`` to ``target`` (0600, renamed in when whole); its size."""
    await asyncio.to_thread(target.parent.mkdir, mode=0o700, parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.part")
    try:
        size, _, _ = await _write(tmp, chunks)
        await asyncio.to_thread(os.replace, tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return size


async def read(path: Path) -> AsyncIterator[bytes]:
    """A file of the store, in blocks."""
    f = await asyncio.to_thread(open, path, "rb")
    try:
        while block := await asyncio.to_thread(f.read, BLOCK):
            yield block
    finally:
        await asyncio.to_thread(f.close)


async def stage(settings: Settings, image_id: str, chunks: AsyncIterator[bytes]) -> int:
    """Write ``chunks`` to the image's staging file (renamed in when whole); its size."""
    return await copy_in(staging_path(settings, image_id), chunks)


def staged(settings: Settings, image_id: str) -> AsyncIterator[bytes]:
    """The staged data, in blocks, as ``receive`` takes an upload."""
    return read(staging_path(settings, image_id))


async def receive(settings: Settings, image_id: str, disk_format: str,
                  chunks: AsyncIterator[bytes]) -> Stored:
    """Store an upload under ``image_id``; on any failure leave no file behind."""
    folder = directory(settings)
    await asyncio.to_thread(folder.mkdir, mode=0o700, parents=True, exist_ok=True)
    tmp = folder / f".{image_id}.{secrets.token_hex(4)}.part"
    tmp_raw = tmp.with_suffix(".raw")
    try:
        size, md5, sha512 = await _write(tmp, chunks)
        if disk_format == "qcow2":
            virtual_size = await _check_qcow2(tmp)
            await _convert(tmp, tmp_raw)
            await asyncio.to_thread(os.chmod, tmp_raw, 0o600)  # qemu-img made it
            raw_size, raw_sha512 = await asyncio.to_thread(_hash_file, tmp_raw)
            await asyncio.to_thread(os.replace, tmp_raw, raw_path(settings, image_id, "qcow2"))
        else:
            virtual_size, raw_size, raw_sha512 = size, size, sha512
        await asyncio.to_thread(os.replace, tmp, data_path(settings, image_id))
    except BaseException:
        for path in (tmp, tmp_raw):
            path.unlink(missing_ok=True)
        raise
    return Stored(size, md5, sha512, virtual_size, raw_size, raw_sha512)


async def _write(path: Path, chunks: AsyncIterator[bytes]) -> tuple[int, str, str]:
    md5 = hashlib.md5(usedforsecurity=False)
    sha512 = hashlib.sha512()
    size = 0

    def put(f: IO[bytes], block: bytearray) -> None:
        md5.update(block)
        sha512.update(block)
        f.write(block)

    def finish(f: IO[bytes]) -> None:
        f.flush()
        os.fsync(f.fileno())

    try:
        # 0600 whatever the umask: a private image's bytes are its project's alone.
        f = await asyncio.to_thread(os.fdopen, private_files.open_private(path), "wb")
        try:
            block = bytearray()
            async for chunk in chunks:
                block += chunk
                if len(block) >= BLOCK:
                    size += len(block)
                    await asyncio.to_thread(put, f, block)
                    block = bytearray()
            size += len(block)
            await asyncio.to_thread(put, f, block)
            await asyncio.to_thread(finish, f)
        finally:
            await asyncio.to_thread(f.close)
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageFull(f"Image storage media is full: {exc.strerror}") from None
        raise
    return size, md5.hexdigest(), sha512.hexdigest()


def _hash_file(path: Path) -> tuple[int, str]:
    sha512 = hashlib.sha512()
    size = 0
    with path.open("rb") as f:
        while block := f.read(4 * BLOCK):
            sha512.update(block)
            size += len(block)
    return size, sha512.hexdigest()


def _qemu_img() -> str:
    found = shutil.which("qemu-img")
    if found is None:
        raise ConversionFailed(
            "qemu-img is not installed on the server (Debian package qemu-utils): "
            "qcow2 images cannot be checked or converted."
        )
    return found


async def _run(argv: list[str], timeout: float | None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE, preexec_fn=children.die_with_parent(signal.SIGKILL),
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return proc.returncode, out.decode(errors="replace"), err.decode(errors="replace").strip()


async def _inspect(*args: str) -> tuple[int, str, str]:
    """Run ``qemu-img`` on untrusted data under resource limits."""
    argv = [_qemu_img(), *args]
    prlimit = shutil.which("prlimit")
    if prlimit:
        argv = [prlimit, *INFO_LIMITS, *argv]
    try:
        return await _run(argv, INFO_TIMEOUT)
    except TimeoutError:
        raise InvalidImageData("qemu-img could not read the image in time.") from None


async def image_info(path: Path) -> dict[str, Any]:
    """``qemu-img info`` of untrusted data, its format probed."""
    code, out, err = await _inspect("info", "--output=json", str(path))
    if code != 0:
        raise InvalidImageData(f"qemu-img cannot read the image: {err or code}")
    try:
        info: dict[str, Any] = json.loads(out)
    except ValueError:
        raise InvalidImageData("qemu-img gave no readable description of the image.") from None
    return info


async def _check_qcow2(path: Path) -> int:
    """The virtual size of a genuine, self-contained qcow2 file, else InvalidImageData.

    A backing file or an external data file would make the conversion read
    another file of this server: both are refused.
    """
    info = await image_info(path)
    found = info.get("format")
    if found != "qcow2":
        raise InvalidImageData(
            f"The image's disk_format is qcow2 but the uploaded data is not qcow2 "
            f"(qemu-img reads it as {found})."
        )
    if info.get("backing-filename") or info.get("full-backing-filename"):
        raise InvalidImageData("qcow2 images with a backing file are not accepted.")
    specific = (info.get("format-specific") or {}).get("data") or {}
    if specific.get("data-file"):
        raise InvalidImageData("qcow2 images with an external data file are not accepted.")
    virtual = info.get("virtual-size")
    if not isinstance(virtual, int) or virtual < 0:
        raise InvalidImageData("qemu-img reports no virtual size for the image.")
    # A truncated or damaged file would otherwise convert "successfully" into
    # zeros where its clusters are missing.  Leaked clusters (3) are harmless.
    code, _, err = await _inspect("check", "-q", "-f", "qcow2", str(path))
    if code not in (0, 3):
        problem = "is corrupt" if code == 2 else "could not be checked"
        raise InvalidImageData(f"The qcow2 image {problem} (qemu-img check: "
                               f"{err.splitlines()[0] if err else code}).")
    return virtual


async def _convert(src: Path, dst: Path) -> None:
    code, _, err = await _run(
        [_qemu_img(), "convert", "-q", "-f", "qcow2", "-O", "raw", str(src), str(dst)], None
    )
    if code != 0:
        if "No space left" in err:
            raise StorageFull(f"Image storage media is full: {err}")
        raise InvalidImageData(f"Converting the qcow2 image to raw failed: {err or code}")
