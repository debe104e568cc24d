"""MBR and GPT partition tables: read them, and add one partition at the end.

The agent adds the config drive's partition itself (the ramdisk has no
sgdisk or parted) the way Ironic's agent does: 64 MiB at the end of the
disk (MBR: within the first 2 TiB), after the last partition.  On GPT the
backup header and entries first move to the real end of the disk (an image
smaller than the disk left them in the middle, ``sgdisk -e``), and every
CRC32 is rewritten.  A disk with no partition table at all (a raw file
system image, or random bytes) gets a new MBR holding only the new
partition: Ironic's agent would fail there (``parted`` refuses a disk
without a label), but a config drive nobody can find is no better than
none, and the MBR's table area is not part of any file system's layout.
The boot code bytes (0-439) are kept.

The lab firmware uses :func:`read_table` to find the partitions of a disk
file; :mod:`barecloud.agent.erase` uses it to find each partition's ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import struct
import uuid
import zlib
from dataclasses import dataclass
from typing import BinaryIO, Literal

SECTOR = 512
ALIGNMENT = 2**20  # partitions start on a MiB boundary, like parted and sgdisk
MBR_LIMIT = 2**32  # sectors an MBR entry can address
MBR_EXTENDED = frozenset({0x05, 0x0F, 0x85})
MBR_PROTECTIVE = 0xEE
MBR_LINUX = 0x83
GPT_LINUX = uuid.UUID("0fc63daf-8483-4772-8e79-3d69d8477de4")  # Linux file system data
_GPT_SIGNATURE = b"EFI PART"
_GPT_HEADER = struct.Struct("<8sIIIIQQQQ16sQIII")
_GPT_ENTRY = struct.Struct("<16s16sQQQ72s")
_BLKSSZGET = 0x1268
_BLKRRPART = 0x125F


class PartitionError(ValueError):
    """A damaged table, or no room for a new partition."""


@dataclass(frozen=True)
class Partition:
    """One partition: ``start`` and ``sectors`` in the table's sector size."""

    number: int
    start: int
    sectors: int
    sector_size: int
    type: str  # MBR: "0x83"; GPT: the type GUID
    uuid: str = ""  # GPT only
    name: str = ""  # GPT only

    @property
    def offset(self) -> int:
        return self.start * self.sector_size

    @property
    def size(self) -> int:
        return self.sectors * self.sector_size

    @property
    def last(self) -> int:
        """The partition's last sector."""
        return self.start + self.sectors - 1


@dataclass(frozen=True)
class PartitionTable:
    kind: Literal["mbr", "gpt"]
    sector_size: int
    disk_sectors: int
    partitions: tuple[Partition, ...]
    # The sectors partitions may use (MBR: 1 to the 2 TiB limit).
    first_usable: int = 1
    last_usable: int = 0
    # MBR: sectors an extended partition spans, which no primary may overlap.
    reserved: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class _GptHeader:
    revision: int
    header_size: int
    my_lba: int
    alternate_lba: int
    first_usable: int
    last_usable: int
    disk_guid: bytes
    entries_lba: int
    entry_count: int
    entry_size: int
    entries_crc: int

    def pack(self, *, my_lba: int, alternate_lba: int, entries_lba: int, last_usable: int,
             entries_crc: int, sector_size: int) -> bytes:
        fields = [_GPT_SIGNATURE, self.revision, self.header_size, 0, 0, my_lba, alternate_lba,
                  self.first_usable, last_usable, self.disk_guid, entries_lba,
                  self.entry_count, self.entry_size, entries_crc]
        raw = bytearray(_GPT_HEADER.pack(*fields).ljust(self.header_size, b"\x00"))
        struct.pack_into("<I", raw, 16, zlib.crc32(raw[:self.header_size]))
        return bytes(raw.ljust(sector_size, b"\x00"))


# -- reading ---------------------------------------------------------------


def _read(f: BinaryIO, offset: int, size: int) -> bytes:
    f.seek(offset)
    chunks = []
    while size > 0:
        chunk = f.read(size)
        if not chunk:
            break
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def disk_geometry(f: BinaryIO) -> tuple[int, int]:
    """(size in bytes, logical sector size) of a disk file or block device."""
    size = f.seek(0, os.SEEK_END)
    sector_size = SECTOR
    if stat.S_ISBLK(os.fstat(f.fileno()).st_mode):
        raw = fcntl.ioctl(f.fileno(), _BLKSSZGET, b"\x00" * 4)
        sector_size = struct.unpack("I", raw)[0]
    return size, sector_size


def read_table(f: BinaryIO, disk_size: int | None = None,
               sector_size: int = SECTOR) -> PartitionTable | None:
    """The disk's partition table, or None when it has none.

    Raises :class:`PartitionError` for a GPT whose headers are both damaged.
    """
    if disk_size is None:
        disk_size = f.seek(0, os.SEEK_END)
    disk_sectors = disk_size // sector_size
    mbr = _read(f, 0, SECTOR)
    entries = _mbr_entries(mbr)
    if entries is None:
        return None
    if any(kind == MBR_PROTECTIVE for _, kind, _, _ in entries):
        return _read_gpt(f, disk_sectors, sector_size)
    partitions: list[Partition] = []
    reserved: list[tuple[int, int]] = []
    for slot, kind, start, count in entries:
        if kind == 0 or count == 0:
            continue
        if kind in MBR_EXTENDED:
            reserved.append((start, start + count - 1))
            partitions.extend(_logical(f, start, sector_size))
        else:
            partitions.append(Partition(slot + 1, start, count, sector_size, f"0x{kind:02x}"))
    return PartitionTable("mbr", sector_size, disk_sectors, tuple(partitions), 1,
                          min(disk_sectors, MBR_LIMIT) - 1, tuple(reserved))


def _mbr_entries(sector: bytes) -> list[tuple[int, int, int, int]] | None:
    """(slot, type, first sector, sectors) of the four entries; None if not an MBR."""
    if len(sector) < SECTOR or sector[510:512] != b"\x55\xaa":
        return None
    entries = []
    for slot in range(4):
        raw = sector[446 + 16 * slot:462 + 16 * slot]
        if raw[0] not in (0x00, 0x80):
            return None  # a boot sector's code, not a partition table
        start, count = struct.unpack_from("<II", raw, 8)
        entries.append((slot, raw[4], start, count))
    return entries


def _logical(f: BinaryIO, extended_start: int, sector_size: int) -> list[Partition]:
    """The logical partitions: a chain of EBRs inside the extended partition."""
    found: list[Partition] = []
    ebr = extended_start
    for number in range(5, 5 + 128):
        entries = _mbr_entries(_read(f, ebr * sector_size, SECTOR))
        if entries is None:
            break
        _, kind, start, count = entries[0]
        if kind and count:
            found.append(Partition(number, ebr + start, count, sector_size, f"0x{kind:02x}"))
        _, next_kind, next_start, _ = entries[1]
        if not next_kind or not next_start:
            break
        ebr = extended_start + next_start
    return found


def _parse_gpt_header(raw: bytes, lba: int) -> _GptHeader | None:
    if len(raw) < _GPT_HEADER.size or raw[:8] != _GPT_SIGNATURE:
        return None
    fields = _GPT_HEADER.unpack_from(raw)
    header_size = fields[2]
    if not _GPT_HEADER.size <= header_size <= len(raw):
        return None
    check = bytearray(raw[:header_size])
    check[16:20] = b"\x00" * 4
    if zlib.crc32(check) != fields[3] or fields[5] != lba:
        return None
    return _GptHeader(fields[1], header_size, fields[5], fields[6], fields[7], fields[8],
                      fields[9], fields[10], fields[11], fields[12], fields[13])


def _gpt_entries(f: BinaryIO, header: _GptHeader, sector_size: int) -> bytes | None:
    if header.entry_size < _GPT_ENTRY.size or header.entry_count > 4096:
        return None
    raw = _read(f, header.entries_lba * sector_size, header.entry_count * header.entry_size)
    if len(raw) != header.entry_count * header.entry_size or zlib.crc32(raw) != header.entries_crc:
        return None
    return raw


def _load_gpt(f: BinaryIO, disk_sectors: int,
              sector_size: int) -> tuple[_GptHeader, bytes]:
    """The first valid (header, entries): the primary, else the backup."""
    primary = _parse_gpt_header(_read(f, sector_size, sector_size), 1)
    candidates = [primary] if primary else []
    for lba in {primary.alternate_lba if primary else 0, disk_sectors - 1} - {0}:
        backup = _parse_gpt_header(_read(f, lba * sector_size, sector_size), lba)
        if backup:
            candidates.append(backup)
    for header in candidates:
        entries = _gpt_entries(f, header, sector_size)
        if entries is not None:
            return header, entries
    raise PartitionError("the disk has a protective MBR but no valid GPT header and entries")


def _read_gpt(f: BinaryIO, disk_sectors: int, sector_size: int) -> PartitionTable:
    header, entries = _load_gpt(f, disk_sectors, sector_size)
    partitions = []
    for index in range(header.entry_count):
        type_guid, unique, first, last, _, name = _GPT_ENTRY.unpack_from(
            entries, index * header.entry_size)
        if type_guid == b"\x00" * 16:
            continue
        partitions.append(Partition(
            index + 1, first, last - first + 1, sector_size, str(uuid.UUID(bytes_le=type_guid)),
            str(uuid.UUID(bytes_le=unique)),
            name.decode("utf-16-le", errors="replace").split("\x00", 1)[0]))
    return PartitionTable("gpt", sector_size, disk_sectors, tuple(partitions),
                          header.first_usable, header.last_usable)


# -- adding a partition ----------------------------------------------------


def add_partition(f: BinaryIO, size: int, *, name: str = "") -> Partition:
    """Add a partition of ``size`` bytes at the end of the disk open read-write in ``f``.

    ``name`` is the GPT partition name (MBR has none).  Raises
    :class:`PartitionError` when there is no free entry or no room after
    the last partition.
    """
    disk_size, sector_size = disk_geometry(f)
    table = read_table(f, disk_size, sector_size)
    if table is None or table.kind == "mbr":
        added = _add_mbr(f, table, disk_size // sector_size, sector_size, size)
    else:
        added = _add_gpt(f, disk_size // sector_size, sector_size, size, name)
    f.flush()
    os.fsync(f.fileno())
    if stat.S_ISBLK(os.fstat(f.fileno()).st_mode):
        with contextlib.suppress(OSError):  # busy: the kernel keeps its old view
            fcntl.ioctl(f.fileno(), _BLKRRPART)
    return added


def _place(first_usable: int, last_usable: int, used_until: int, size: int,
           sector_size: int, disk_size: int) -> tuple[int, int]:
    """(start, sectors): at least ``size`` bytes, ending at ``last_usable``, starting
    on a MiB boundary after the other partitions."""
    sectors = (size + sector_size - 1) // sector_size
    align = max(1, ALIGNMENT // sector_size)
    start = (last_usable + 1 - sectors) // align * align
    if start < max(first_usable, used_until + 1):
        raise PartitionError(
            f"no room for a {size // 2**20} MiB partition at the end of the disk "
            f"({disk_size} bytes): the partitions use it up to sector {used_until}")
    return start, last_usable + 1 - start


def _chs(lba: int) -> bytes:
    """The legacy cylinder/head/sector address (255 heads, 63 sectors a track)."""
    cylinder, rest = divmod(lba, 255 * 63)
    if cylinder > 1023:
        return b"\xfe\xff\xff"
    head, sector = divmod(rest, 63)
    return bytes([head, (sector + 1) | ((cylinder >> 2) & 0xC0), cylinder & 0xFF])


def _mbr_entry(kind: int, start: int, sectors: int) -> bytes:
    return (b"\x00" + _chs(start) + bytes([kind]) + _chs(start + sectors - 1)
            + struct.pack("<II", start, sectors))


def _add_mbr(f: BinaryIO, table: PartitionTable | None, disk_sectors: int, sector_size: int,
             size: int) -> Partition:
    sector = bytearray(_read(f, 0, SECTOR))
    if table is None:
        sector[440:446] = os.urandom(4) + b"\x00\x00"  # a new disk identifier
        sector[446:512] = b"\x00" * 64 + b"\x55\xaa"
        table = PartitionTable("mbr", sector_size, disk_sectors, (), 1,
                               min(disk_sectors, MBR_LIMIT) - 1)
    entries = _mbr_entries(bytes(sector)) or []
    free = [slot for slot, kind, _, count in entries if kind == 0 and count == 0]
    if not free:
        raise PartitionError("the disk's MBR already has four primary partitions")
    used_until = max([p.last for p in table.partitions] + [end for _, end in table.reserved]
                     + [0])
    start, sectors = _place(table.first_usable, table.last_usable, used_until, size,
                            sector_size, disk_sectors * sector_size)
    slot = free[0]
    sector[446 + 16 * slot:462 + 16 * slot] = _mbr_entry(MBR_LINUX, start, sectors)
    f.seek(0)
    f.write(bytes(sector))
    return Partition(slot + 1, start, sectors, sector_size, f"0x{MBR_LINUX:02x}")


def _add_gpt(f: BinaryIO, disk_sectors: int, sector_size: int, size: int,
             name: str) -> Partition:
    header, entries = _load_gpt(f, disk_sectors, sector_size)
    entry_sectors = (header.entry_count * header.entry_size + sector_size - 1) // sector_size
    backup_lba = disk_sectors - 1
    backup_entries_lba = backup_lba - entry_sectors
    last_usable = backup_entries_lba - 1
    if last_usable < header.last_usable:
        raise PartitionError(f"the GPT describes a disk bigger than this one "
                             f"({disk_sectors * sector_size} bytes)")
    table = _read_gpt(f, disk_sectors, sector_size)
    free = [i for i in range(header.entry_count)
            if entries[i * header.entry_size:i * header.entry_size + 16] == b"\x00" * 16]
    if not free:
        raise PartitionError(f"the GPT has no free entry (all {header.entry_count} used)")
    used_until = max([p.last for p in table.partitions] + [0])
    start, sectors = _place(header.first_usable, last_usable, used_until, size, sector_size,
                            disk_sectors * sector_size)
    index = free[0]
    unique = uuid.uuid4()
    packed = _GPT_ENTRY.pack(GPT_LINUX.bytes_le, unique.bytes_le, start, start + sectors - 1, 0,
                             name.encode("utf-16-le")[:72].ljust(72, b"\x00"))
    updated = bytearray(entries)
    updated[index * header.entry_size:index * header.entry_size + len(packed)] = packed
    crc = zlib.crc32(updated)

    # The old backup header, left mid-disk by a smaller image, would confuse tools.
    old_backup = header.alternate_lba if header.my_lba == 1 else header.my_lba
    if old_backup not in (1, backup_lba) and old_backup < disk_sectors:
        f.seek(old_backup * sector_size)
        f.write(b"\x00" * sector_size)
    f.seek(backup_entries_lba * sector_size)
    f.write(updated)
    f.seek(backup_lba * sector_size)
    f.write(header.pack(my_lba=backup_lba, alternate_lba=1, entries_lba=backup_entries_lba,
                        last_usable=last_usable, entries_crc=crc, sector_size=sector_size))
    primary_entries_lba = header.entries_lba if header.my_lba == 1 else 2
    f.seek(primary_entries_lba * sector_size)
    f.write(updated)
    f.seek(sector_size)
    f.write(header.pack(my_lba=1, alternate_lba=backup_lba, entries_lba=primary_entries_lba,
                        last_usable=last_usable, entries_crc=crc, sector_size=sector_size))
    _grow_protective_mbr(f, disk_sectors)
    return Partition(index + 1, start, sectors, sector_size, str(GPT_LINUX), str(unique), name)


def _grow_protective_mbr(f: BinaryIO, disk_sectors: int) -> None:
    """Make the protective entry cover the whole disk again."""
    sector = bytearray(_read(f, 0, SECTOR))
    for slot in range(4):
        at = 446 + 16 * slot
        if sector[at + 4] == MBR_PROTECTIVE:
            count = min(disk_sectors - 1, MBR_LIMIT - 1)
            sector[at + 5:at + 8] = _chs(count)
            struct.pack_into("<I", sector, at + 12, count)
    f.seek(0)
    f.write(bytes(sector))
