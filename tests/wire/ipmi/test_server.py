"""Our BMCs: the session limit, the ASF ping, and ``ipmitool -I lanplus`` against them."""

from __future__ import annotations

import asyncio
import socket

import pytest

from barecloud.wire.ipmi.client import IpmiSession
from barecloud.wire.ipmi.commands import (
    BootDevice,
    BootOptions,
)
from barecloud.wire.ipmi.errors import (
    IpmiSessionError,
)
from barecloud.wire.ipmi.framing import (
    ASF_PONG,
    build_asf_ping,
    parse_asf,
    pong_supports_ipmi,
)
from barecloud.wire.ipmi.handlers import BmcHandler
from barecloud.wire.ipmi.server import BmcServer
from tests.wire.ipmi.support import USERS, Lab


async def test_session_limit_and_asf_ping() -> None:
    server = BmcServer(max_sessions=2)
    bmc = await server.add(BmcHandler(), USERS)
    sessions = [IpmiSession("127.0.0.1", bmc.port, "admin", "secret") for _ in range(3)]
    try:
        await sessions[0].login()
        await sessions[1].login()
        with pytest.raises(IpmiSessionError, match="insufficient resources"):
            await sessions[2].login()
        await sessions[0].close()
        await sessions[2].login()  # the closed session's slot is free again
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            await loop.sock_connect(sock, ("127.0.0.1", bmc.port))
            await loop.sock_sendall(sock, build_asf_ping(7))
            mtype, tag, data = parse_asf(await asyncio.wait_for(loop.sock_recv(sock, 64), 2))
        assert (mtype, tag) == (ASF_PONG, 7) and pong_supports_ipmi(data)
    finally:
        for s in sessions:
            await s.close()
        await server.close()


# --- ipmitool against our server ---------------------------------------------




async def run_ipmitool(
    tool: str, port: int, *args: str, password: str = "secret", extra: tuple[str, ...] = ()
) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        tool, "-I", "lanplus", "-H", "127.0.0.1", "-p", str(port), "-U", "admin",
        "-P", password, "-N", "1", "-R", "2", *extra, *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    return proc.returncode or 0, out.decode()


@pytest.mark.parametrize("suite", ["3", "17"])
async def test_ipmitool_power(lab: Lab, ipmitool: str, suite: str) -> None:
    async def tool(*args: str) -> str:
        rc, out = await run_ipmitool(ipmitool, lab.bmc.port, *args, extra=("-C", suite))
        assert rc == 0, out
        return out

    assert "Chassis Power is off" in await tool("power", "status")
    assert "Up/On" in await tool("power", "on")
    assert "Chassis Power is on" in await tool("power", "status")
    await tool("power", "soft")
    assert lab.handler.power_state() is False
    await tool("power", "cycle")
    assert lab.handler.power_state() is True and lab.handler.boots == 2
    await tool("power", "reset")
    assert lab.handler.boots == 3
    await tool("power", "off")
    assert "Chassis Power is off" in await tool("power", "status")
    assert "System Power         : off" in await tool("chassis", "status")


async def test_ipmitool_boot_device_and_mc_info(lab: Lab, ipmitool: str) -> None:
    port = lab.bmc.port
    rc, out = await run_ipmitool(ipmitool, port, "chassis", "bootdev", "pxe")
    assert rc == 0 and "Set Boot Device to pxe" in out, out
    assert lab.handler.boot == BootOptions(BootDevice.PXE, persistent=False, valid=True)
    rc, out = await run_ipmitool(ipmitool, port, "chassis", "bootparam", "get", "5")
    assert rc == 0 and "Force PXE" in out and "only next boot" in out, out
    rc, out = await run_ipmitool(
        ipmitool, port, "chassis", "bootdev", "disk", "options=persistent,efiboot"
    )
    assert rc == 0, out
    assert lab.handler.boot == BootOptions(BootDevice.DISK, persistent=True, uefi=True)
    rc, out = await run_ipmitool(ipmitool, port, "chassis", "bootparam", "get", "5")
    assert "Hard-Drive" in out and "all future boots" in out and "BIOS EFI boot" in out, out
    rc, out = await run_ipmitool(ipmitool, port, "mc", "info")
    assert rc == 0 and "IPMI Version              : 2.0" in out, out
    rc, out = await run_ipmitool(ipmitool, port, "mc", "guid")
    assert str(lab.handler.guid) in out and "GUID Encoding : IPMI" in out, out


async def test_ipmitool_refused(lab: Lab, ipmitool: str) -> None:
    rc, out = await run_ipmitool(ipmitool, lab.bmc.port, "power", "on", password="wrong")
    assert rc != 0 and "Unable to establish IPMI v2 / RMCP+ session" in out, out
    rc, out = await run_ipmitool(ipmitool, lab.bmc.port, "power", "on", extra=("-L", "USER"))
    assert rc != 0 and "Insufficient privilege level" in out, out
    assert lab.handler.power_on is False
