"""What the host agent asks of a hypervisor: the interface its drivers implement."""
from __future__ import annotations
import enum
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Mapping
from typing import Protocol

from barecloud.hostagent.firewall import PortRules

class VmState(str, enum.Enum):
    RUNNING = "running"
    PAUSED = "paused"
    SHUTOFF = "shutoff"
    CRASHED = "crashed"
    MISSING = "missing"

@dataclass(frozen=True)
class Capacity:
    vcpus: int
    memory_mb: int
    disk_gb: int

@dataclass(frozen=True)
class Nic:
    mac: str
    tap: str
    bridge: str | None
    mtu: int = 1500

@dataclass(frozen=True)
class VmSpec:
    uuid: str
    name: str
    vcpus: int
    memory_mb: int
    disk_gb: int
    image: Path
    image_format: str
    config_drive: dict[str, bytes]
    nics: tuple[Nic, ...] = ()

class Driver(Protocol):
    hypervisor_type: str
    hypervisor_version: int
    def capacity(self) -> Capacity: ...
    async def create(self, spec: VmSpec) -> None: ...
    async def start(self, uuid: str) -> None: ...
    async def stop(self, uuid: str, timeout: float = 30.0) -> None: ...
    async def reboot(self, uuid: str, hard: bool) -> None: ...
    async def rebuild(self, spec: VmSpec) -> None: ...
    async def resize(self, spec: VmSpec) -> None: ...
    async def delete(self, uuid: str) -> None: ...
    async def states(self) -> dict[str, VmState]: ...
    def console_log(self, uuid: str) -> Path: ...
    # Exactly these taps filtered by their ports' security groups (the whole host's).
    async def filter_taps(self, wanted: Mapping[str, PortRules]) -> None: ...
    async def close(self) -> None: ...
