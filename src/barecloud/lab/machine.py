"""A lab machine: its hardware, its power and boot state, and its faults.

Both BMCs of a machine (IPMI and Redfish) call the methods here, so what
one protocol changes the other one sees.  The machine lives in one
directory, ``machines/<name>/`` under the lab:

- ``machine.json``: this state, rewritten atomically on every change, so a
  lab restarted (or killed) comes back as it was;
- ``disk.img``: the disk, a sparse file: its size costs no space until
  something writes to it;
- ``console.log``: what the serial console printed, one line per event
  (and, live, on the machine's serial port: lab/serial.py, which its BMC's
  Serial-over-LAN reaches).

The vocabulary is protocol-neutral (``pxe``, ``disk``, ``once``); the BMC
modules translate to and from IPMI codes and Redfish names.
"""

from __future__ import annotations

import bisect
import json
import os
import secrets
import time
import uuid
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

# Power actions, as both protocols can ask for them.
POWER_ACTIONS = ("on", "off", "soft", "reset", "cycle", "nmi")
BOOT_DEVICES = ("none", "pxe", "disk", "cd", "bios", "floppy", "diags", "usb", "http")
BOOT_ENABLED = ("disabled", "once", "continuous")
BOOT_MODES = ("uefi", "bios")
FAULTS = ("unreachable", "bad-credentials", "slow", "ignore-power")
DEFAULT_SLOW_SECONDS = 3.0

# Seconds of power reads a machine remembers.
POWER_READS_KEPT = 3600.0

MACHINE_FILE = "machine.json"
DISK_FILE = "disk.img"
CONSOLE_FILE = "console.log"


class LabError(Exception):
    """A lab request that cannot be done (unknown machine, bad value, ...)."""


@dataclass(frozen=True, slots=True)
class Profile:
    """The hardware of a machine, as enrollment reports it in ``properties``."""

    cpus: int = 2
    memory_mb: int = 4096
    cpu_arch: str = "x86_64"
    disk_gb: int = 10
    nics: int = 1

    def __post_init__(self) -> None:
        if self.cpus < 1 or self.memory_mb < 64 or self.disk_gb < 1:
            raise LabError("a machine needs at least 1 CPU, 64 MiB of memory and a 1 GiB disk")
        if not 1 <= self.nics <= 2:
            raise LabError("a lab machine has 1 or 2 NICs")


@dataclass(slots=True)
class Boot:
    """The boot override: which device, for how long, in which firmware mode."""

    device: str = "none"
    enabled: str = "disabled"
    mode: str = "uefi"

    def __post_init__(self) -> None:
        check("boot device", self.device, BOOT_DEVICES)
        check("boot override", self.enabled, BOOT_ENABLED)
        check("boot mode", self.mode, BOOT_MODES)
        if self.device == "none":
            self.enabled = "disabled"  # "no override" whatever the flags said


def check(what: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise LabError(f"unknown {what} {value!r}; one of: {', '.join(allowed)}")


def mac_address(prefix: str, index: int, nic: int) -> str:
    """A MAC unique in the lab: prefix (3 bytes), 0x10 + NIC, machine index (2 bytes)."""
    if not 0 < index < 1 << 16:
        raise LabError(f"machine index {index} does not fit a MAC address")
    return f"{prefix}:{0x10 + nic:02x}:{index >> 8:02x}:{index & 0xFF:02x}"


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Runner(Protocol):
    """What runs on the machine while it has power (the lab firmware)."""

    def start(self, device: str) -> None: ...

    def stop(self) -> None: ...


class SerialOut(Protocol):
    """Where a machine's console lines show, besides console.log."""

    def show(self, data: bytes) -> None: ...


@dataclass(slots=True, eq=False)
class Machine:
    """One machine and its BMC settings; ``dir`` is where it is kept."""

    name: str
    uuid: str
    index: int
    shard: int
    profile: Profile
    macs: list[str]
    ipmi_port: int
    username: str
    password: str = field(repr=False)
    power_on: bool = False
    boot: Boot = field(default_factory=Boot)
    faults: dict[str, dict[str, Any]] = field(default_factory=dict)
    boots: int = 0
    # The device the last start booted from; "" while off.  Fake agents
    # (fake_agents.py) run only on a machine that booted from the network.
    booted: str = ""
    dir: Path = Path()
    # When a BMC was asked for the power state (Unix times, not kept on disk):
    # how often the cluster polls each BMC (fake_agents.py's checker reads it).
    power_reads: list[float] = field(default_factory=list, repr=False)
    # Set by the process serving the machine; a machine without one boots nothing.
    runner: Runner | None = field(default=None, repr=False)
    # Where console lines show live: its serial port in the process serving it
    # (lab/serial.py), its terminal in a netns boot process (nsboot.py).
    serial: SerialOut | None = field(default=None, repr=False)

    # --- files

    @property
    def disk_path(self) -> Path:
        return self.dir / DISK_FILE

    @property
    def console_path(self) -> Path:
        return self.dir / CONSOLE_FILE

    @classmethod
    def create(
        cls,
        root: Path,
        *,
        name: str,
        index: int,
        shard: int,
        profile: Profile,
        mac_prefix: str,
        ipmi_port: int,
        username: str,
        password: str,
    ) -> Machine:
        """A new machine, written to ``root/name`` with its sparse disk."""
        machine = cls(
            name=name,
            uuid=str(uuid.uuid4()),
            index=index,
            shard=shard,
            profile=profile,
            macs=[mac_address(mac_prefix, index, n) for n in range(profile.nics)],
            ipmi_port=ipmi_port,
            username=username,
            password=password,
            dir=root / name,
        )
        machine.dir.mkdir(parents=True, exist_ok=True)
        with machine.disk_path.open("wb") as disk:
            disk.truncate(profile.disk_gb << 30)
        machine.save()
        return machine

    @classmethod
    def load(cls, path: Path) -> Machine:
        """The machine kept in directory ``path``."""
        data = json.loads((path / MACHINE_FILE).read_text())
        return cls(
            name=data["name"],
            uuid=data["uuid"],
            index=data["index"],
            shard=data["shard"],
            profile=Profile(**data["profile"]),
            macs=list(data["macs"]),
            ipmi_port=data["ipmi_port"],
            username=data["username"],
            password=data["password"],
            power_on=data["power_on"],
            boot=Boot(**data["boot"]),
            faults=dict(data.get("faults", {})),
            boots=data.get("boots", 0),
            booted=data.get("booted", ""),
            dir=path,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "uuid": self.uuid,
            "index": self.index,
            "shard": self.shard,
            "profile": asdict(self.profile),
            "macs": self.macs,
            "ipmi_port": self.ipmi_port,
            "username": self.username,
            "password": self.password,
            "power_on": self.power_on,
            "boot": asdict(self.boot),
            "faults": self.faults,
            "boots": self.boots,
            "booted": self.booted,
        }

    def save(self) -> None:
        """Write the state atomically: a reader never sees half a file."""
        tmp = self.dir / f".{MACHINE_FILE}.tmp"
        tmp.write_text(json.dumps(self.to_dict(), indent=1))
        os.replace(tmp, self.dir / MACHINE_FILE)

    def console(self, message: str) -> None:
        """Print a line on the serial console: logged, and shown on the port."""
        with self.console_path.open("a") as log:
            log.write(f"{_now()} {message}\n")
        if self.serial is not None:
            self.serial.show(f"{message}\r\n".encode())

    # --- faults

    @property
    def unreachable(self) -> bool:
        return "unreachable" in self.faults

    @property
    def delay(self) -> float:
        """Seconds the BMCs wait before answering (the ``slow`` fault)."""
        slow = self.faults.get("slow")
        return float(slow.get("seconds", DEFAULT_SLOW_SECONDS)) if slow is not None else 0.0

    @property
    def bmc_password(self) -> str:
        """The password the BMCs accept now: not the enrolled one under ``bad-credentials``."""
        changed = self.faults.get("bad-credentials")
        return str(changed["password"]) if changed is not None else self.password

    def set_fault(self, kind: str, seconds: float | None = None) -> None:
        check("fault", kind, FAULTS)
        params: dict[str, Any] = {}
        if kind == "slow":
            params["seconds"] = DEFAULT_SLOW_SECONDS if seconds is None else float(seconds)
            if params["seconds"] < 0:
                raise LabError("a delay cannot be negative")
        elif kind == "bad-credentials":
            params["password"] = secrets.token_hex(8)  # IPMI 2.0 passwords: at most 20 bytes
        self.faults[kind] = params
        self.save()

    def clear_fault(self, kind: str) -> None:
        if kind == "all":
            self.faults.clear()
        else:
            check("fault", kind, FAULTS)
            self.faults.pop(kind, None)
        self.save()

    # --- what the BMCs do

    def power(self, action: str, via: str) -> bool:
        """Carry out a power action; False when the machine ignored it (``ignore-power``).

        As on most BMCs: ``cycle`` from off powers on, ``reset`` from off
        does nothing, ``soft`` is an ACPI shutdown the (absent) OS obeys
        at once.
        """
        check("power action", action, POWER_ACTIONS)
        if "ignore-power" in self.faults:
            return False
        if action == "on" and not self.power_on:
            self._start("power on", via)
        elif action in ("off", "soft") and self.power_on:
            self.power_on = False
            self.booted = ""
            how = "graceful shutdown" if action == "soft" else "power off"
            self.console(f"{how} (via {via})")
            if self.runner is not None:
                self.runner.stop()
        elif action == "cycle":
            self._start("power cycle", via)
        elif action == "reset" and self.power_on:
            self._start("reset", via)
        elif action == "nmi" and self.power_on:
            self.console(f"NMI received (via {via})")
        else:
            return True  # nothing to change: acknowledged, as BMCs do
        self.save()
        return True

    def set_boot(
        self, device: str | None = None, enabled: str | None = None, mode: str | None = None
    ) -> None:
        """Change the boot override; what is not given stays as it was."""
        new = Boot(
            device if device is not None else self.boot.device,
            enabled if enabled is not None else self.boot.enabled,
            mode if mode is not None else self.boot.mode,
        )
        if new != self.boot:
            self.boot = new
            self.save()

    def _start(self, what: str, via: str) -> None:
        """The machine (re)starts and its firmware picks a boot device.

        An override wins (a one-time one is used up); otherwise the disk if
        it carries a boot signature, else the network.
        """
        self.power_on = True
        self.boots += 1
        boot = self.boot
        if boot.enabled != "disabled":
            device = boot.device
            if boot.enabled == "once":
                self.boot = Boot("none", "disabled", boot.mode)
            self.console(f"{what}, booting from {device} (via {via})")
        else:
            device = "disk" if self._disk_bootable() else "pxe"
            self.console(f"{what}, booting from {device} (via {via}, boot order: disk, pxe)")
        self.booted = device
        if self.runner is not None:
            self.runner.start(device)

    def power_read(self) -> bool:
        """The power state, as a BMC is asked for it: each read is logged."""
        now = time.time()
        self.power_reads.append(now)
        if self.power_reads[0] < now - POWER_READS_KEPT:
            del self.power_reads[: bisect.bisect_left(self.power_reads, now - POWER_READS_KEPT)]
        return self.power_on

    def _disk_bootable(self) -> bool:
        """True if the disk carries a boot signature (MBR, also there on GPT disks)."""
        try:
            with self.disk_path.open("rb") as disk:
                disk.seek(510)
                return disk.read(2) == b"\x55\xaa"
        except OSError:
            return False
