"""Command dispatch: results as in the design's table, failures as clear messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from barecloud.agent import commands, hardware
from tests.agent.servers import sparse_file

MiB = 2**20


def context(tmp_path: Path, disk_path: str | None = None) -> commands.Context:
    path = disk_path or str(sparse_file(tmp_path / "disk.img", 8 * MiB))
    hw = hardware.Hardware(
        interfaces=(hardware.Interface("eth0", "52:54:00:00:00:01"),),
        disks=(hardware.Disk("vda", path, 8 * MiB),), cpus=1, memory_mb=512,
        cpu_arch="x86_64", platform="lab")
    return commands.Context(hw, "52:54:00:00:00:01", lambda done, total: None)


def test_unknown_command_names_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(commands.CommandError,
                       match=r"unknown command 'flash_bios'.*erase, get_inventory"):
        commands.run("flash_bios", {}, context(tmp_path))


def test_get_inventory(tmp_path: Path) -> None:
    outcome = commands.run("get_inventory", {}, context(tmp_path))
    assert outcome.then is None
    assert outcome.result["inventory"]["memory"]["physical_mb"] == 512
    assert outcome.result["inventory"]["interfaces"][0]["mac_address"] == "52:54:00:00:00:01"


def test_erase_every_disk(tmp_path: Path) -> None:
    outcome = commands.run("erase", {"mode": "full"}, context(tmp_path))
    assert outcome.result == {"mode": "full", "bytes": 8 * MiB}
    with pytest.raises(commands.CommandError, match="'quick' or 'full'"):
        commands.run("erase", {"mode": "gutmann"}, context(tmp_path))


def test_power_commands_act_only_after_reporting(tmp_path: Path) -> None:
    for name in ("power_off", "reboot"):
        outcome = commands.run(name, {}, context(tmp_path))
        assert outcome.result == {}
        assert callable(outcome.then)


def test_failures_become_command_errors(tmp_path: Path) -> None:
    with pytest.raises(commands.CommandError, match="write_image needs 'url'"):
        commands.run("write_image", {}, context(tmp_path))
    with pytest.raises(commands.CommandError, match="no disk named 'sdb'"):
        commands.run("write_image", {"url": "http://127.0.0.1:9/x", "disk": "sdb"},
                     context(tmp_path))
    with pytest.raises(commands.CommandError, match=r"write_image: .*No such file"):
        commands.run("write_image", {"url": "http://127.0.0.1:9/x"},
                     context(tmp_path, str(tmp_path / "missing.img")))
    with pytest.raises(commands.CommandError, match="needs 'files'"):
        commands.run("write_configdrive", {}, context(tmp_path))
