"""The config drive: an ISO 9660 file system labelled ``config-2`` in its own partition.

The files are laid out as Nova and openstacksdk write them
(``openstack/<version>/meta_data.json``, ``user_data``,
``network_data.json``...).  cloud-init reads the newest dated version
directory it knows and uses ``latest`` only when there is none, so files
given under ``openstack/latest/`` are also written under
``openstack/2012-08-10/`` (as openstacksdk does) unless that copy was given.

The partition is added as Ironic's agent adds it (see
:mod:`barecloud.agent.partitions`); a partition already holding a
``config-2`` file system is rewritten instead, so a second deploy does not
add a second one.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import os
import zlib
from collections.abc import Mapping
from typing import Any, BinaryIO

from barecloud.agent import iso9660, partitions
from barecloud.agent.iso9660 import IsoImage
from barecloud.agent.partitions import Partition

LABEL = "config-2"
MAX_SIZE = 64 * 2**20  # Ironic's limit, and the partition's size
PARTITION_SIZE = 64 * 2**20
LATEST = "openstack/latest/"
MIRRORED = "openstack/2012-08-10/"
_TAIL = 2 * 2**20

log = logging.getLogger(__name__)


class ConfigDriveError(Exception):
    """Bad parameters, a drive too big, or no room for it on the disk."""


def lay_out(files: Mapping[str, bytes]) -> dict[str, bytes]:
    """``files`` as the drive holds them: no leading slash, and the dated copy of
    each ``openstack/latest/`` file (unless given) for cloud-init."""
    laid_out = {path.lstrip("/"): bytes(content) for path, content in files.items()}
    for path in list(laid_out):
        if path.startswith(LATEST):
            laid_out.setdefault(MIRRORED + path[len(LATEST):], laid_out[path])
    return laid_out


def build(files: Mapping[str, bytes]) -> bytes:
    """The ISO image of a config drive holding ``files`` (path → content)."""
    image = iso9660.build(lay_out(files), LABEL)
    if len(image) > MAX_SIZE:
        raise ConfigDriveError(f"config drive of {len(image)} bytes is bigger than the "
                               f"{MAX_SIZE // 2**20} MiB limit")
    return image


def image_from_params(params: Mapping[str, Any]) -> bytes:
    """The ISO image a ``write_configdrive`` command asks for.

    ``files``: path → base64 content; or ``image``: base64 of a gzipped ISO
    (Ironic's form; an ungzipped one is accepted too).
    """
    files = params.get("files")
    image = params.get("image")
    if isinstance(files, dict):
        decoded = {}
        for path, content in files.items():
            if not isinstance(content, str):
                raise ConfigDriveError(f"files[{path!r}] must be base64 text")
            decoded[str(path)] = _b64(content, f"files[{path!r}]")
        return build(decoded)
    if isinstance(image, str) and image:
        raw = _b64(image, "image")
        if raw[:2] == b"\x1f\x8b":
            inflater = zlib.decompressobj(wbits=31)
            try:
                raw = inflater.decompress(raw, MAX_SIZE + 1)
            except zlib.error as exc:
                raise ConfigDriveError(f"config drive image is not valid gzip: {exc}") from None
        if len(raw) > MAX_SIZE:
            raise ConfigDriveError(f"config drive image is bigger than the "
                                   f"{MAX_SIZE // 2**20} MiB limit")
        return raw
    raise ConfigDriveError("write_configdrive needs 'files' (path -> base64 content) or "
                           "'image' (base64 of a gzipped ISO)")


def _b64(text: str, what: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ConfigDriveError(f"{what} is not valid base64: {exc}") from None


def find(f: BinaryIO) -> tuple[Partition, IsoImage] | None:
    """The partition holding a ``config-2`` file system, and that file system."""
    size, sector_size = partitions.disk_geometry(f)
    table = partitions.read_table(f, size, sector_size)
    for part in table.partitions if table else ():
        try:
            iso = IsoImage(f, part.offset)
        except iso9660.IsoError:
            continue
        if iso.label.lower() == LABEL:
            return part, iso
    return None


def read_config_drive(disk: str | os.PathLike[str]) -> dict[str, Any] | None:
    """What cloud-init would find on the disk, or None when it has no config drive.

    ``{"partition", "offset", "meta_data", "user_data", "network_data",
    "vendor_data"}``: the parsed JSON files and the raw user data (None when
    absent), from ``openstack/latest``, else the newest version directory.
    Raises OSError, or ValueError for a damaged table, file system or JSON.
    """
    with open(disk, "rb") as f:
        found = find(f)
        if found is None:
            return None
        part, iso = found
        versions = sorted(iso.listdir("/openstack")) if _exists(iso, "/openstack") else []
        version = "latest" if "latest" in versions else (versions[-1] if versions else "latest")
        base = f"/openstack/{version}"
        files = {name: _read_optional(iso, f"{base}/{name}")
                 for name in ("meta_data.json", "user_data", "network_data.json",
                              "vendor_data.json")}
    meta = files["meta_data.json"]
    if meta is None:
        raise iso9660.IsoError(f"the config drive has no {base}/meta_data.json")
    network, vendor = files["network_data.json"], files["vendor_data.json"]
    return {"partition": part.number, "offset": part.offset,
            "meta_data": json.loads(meta),
            "user_data": files["user_data"],
            "network_data": json.loads(network) if network is not None else None,
            "vendor_data": json.loads(vendor) if vendor is not None else None}


def _exists(iso: IsoImage, path: str) -> bool:
    try:
        iso.find(path)
    except iso9660.IsoError:
        return False
    return True


def _read_optional(iso: IsoImage, path: str) -> bytes | None:
    return iso.read(path) if _exists(iso, path) else None


def write(disk: str, image: bytes) -> dict[str, int]:
    """Put ``image`` in the disk's config drive partition, adding one if needed."""
    if (iso9660.label_at(io.BytesIO(image)) or "").lower() != LABEL:
        log.warning("config drive image is not an ISO 9660 file system labelled %s; "
                    "writing it anyway", LABEL)
    with open(disk, "r+b", buffering=0) as f:
        try:
            found = find(f)
            if found is not None and found[0].size >= len(image):
                part = found[0]
                log.info("rewriting the config drive in partition %d", part.number)
            else:
                part = partitions.add_partition(f, PARTITION_SIZE, name=LABEL)
                log.info("added partition %d for the config drive at %d MiB",
                         part.number, part.offset // 2**20)
        except partitions.PartitionError as exc:
            raise ConfigDriveError(f"cannot add the config drive partition to {disk}: "
                                   f"{exc}") from None
        if len(image) > part.size:
            raise ConfigDriveError(f"config drive of {len(image)} bytes does not fit "
                                   f"partition {part.number} ({part.size} bytes)")
        fd = f.fileno()
        _pwrite_all(fd, image, part.offset)
        tail = max(len(image), part.size - _TAIL)
        _pwrite_all(fd, bytes(part.size - tail), part.offset + tail)
        os.fsync(fd)
    return {"partition": part.number, "offset": part.offset, "size": part.size}


def _pwrite_all(fd: int, data: bytes, offset: int) -> None:
    view = memoryview(data)
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written
