"""A lab machine on its own: power and boot semantics, faults, files (no processes)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from barecloud.lab.layout import LabDir, LabState, Shard
from barecloud.lab.machine import LabError, Machine, Profile, mac_address


def make(tmp_path: Path, **profile: int) -> Machine:
    return Machine.create(
        tmp_path, name="lab-00007", index=7, shard=0, profile=Profile(**profile),  # type: ignore[arg-type]
        mac_prefix="52:54:00", ipmi_port=20006, username="admin", password="password",
    )  # fmt: skip


def console(m: Machine) -> list[str]:
    return [line.split(" ", 1)[1] for line in m.console_path.read_text().splitlines()]


def test_a_new_machine_has_a_sparse_disk_macs_and_its_state_on_disk(tmp_path: Path) -> None:
    m = make(tmp_path, disk_gb=50, nics=2)
    assert m.disk_path.stat().st_size == 50 << 30
    assert m.disk_path.stat().st_blocks == 0  # sparse: no space used
    assert m.macs == ["52:54:00:10:00:07", "52:54:00:11:00:07"]
    saved = json.loads((m.dir / "machine.json").read_text())
    assert saved["uuid"] == m.uuid and saved["power_on"] is False
    again = Machine.load(m.dir)
    assert again.to_dict() == m.to_dict()


def test_profiles_and_macs_are_checked() -> None:
    with pytest.raises(LabError, match="1 or 2 NICs"):
        Profile(nics=3)
    with pytest.raises(LabError, match="at least 1 CPU"):
        Profile(cpus=0)
    assert mac_address("52:54:00", 0x1234, 1) == "52:54:00:11:12:34"
    with pytest.raises(LabError):
        mac_address("52:54:00", 1 << 16, 0)


def test_power_actions_change_state_and_print_on_the_console(tmp_path: Path) -> None:
    m = make(tmp_path)
    assert m.power("reset", "ipmi") and not m.power_on  # reset from off: nothing
    m.power("on", "ipmi")
    m.power("on", "redfish")  # already on: acknowledged, nothing printed
    m.power("nmi", "redfish")
    m.power("soft", "redfish")
    m.power("cycle", "ipmi")  # from off, a cycle powers on
    m.power("off", "ipmi")
    assert not m.power_on and m.boots == 2
    assert console(m) == [
        "power on, booting from pxe (via ipmi, boot order: disk, pxe)",
        "NMI received (via redfish)",
        "graceful shutdown (via redfish)",
        "power cycle, booting from pxe (via ipmi, boot order: disk, pxe)",
        "power off (via ipmi)",
    ]
    assert Machine.load(m.dir).boots == 2
    with pytest.raises(LabError, match="unknown power action"):
        m.power("explode", "ipmi")


def test_a_one_time_boot_override_is_used_up_a_persistent_one_is_not(tmp_path: Path) -> None:
    m = make(tmp_path)
    m.set_boot("cd", "once", "bios")
    m.power("on", "ipmi")
    assert (m.boot.device, m.boot.enabled, m.boot.mode) == ("none", "disabled", "bios")
    m.set_boot("pxe", "continuous")
    m.power("reset", "ipmi")
    m.power("reset", "ipmi")
    assert m.boot.device == "pxe" and m.boot.enabled == "continuous"
    assert console(m)[0] == "power on, booting from cd (via ipmi)"
    assert console(m)[-1] == "reset, booting from pxe (via ipmi)"
    m.set_boot("none", "continuous")
    assert m.boot.enabled == "disabled"  # "none" means no override


def test_the_firmware_boots_a_disk_with_a_boot_signature(tmp_path: Path) -> None:
    m = make(tmp_path)
    with m.disk_path.open("r+b") as disk:
        disk.seek(510)
        disk.write(b"\x55\xaa")
    m.power("on", "redfish")
    assert console(m) == ["power on, booting from disk (via redfish, boot order: disk, pxe)"]


def test_faults_are_kept_and_change_what_the_bmcs_do(tmp_path: Path) -> None:
    m = make(tmp_path)
    m.set_fault("slow", 1.5)
    m.set_fault("bad-credentials")
    m.set_fault("ignore-power")
    assert m.delay == 1.5 and m.bmc_password != "password"
    assert m.power("on", "ipmi") is False and not m.power_on
    kept = Machine.load(m.dir)
    assert sorted(kept.faults) == ["bad-credentials", "ignore-power", "slow"]
    assert kept.bmc_password == m.bmc_password
    kept.clear_fault("all")
    assert Machine.load(m.dir).faults == {} and kept.bmc_password == "password"
    with pytest.raises(LabError, match="unknown fault"):
        m.set_fault("on-fire")


def test_lab_state_round_trips_and_finds_machines(tmp_path: Path) -> None:
    lab = LabDir(tmp_path / "lab")
    state = LabState(16000, 15000, "admin", "pw", "token", shards=[Shard(0, 15000)])
    m = make(lab.machines_path)
    state.shards[0].machines.append(m.name)
    lab.write(state)
    assert lab.read() == state
    assert (lab.state_path.stat().st_mode & 0o777) == 0o600
    assert lab.machine(m.uuid).name == m.name == lab.machine(m.name).name
    with pytest.raises(LabError, match="no machine"):
        lab.machine("lab-99999")
    with pytest.raises(LabError, match="no lab"):
        LabDir(tmp_path / "nowhere").read()
