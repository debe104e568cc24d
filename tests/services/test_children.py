"""Children die with the service; a start ends the ones a killed service left, and
only those (a PID reused by another program is left alone)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from barecloud import procs
from barecloud.services import children
from barecloud.services.network import dhcp as network_dhcp

SLEEPER = "import time; time.sleep(120)"


def alive(pid: int) -> bool:
    return procs.command_line(pid) is not None


def wait_dead(pid: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)
    return not alive(pid)


def test_a_start_ends_the_dnsmasq_of_a_killed_service_and_nothing_else(tmp_path: Path) -> None:
    root = tmp_path / "network-dhcp"
    stale, reused = root / "net-a", root / "net-b"
    stale.mkdir(parents=True)
    reused.mkdir()
    # A "dnsmasq" a killed service left: our --conf-file in its command line.
    left = subprocess.Popen([sys.executable, "-c", SLEEPER, f"--conf-file={stale / 'conf'}"])
    # A PID file whose PID now belongs to another program.
    other = subprocess.Popen([sys.executable, "-c", SLEEPER])
    try:
        children.write_pid(stale / "pid", left.pid)
        children.write_pid(reused / "pid", other.pid)
        assert network_dhcp.end_all_stale(root) == [left.pid]
        assert left.wait(timeout=10) == -signal.SIGTERM
        assert other.poll() is None
        assert not (stale / "pid").exists() and not (reused / "pid").exists()
    finally:
        for proc in (left, other):
            proc.kill()
            proc.wait()


def test_a_child_dies_with_its_parent_even_on_sigkill(tmp_path: Path) -> None:
    """The parent starts a child with die_with_parent(), says its PID, and is SIGKILLed."""
    script = textwrap.dedent(f"""
        import subprocess, sys, time
        from barecloud.services import children
        child = subprocess.Popen([sys.executable, "-c", {SLEEPER!r}],
                                 preexec_fn=children.die_with_parent(), start_new_session=True)
        print(child.pid, flush=True)
        time.sleep(120)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        assert alive(child)
        parent.kill()
        parent.wait()
        assert wait_dead(child), "the child outlived its SIGKILLed parent"
    finally:
        if alive(child):
            os.kill(child, signal.SIGKILL)
