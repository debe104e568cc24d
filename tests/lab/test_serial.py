"""A lab machine's serial port: its boot output and its login, over Serial-over-LAN.

- in one process: a machine, its BMC and its firmware, our SOL client typing
  into the loopback OS's interpreter;
- a running lab: ``ipmitool sol activate`` on a pty, as a person would,
  sees the machine boot, logs in and runs a command.
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from barecloud.agent import configdrive
from barecloud.lab.firmware import Firmware
from barecloud.lab.ipmi_bmc import MachineBmc, MachineBmcServer
from barecloud.lab.login import LoginConsole
from barecloud.lab.machine import Machine, Profile
from barecloud.lab.serial import SerialPort
from barecloud.wire.ipmi.client import IpmiSession
from tests.lab.conftest import PASSWORD, Lab
from tests.wire.ipmi.support import Terminal

META = b'{"uuid": "u-9", "hostname": "sol-9", "public_keys": {}}'


def bootable(disk: Path) -> None:
    configdrive.write(str(disk), configdrive.build({"openstack/latest/meta_data.json": META}))


def _machine(tmp_path: Path) -> Machine:
    return Machine.create(tmp_path / "machines", name="lab-00009", index=9, shard=0,
                          profile=Profile(disk_gb=1, cpus=3), mac_prefix="52:54:00",
                          ipmi_port=0, username="admin", password=PASSWORD)


@pytest.fixture
async def machine(tmp_path: Path) -> AsyncIterator[tuple[Machine, MachineBmc]]:
    """A machine with its serial port, firmware and BMC, all in this event loop."""
    m = _machine(tmp_path)
    bootable(m.disk_path)
    m.serial = SerialPort(asyncio.get_running_loop())
    m.runner = Firmware(m, lambda: "")
    server = MachineBmcServer()
    bmc = await server.add_machine(m)
    try:
        yield m, bmc
    finally:
        m.runner.stop()
        await server.close()


async def test_our_console_sees_the_boot_and_types_into_the_interpreter(
    machine: tuple[Machine, MachineBmc],
) -> None:
    m, bmc = machine
    async with IpmiSession("127.0.0.1", bmc.port, "admin", PASSWORD, timeout=3) as s:
        async with s.sol() as console:
            await s.set_power("on")  # the boot shows live
            boot = await console.read_until(b"sol-9 login: ", 10)
            assert b"booting from disk" in boot and b"cloud-init: hostname sol-9" in boot
            await console.write(b"ops\r")
            await console.read_until(b"ops@sol-9:~$ ", 3)
            await console.write(b"hostname\r")
            assert await console.read_until(b"ops@sol-9:~$ ", 3) == (
                b"hostname\r\nsol-9\r\nops@sol-9:~$ ")
            await console.write(b"nproc\recho a  b\rip\r")
            out = await console.read_until(b"link/ether 52:54:00:10:00:09", 3)
            assert b"\r\n3\r\n" in out and b"\r\na b\r\n" in out
            await console.write(b"sh -c id\r")
            assert b"sh: command not found" in await console.read_until(b"found", 3)
        # Another console attaching later still sees the end of the boot.
        async with s.sol() as console:
            assert b"login: sol-9 is up" in await console.read_until(b"is up", 3)
    assert "cloud-init: hostname sol-9" in m.console_path.read_text()
    m.power("off", "test")
    assert m.serial is not None and m.serial.input is None  # the OS is gone with the power


async def test_the_interpreter_edits_lines_like_a_terminal(tmp_path: Path) -> None:
    m = _machine(tmp_path)
    port = SerialPort(asyncio.get_running_loop())
    seen = bytearray()
    port.attach(seen.extend)
    login = LoginConsole(m, port, "h1")
    login.start()
    port.write(b"me\r\nhostnamx\x7fe\r")  # CR LF is one Enter; Backspace erases
    port.write(b"junk\x03exit\r")
    await asyncio.sleep(0.05)
    text = seen.decode()
    assert text.count("h1 login: ") == 2  # the prompt, and again after exit
    assert "me@h1:~$ hostnamx\b \be\r\nh1\r\n" in text
    assert "junk^C\r\nme@h1:~$ exit" in text
    login.stop()
    assert port.input is None


# --- a running lab, and ipmitool ---------------------------------------------------

ipmitool_missing = pytest.mark.skipif(
    shutil.which("ipmitool") is None, reason="ipmitool missing (scripts/system-packages)"
)


def ipmitool_argv(lab: Lab, name: str, *args: str) -> list[str]:
    return ["ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", str(lab.port(name)),
            "-U", "admin", "-P", PASSWORD, *args]


@ipmitool_missing
@pytest.mark.slow
def test_ipmitool_sol_shows_the_boot_and_takes_input(new_lab: Lab) -> None:
    new_lab.up(1)
    name = "lab-00001"
    bootable(new_lab.path / "machines" / name / "disk.img")
    term = Terminal(ipmitool_argv(new_lab, name, "sol", "activate"))
    try:
        term.expect(b"[SOL Session operational.")
        power = subprocess.run(ipmitool_argv(new_lab, name, "chassis", "power", "on"),
                               capture_output=True, text=True, timeout=30)
        assert "Up/On" in power.stdout, power
        seen = term.expect(b"sol-9 login: ")
        assert b"booting from disk" in seen and b"cloud-init: instance u-9" in seen
        term.type(b"root\r")
        term.expect(b"root@sol-9:~$ ")
        term.type(b"hostname\r")
        assert term.expect(b"hostname\r\nsol-9\r\nroot@sol-9:~$ ")
        term.type(b"~.")
        term.expect(b"[terminated ipmitool]")
        assert term.wait() == 0
    finally:
        term.kill()
        new_lab.down()
