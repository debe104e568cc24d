"""Labs for tests: real shard processes in temporary directories, on free ports.

Each lab is started with ``python -m barecloud.lab up`` (as the service
will), and stopped with ``down``; whatever still runs afterwards is killed
by the PIDs in ``lab.json``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests import support

PASSWORD = "password"


def free_range(count: int, kind: int) -> int:
    """A base port with ``count`` consecutive free ports below the ephemeral range,
    in this pytest-xdist worker's slice (two workers never pick the same ports)."""
    ports = support.worker_ports(support.LAB_PORTS)
    for _ in range(50):
        base = random.randrange(ports.start, ports.stop - count)
        held: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                s = socket.socket(socket.AF_INET, kind)
                held.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in held:
                s.close()
    raise RuntimeError("no free port range")


@dataclass
class Lab:
    """A lab run by the test; ``cli`` runs ``python -m barecloud.lab`` on it."""

    path: Path
    ipmi_base: int
    redfish_base: int

    def cli(self, *args: str, check: bool = True, timeout: float = 120) -> str:
        proc = subprocess.run(
            [sys.executable, "-m", "barecloud.lab", *args, "--lab-dir", str(self.path)],
            capture_output=True, text=True, timeout=timeout,
        )  # fmt: skip
        if check and proc.returncode != 0:
            raise AssertionError(f"lab {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc.stdout + proc.stderr

    def up(self, nodes: int, *args: str) -> dict[str, Any]:
        out = self.cli(
            "up", "--nodes", str(nodes), "--json", "--ipmi-base-port", str(self.ipmi_base),
            "--redfish-base-port", str(self.redfish_base), *args,
        )  # fmt: skip
        return dict(json.loads(next(ln for ln in out.splitlines() if ln.startswith("{"))))

    def down(self, *args: str) -> str:
        return self.cli("down", *args)

    def state(self) -> dict[str, Any]:
        return dict(json.loads((self.path / "lab.json").read_text()))

    def machine(self, name: str) -> dict[str, Any]:
        return dict(json.loads((self.path / "machines" / name / "machine.json").read_text()))

    def port(self, name: str) -> int:
        return int(self.machine(name)["ipmi_port"])

    @property
    def redfish(self) -> str:
        return f"http://127.0.0.1:{self.redfish_base}"

    def pids(self) -> list[int]:
        if not (self.path / "lab.json").exists():
            return []
        return [s["pid"] for s in self.state()["shards"] if s["pid"]]

    def kill(self) -> None:
        """Kill what is left, by PID (after a failed test, ``down`` may not have run)."""
        for pid in self.pids():
            with contextlib.suppress(OSError):
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                if b"barecloud.lab.shard" in cmdline and str(self.path).encode() in cmdline:
                    os.kill(pid, signal.SIGKILL)


def make_lab(path: Path, nodes: int, shards: int = 1) -> Lab:
    return Lab(path, free_range(nodes, socket.SOCK_DGRAM), free_range(shards, socket.SOCK_STREAM))


@pytest.fixture
def new_lab(tmp_path: Path) -> Iterator[Lab]:
    """A lab directory with free ports, not started; killed at the end whatever happened."""
    lab = make_lab(tmp_path / "lab", 64, 4)
    try:
        yield lab
    finally:
        lab.kill()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Eight running machines, shared by a module's tests: each test uses its own machines."""
    lab = make_lab(tmp_path_factory.mktemp("lab") / "lab", 8)
    try:
        lab.up(8)
        yield lab
    finally:
        lab.cli("down", check=False)
        lab.kill()
