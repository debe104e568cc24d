"""Power actions: exit statuses on the lab platform, poweroff/reboot -f elsewhere."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def run(action: str, platform: str, env: dict[str, str] | None = None
        ) -> subprocess.CompletedProcess[str]:
    script = (f"from barecloud.agent import power\nprint('before', flush=False)\n"
              f"power.{action}({platform!r})\nprint('not reached')\n")
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=30, env=env)


@pytest.mark.parametrize(("action", "status"), [("power_off", 100), ("reboot", 101)])
def test_lab_platform_exits_with_the_power_status(action: str, status: int) -> None:
    done = run(action, "lab")
    assert done.returncode == status
    assert done.stdout == "before\n"  # flushed before os._exit


@pytest.mark.parametrize(("action", "program"), [("power_off", "poweroff"),
                                                 ("reboot", "reboot")])
def test_elsewhere_it_runs_the_system_command(tmp_path: Path, action: str,
                                              program: str) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    called = tmp_path / "called"
    tool = bin_dir / program
    tool.write_text(f"#!/bin/sh\necho \"$0 $*\" > {called}\n")
    tool.chmod(0o755)
    done = run(action, "", env={**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"})
    assert done.returncode == 0, done.stderr
    assert called.read_text() == f"{tool} -f\n"


def test_a_failing_power_command_exits_1(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "poweroff").write_text("#!/bin/sh\nexit 3\n")
    (bin_dir / "poweroff").chmod(0o755)
    done = run("power_off", "", env={**os.environ, "PATH": str(bin_dir)})
    assert done.returncode == 1
    assert "poweroff -f failed" in done.stderr
