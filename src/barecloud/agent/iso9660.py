"""ISO 9660 file systems with Joliet names: a writer and a reader.

The config drive is one.  The ramdisk has no genisoimage, so the agent writes
the image itself; the lab firmware reads it back with :class:`IsoImage` to
"boot" a disk.  Only what a config drive needs: one volume, files under
4 GiB, interchange-level-1 primary names (8.3, upper case) for old readers
and Joliet names (UCS-2, up to 64 characters), which Linux, blkid and
cloud-init use when there are no Rock Ridge extensions.
"""

from __future__ import annotations

import datetime as dt
import re
import struct
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import BinaryIO

SECTOR = 2048
MAX_JOLIET_NAME = 64
_FIRST_DESCRIPTOR = 16
_JOLIET_ESCAPES = (b"%/@", b"%/C", b"%/E")
_D_CHARACTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")
_VERSION_SUFFIX = re.compile(r";\d+$")
# A directory bigger than this is not a config drive's: refuse to read it.
_MAX_DIRECTORY = 16 * 2**20


class IsoError(ValueError):
    """Not an ISO 9660 file system, a damaged one, or a path that is not in it."""


# -- writing ---------------------------------------------------------------


@dataclass(eq=False)
class _Dir:
    name: str
    parent: _Dir | None
    dirs: dict[str, _Dir] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)


@dataclass(eq=False)
class _Layout:
    """One tree (primary or Joliet): identifiers, path-table order, extents."""

    joliet: bool
    names: dict[int, dict[str, bytes]] = field(default_factory=dict)  # id(dir) → name → ident
    order: list[_Dir] = field(default_factory=list)  # path-table order
    extent: dict[int, int] = field(default_factory=dict)  # id(dir) → first sector
    size: dict[int, int] = field(default_factory=dict)  # id(dir) → bytes (whole sectors)


def build(files: Mapping[str, bytes], label: str, *, now: dt.datetime | None = None) -> bytes:
    """An ISO 9660 image (with Joliet names) holding ``files`` (path → content)."""
    if not 0 < len(label) <= 16:
        raise IsoError(f"volume label must be 1 to 16 characters, not {label!r}")
    when = (now or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    root = _tree(files)
    layouts = [_Layout(joliet=False), _Layout(joliet=True)]
    for layout in layouts:
        _name_and_order(root, layout)

    sector = _FIRST_DESCRIPTOR + 3  # primary, Joliet, terminator
    tables: list[tuple[int, int, int]] = []  # (size, L sector, M sector) per layout
    for layout in layouts:
        size = sum(_path_record_size(_ident_of(layout, d)) for d in layout.order)
        count = _sectors(size)
        tables.append((size, sector, sector + count))
        sector += 2 * count
    for layout in layouts:
        for d in layout.order:
            layout.extent[id(d)] = sector
            layout.size[id(d)] = _directory_size(layout, d)
            sector += layout.size[id(d)] // SECTOR
    data_at: dict[tuple[int, str], int] = {}
    for d in layouts[0].order:
        for name in sorted(d.files):
            data_at[(id(d), name)] = sector
            sector += _sectors(len(d.files[name]))
    total = sector

    image = bytearray(total * SECTOR)
    stamp = _record_date(when)
    for layout, (size, l_at, m_at) in zip(layouts, tables, strict=True):
        numbers = {id(d): i + 1 for i, d in enumerate(layout.order)}
        little = bytearray()
        big = bytearray()
        for d in layout.order:
            parent = numbers[id(d.parent)] if d.parent is not None else 1
            ident = _ident_of(layout, d)
            little += _path_record(ident, layout.extent[id(d)], parent, big_endian=False)
            big += _path_record(ident, layout.extent[id(d)], parent, big_endian=True)
        image[l_at * SECTOR:l_at * SECTOR + size] = little
        image[m_at * SECTOR:m_at * SECTOR + size] = big
        for d in layout.order:
            _write_directory(image, layout, d, data_at, stamp)
    for d in layouts[0].order:
        for name, content in d.files.items():
            at = data_at[(id(d), name)] * SECTOR
            image[at:at + len(content)] = content

    for index, (layout, (size, l_at, m_at)) in enumerate(zip(layouts, tables, strict=True)):
        root_record = _record(b"\x00", layout.extent[id(root)], layout.size[id(root)], True,
                              stamp)
        descriptor = _volume_descriptor(layout.joliet, label, total, size, l_at, m_at,
                                        root_record, when)
        at = (_FIRST_DESCRIPTOR + index) * SECTOR
        image[at:at + SECTOR] = descriptor
    at = (_FIRST_DESCRIPTOR + 2) * SECTOR
    image[at:at + 7] = b"\xffCD001\x01"
    return bytes(image)


def _tree(files: Mapping[str, bytes]) -> _Dir:
    root = _Dir("", None)
    for path, content in files.items():
        parts = [p for p in path.split("/") if p]
        if not parts or any(p in (".", "..") for p in parts):
            raise IsoError(f"invalid path in ISO image: {path!r}")
        for part in parts:
            if len(part) > MAX_JOLIET_NAME:
                raise IsoError(f"name longer than {MAX_JOLIET_NAME} characters: {part!r}")
        d = root
        for part in parts[:-1]:
            if part in d.files:
                raise IsoError(f"{path!r}: {part!r} is a file")
            d = d.dirs.setdefault(part, _Dir(part, d))
        if parts[-1] in d.dirs:
            raise IsoError(f"{path!r} is a directory")
        d.files[parts[-1]] = bytes(content)
    return root


def _name_and_order(root: _Dir, layout: _Layout) -> None:
    """Identifiers for every directory's children, and the path-table order."""
    layout.order = [root]
    i = 0
    while i < len(layout.order):
        d = layout.order[i]
        i += 1
        names = _joliet_names(d) if layout.joliet else _primary_names(d)
        layout.names[id(d)] = names
        layout.order.extend(sorted(d.dirs.values(), key=lambda c: names[c.name]))


def _joliet_names(d: _Dir) -> dict[str, bytes]:
    return {name: name.encode("utf-16-be") for name in [*d.dirs, *d.files]}


def _primary_names(d: _Dir) -> dict[str, bytes]:
    """8.3 upper-case names, made unique within the directory with a number."""
    used: set[str] = set()
    out: dict[str, bytes] = {}
    entries = [(n, True) for n in d.dirs] + [(n, False) for n in d.files]
    for name, is_dir in sorted(entries):
        stem, dot, ext = name.rpartition(".")
        if is_dir or not dot or not stem:
            stem, ext = name, ""
        stem = _d_characters(stem)[:8] or "_"
        ext = _d_characters(ext)[:3]
        candidate, n = stem, 0
        while (candidate if is_dir else f"{candidate}.{ext}") in used:
            n += 1
            candidate = stem[:8 - len(str(n))] + str(n)
        ident = candidate if is_dir else f"{candidate}.{ext}"
        used.add(ident)
        out[name] = (ident if is_dir else f"{ident};1").encode("ascii")
    return out


def _d_characters(text: str) -> str:
    return "".join(c if c in _D_CHARACTERS else "_" for c in text.upper())


def _ident_of(layout: _Layout, d: _Dir) -> bytes:
    if d.parent is None:
        return b"\x00"
    return layout.names[id(d.parent)][d.name]


def _sectors(size: int) -> int:
    return (size + SECTOR - 1) // SECTOR


def _record_size(ident: bytes) -> int:
    return 33 + len(ident) + (1 - len(ident) % 2)


def _path_record_size(ident: bytes) -> int:
    return 8 + len(ident) + len(ident) % 2


def _children(layout: _Layout, d: _Dir) -> list[tuple[bytes, str, bool]]:
    names = layout.names[id(d)]
    found = [(names[n], n, True) for n in d.dirs] + [(names[n], n, False) for n in d.files]
    return sorted(found)


def _directory_size(layout: _Layout, d: _Dir) -> int:
    """Bytes (whole sectors): a record never straddles a sector boundary."""
    used, sectors = 0, 1
    for ident in [b"\x00", b"\x01", *(c[0] for c in _children(layout, d))]:
        size = _record_size(ident)
        if used + size > SECTOR:
            sectors, used = sectors + 1, 0
        used += size
    return sectors * SECTOR


def _write_directory(image: bytearray, layout: _Layout, d: _Dir,
                     data_at: Mapping[tuple[int, str], int], stamp: bytes) -> None:
    parent = d.parent or d
    records = [
        _record(b"\x00", layout.extent[id(d)], layout.size[id(d)], True, stamp),
        _record(b"\x01", layout.extent[id(parent)], layout.size[id(parent)], True, stamp),
    ]
    for ident, name, is_dir in _children(layout, d):
        if is_dir:
            child = d.dirs[name]
            records.append(_record(ident, layout.extent[id(child)], layout.size[id(child)],
                                   True, stamp))
        else:
            records.append(_record(ident, data_at[(id(d), name)], len(d.files[name]), False,
                                   stamp))
    at = layout.extent[id(d)] * SECTOR
    for record in records:
        if at % SECTOR + len(record) > SECTOR:
            at += SECTOR - at % SECTOR
        image[at:at + len(record)] = record
        at += len(record)


def _both16(value: int) -> bytes:
    return struct.pack("<H", value) + struct.pack(">H", value)


def _both32(value: int) -> bytes:
    return struct.pack("<I", value) + struct.pack(">I", value)


def _record_date(when: dt.datetime) -> bytes:
    return bytes([when.year - 1900, when.month, when.day, when.hour, when.minute,
                  when.second, 0])


def _descriptor_date(when: dt.datetime | None) -> bytes:
    if when is None:
        return b"0" * 16 + b"\x00"
    return when.strftime("%Y%m%d%H%M%S").encode() + b"00\x00"


def _record(ident: bytes, extent: int, size: int, is_dir: bool, stamp: bytes) -> bytes:
    record = bytearray(_record_size(ident))
    record[0] = len(record)
    record[2:10] = _both32(extent)
    record[10:18] = _both32(size)
    record[18:25] = stamp
    record[25] = 0x02 if is_dir else 0x00
    record[28:32] = _both16(1)
    record[32] = len(ident)
    record[33:33 + len(ident)] = ident
    return bytes(record)


def _path_record(ident: bytes, extent: int, parent: int, *, big_endian: bool) -> bytes:
    fixed = struct.pack(">IH" if big_endian else "<IH", extent, parent)
    return bytes([len(ident), 0]) + fixed + ident + b"\x00" * (len(ident) % 2)


def _text(value: str, size: int, joliet: bool) -> bytes:
    if joliet:
        encoded = value.encode("utf-16-be")
        return (encoded + b"\x00 " * size)[:size - size % 2] + b" " * (size % 2)
    return value.encode("ascii").ljust(size, b" ")


def _volume_descriptor(joliet: bool, label: str, total: int, table_size: int, l_at: int,
                       m_at: int, root_record: bytes, when: dt.datetime) -> bytes:
    vd = bytearray(SECTOR)
    vd[0] = 2 if joliet else 1
    vd[1:7] = b"CD001\x01"
    vd[8:40] = _text("LINUX", 32, joliet)
    vd[40:72] = _text(label, 32, joliet)
    vd[80:88] = _both32(total)
    if joliet:
        vd[88:91] = b"%/E"  # UCS-2 level 3
    vd[120:124] = _both16(1)
    vd[124:128] = _both16(1)
    vd[128:132] = _both16(SECTOR)
    vd[132:140] = _both32(table_size)
    vd[140:144] = struct.pack("<I", l_at)
    vd[148:152] = struct.pack(">I", m_at)
    vd[156:190] = root_record
    vd[190:318] = _text("", 128, joliet)  # volume set
    vd[318:446] = _text("", 128, joliet)  # publisher
    vd[446:574] = _text("", 128, joliet)  # data preparer
    vd[574:702] = _text("BARECLOUD AGENT", 128, joliet)  # application
    vd[702:813] = _text("", 111, False)  # copyright, abstract, bibliographic files
    vd[813:830] = _descriptor_date(when)
    vd[830:847] = _descriptor_date(when)
    vd[847:864] = _descriptor_date(None)
    vd[864:881] = _descriptor_date(when)
    vd[881] = 1
    return bytes(vd)


# -- reading ---------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    """A file or directory of an image: where its bytes are, in sectors."""

    name: str
    extent: int
    size: int
    is_dir: bool


class IsoImage:
    """A read-only ISO 9660 file system at ``offset`` bytes into ``f``.

    Names come from the Joliet tree when there is one (the real names), else
    from the primary tree, matched without case and without ``;1``.
    """

    def __init__(self, f: BinaryIO, offset: int = 0) -> None:
        self._f = f
        self._offset = offset
        primary: bytes | None = None
        joliet: bytes | None = None
        for index in range(_FIRST_DESCRIPTOR, _FIRST_DESCRIPTOR + 32):
            vd = self._read(index * SECTOR, SECTOR)
            if len(vd) < SECTOR or vd[1:6] != b"CD001":
                if primary is None:
                    raise IsoError(f"no ISO 9660 file system at offset {offset}")
                break
            if vd[0] == 255:
                break
            if vd[0] == 1 and primary is None:
                primary = vd
            elif vd[0] == 2 and joliet is None and vd[88:91] in _JOLIET_ESCAPES:
                joliet = vd
        if primary is None:
            raise IsoError(f"no primary volume descriptor at offset {offset}")
        self.joliet = joliet is not None
        chosen = joliet if joliet is not None else primary
        self.label = self._decode(chosen[40:72]).rstrip(" \x00")
        self.size = struct.unpack_from("<I", primary, 80)[0] * SECTOR
        self._root = self._parse_record(chosen[156:190])

    def _read(self, at: int, size: int) -> bytes:
        self._f.seek(self._offset + at)
        chunks = []
        while size > 0:
            chunk = self._f.read(size)
            if not chunk:
                break
            chunks.append(chunk)
            size -= len(chunk)
        return b"".join(chunks)

    def _decode(self, raw: bytes) -> str:
        return raw.decode("utf-16-be" if self.joliet else "ascii", errors="replace")

    def _parse_record(self, record: bytes) -> Entry:
        if len(record) < 34 or record[0] < 34:
            raise IsoError("damaged directory record")
        extent = struct.unpack_from("<I", record, 2)[0]
        size = struct.unpack_from("<I", record, 10)[0]
        ident = record[33:33 + record[32]]
        is_dir = bool(record[25] & 0x02)
        if ident in (b"\x00", b"\x01"):
            name = ident.decode()
        else:
            name = _VERSION_SUFFIX.sub("", self._decode(ident))
            if not self.joliet and not is_dir and name.endswith("."):
                name = name[:-1]
        return Entry(name, extent, size, is_dir)

    def _entries(self, directory: Entry) -> list[Entry]:
        if directory.size > _MAX_DIRECTORY:
            raise IsoError(f"directory of {directory.size} bytes is too big")
        data = self._read(directory.extent * SECTOR, directory.size)
        found: list[Entry] = []
        at = 0
        while at < len(data):
            length = data[at]
            if length == 0:  # the rest of this sector is padding
                at = (at // SECTOR + 1) * SECTOR
                continue
            if at + length > len(data):
                raise IsoError("damaged directory: a record runs past its end")
            entry = self._parse_record(data[at:at + length])
            at += length
            if entry.name not in ("\x00", "\x01"):
                found.append(entry)
        return found

    def find(self, path: str) -> Entry:
        """The entry at ``path`` (``/openstack/latest/meta_data.json``)."""
        entry = self._root
        for part in [p for p in path.split("/") if p]:
            if not entry.is_dir:
                raise IsoError(f"{path!r}: {entry.name!r} is not a directory")
            entries = self._entries(entry)
            exact = [e for e in entries if e.name == part]
            loose = [e for e in entries if e.name.casefold() == part.casefold()]
            if not (exact or loose):
                raise IsoError(f"{path!r} is not in the image")
            entry = (exact or loose)[0]
        return entry

    def read(self, path: str) -> bytes:
        """The content of the file at ``path``."""
        entry = self.find(path)
        if entry.is_dir:
            raise IsoError(f"{path!r} is a directory")
        data = self._read(entry.extent * SECTOR, entry.size)
        if len(data) != entry.size:
            raise IsoError(f"{path!r} runs past the end of the image")
        return data

    def listdir(self, path: str = "/") -> list[str]:
        entry = self.find(path)
        if not entry.is_dir:
            raise IsoError(f"{path!r} is not a directory")
        return [e.name for e in self._entries(entry)]

    def walk(self) -> Iterator[str]:
        """Every file's path, directories first-to-last in image order."""
        pending = [("", self._root)]
        while pending:
            prefix, directory = pending.pop(0)
            for entry in self._entries(directory):
                path = f"{prefix}/{entry.name}"
                if entry.is_dir:
                    pending.append((path, entry))
                else:
                    yield path


def label_at(f: BinaryIO, offset: int = 0) -> str | None:
    """The volume label of the ISO 9660 file system at ``offset``, or None if none is."""
    try:
        return IsoImage(f, offset).label
    except IsoError:
        return None
