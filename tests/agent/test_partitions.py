"""Partition tables made by sfdisk, read and extended by the agent, checked by sfdisk and sgdisk."""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest

from barecloud.agent import partitions
from tests.agent.servers import sparse_file

MiB = 2**20


def sfdisk(disk: Path, script: str) -> None:
    subprocess.run(["sfdisk", "-q", "--no-reread", str(disk)], input=script, text=True,
                   check=True, capture_output=True)


def sfdisk_json(disk: Path) -> dict[str, Any]:
    out = subprocess.run(["sfdisk", "--json", str(disk)], capture_output=True, text=True,
                         check=True).stdout
    table: dict[str, Any] = json.loads(out)["partitiontable"]
    return table


def verify(disk: Path) -> None:
    """sfdisk --verify, and sgdisk -v for GPT: no complaint at all."""
    result = subprocess.run(["sfdisk", "--verify", str(disk)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No errors detected" in result.stdout, result.stdout
    assert "warning" not in (result.stdout + result.stderr).lower(), result.stdout
    if sfdisk_json(disk)["label"] == "gpt" and shutil.which("sgdisk"):
        out = subprocess.run(["sgdisk", "-v", str(disk)], capture_output=True, text=True)
        assert "No problems found" in out.stdout, out.stdout


def number(entry: dict[str, Any]) -> int:
    return int(entry["node"].rsplit("img", 1)[1])


def table_of(disk: Path) -> partitions.PartitionTable | None:
    with open(disk, "rb") as f:
        return partitions.read_table(f)


def add(disk: Path, size: int = 64 * MiB, name: str = "config-2") -> partitions.Partition:
    with open(disk, "r+b") as f:
        return partitions.add_partition(f, size, name=name)


def test_reads_a_gpt_like_sfdisk(tmp_path: Path) -> None:
    disk = sparse_file(tmp_path / "disk.img", 200 * MiB)
    sfdisk(disk, "label: gpt\nsize=50M,type=L,name=root\nsize=20M,type=S\nsize=10M,type=U\n")
    table = table_of(disk)
    assert table is not None and table.kind == "gpt"
    expected = sfdisk_json(disk)
    assert table.first_usable == expected["firstlba"]
    assert table.last_usable == expected["lastlba"]
    assert [(p.number, p.start, p.sectors, p.type.upper(), p.uuid.upper()) for p in
            table.partitions] == [
        (number(e), e["start"], e["size"], e["type"], e["uuid"]) for e in expected["partitions"]]
    assert table.partitions[0].name == "root"
    assert table.partitions[0].offset == expected["partitions"][0]["start"] * 512


def test_reads_an_mbr_with_logical_partitions_like_sfdisk(tmp_path: Path) -> None:
    disk = sparse_file(tmp_path / "disk.img", 200 * MiB)
    sfdisk(disk, "label: dos\ndisk.img1 : size=30M, type=83\ndisk.img2 : size=20M, type=82\n"
                 "disk.img3 : size=100M, type=5\ndisk.img5 : size=10M, type=83\n"
                 "disk.img6 : size=15M, type=b\n")
    table = table_of(disk)
    assert table is not None and table.kind == "mbr"
    expected = [e for e in sfdisk_json(disk)["partitions"] if e["type"] != "5"]
    assert [(p.number, p.start, p.sectors, p.type) for p in table.partitions] == [
        (number(e), e["start"], e["size"], f"0x{int(e['type'], 16):02x}") for e in expected]
    assert [p.number for p in table.partitions] == [1, 2, 5, 6]


def test_no_table_on_a_blank_or_random_disk(tmp_path: Path) -> None:
    blank = sparse_file(tmp_path / "blank.img", 10 * MiB)
    assert table_of(blank) is None
    noise = tmp_path / "noise.img"
    noise.write_bytes(bytes(range(256)) * 2 * 20)  # no 55 AA at 510
    assert table_of(noise) is None


def test_adds_a_gpt_partition_at_the_end_of_a_grown_disk(tmp_path: Path) -> None:
    disk = sparse_file(tmp_path / "disk.img", 300 * MiB)
    sfdisk(disk, "label: gpt\nsize=100M,type=L,name=root\nsize=20M,type=S\n")
    before = sfdisk_json(disk)
    with open(disk, "r+b") as f:  # the image was smaller than the disk it went to
        f.truncate(1024 * MiB)
    added = add(disk)
    after = sfdisk_json(disk)
    verify(disk)
    assert after["partitions"][:2] == [
        {**e, "node": e["node"]} for e in before["partitions"]]
    new = after["partitions"][2]
    assert number(new) == added.number == 3
    assert (new["start"], new["size"]) == (added.start, added.sectors)
    assert 64 * MiB // 512 <= new["size"] < 65 * MiB // 512
    assert new["start"] % 2048 == 0
    assert new["type"] == str(partitions.GPT_LINUX).upper()
    assert new["name"] == "config-2"
    assert after["lastlba"] == 1024 * MiB // 512 - 34  # the backup moved to the end
    assert new["start"] + new["size"] - 1 == after["lastlba"]  # at the very end
    with open(disk, "rb") as f:
        f.seek(446 + 12)
        (protective_sectors,) = struct.unpack("<I", f.read(4))
    assert protective_sectors == 1024 * MiB // 512 - 1


def test_gpt_backup_header_is_used_when_the_primary_is_damaged(tmp_path: Path) -> None:
    disk = sparse_file(tmp_path / "disk.img", 100 * MiB)
    sfdisk(disk, "label: gpt\n,10M,L\n")
    expected = table_of(disk)
    with open(disk, "r+b") as f:
        f.seek(512 + 40)
        f.write(b"\xff" * 8)  # primary header CRC no longer matches
    assert table_of(disk) == expected
    added = add(disk)  # rewrites a good primary from the backup
    verify(disk)
    assert [number(e) for e in sfdisk_json(disk)["partitions"]] == [1, added.number]


def test_a_gpt_with_both_headers_damaged_is_an_error(tmp_path: Path) -> None:
    disk = sparse_file(tmp_path / "disk.img", 100 * MiB)
    sfdisk(disk, "label: gpt\n,10M,L\n")
    with open(disk, "r+b") as f:
        for at in (512, 100 * MiB - 512):
            f.seek(at)
            f.write(b"\x00" * 512)
    with pytest.raises(partitions.PartitionError, match="no valid GPT"):
        table_of(disk)


def test_adds_an_mbr_partition_after_logical_ones(tmp_path: Path) -> None:
    disk = sparse_file(tmp_path / "disk.img", 400 * MiB)
    sfdisk(disk, "label: dos\ndisk.img1 : size=50M, type=83\ndisk.img2 : size=100M, type=5\n"
                 "disk.img5 : size=20M, type=83\n")
    before = sfdisk_json(disk)
    added = add(disk)
    after = sfdisk_json(disk)
    verify(disk)
    assert [e for e in after["partitions"] if number(e) != added.number] == before["partitions"]
    new = next(e for e in after["partitions"] if number(e) == added.number)
    assert added.number == 3  # the first free primary slot
    assert new["type"] == "83"
    assert (new["start"], new["size"]) == (added.start, 64 * MiB // 512)
    assert new["start"] + new["size"] == 400 * MiB // 512


def test_an_mbr_with_four_primaries_is_full(tmp_path: Path) -> None:
    disk = sparse_file(tmp_path / "disk.img", 400 * MiB)
    sfdisk(disk, "label: dos\n,10M,L\n,10M,L\n,10M,L\n,10M,L\n")
    with pytest.raises(partitions.PartitionError, match="four primary"):
        add(disk)


def test_no_room_after_the_last_partition(tmp_path: Path) -> None:
    disk = sparse_file(tmp_path / "disk.img", 200 * MiB)
    sfdisk(disk, "label: gpt\n,,L\n")  # the whole disk
    with pytest.raises(partitions.PartitionError, match="no room"):
        add(disk)
    assert len(sfdisk_json(disk)["partitions"]) == 1


def test_a_disk_without_a_table_gets_an_mbr_and_keeps_its_boot_code(tmp_path: Path) -> None:
    disk = sparse_file(tmp_path / "disk.img", 200 * MiB)
    with open(disk, "r+b") as f:
        f.write(b"\xab" * 440)
    added = add(disk)
    verify(disk)
    after = sfdisk_json(disk)
    assert after["label"] == "dos"
    assert [(number(e), e["start"], e["size"]) for e in after["partitions"]] == [
        (1, added.start, added.sectors)]
    assert disk.read_bytes()[:440] == b"\xab" * 440


def test_mbr_partitions_stay_within_2_tib(tmp_path: Path) -> None:
    disk = sparse_file(tmp_path / "big.img", 3 * 2**40)
    sfdisk(disk, "label: dos\n,100M,L\n")
    added = add(disk)
    assert added.start + added.sectors <= 2**32
    table = table_of(disk)
    assert table is not None and table.partitions[-1] == added
