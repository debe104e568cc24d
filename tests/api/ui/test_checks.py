"""The UI's code is type-checked (tsc --checkJs --strict), its logic modules
pass their node tests, and its vendored libraries are the packages' files."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from barecloud.api import ui

HERE = Path(__file__).parent
MODULES = HERE / "node_modules"
# vendor/VENDORED.md's table: the file here, and where it is in the package.
VENDORED = {
    "preact/preact.mjs": "preact/dist/preact.mjs",
    "preact/hooks.mjs": "preact/hooks/dist/hooks.mjs",
    "htm/htm.mjs": "htm/dist/htm.mjs",
    "htm/preact.mjs": "htm/preact/index.mjs",
    "xterm/xterm.mjs": "@xterm/xterm/lib/xterm.mjs",
    "xterm/xterm.css": "@xterm/xterm/css/xterm.css",
    "xterm/addon-fit.mjs": "@xterm/addon-fit/lib/addon-fit.mjs",
}


def test_types_check() -> None:
    done = subprocess.run([str(MODULES / ".bin" / "tsc"), "-p", str(HERE / "tsconfig.json")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    listed = subprocess.run(
        [str(MODULES / ".bin" / "tsc"), "-p", str(HERE / "tsconfig.json"), "--listFiles"],
        capture_output=True, text=True, timeout=300).stdout
    checked = {Path(line).resolve() for line in listed.splitlines()}
    ours = {p.resolve() for p in ui.WEB.rglob("*.js") if "vendor" not in p.parts}
    assert ours and ours <= checked, sorted(map(str, ours - checked))


def test_every_module_is_checked() -> None:
    unchecked = [str(p) for p in ui.WEB.rglob("*.js")
                 if "vendor" not in p.parts and not p.read_text().startswith("// @ts-check")]
    assert not unchecked, unchecked


def test_logic_modules_pass_their_node_tests() -> None:
    tests = sorted(str(p) for p in (HERE / "js").glob("*.test.mjs"))
    assert tests
    done = subprocess.run(["node", "--test", *tests], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("here,package", sorted(VENDORED.items()))
def test_vendored_file_is_the_packages(here: str, package: str) -> None:
    assert (ui.WEB / "vendor" / here).read_bytes() == (MODULES / package).read_bytes()


def test_every_vendored_file_is_listed() -> None:
    files = {str(p.relative_to(ui.WEB / "vendor")) for p in (ui.WEB / "vendor").rglob("*")
             if p.is_file() and p.suffix in (".mjs", ".js", ".css")}
    assert files == set(VENDORED)
