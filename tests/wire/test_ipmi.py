"""IPMI 2.0 lanplus: our BMCs and our client, checked against each other and third parties.

- ``ipmitool -I lanplus`` (Debian's, installed by scripts/system-packages)
  against our BMC server: what operators and other tools will point at it;
- our client against pyghmi's BMC emulator: a BMC we did not write;
- our client against 1,000 of our BMCs in another process: scale and faults.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import pytest

from barecloud.wire import ipmi
from barecloud.wire.ipmi import BootDevice, BootOptions, PayloadType, PowerAction, Privilege
from barecloud.wire.ipmi_client import BmcTarget, IpmiPool, IpmiSession, _Limiter
from barecloud.wire.ipmi_server import Bmc, BmcHandler, BmcServer, raise_open_files_limit

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
USERS = {"admin": "secret"}


def closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Lab:
    server: BmcServer
    bmc: Bmc
    handler: BmcHandler

    def session(self, password: str = "secret", **kw: object) -> IpmiSession:
        return IpmiSession("127.0.0.1", self.bmc.port, "admin", password, **kw)  # type: ignore[arg-type]


@pytest.fixture
async def lab() -> AsyncIterator[Lab]:
    server = BmcServer()
    handler = BmcHandler()
    bmc = await server.add(handler, USERS)
    try:
        yield Lab(server, bmc, handler)
    finally:
        await server.close()


# --- the protocol library ----------------------------------------------------


def test_message_framing_and_checksums() -> None:
    req = ipmi.IpmiRequest(ipmi.NETFN_APP, ipmi.CMD_GET_CHANNEL_AUTH_CAPABILITIES, b"\x8e\x04", 1)
    # ipmitool's first message on the wire, byte for byte.
    assert req.encode() == bytes.fromhex("2018c88104388e04b1")
    assert ipmi.IpmiRequest.decode(req.encode()) == req
    rsp = req.response(0, b"\x01\x80")
    assert ipmi.IpmiResponse.decode(rsp.encode()) == rsp
    bad = bytearray(rsp.encode())
    bad[-2] ^= 1
    with pytest.raises(ipmi.IpmiProtocolError, match="checksum"):
        ipmi.IpmiResponse.decode(bytes(bad))


@pytest.mark.parametrize("suite_id", [3, 17])
def test_sealed_packets_roundtrip_and_reject_tampering(suite_id: int) -> None:
    suite = ipmi.cipher_suite(suite_id)
    keys = ipmi.derive_keys(suite, b"secret", b"r" * 16, b"c" * 16, 0x14, b"admin")
    for size in (0, 1, 15, 16, 17, 40):
        payload = bytes(range(size))
        raw = ipmi.build_v20_packet(PayloadType.IPMI, payload, 0x1234, 7, keys)
        assert (len(raw) - 4 - suite.icv_len) % 4 == 0  # integrity pad
        pkt = ipmi.parse_packet(raw)
        assert (pkt.session_id, pkt.seq, pkt.encrypted, pkt.authenticated) == (
            0x1234,
            7,
            True,
            True,
        )
        assert ipmi.open_packet(pkt, keys) == payload
    tampered = bytearray(raw)
    tampered[20] ^= 0x40
    with pytest.raises(ipmi.IpmiProtocolError, match="integrity"):
        ipmi.open_packet(ipmi.parse_packet(bytes(tampered)), keys)
    other = ipmi.derive_keys(suite, b"other", b"r" * 16, b"c" * 16, 0x14, b"admin")
    with pytest.raises(ipmi.IpmiProtocolError):
        ipmi.open_packet(ipmi.parse_packet(raw), other)


def test_sequence_window_rejects_replays() -> None:
    w = ipmi.SeqWindow()
    assert not w.accept(0)
    assert [w.accept(n) for n in (1, 2, 5, 4, 4, 2)] == [True, True, True, True, False, False]
    assert w.accept(100) and not w.accept(60) and w.accept(90)


def test_boot_flags_match_ipmitool_bytes() -> None:
    # "chassis bootdev disk options=persistent,efiboot" sends e008000000.
    opts = BootOptions.decode(bytes.fromhex("e008000000"))
    assert opts == BootOptions(BootDevice.DISK, persistent=True, uefi=True, valid=True)
    assert opts.encode() == bytes.fromhex("e008000000")
    assert BootOptions(BootDevice.PXE).encode() == bytes.fromhex("8004000000")


# --- our client against our server, in one loop -----------------------------


@pytest.mark.parametrize("suite", [3, 17])
async def test_power_and_boot_device(lab: Lab, suite: int) -> None:
    async with lab.session(cipher_suite=suite) as s:
        assert await s.get_power() is False
        await s.set_power(PowerAction.ON)
        assert lab.handler.power_on and await s.get_power() is True
        await s.set_power("soft")
        assert await s.get_power() is False
        await s.set_power("cycle")
        assert await s.get_power() is True and lab.handler.boots == 2
        await s.set_boot_device("pxe", persistent=False, uefi=True)
        assert await s.get_boot_device() == BootOptions(BootDevice.PXE, False, True, True)
        await s.set_power("reset")  # a one-time boot device is used up by the boot
        assert (await s.get_boot_device()).valid is False
        await s.set_boot_device(BootDevice.DISK, persistent=True)
        await s.set_power("reset")
        assert await s.get_boot_device() == BootOptions(BootDevice.DISK, True, False, True)
        assert (await s.device_id()).ipmi_version == 0x02
        assert s.logins == 1
    assert lab.bmc.sessions == {}  # closed at the BMC, not left to time out


async def test_privilege_is_enforced_by_the_bmc(lab: Lab) -> None:
    async with lab.session(privilege=Privilege.USER) as s:
        assert await s.get_power() is False
        with pytest.raises(ipmi.IpmiCommandError, match="insufficient privilege") as err:
            await s.raw(ipmi.NETFN_CHASSIS, ipmi.CMD_CHASSIS_CONTROL, b"\x01")
        assert err.value.code == ipmi.CC_INSUFFICIENT_PRIVILEGE
        with pytest.raises(ValueError, match="OPERATOR"):
            await s.set_power("on")
    assert lab.handler.power_on is False


async def test_wrong_password_and_unknown_user_are_refused_clearly(lab: Lab) -> None:
    async with lab.session(password="wrong") as s:
        with pytest.raises(ipmi.IpmiAuthError, match=r"RAKP2: invalid integrity check") as err:
            await s.get_power()
        assert err.value.status == ipmi.STATUS_INVALID_INTEGRITY
    async with IpmiSession("127.0.0.1", lab.bmc.port, "mallory", "secret") as s:
        with pytest.raises(ipmi.IpmiAuthError, match=r"RAKP2: unauthorized name"):
            await s.get_power()
    assert lab.bmc.sessions == {}  # the refused attempts left nothing behind


async def test_bmc_forgets_idle_session_and_client_logs_in_again() -> None:
    server = BmcServer(idle_timeout=0.2)
    bmc = await server.add(BmcHandler(power_on=True), USERS)
    try:
        async with IpmiSession("127.0.0.1", bmc.port, "admin", "secret", timeout=1.5) as s:
            assert await s.get_power() is True
            await asyncio.sleep(0.5)
            assert bmc.sessions == {}
            started = time.monotonic()
            assert await s.get_power() is True  # two silent attempts, then a new login
            assert s.logins == 2
            assert time.monotonic() - started < 1.5
    finally:
        await server.close()


class CountingHandler(BmcHandler):
    """Notes when Get Device ID, the keep-alive's command, is asked."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: list[float] = []

    def device_id(self) -> ipmi.DeviceId:
        self.asked.append(time.monotonic())
        return super().device_id()


def target(bmc: Bmc) -> BmcTarget:
    return BmcTarget("127.0.0.1", bmc.port, "admin", "secret")


async def test_keepalives_hold_a_session_past_the_bmc_idle_timeout() -> None:
    """Idle for five of the BMC's idle timeouts, a kept session is still open
    at the BMC and answers at once; without keep-alives it had to log in again."""
    server = BmcServer(idle_timeout=0.6)
    handler = CountingHandler()
    bmc = await server.add(handler, USERS)
    kept = IpmiPool(timeout=2, keepalive_interval=0.2)
    cold = IpmiPool(timeout=2)
    try:
        assert await kept.get_power(target(bmc)) is False
        assert await cold.get_power(target(bmc)) is False
        assert len(bmc.sessions) == 2
        await asyncio.sleep(3.0)
        assert len(bmc.sessions) == 1  # the BMC ended the session nobody kept
        assert await kept.get_power(target(bmc)) is False
        assert await cold.get_power(target(bmc)) is False
        assert kept.session(target(bmc)).logins == 1
        assert cold.session(target(bmc)).logins == 2
        assert 8 <= kept.session(target(bmc)).keepalives == len(handler.asked) <= 20
        assert kept.dropped == kept.expired == 0
    finally:
        await kept.close()
        await cold.close()
        await server.close()


async def test_keepalives_are_spread_over_the_interval_not_sent_in_bursts() -> None:
    """40 sessions logged in at once, one keep-alive interval of 1 s: about 4 a
    tenth of a second, not 40 at once when they all come due."""
    server = BmcServer()
    handler = CountingHandler()
    bmcs = [await server.add(handler, USERS) for _ in range(40)]
    pool = IpmiPool(timeout=2, keepalive_interval=1.0)
    try:
        await asyncio.gather(*(pool.get_power(target(b)) for b in bmcs))
        started = time.monotonic()
        await asyncio.sleep(3.05)
        asked = [t - started for t in handler.asked]
        assert 70 <= len(asked) <= 125  # every session about once a second
        per_tenth = collections.Counter(int(t * 10) for t in asked)
        assert max(per_tenth.values()) <= 8, sorted(per_tenth.items())
        assert len({s for s in bmcs if s.sessions}) == 40
    finally:
        await pool.close()
        await server.close()


async def test_a_bmc_that_stops_answering_keepalives_loses_its_session() -> None:
    server = BmcServer()
    bmc = await server.add(BmcHandler(), USERS)
    pool = IpmiPool(timeout=1, keepalive_interval=0.2)
    try:
        assert await pool.get_power(target(bmc)) is False
        session = pool.session(target(bmc))
        bmc._send = lambda data, addr: None  # type: ignore[method-assign]  # hung: hears, says nothing
        for _ in range(60):  # within 3 s: a visit, then two silent attempts
            if not len(pool):
                break
            await asyncio.sleep(0.05)
        assert len(pool) == 0 and pool.dropped == 1
        assert not session.logged_in and session._transport is None  # its socket is closed
        assert pool.session(target(bmc)) is not session  # the next call logs in afresh
    finally:
        await pool.close()
        await server.close()


async def test_no_keepalives_for_a_session_no_call_uses_any_more() -> None:
    """A node that is no longer swept (deleted, moved to another conductor):
    its session is logged out after max_idle, and its BMC hears no more."""
    server = BmcServer()
    gone_handler, kept_handler = CountingHandler(), CountingHandler()
    gone = await server.add(gone_handler, USERS)
    kept = await server.add(kept_handler, USERS)
    pool = IpmiPool(timeout=2, keepalive_interval=0.2, max_idle=1.0)
    try:
        assert await pool.get_power(target(gone)) is False
        for _ in range(6):  # a sweep every half second reads the node still managed
            assert await pool.get_power(target(kept)) is False
            await asyncio.sleep(0.5)
        assert gone.sessions == {}  # logged out (Close Session), not left to idle out
        assert len(pool) == 1 and pool.expired == 1 and len(kept.sessions) == 1
        heard = len(gone_handler.asked)
        assert heard >= 2  # kept alive while it might still be used
        await asyncio.sleep(1.0)
        assert len(gone_handler.asked) == heard
    finally:
        await pool.close()
        await server.close()


async def test_lost_packets_are_retransmitted_and_commands_not_repeated(lab: Lab) -> None:
    """Every other packet the BMC sends is lost: login and commands still work,
    and a retransmitted power cycle is answered from the cache, not run twice."""
    sent = 0
    send = lab.bmc._send

    def lossy(data: bytes, addr: tuple[str, int]) -> None:
        nonlocal sent
        sent += 1
        if sent % 2:
            send(data, addr)

    lab.bmc._send = lossy  # type: ignore[method-assign]
    async with lab.session(timeout=1.5) as s:
        assert await s.get_power() is False
        await s.set_power("cycle")
        assert lab.handler.boots == 1
        assert await s.get_power() is True
        assert s.logins == 1


async def test_unreachable_port_times_out_within_the_timeout() -> None:
    s = IpmiSession("127.0.0.1", closed_udp_port(), "admin", "secret", timeout=0.8, retries=2)
    started = time.monotonic()
    with pytest.raises(ipmi.IpmiTimeout, match=r"no answer within 0\.8s"):
        await s.get_power()
    assert 0.75 < time.monotonic() - started < 0.8 + 0.5  # slack: a loaded event loop
    await s.close()


async def test_session_limit_and_asf_ping() -> None:
    server = BmcServer(max_sessions=2)
    bmc = await server.add(BmcHandler(), USERS)
    sessions = [IpmiSession("127.0.0.1", bmc.port, "admin", "secret") for _ in range(3)]
    try:
        await sessions[0].login()
        await sessions[1].login()
        with pytest.raises(ipmi.IpmiSessionError, match="insufficient resources"):
            await sessions[2].login()
        await sessions[0].close()
        await sessions[2].login()  # the closed session's slot is free again
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.setblocking(False)
            await loop.sock_connect(sock, ("127.0.0.1", bmc.port))
            await loop.sock_sendall(sock, ipmi.build_asf_ping(7))
            mtype, tag, data = ipmi.parse_asf(await asyncio.wait_for(loop.sock_recv(sock, 64), 2))
        assert (mtype, tag) == (ipmi.ASF_PONG, 7) and ipmi.pong_supports_ipmi(data)
    finally:
        for s in sessions:
            await s.close()
        await server.close()


async def test_pool_limiter_bounds_calls_and_survives_cancellation() -> None:
    limiter = _Limiter(2)
    active = peak = 0

    async def work() -> None:
        nonlocal active, peak
        async with limiter:
            active += 1
            peak = max(peak, active)
            try:
                await asyncio.sleep(0.01)
            finally:
                active -= 1

    tasks = [asyncio.create_task(work()) for _ in range(10)]
    await asyncio.sleep(0)
    tasks[5].cancel()
    tasks[0].cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    assert peak == 2 and limiter._free == 2


# --- ipmitool against our server ---------------------------------------------


@pytest.fixture(scope="module")
def ipmitool() -> str:
    path = shutil.which("ipmitool")
    if path is None:
        why = "ipmitool is not installed (scripts/system-packages installs it)"
        if IN_CI:
            pytest.fail(why)
        pytest.skip(why)
    return path


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


# --- our client against pyghmi's BMC emulator ----------------------------------


@pytest.fixture(scope="module")
def pyghmi_bmc() -> Iterator[tuple[int, object]]:
    """pyghmi 1.6.19's emulator in a daemon thread (it cannot be stopped; it dies
    with the process).  One thread sends and receives, so defect 1 of
    LAB-NOTES cannot bite; our client uses suite 3 (defect 2) and a fresh
    source port per login (defect 3)."""
    bmc_mod = pytest.importorskip("pyghmi.ipmi.bmc")

    class Emulated(bmc_mod.Bmc):  # type: ignore[misc,name-defined]
        def __init__(self, port: int) -> None:
            super().__init__(dict(USERS), port=port, address="127.0.0.1")
            self.power = "off"
            self.bootdev = "default"

        def get_power_state(self) -> str:
            return self.power

        def power_on(self) -> None:
            self.power = "on"

        def power_off(self) -> None:
            self.power = "off"

        def power_shutdown(self) -> None:
            self.power = "off"

        def power_cycle(self) -> None:
            self.power = "on"

        def power_reset(self) -> None:
            pass

        def get_boot_device(self) -> str:
            return self.bootdev

        def set_boot_device(self, device: str) -> None:
            self.bootdev = device

    port = closed_udp_port()
    emulator = Emulated(port)
    threading.Thread(target=emulator.listen, daemon=True, name="pyghmi-bmc").start()
    yield port, emulator


async def test_client_against_pyghmi(pyghmi_bmc: tuple[int, object]) -> None:
    port, emulator = pyghmi_bmc
    async with IpmiSession("127.0.0.1", port, "admin", "secret", timeout=5) as s:
        assert await s.get_power() is False
        await s.set_power("on")
        assert await s.get_power() is True
        assert emulator.power == "on"  # type: ignore[attr-defined]
        await s.set_boot_device("pxe")
        assert emulator.bootdev == "network"  # type: ignore[attr-defined]
        assert (await s.get_boot_device()).device is BootDevice.PXE
        await s.set_boot_device("disk")
        assert (await s.get_boot_device()).device is BootDevice.DISK
        await s.set_power("off")
        assert await s.get_power() is False
        assert await s.keepalive() is True  # a BMC we did not write takes the keep-alive
        assert s.keepalives == 1


async def test_client_against_pyghmi_refusals(pyghmi_bmc: tuple[int, object]) -> None:
    port, _ = pyghmi_bmc
    async with IpmiSession("127.0.0.1", port, "admin", "wrong", timeout=3) as s:
        with pytest.raises(ipmi.IpmiAuthError, match="RAKP2: invalid integrity check"):
            await s.get_power()
    # The emulator answers a suite 17 proposal with suite 3 algorithms: say so.
    async with IpmiSession("127.0.0.1", port, "admin", "secret", cipher_suite=17) as s:
        with pytest.raises(ipmi.IpmiSessionError, match="asked for cipher suite 17"):
            await s.get_power()


# --- our client against 1,000 of our BMCs in another process -------------------

FLEET = 1000


@pytest.fixture(scope="module")
def fleet() -> Iterator[list[int]]:
    """1,000 BMCs served by one separate process; killed by its PID at the end."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "barecloud.wire.ipmi_server", "--count", str(FLEET),
         "--user", "admin", "--password", "secret"],
        stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed once every BMC listens
        ports: list[int] = json.loads(line)["ports"]
        assert len(ports) == FLEET
        yield ports
    finally:
        os.kill(proc.pid, 15)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, 9)
            proc.wait()


async def test_sweep_1000_bmcs_with_sessions_kept_open(fleet: list[int]) -> None:
    raise_open_files_limit(FLEET + 256)  # one socket per open session
    targets = [BmcTarget("127.0.0.1", port, "admin", "secret") for port in fleet]
    want = [i % 3 == 0 for i in range(FLEET)]
    pool = IpmiPool(concurrency=200, timeout=10)
    try:
        await asyncio.gather(
            *(pool.set_power(t, "on") for t, on in zip(targets, want, strict=True) if on)
        )
        started = time.monotonic()
        cold = await asyncio.gather(*(pool.get_power(t) for t in targets))
        cold_s = time.monotonic() - started
        started = time.monotonic()
        warm = await asyncio.gather(*(pool.get_power(t) for t in targets))
        warm_s = time.monotonic() - started
        assert cold == want and warm == want
        assert len(pool) == FLEET
        assert all(pool.session(t).logins == 1 for t in targets)
        print(f"\n{FLEET} BMCs: first sweep {cold_s:.2f}s (2/3 log in), warm sweep {warm_s:.2f}s")
        assert warm_s < 10
    finally:
        await pool.close()


async def test_fleet_faults(fleet: list[int]) -> None:
    async with IpmiSession("127.0.0.1", fleet[0], "admin", "wrong", timeout=2) as s:
        with pytest.raises(ipmi.IpmiAuthError, match="wrong password"):
            await s.get_power()
    started = time.monotonic()
    async with IpmiSession("127.0.0.1", closed_udp_port(), "admin", "secret", timeout=1) as s:
        with pytest.raises(ipmi.IpmiTimeout):
            await s.get_power()
    assert time.monotonic() - started < 1 + 0.5
