"""scripts/build-hypervisor-image: what it refuses before building anything.

The build itself (a minute or two, apt downloads) and the image's boot are
checked by bench/hypervisor_image.py, not here.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "build-hypervisor-image"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=30,
                          check=False)


def test_help_says_what_it_builds_and_its_options() -> None:
    done = run("--help")
    assert done.returncode == 0, done.stderr
    for word in ("--output", "--source", "--force", "config-2", "barecloud.hostagent"):
        assert word in done.stdout


def test_unknown_argument_is_refused() -> None:
    done = run("--outptu", "x.img")
    assert done.returncode == 2
    assert "unknown argument --outptu" in done.stderr


def test_option_without_its_value_is_refused() -> None:
    assert run("--output").returncode == 2


def test_source_without_barecloud_is_refused(tmp_path: Path) -> None:
    done = run("--source", str(tmp_path), "--output", str(tmp_path / "x.img"))
    assert done.returncode == 2
    assert "has no barecloud/__init__.py" in done.stderr
    assert not (tmp_path / "x.img").exists()
