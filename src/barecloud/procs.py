"""What /proc says of a process: enough to tell ours from a PID reused by another."""

from __future__ import annotations

from pathlib import Path


def command_line(pid: int) -> list[bytes] | None:
    """The arguments of a live process ``pid``; None when it is gone or a zombie."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    if stat.rpartition(")")[2].split()[0] in ("Z", "X"):
        return None
    return argv
