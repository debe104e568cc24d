"""The agent's zipapp: only the agent inside, runnable by an isolated python3."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from barecloud.agent import bundle

SRC = Path(bundle.__file__).resolve().parent


def test_holds_the_agent_and_nothing_else_of_barecloud(tmp_path: Path) -> None:
    target = bundle.build(tmp_path / "ramdisk")
    assert target == tmp_path / "ramdisk"
    with zipfile.ZipFile(target) as z:
        names = sorted(n for n in z.namelist() if not n.endswith("/"))
        assert z.read("barecloud/agent/image.py") == (SRC / "image.py").read_bytes()
    expected = sorted(["__main__.py", "barecloud/__init__.py"]
                      + [f"barecloud/agent/{p.name}" for p in SRC.glob("*.py")])
    assert names == expected
    assert target.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    assert list(tmp_path.iterdir()) == [target]  # no temporary file left


def test_runs_with_an_isolated_interpreter(tmp_path: Path) -> None:
    target = bundle.build(tmp_path / "ramdisk")
    python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    done = subprocess.run([python, "-I", str(target), "--help"], capture_output=True,
                          text=True, cwd=tmp_path, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "barecloud-agent" in done.stdout and "--hardware" in done.stdout
    version = subprocess.run([python, "-I", str(target), "--version"], capture_output=True,
                             text=True, timeout=30)
    assert version.stdout.startswith("barecloud-agent ")


def test_rebuilding_replaces_the_file(tmp_path: Path) -> None:
    target = tmp_path / "ramdisk"
    target.write_text("old")
    bundle.build(target)
    assert zipfile.is_zipfile(target)
