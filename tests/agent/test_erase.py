"""Erasing real disk files: quick wipes the ends of disk and partitions, full every byte."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from barecloud.agent import erase
from tests.agent.servers import sparse_file
from tests.agent.test_partitions import sfdisk, sfdisk_json

MiB = 2**20


def filled_disk(tmp_path: Path, size: int) -> Path:
    disk = tmp_path / "disk.img"
    with open(disk, "wb") as f:
        for _ in range(size // MiB):
            f.write(b"\xaa" * MiB)
    return disk


def test_quick_erase_wipes_both_ends_of_the_disk_and_of_each_partition(tmp_path: Path) -> None:
    size = 64 * MiB
    disk = filled_disk(tmp_path, size)
    sfdisk(disk, "label: gpt\nsize=20M,type=L\nsize=10M,type=L\nsize=1M,type=L\n")
    parts = [(p["start"] * 512, p["size"] * 512) for p in sfdisk_json(disk)["partitions"]]
    expected = bytearray(b"\xaa") * size
    for start, length in [(0, size), *parts]:
        for at in (start, start + max(0, length - 2 * MiB)):
            end = min(at + 2 * MiB, start + length)
            expected[at:end] = bytes(end - at)

    result = erase.erase(str(disk), "quick")

    data = disk.read_bytes()
    assert result == {"mode": "quick", "bytes": expected.count(0)}
    assert data == expected
    assert b"\xaa" in data[parts[0][0]:parts[0][0] + parts[0][1]]  # the middle is left
    gone = subprocess.run(["sfdisk", "--json", str(disk)], capture_output=True, text=True)
    assert gone.returncode != 0 or '"partitions"' not in gone.stdout


def test_quick_erase_of_a_disk_with_a_damaged_table_still_wipes_its_ends(
        tmp_path: Path) -> None:
    disk = filled_disk(tmp_path, 16 * MiB)
    with open(disk, "r+b") as f:  # a protective MBR and no GPT behind it
        f.seek(446)
        f.write(bytes([0, 0, 2, 0, 0xEE, 0xFF, 0xFF, 0xFF, 1, 0, 0, 0, 0xFF, 0x7F, 0, 0]))
        f.seek(510)
        f.write(b"\x55\xaa")
    result = erase.erase(str(disk), "quick")
    data = disk.read_bytes()
    assert result["bytes"] == 4 * MiB
    assert data[:2 * MiB] == bytes(2 * MiB) and data[-2 * MiB:] == bytes(2 * MiB)
    assert data[2 * MiB:-2 * MiB] == b"\xaa" * (12 * MiB)


def test_full_erase_writes_every_byte_even_of_a_sparse_disk(tmp_path: Path) -> None:
    size = 40 * MiB + 4096
    disk = sparse_file(tmp_path / "disk.img", size)
    with open(disk, "r+b") as f:
        f.seek(17 * MiB)
        f.write(b"tenant secret")
    assert disk.stat().st_blocks * 512 < size  # sparse before
    calls: list[tuple[int, int | None]] = []
    result = erase.erase(str(disk), "full", lambda done, total: calls.append((done, total)))
    assert result == {"mode": "full", "bytes": size}
    assert disk.read_bytes() == bytes(size)
    assert disk.stat().st_blocks * 512 >= size  # every block really written
    assert calls[-1] == (size, size)


def test_unknown_mode_is_refused(tmp_path: Path) -> None:
    disk = sparse_file(tmp_path / "disk.img", MiB)
    with pytest.raises(ValueError, match="'quick' or 'full'"):
        erase.erase(str(disk), "secure")
