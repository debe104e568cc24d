"""``python -m barecloud.hostagent`` and ``barecloud host-agent``: arguments, refusals,
and the real process against the in-test service."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from barecloud.hostagent import cli
from tests.hostagent.conftest import credential, eventually
from tests.hostagent.server import ApiServer

SRC = str(Path(cli.__file__).resolve().parents[2])


def secret_file(path: Path, *lines: str, mode: int = 0o600) -> Path:
    path.write_text("".join(f"{line}\n" for line in lines))
    path.chmod(mode)
    return path


def test_refusals(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                  monkeypatch: pytest.MonkeyPatch) -> None:
    base = ["--url", "http://127.0.0.1:9", "--state-dir", str(tmp_path / "s")]
    open_file = secret_file(tmp_path / "open", credential(), mode=0o644)
    assert cli.main([*base, "--credential-file", str(open_file), "--driver", "fake"]) == 2
    assert "mode 0644" in capsys.readouterr().err
    monkeypatch.delenv(cli.CREDENTIAL_ENV, raising=False)
    assert cli.main([*base, "--driver", "fake"]) == 2
    assert cli.CREDENTIAL_ENV in capsys.readouterr().err
    two = secret_file(tmp_path / "two", credential(1), credential(2))
    assert cli.main([*base, "--credential-file", str(two)]) == 2
    assert "fleet" in capsys.readouterr().err
    monkeypatch.setenv(cli.CREDENTIAL_ENV, credential())
    monkeypatch.setitem(sys.modules, "barecloud.hostagent.qemu", None)  # not in this build
    assert cli.main([*base, "--driver", "qemu"]) == 2
    assert "no QEMU driver" in capsys.readouterr().err
    assert cli.main(["fleet", *base, "--credentials-file", str(open_file)]) == 2
    assert "chmod 600" in capsys.readouterr().err


def test_barecloud_host_agent_hands_its_arguments_over(tmp_path: Path) -> None:
    from barecloud.cli.main import app

    open_file = secret_file(tmp_path / "open", credential(), mode=0o604)
    result = CliRunner().invoke(app, ["host-agent", "--url", "http://127.0.0.1:9",
                                      "--credential-file", str(open_file),
                                      "--state-dir", str(tmp_path / "s")])
    assert result.exit_code == 2
    assert "mode 0604" in result.output
    helped = CliRunner().invoke(app, ["host-agent", "--help"])
    assert helped.exit_code == 0 and "--credential-file" in helped.output


async def _agent_process(*args: str) -> asyncio.subprocess.Process:
    env = {**os.environ, "PYTHONPATH": SRC}
    env.pop(cli.CREDENTIAL_ENV, None)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "barecloud.hostagent", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)


async def test_the_process_registers_and_stops_on_sigterm(
        api: ApiServer, tmp_path: Path) -> None:
    host = api.add_host(credential())
    cred = secret_file(tmp_path / "cred", credential())
    proc = await _agent_process("--url", api.url, "--credential-file", str(cred),
                                "--state-dir", str(tmp_path / "s"), "--driver", "fake",
                                "--fake-vcpus", "3", "--fake-memory-mb", "2048",
                                "--fake-disk-gb", "20")
    try:
        await eventually(lambda: host.reports, 15.0, "a report from the process")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 10)
    assert host.reports[0]["capacity"] == {"vcpus": 3, "memory_mb": 2048, "disk_gb": 20}
    assert proc.returncode == 0, err.decode()
    assert b"registered as hypervisor" in err


async def test_the_process_exits_2_on_a_refused_credential(
        api: ApiServer, tmp_path: Path) -> None:
    cred = secret_file(tmp_path / "cred", credential(5))
    proc = await _agent_process("--url", api.url, "--credential-file", str(cred),
                                "--state-dir", str(tmp_path / "s"), "--driver", "fake")
    _, err = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 2
    assert b"refuses this host's credential" in err


async def test_the_fleet_process(api: ApiServer, tmp_path: Path) -> None:
    creds = [credential(n) for n in (21, 22, 23)]
    for cred in creds:
        api.add_host(cred)
    listing = secret_file(tmp_path / "creds", *creds)
    proc = await _agent_process("fleet", "--url", api.url, "--credentials-file", str(listing),
                                "--state-dir", str(tmp_path / "fleet"), "--fake-vcpus", "2",
                                "--ramp", "0.2")
    try:
        await eventually(lambda: all(api.hosts[c].reports for c in creds), 15.0,
                         "a report from each host")
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(proc.communicate(), 10)
    assert proc.returncode == 0, err.decode()
    assert {api.hosts[c].reports[0]["capacity"]["vcpus"] for c in creds} == {2}
