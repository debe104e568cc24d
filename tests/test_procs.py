"""procs.command_line: a live process's arguments; nothing for a zombie or a dead one."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from barecloud import procs


def test_live_zombie_and_dead() -> None:
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "marker"])
    try:
        deadline = time.monotonic() + 10  # until the exec is done (vfork shows no arguments)
        while b"marker" not in (procs.command_line(child.pid) or []) and (
                time.monotonic() < deadline):
            time.sleep(0.02)
        assert b"marker" in (procs.command_line(child.pid) or [])
        child.kill()  # unreaped, it is a zombie
        deadline = time.monotonic() + 10
        while procs.command_line(child.pid) is not None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert procs.command_line(child.pid) is None
    finally:
        child.kill()
        child.wait(timeout=10)
    assert procs.command_line(child.pid) is None
    assert procs.command_line(os.getpid()) is not None
