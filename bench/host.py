"""What a benchmark prints about the machine it ran on, for docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path


def machine_info() -> str:
    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), "?")  # fmt: skip
    return (f"nproc {os.cpu_count()}, CPU {model!r}, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}, "
            f"{time.strftime('%a %b %d %H:%M:%S %Z %Y')}")  # fmt: skip


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())
