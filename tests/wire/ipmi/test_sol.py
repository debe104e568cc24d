"""Serial-over-LAN: our client against our BMC over real UDP, through a lossy relay,
and ``ipmitool sol`` against our BMC.

The BMCs here have the default handler's serial port, a loopback plug (what
is typed comes back); the lab's machines and their interpreter are in
tests/lab/test_serial.py.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Callable

import pytest

from barecloud.wire.ipmi.client import IpmiSession
from barecloud.wire.ipmi.errors import IpmiCommandError
from barecloud.wire.ipmi.framing import PayloadType, open_packet, parse_packet
from barecloud.wire.ipmi.handlers import BmcHandler
from barecloud.wire.ipmi.server import Bmc, BmcServer
from barecloud.wire.ipmi.session import Privilege
from barecloud.wire.ipmi.sol import CC_PAYLOAD_ACTIVE, LoopbackPlug, SolPacket
from tests.wire.ipmi.support import USERS, Terminal

BANNER = b"SeaBIOS (version lab)\r\nBooting from Hard Disk...\r\n"


@pytest.fixture
async def bmc() -> AsyncIterator[Bmc]:
    server = BmcServer()
    handler = BmcHandler()
    handler.serial = LoopbackPlug(BANNER)
    bmc = await server.add(handler, USERS)
    try:
        yield bmc
    finally:
        await server.close()


def session(port: int) -> IpmiSession:
    return IpmiSession("127.0.0.1", port, "admin", "secret", timeout=3)


async def test_output_is_seen_and_input_typed(bmc: Bmc) -> None:
    async with session(bmc.port) as s, s.sol() as console:
        assert await console.read_until(b"Hard Disk...\r\n", 3) == BANNER
        await console.write(b"hello\r")
        assert await console.read_until(b"hello\r", 3) == b"hello\r"
        # Longer than one packet both ways: split, sent in order, nothing lost.
        text = bytes(range(33, 127)) * 20 + b" END"
        await console.write(text)
        assert await console.read_until(b" END", 5) == text
        assert await s.get_power() is False  # commands still work in the SOL session
    assert bmc.sol is None  # deactivated on exit


async def test_a_second_activation_is_refused_until_the_first_ends(bmc: Bmc) -> None:
    async with session(bmc.port) as first, session(bmc.port) as second:
        async with first.sol():
            with pytest.raises(IpmiCommandError) as refused:
                await second.sol().activate()
            assert refused.value.code == CC_PAYLOAD_ACTIVE
        async with second.sol() as console:
            assert BANNER in await console.read_until(BANNER, 3)


async def test_deactivation_by_another_session_ends_the_stream(bmc: Bmc) -> None:
    async with session(bmc.port) as owner, session(bmc.port) as admin:
        console = owner.sol()
        await console.activate()
        await console.read_until(BANNER, 3)
        await admin.raw(0x06, 0x49, bytes((1, 1, 0, 0, 0, 0)), Privilege.ADMINISTRATOR)
        assert await asyncio.wait_for(console.read(), 3) == b""
        assert console.closed_why == "deactivated by the BMC"
        await console.close()


# --- retransmission, through a relay that drops chosen packets ------------------

Drop = Callable[[str, SolPacket], bool]


class Relay(asyncio.DatagramProtocol):
    """A UDP relay between one console and one BMC that can drop SOL packets.

    It reads the session keys from the BMC (same process), so it can tell an
    ACK from data; ``drop(direction, packet)`` ("up": to the BMC) decides.
    """

    def __init__(self, bmc: Bmc, drop: Drop) -> None:
        self.bmc = bmc
        self.drop = drop
        self.dropped: list[tuple[str, SolPacket]] = []
        self.console: tuple[str, int] | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self.upstream: asyncio.DatagramTransport | None = None

    async def start(self) -> int:
        loop = asyncio.get_running_loop()
        relay = self

        class Upstream(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
                relay.forward("down", data)

        self.transport, _ = await loop.create_datagram_endpoint(
            lambda: self, local_addr=("127.0.0.1", 0))
        self.upstream, _ = await loop.create_datagram_endpoint(
            Upstream, remote_addr=("127.0.0.1", self.bmc.port))
        return int(self.transport.get_extra_info("sockname")[1])

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.console = addr
        self.forward("up", data)

    def forward(self, direction: str, data: bytes) -> None:
        pkt = parse_packet(data)
        if pkt.payload_type == PayloadType.SOL:
            keys = next(s.keys for s in self.bmc.sessions.values() if s.keys is not None)
            sol = SolPacket.decode(open_packet(pkt, keys))
            if self.drop(direction, sol):
                self.dropped.append((direction, sol))
                return
        if direction == "up" and self.upstream is not None:
            self.upstream.sendto(data)
        elif self.transport is not None and self.console is not None:
            self.transport.sendto(data, self.console)

    def close(self) -> None:
        for t in (self.transport, self.upstream):
            if t is not None:
                t.close()


def first_only(direction: str) -> Drop:
    """Drop the first bare ACK going ``direction``."""
    done: list[bool] = []

    def drop(way: str, pkt: SolPacket) -> bool:
        if way == direction and pkt.seq == 0 and pkt.ack and not done:
            done.append(True)
            return True
        return False

    return drop


async def test_the_bmc_resends_output_whose_ack_was_lost(bmc: Bmc) -> None:
    relay = Relay(bmc, first_only("up"))
    port = await relay.start()
    try:
        async with session(port) as s, s.sol() as console:
            assert await console.read_until(b"Hard Disk...\r\n", 3) == BANNER
            sol = bmc.sol
            assert sol is not None
            await asyncio.sleep(0.3)  # past the BMC's retry interval (100 ms)
            assert relay.dropped and sol.retransmits >= 1
            await console.write(b"x")
            assert await console.read_until(b"x", 3) == b"x"  # the banner came once only
    finally:
        relay.close()


async def test_the_console_resends_input_whose_ack_was_lost(bmc: Bmc) -> None:
    relay = Relay(bmc, first_only("down"))
    port = await relay.start()
    try:
        async with session(port) as s, s.sol(retry_interval=0.1) as console:
            await console.read_until(BANNER, 3)
            # The first ACK going down is the BMC's ACK of our input: lost, so
            # the console sends again; the BMC acknowledges again, types once.
            await console.write(b"once\r")
            assert console.retransmits == 1 and relay.dropped[0][1].ack
            assert await console.read_until(b"once\r", 3) == b"once\r"
            await console.write(b"!")
            assert await console.read_until(b"!", 3) == b"!"  # not "once\r" again
    finally:
        relay.close()


# --- ipmitool ---------------------------------------------------------------------




def ipmitool_argv(tool: str, port: int, *args: str) -> list[str]:
    return [tool, "-I", "lanplus", "-H", "127.0.0.1", "-p", str(port), "-U", "admin",
            "-P", "secret", *args]


async def test_ipmitool_sol_activate_info_and_deactivate(bmc: Bmc, ipmitool: str) -> None:
    term = Terminal(ipmitool_argv(ipmitool, bmc.port, "sol", "activate"))
    try:
        await asyncio.to_thread(term.expect, b"Booting from Hard Disk...")
        term.type(b"typed\r")
        await asyncio.to_thread(term.expect, b"typed\r")
        assert bmc.sol is not None
        # A second console is refused while this one is on.
        second = await asyncio.to_thread(
            subprocess.run, ipmitool_argv(ipmitool, bmc.port, "sol", "activate"),
            capture_output=True, text=True, timeout=20, stdin=subprocess.DEVNULL)
        assert "SOL payload already active on another session" in second.stderr
        info = await asyncio.to_thread(
            subprocess.run, ipmitool_argv(ipmitool, bmc.port, "sol", "info"),
            capture_output=True, text=True, timeout=20)
        assert "Enabled                         : true" in info.stdout, info
        assert f"Payload Port                    : {bmc.port}" in info.stdout
        term.type(b"~.")
        await asyncio.to_thread(term.expect, b"[terminated ipmitool]")
        assert await asyncio.to_thread(term.wait) == 0
        assert bmc.sol is None  # ipmitool deactivated it on its way out
    finally:
        term.kill()
    # ``sol deactivate`` from another session ends an active console.
    async with session(bmc.port) as s:
        console = s.sol()
        await console.activate()
        done = await asyncio.to_thread(
            subprocess.run, ipmitool_argv(ipmitool, bmc.port, "sol", "deactivate"),
            capture_output=True, text=True, timeout=20)
        assert done.returncode == 0, done
        assert await asyncio.wait_for(console.read_until(BANNER, 3), 3)
        assert await asyncio.wait_for(console.read(), 3) == b""
