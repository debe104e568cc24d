"""What the machine has: NICs, disks, CPUs, memory; and the inventory report.

From the ``--hardware`` JSON file when given (the lab's machines are
processes: their disks are files), else discovered from ``/sys`` and
``/proc`` (no dmidecode or lshw in the ramdisk).  The inventory has the
shape of Ironic's agent's, so inspection rules written for Ironic apply.
"""

from __future__ import annotations

import json
import os
import platform as host_platform
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Block devices that are never a machine's disk.
_NOT_DISKS = ("loop", "ram", "zram", "sr", "fd", "dm-", "md", "nbd")


class HardwareError(Exception):
    """An unreadable hardware file, or no disk to write to."""


@dataclass(frozen=True)
class Interface:
    name: str
    mac_address: str


@dataclass(frozen=True)
class Disk:
    name: str  # vda
    path: str  # /dev/vda, or the lab's disk file
    size: int
    model: str = ""
    rotational: bool = False


@dataclass(frozen=True)
class Hardware:
    interfaces: tuple[Interface, ...]
    disks: tuple[Disk, ...]
    cpus: int
    memory_mb: int
    cpu_arch: str
    platform: str = ""  # "lab": power actions are exit statuses
    cpu_model: str = ""
    system_vendor: dict[str, str] = field(default_factory=dict)
    boot_mode: str = "bios"

    def disk(self, name: str | None = None) -> Disk:
        """The disk called ``name`` (``vda``, ``/dev/vda`` or its path); else the first."""
        if not self.disks:
            raise HardwareError("the machine has no disk")
        if not name:
            return self.disks[0]
        for disk in self.disks:
            if name in (disk.name, disk.path, f"/dev/{disk.name}"):
                return disk
        known = ", ".join(d.name for d in self.disks)
        raise HardwareError(f"no disk named {name!r} (the machine has: {known})")

    def inventory(self, boot_mac: str | None = None) -> dict[str, Any]:
        """Ironic's agent's inventory form."""
        return {
            "interfaces": [{"name": i.name, "mac_address": i.mac_address}
                           for i in self.interfaces],
            "cpu": {"count": self.cpus, "architecture": self.cpu_arch,
                    "model_name": self.cpu_model},
            "memory": {"physical_mb": self.memory_mb, "total": self.memory_mb * 2**20},
            "disks": [{"name": f"/dev/{d.name}", "path": d.path, "size": d.size,
                       "model": d.model, "rotational": d.rotational} for d in self.disks],
            "system_vendor": {
                "manufacturer": self.system_vendor.get("manufacturer", ""),
                "product_name": self.system_vendor.get("product_name", ""),
                "serial_number": self.system_vendor.get("serial_number", ""),
            },
            "boot": {"current_boot_mode": self.boot_mode, "pxe_interface": boot_mac},
        }


def load(path: str) -> Hardware:
    """The hardware described by a ``--hardware`` JSON file."""
    try:
        with open(path, encoding="utf-8") as f:
            raw = json.load(f)
        return Hardware(
            interfaces=tuple(Interface(str(i["name"]), str(i["mac_address"]).lower())
                             for i in raw.get("interfaces", [])),
            disks=tuple(Disk(str(d["name"]), str(d.get("path") or f"/dev/{d['name']}"),
                             int(d.get("size", 0)), str(d.get("model", "")))
                        for d in raw.get("disks", [])),
            cpus=int(raw.get("cpus", 1)),
            memory_mb=int(raw.get("memory_mb", 0)),
            cpu_arch=str(raw.get("cpu_arch", "x86_64")),
            platform=str(raw.get("platform", "")),
            cpu_model=str(raw.get("cpu_model", "")),
            system_vendor={str(k): str(v) for k, v in (raw.get("system_vendor") or {}).items()},
            boot_mode=str(raw.get("boot_mode", "bios")),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise HardwareError(f"cannot read the hardware file {path}: {exc}") from None


def discover(root: str = "/") -> Hardware:
    """The hardware of the machine this runs on (``root``: where /sys and /proc are)."""
    base = Path(root)
    cpus, model = _cpuinfo(base / "proc/cpuinfo")
    dmi = base / "sys/class/dmi/id"
    return Hardware(
        interfaces=_interfaces(base / "sys/class/net"),
        disks=_disks(base / "sys/block"),
        cpus=cpus,
        memory_mb=_memory_mb(base / "proc/meminfo"),
        cpu_arch=host_platform.machine(),
        cpu_model=model,
        system_vendor={"manufacturer": _text(dmi / "sys_vendor"),
                       "product_name": _text(dmi / "product_name"),
                       "serial_number": _text(dmi / "product_serial")},
        boot_mode="uefi" if (base / "sys/firmware/efi").exists() else "bios",
    )


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


def _interfaces(net: Path) -> tuple[Interface, ...]:
    """Physical NICs (those with a ``device``), or every one if none is."""
    found: list[tuple[bool, Interface]] = []
    for entry in sorted(net.iterdir()) if net.is_dir() else ():
        mac = _text(entry / "address").lower()
        if entry.name == "lo" or not mac or mac == "00:00:00:00:00:00":
            continue
        found.append(((entry / "device").exists(), Interface(entry.name, mac)))
    physical = tuple(i for has_device, i in found if has_device)
    return physical or tuple(i for _, i in found)


def _disks(block: Path) -> tuple[Disk, ...]:
    disks = []
    for entry in sorted(block.iterdir()) if block.is_dir() else ():
        if entry.name.startswith(_NOT_DISKS):
            continue
        try:
            sectors = int(_text(entry / "size") or 0)
        except ValueError:
            continue
        if sectors <= 0:
            continue
        disks.append(Disk(entry.name, f"/dev/{entry.name}", sectors * 512,
                          _text(entry / "device/model"),
                          _text(entry / "queue/rotational") == "1"))
    return tuple(disks)


def _cpuinfo(path: Path) -> tuple[int, str]:
    count, model = 0, ""
    for line in _text(path).splitlines():
        key, _, value = line.partition(":")
        key = key.strip()
        if key == "processor":
            count += 1
        elif key == "model name" and not model:
            model = value.strip()
    return count or os.cpu_count() or 1, model


def _memory_mb(path: Path) -> int:
    for line in _text(path).splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024
    return 0
