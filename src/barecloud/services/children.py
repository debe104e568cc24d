"""Child processes that die with the service, and the ones a killed service left.

Two mechanisms, because either alone leaves a gap:

- ``die_with_parent`` (a ``preexec_fn``) sets ``PR_SET_PDEATHSIG``: the kernel
  signals the child when the thread that started it ends, even on SIGKILL of
  the service.  Children are started from the event loop's thread, which
  lives as long as the service.  The setting survives ``exec`` but is cleared
  by a change of user, so the children keep ours (dnsmasq's ``user=``).
- ``end_stale`` reads a child's PID file at start and ends that process if,
  and only if, its ``/proc/<pid>/cmdline`` still holds our marker (a PID
  reused by an unrelated process is never signalled).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import ctypes.util
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

from barecloud import procs

PR_SET_PDEATHSIG = 1
# Resolved before any fork: the child only calls it.
_prctl = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).prctl


def die_with_parent(sig: int = signal.SIGTERM) -> Callable[[], None]:
    """A ``preexec_fn``: the child gets ``sig`` when this process (thread) ends."""
    parent = os.getpid()

    def preexec() -> None:
        _prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the prctl
            os.kill(os.getpid(), sig)

    return preexec


def is_ours(pid: int, marker: bytes) -> bool:
    """``pid`` runs and its command line holds ``marker`` (an argument of ours)."""
    return marker in (procs.command_line(pid) or [])


def end_stale(pid_path: Path, marker: bytes, timeout: float = 5.0) -> int | None:
    """End the process ``pid_path`` names if it is ours (SIGTERM, then SIGKILL);
    remove the file; return the PID ended."""
    try:
        pid = int(pid_path.read_text().strip())
    except (OSError, ValueError):
        return None
    ended = None
    if pid > 1 and is_ours(pid, marker):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while is_ours(pid, marker):
            if time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            time.sleep(0.02)
        ended = pid
    pid_path.unlink(missing_ok=True)
    return ended


def write_pid(pid_path: Path, pid: int) -> None:
    """A PID file of ours (0600), for ``end_stale`` after a kill."""
    fd = os.open(pid_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{pid}\n")


async def end(proc: asyncio.subprocess.Process | None, timeout: float = 5.0) -> None:
    """End our child ``proc`` (None: nothing): SIGTERM, SIGKILL after ``timeout``."""
    if proc is None or proc.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        proc.terminate()
    try:
        await asyncio.wait_for(proc.wait(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
