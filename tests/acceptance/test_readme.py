"""The README, followed literally: its shell blocks run in order, exactly as
written, as a new user types them, in a fresh directory (issue 15).

The directory holds what a clone holds for the commands (``barecloud``,
``scripts``, ``.venv``, ``pyproject.toml``, ``src``) and nothing else, so
``./data``, ``./data-netns`` and ``disk.raw`` are new.  A block that starts the
service (``./barecloud serve ...``) runs it in the background, after stopping
the previous one as Ctrl-C would, and waits for its banner (the lab is then
available); ``./test`` is skipped.  Every other block runs in ``bash`` with
``set -euo pipefail`` and what the blocks before it exported and aliased, and
must exit 0 with its key outputs.  HOME is a temporary one with an SSH key; the
service listens on a free port (``BARECLOUD_PORT``, which the README's
commands never name: they read clouds.yaml).
"""

from __future__ import annotations

import hashlib
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.support import free_port

ROOT = Path(__file__).resolve().parents[2]
CLONE = ("barecloud", "scripts", ".venv", "pyproject.toml", "src")
SERVE = "./barecloud serve"
BANNER = "barecloud is serving at"

# What a block must print, by a command it holds.
EXPECTED = {
    "--key-name laptop --wait web-1": ["ACTIVE", "cloud-init: hostname web-1",
                                       "password password", "Chassis Power is off"],
    "reservation lease create": ["ACTIVE"],
    "barecloud deploy-report": ["done: 3 OK, 0 KO of 3", "done: 3 ok, 0 failed"],
    "--network net1": ["2 packets transmitted, 2 received"],
    "--flavor vm.tiny": ["vm-1 login:", ", 3 received"],
    "server add floating ip": ["2 packets transmitted, 2 received"],
}


def blocks() -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", (ROOT / "README.md").read_text(), re.S | re.M)


def test_the_readme_has_the_blocks_this_test_knows() -> None:
    found = blocks()
    assert found[0].startswith(SERVE), "the quick start starts the service first"
    for command in EXPECTED:
        assert sum(command in block for block in found) == 1, command


class Shell:
    """The user's second shell: blocks run one after another, with the exports,
    aliases and variables of the ones before."""

    def __init__(self, cwd: Path, env: dict[str, str], log: Path) -> None:
        self.cwd, self.env, self.log = cwd, env, log
        self.state = cwd.parent / "shell-state.sh"
        self.state.write_text("")

    def run(self, block: str, timeout: float = 900) -> str:
        script = self.cwd.parent / "block.sh"
        script.write_text(
            "set -euo pipefail\nshopt -s expand_aliases\n"
            f"source {self.state}\nset -x\n{block}\nset +x\n"
            # What a shell keeps: exports, aliases and the user's own variables.
            f"{{ export -p; alias -p; for v in $(compgen -v); do\n"
            f"  if [[ $v =~ ^[a-z][a-z0-9_]*$ ]]; then declare -p \"$v\"; fi; done; }}"
            f" > {self.state}\n")
        started = time.monotonic()
        proc = subprocess.run(["bash", str(script)], cwd=self.cwd, env=self.env,
                              capture_output=True, text=True, timeout=timeout)
        out = proc.stdout + proc.stderr
        with self.log.open("a") as log:
            log.write(f"=== block ({time.monotonic() - started:.1f} s, exit "
                      f"{proc.returncode})\n{out}\n")
        assert proc.returncode == 0, f"this README block failed:\n{block}\n{out[-6000:]}"
        return out


class Services:
    """The service the user started in the first shell (one at a time)."""

    def __init__(self, cwd: Path, env: dict[str, str]) -> None:
        self.cwd, self.env = cwd, env
        self.proc: subprocess.Popen[bytes] | None = None
        self.count = 0

    def start(self, line: str, timeout: float = 600) -> str:
        self.stop()
        self.count += 1
        log = self.cwd.parent / f"service-{self.count}.log"
        with log.open("wb") as out:
            self.proc = subprocess.Popen(["bash", "-c", line], cwd=self.cwd, env=self.env,
                                         stdout=out, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.monotonic() + timeout
        while BANNER not in (text := log.read_text(errors="replace")):
            assert self.proc.poll() is None, f"{line} exited:\n{text[-6000:]}"
            assert time.monotonic() < deadline, f"{line}: no banner:\n{text[-6000:]}"
            time.sleep(0.5)
        while "Stop with Ctrl-C." not in text:
            time.sleep(0.1)
            text = log.read_text(errors="replace")
        return text

    def stop(self) -> None:
        """Ctrl-C: SIGINT to the service's process group; it stops its lab."""
        if self.proc is None or self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGINT)
        try:
            self.proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            raise AssertionError("the service did not stop on Ctrl-C") from None


@pytest.fixture
def clone(tmp_path: Path) -> Path:
    sha = hashlib.sha1((ROOT / "pyproject.toml").read_bytes()).hexdigest()[:12]
    if not any((ROOT / ".venv" / f".barecloud-{kind}-{sha}").exists()
               for kind in ("test", "runtime")):
        pytest.fail("run scripts/bootstrap --test first: ./barecloud would install .venv")
    path = tmp_path / "clone"
    path.mkdir()
    for name in CLONE:
        (path / name).symlink_to(ROOT / name)
    return path


@pytest.fixture
def user_env(tmp_path: Path) -> dict[str, str]:
    """A new user's environment: a HOME with an SSH key, no OS_* or BARECLOUD_*."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True, mode=0o700)
    key = Ed25519PrivateKey.generate()
    (home / ".ssh" / "id_ed25519").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption()))
    (home / ".ssh" / "id_ed25519.pub").write_bytes(key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH) + b" laptop\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "BARECLOUD_"))}
    env.update(HOME=str(home), BARECLOUD_PORT=str(free_port()), PYTHONWARNINGS="ignore")
    return env


@pytest.fixture
def services(clone: Path, user_env: dict[str, str]) -> Iterator[Services]:
    running = Services(clone, user_env)
    try:
        yield running
    finally:
        running.stop()


@pytest.mark.slow
def test_the_readme_blocks_run_in_order(clone: Path, user_env: dict[str, str],
                                        services: Services, tmp_path: Path) -> None:
    shell = Shell(clone, user_env, tmp_path / "blocks.log")
    started = time.monotonic()
    for block in blocks():
        if block.startswith(SERVE):
            for line in block.splitlines():
                command = line.split("#", 1)[0].strip()
                if command == "./test":
                    continue  # the suite itself
                assert command.startswith(SERVE), f"a service block runs only: {line}"
                if "--netns" in command and os.geteuid() != 0:
                    pytest.skip("the README's netns section runs as root")
                banner = services.start(command)
                # The banner's clouds.yaml can be pasted in any directory.
                exported = re.search(r"export OS_CLIENT_CONFIG_FILE=(\S+)", banner)
                assert exported and Path(exported[1]).is_absolute(), banner
                assert Path(exported[1]).is_file(), banner
            continue
        out = shell.run(block)
        for command, wanted in EXPECTED.items():
            if command in block:
                for text in wanted:
                    assert text in out, f"{text!r} not in the output of:\n{block}\n{out}"
    print(f"the README's blocks ran in {time.monotonic() - started:.0f} s")
