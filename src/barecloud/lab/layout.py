"""The lab directory: what a lab is made of, where it is kept on disk.

::

    <lab>/lab.json            settings, shards, their PIDs and Redfish ports (mode 0600:
                              it holds the BMC password and the control token); in
                              netns mode also the wiring (netns.py: switch namespace,
                              each machine's namespace and switch ports)
    <lab>/lab.lock            serialises the commands that change the lab
    <lab>/machines/<name>/    one machine (see machine.py)
    <lab>/logs/shard-<k>.log  the output of shard process k

``lab.json`` is the lab's index: which machine each shard serves and on
which ports, so a shard reads one file and its own machines, never all.
It is written by the command that builds or stops the lab; shards only
read it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from barecloud.lab.machine import MACHINE_FILE, LabError, Machine
from barecloud.lab.netns import Wiring

HOST = "127.0.0.1"  # every BMC listens here, in both modes: the management network
MODES = ("loopback", "netns")
STATE_FILE = "lab.json"
VERSION = 1


@dataclass(slots=True)
class Shard:
    """One lab process: its machines' IPMI BMCs and one Redfish service."""

    id: int
    redfish_port: int
    machines: list[str] = field(default_factory=list)
    pid: int | None = None

    @property
    def redfish_url(self) -> str:
        return f"http://{HOST}:{self.redfish_port}"


@dataclass(slots=True)
class LabState:
    """What ``lab.json`` holds."""

    ipmi_base_port: int
    redfish_base_port: int
    username: str
    password: str
    control_token: str
    mac_prefix: str = "52:54:00"
    name_prefix: str = "lab"
    # What the lab network's DHCP would give as the boot file: the first iPXE
    # script (empty: network boot finds nothing).
    boot_url: str = ""
    shards: list[Shard] = field(default_factory=list)
    # "loopback": machines share the host's network (boot_url stands in for
    # DHCP); "netns": each machine has its own namespace cabled to a switch.
    mode: str = "loopback"
    netns: Wiring | None = None

    @property
    def machine_count(self) -> int:
        return sum(len(s.machines) for s in self.shards)

    def shard_of(self, name: str) -> Shard:
        for shard in self.shards:
            if name in shard.machines:
                return shard
        raise LabError(f"no machine {name!r} in this lab")

    def to_dict(self) -> dict[str, Any]:
        return {"version": VERSION, "host": HOST, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LabState:
        if data.get("version") != VERSION:
            raise LabError(f"lab.json version {data.get('version')!r}; this code reads {VERSION}")
        fields = {k: v for k, v in data.items() if k not in ("version", "host", "shards", "netns")}
        wiring = data.get("netns")
        return cls(**fields, shards=[Shard(**s) for s in data["shards"]],
                   netns=Wiring.from_dict(wiring) if wiring else None)


class LabDir:
    """A lab's directory; ``path`` need not exist before the lab is built."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path).resolve()

    @property
    def state_path(self) -> Path:
        return self.path / STATE_FILE

    @property
    def machines_path(self) -> Path:
        return self.path / "machines"

    def log_path(self, shard: int) -> Path:
        return self.path / "logs" / f"shard-{shard}.log"

    def exists(self) -> bool:
        return self.state_path.exists()

    def read(self) -> LabState:
        try:
            return LabState.from_dict(json.loads(self.state_path.read_text()))
        except FileNotFoundError:
            raise LabError(f"no lab at {self.path} (run `barecloud lab up`)") from None

    def write(self, state: LabState) -> None:
        self.path.mkdir(parents=True, exist_ok=True)
        tmp = self.path / f".{STATE_FILE}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(state.to_dict(), out, indent=1)
        os.replace(tmp, self.state_path)

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the lab's lock: one command at a time changes the lab."""
        self.path.mkdir(parents=True, exist_ok=True)
        with (self.path / "lab.lock").open("a") as f:
            fcntl.flock(f, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(f, fcntl.LOCK_UN)

    def machine(self, ident: str) -> Machine:
        """A machine by name or UUID."""
        path = self.machines_path / ident
        if "/" not in ident and (path / MACHINE_FILE).exists():
            return Machine.load(path)
        for machine in self.machines():
            if machine.uuid == ident:
                return machine
        raise LabError(f"no machine {ident!r} in the lab at {self.path}")

    def machines(self, names: list[str] | None = None) -> Iterator[Machine]:
        """The machines named (all of them by default), in lab order."""
        if names is None:
            names = [n for shard in self.read().shards for n in shard.machines]
            names.sort(key=lambda n: (len(n), n))
        for name in names:
            yield Machine.load(self.machines_path / name)
