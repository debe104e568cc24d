"""A command forked from the preloader behaves as the same command run anew."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests import preloaded, support

pytestmark = pytest.mark.skipif(not preloaded.OPENSTACK.exists(),
                                reason="openstack CLI not installed")


def _both(cmd: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], ...]:
    forked = preloaded.run(cmd, env=env, timeout=120)
    anew = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120)
    return forked, anew


def test_the_cli_prints_and_exits_as_it_does_run_anew(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env["OS_CLIENT_CONFIG_FILE"] = str(tmp_path / "none.yaml")
    forked, anew = _both([str(preloaded.OPENSTACK), "--version"], env)
    assert forked.returncode == anew.returncode == 0
    assert forked.stdout == anew.stdout and forked.stdout.startswith("openstack ")
    # A command it does not know: the same exit status and the same words.
    forked, anew = _both([str(preloaded.OPENSTACK), "no-such-command"], env)
    assert forked.returncode == anew.returncode != 0
    assert "'no-such-command' is not an openstack command" in forked.stdout
    assert (forked.stdout, forked.stderr) == (anew.stdout, anew.stderr)


def test_each_command_has_its_own_environment(tmp_path: Path) -> None:
    """The environment is the command's: OS_CLOUD of one call does not leak into the
    next (the CLI reads it at run time)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text("clouds:\n"
                      "  here:\n    auth_type: none\n    endpoint: http://127.0.0.1:9/\n"
                      "  there:\n    auth_type: admin_token\n    token: x\n"
                      "    endpoint: http://127.0.0.1:9/\n")
    cmd = [str(preloaded.OPENSTACK), "configuration", "show", "-f", "value", "-c", "auth_type"]
    seen = []
    for cloud in ("here", "there", "here"):
        forked, anew = _both(cmd, {**base, "OS_CLIENT_CONFIG_FILE": str(clouds),
                                   "OS_CLOUD": cloud})
        assert forked.returncode == anew.returncode == 0, forked.stderr
        assert forked.stdout == anew.stdout
        seen.append(forked.stdout.strip())
    assert seen == ["none", "admin_token", "none"]


def test_a_service_is_a_process_the_test_can_signal_and_wait_for(tmp_path: Path) -> None:
    svc = support.start_service(tmp_path / "svc")
    assert isinstance(svc.proc, preloaded.Child) or os.environ.get("BARECLOUD_TEST_EXEC")
    assert Path(f"/proc/{svc.proc.pid}/cwd").resolve() == (tmp_path / "svc").resolve()
    assert svc.proc.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        svc.proc.wait(0.2)
    svc.proc.send_signal(signal.SIGKILL)
    assert svc.proc.wait(20) == -signal.SIGKILL
    assert svc.proc.poll() == -signal.SIGKILL
    deadline = time.monotonic() + 5
    while Path(f"/proc/{svc.proc.pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # reaped by the fork that waited for it
    assert not Path(f"/proc/{svc.proc.pid}").exists()


def test_an_exit_status_and_a_timeout(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = preloaded.run([sys.executable, "-m", "barecloud", "no-such-command"],
                         env={**os.environ, "BARECLOUD_DATA_DIR": str(data)}, timeout=120)
    anew = subprocess.run([sys.executable, "-m", "barecloud", "no-such-command"],
                          env={**os.environ, "BARECLOUD_DATA_DIR": str(data)},
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == anew.returncode == 2
    assert "No such command" in done.stderr
    with pytest.raises(subprocess.TimeoutExpired):
        preloaded.run([sys.executable, "-m", "barecloud", "serve"],
                      env={**os.environ, "BARECLOUD_DATA_DIR": str(data),
                           "BARECLOUD_PORT": str(support.free_port())}, timeout=0.5)
