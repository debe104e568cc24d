"""Power the machine off or reboot it, from inside.

A lab machine's "firmware" runs the agent as a process and turns its exit
status into the machine's power state (100: off, 101: reboot); a real
machine gets ``poweroff -f`` / ``reboot -f`` (no clean shutdown: the ramdisk
has nothing to save).
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
from typing import NoReturn

LAB_POWER_OFF = 100
LAB_REBOOT = 101

log = logging.getLogger(__name__)


def power_off(platform: str) -> NoReturn:
    _act(platform, LAB_POWER_OFF, ["poweroff", "-f"])


def reboot(platform: str) -> NoReturn:
    _act(platform, LAB_REBOOT, ["reboot", "-f"])


def _act(platform: str, lab_status: int, command: list[str]) -> NoReturn:
    log.info("%s", "powering off" if lab_status == LAB_POWER_OFF else "rebooting")
    _flush()
    if platform == "lab":
        os._exit(lab_status)
    os.sync()
    try:
        subprocess.run(command, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        log.error("%s failed: %s", " ".join(command), exc)
        _flush()
        os._exit(1)
    _flush()
    os._exit(0)  # the kernel is going down; nothing more to do


def _flush() -> None:
    for handler in logging.getLogger().handlers:
        handler.flush()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
