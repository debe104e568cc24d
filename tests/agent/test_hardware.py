"""The machine's description: from the lab's hardware file, or from /sys and /proc."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from barecloud.agent import hardware

LAB = {"interfaces": [{"name": "eth0", "mac_address": "52:54:00:10:00:01"},
                      {"name": "eth1", "mac_address": "52:54:00:10:00:02"}],
       "disks": [{"name": "vda", "path": "/lab/machines/lab-00001/disk.img",
                  "size": 10737418240}],
       "cpus": 2, "memory_mb": 4096, "cpu_arch": "x86_64", "platform": "lab",
       "system_vendor": {"manufacturer": "barecloud", "product_name": "lab machine",
                         "serial_number": "lab-00001"}}


def test_hardware_file_and_its_inventory(tmp_path: Path) -> None:
    path = tmp_path / "hardware.json"
    path.write_text(json.dumps(LAB))
    hw = hardware.load(str(path))
    assert hw.platform == "lab"
    assert hw.disk().path == "/lab/machines/lab-00001/disk.img"
    assert hw.disk("/dev/vda") == hw.disk("vda") == hw.disk(hw.disks[0].path)
    inventory = hw.inventory("52:54:00:10:00:01")
    assert inventory["cpu"] == {"count": 2, "architecture": "x86_64", "model_name": ""}
    assert inventory["memory"] == {"physical_mb": 4096, "total": 4096 * 2**20}
    assert inventory["disks"] == [{"name": "/dev/vda", "path": LAB["disks"][0]["path"],
                                   "size": 10737418240, "model": "", "rotational": False}]
    assert inventory["interfaces"] == LAB["interfaces"]
    assert inventory["system_vendor"]["serial_number"] == "lab-00001"
    assert inventory["boot"]["pxe_interface"] == "52:54:00:10:00:01"
    json.dumps(inventory)  # it goes over the wire


def test_unknown_disk_and_bad_files(tmp_path: Path) -> None:
    path = tmp_path / "hardware.json"
    path.write_text(json.dumps(LAB))
    with pytest.raises(hardware.HardwareError, match=r"no disk named 'sdz'.*vda"):
        hardware.load(str(path)).disk("sdz")
    path.write_text("{not json")
    with pytest.raises(hardware.HardwareError, match="cannot read the hardware file"):
        hardware.load(str(path))
    with pytest.raises(hardware.HardwareError, match="cannot read"):
        hardware.load(str(tmp_path / "missing.json"))
    path.write_text(json.dumps({"disks": []}))
    with pytest.raises(hardware.HardwareError, match="no disk"):
        hardware.load(str(path)).disk()


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_discovery_from_a_sys_and_proc_tree(tmp_path: Path) -> None:
    root = tmp_path
    _write(root / "sys/class/net/lo/address", "00:00:00:00:00:00\n")
    _write(root / "sys/class/net/eno1/address", "AA:BB:CC:00:00:01\n")
    (root / "sys/class/net/eno1/device").mkdir()
    _write(root / "sys/class/net/docker0/address", "02:42:00:00:00:01\n")  # virtual
    _write(root / "sys/block/sda/size", "20971520\n")
    _write(root / "sys/block/sda/device/model", "QEMU HARDDISK  \n")
    _write(root / "sys/block/sda/queue/rotational", "1\n")
    _write(root / "sys/block/loop0/size", "100\n")
    _write(root / "sys/block/sr0/size", "100\n")
    _write(root / "sys/block/nvme0n1/size", "0\n")  # no medium
    _write(root / "proc/meminfo", "MemTotal:        8167616 kB\nMemFree: 1 kB\n")
    _write(root / "proc/cpuinfo", "processor\t: 0\nmodel name\t: Test CPU\n\n"
                                  "processor\t: 1\nmodel name\t: Test CPU\n")
    _write(root / "sys/class/dmi/id/sys_vendor", "ACME\n")
    _write(root / "sys/class/dmi/id/product_name", "Box 1\n")
    (root / "sys/firmware/efi").mkdir(parents=True)
    hw = hardware.discover(str(root))
    assert hw.interfaces == (hardware.Interface("eno1", "aa:bb:cc:00:00:01"),)
    assert hw.disks == (hardware.Disk("sda", "/dev/sda", 20971520 * 512, "QEMU HARDDISK", True),)
    assert (hw.cpus, hw.cpu_model, hw.memory_mb) == (2, "Test CPU", 8167616 // 1024)
    assert hw.system_vendor["manufacturer"] == "ACME"
    assert hw.boot_mode == "uefi"


def test_discovery_on_this_machine() -> None:
    hw = hardware.discover()
    assert hw.cpus >= 1
    assert hw.memory_mb > 0
    assert hw.cpu_arch
    assert all(i.name != "lo" for i in hw.interfaces)
