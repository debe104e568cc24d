"""The lab's SSH switch, driven as a person would: prompts, modes, configuration, refusals."""

from __future__ import annotations

import asyncio
import re
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest

from barecloud.lab.ssh_switch import IOS_INVALID, SshSwitch

PASSWORD = "lab-pw-31"


class Term:
    """An interactive shell on the switch: ``cmd`` types a line, returns output and prompt."""

    def __init__(self, conn: asyncssh.SSHClientConnection, stdin: asyncssh.SSHWriter[str],
                 stdout: asyncssh.SSHReader[str]) -> None:
        self.conn, self.stdin, self.stdout = conn, stdin, stdout

    async def read_prompt(self) -> str:
        buf = ""
        while not re.search(r"([>#]|Password:) ?$", buf):
            buf += await asyncio.wait_for(self.stdout.read(4096), 5)
        return buf.replace("\r\n", "\n")

    async def cmd(self, line: str) -> str:
        self.stdin.write(line + "\r")
        return await self.read_prompt()


@pytest.fixture
async def ios() -> AsyncIterator[SshSwitch]:
    sw = SshSwitch("cisco_ios", "admin", PASSWORD, ports=["GigabitEthernet1/0/1"],
                   enable_secret="en-pw")
    await sw.start()
    yield sw
    await sw.close()


async def login(sw: SshSwitch, user: str = "admin", password: str = PASSWORD) -> Term:
    conn = await asyncssh.connect("127.0.0.1", sw.port, username=user, password=password,
                                  known_hosts=None, client_keys=None, config=None)
    stdin, stdout, _ = await conn.open_session(term_type="vt100")
    term = Term(conn, stdin, stdout)
    await term.read_prompt()
    return term


async def test_ios_modes_prompts_and_config(ios: SshSwitch) -> None:
    t = await login(ios)
    try:
        assert (await t.cmd("enable")).endswith("Password: ")
        out = await t.cmd("en-pw")
        assert "en-pw" not in out and out.endswith("switch#")
        assert (await t.cmd("configure terminal")).endswith("switch(config)#")
        assert (await t.cmd("vlan 100")).endswith("switch(config-vlan)#")
        await t.cmd("name tenant")
        await t.cmd("exit")
        assert (await t.cmd("interface GigabitEthernet1/0/1")).endswith("switch(config-if)#")
        out = await t.cmd("switchport access vlan 130")
        assert "Creating vlan 130" in out
        out = await t.cmd("switchport access vlan abc")
        assert IOS_INVALID in out and "^" in out
        await t.cmd("shutdown")
        assert (await t.cmd("end")).endswith("switch#")
        assert "[OK]" in await t.cmd("write memory")
        status = await t.cmd("show interfaces status")
        assert re.search(r"^Gi1/0/1\s+disabled\s+130\s", status, re.M)
    finally:
        t.conn.close()
    assert ios.state.vlans == {100: "tenant", 130: "VLAN0130"}
    assert ios.state.interfaces["GigabitEthernet1/0/1"].shutdown
    assert ios.state.access_vlan("GigabitEthernet1/0/1") is None
    assert ios.state.startup is not None and 130 in ios.state.startup.vlans
    # Every line in order, the enable secret excepted.
    assert ios.state.commands[:4] == ["enable", "configure terminal", "vlan 100", "name tenant"]
    assert "en-pw" not in ios.state.commands


async def test_refusal_answers_vendor_error_and_changes_nothing(ios: SshSwitch) -> None:
    ios.state.refuse("switchport access vlan 100")
    ios.state.refuse("vlan 200", "% custom refusal")
    t = await login(ios)
    try:
        await t.cmd("enable")
        await t.cmd("en-pw")
        await t.cmd("configure terminal")
        assert "% custom refusal" in await t.cmd("vlan 200")
        await t.cmd("interface GigabitEthernet1/0/1")
        assert IOS_INVALID in await t.cmd("switchport access vlan 100")
    finally:
        t.conn.close()
    assert ios.state.access_vlan("GigabitEthernet1/0/1") == 1
    assert 200 not in ios.state.vlans
    assert ios.state.commands[-1] == "switchport access vlan 100"


async def test_wrong_password_is_refused(ios: SshSwitch) -> None:
    with pytest.raises(asyncssh.PermissionDenied):
        await login(ios, password="wrong")
    with pytest.raises(asyncssh.PermissionDenied):
        await login(ios, user="root")
    assert ios.state.failed_logins >= 2 and ios.state.logins == 0


async def test_junos_commit_applies_and_exit_drops_the_rest() -> None:
    sw = SshSwitch("juniper_junos", "ops", PASSWORD, ports=["ge-0/0/1"])
    await sw.start()
    try:
        t = await login(sw, "ops")
        try:
            out = await t.cmd("configure private")
            assert "[edit]" in out and out.endswith("ops@switch# ")
            await t.cmd("set vlans net1 vlan-id 100")
            await t.cmd("set interfaces ge-0/0/1 unit 0 family ethernet-switching "
                        "vlan members net1")
            assert sw.state.access_vlan("ge-0/0/1") == 1  # not committed yet
            assert "commit complete" in await t.cmd("commit")
            assert sw.state.access_vlan("ge-0/0/1") == 100
            await t.cmd("set interfaces ge-0/0/1 disable")
            assert "syntax error." in await t.cmd("set foo bar")
            assert (await t.cmd("exit configuration-mode")).endswith("ops@switch> ")
        finally:
            t.conn.close()
        # The uncommitted `disable` was dropped with the private candidate.
        assert sw.state.access_vlan("ge-0/0/1") == 100
        assert sw.state.vlans == {100: "net1"}
    finally:
        await sw.close()


async def test_runs_as_a_program(tmp_path: Path) -> None:
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD + "\n")
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "barecloud.lab.ssh_switch", "--port", "0", "--device-type",
        "arista_eos", "--username", "admin", "--password-file", str(pw),
        stdout=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 20)).decode()
        assert "arista_eos switch listening on 127.0.0.1:" in line
        port = int(line.rsplit(":", 1)[1])
        async with asyncssh.connect("127.0.0.1", port, username="admin", password=PASSWORD,
                                    known_hosts=None, client_keys=None, config=None) as conn:
            stdin, stdout, _ = await conn.open_session(term_type="vt100")
            t = Term(conn, stdin, stdout)
            assert (await t.read_prompt()).endswith("switch>")
            await t.cmd("enable")
            assert "% Invalid input" in await t.cmd("frobnicate")
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 10) == 0
