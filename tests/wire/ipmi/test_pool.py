"""Session pools: keep-alives, the concurrency bound, and 1,000 BMCs in another process."""

from __future__ import annotations

import asyncio
import collections
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from barecloud.wire.ipmi.client import IpmiSession
from barecloud.wire.ipmi.errors import (
    IpmiAuthError,
    IpmiTimeout,
)
from barecloud.wire.ipmi.handlers import BmcHandler
from barecloud.wire.ipmi.pool import BmcTarget, IpmiPool, _Limiter
from barecloud.wire.ipmi.server import BmcServer, raise_open_files_limit
from tests.wire.ipmi.support import USERS, CountingHandler, closed_udp_port, target

# --- keep-alives and the concurrency bound -----------------------------------


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
        # Every keep-alive the BMC saw was answered, but for one that may be in
        # flight right now (asked at the BMC, its answer not yet read).
        answered, asked = kept.session(target(bmc)).keepalives, len(handler.asked)
        assert 8 <= answered <= 20
        assert asked - 1 <= answered <= asked
        assert kept.dropped == kept.expired == 0
    finally:
        await kept.close()
        await cold.close()
        await server.close()


async def test_keepalives_are_spread_over_the_interval_not_sent_in_bursts() -> None:
    """40 sessions logged in at once, one keep-alive interval of 1 s: about 8 a
    fifth of a second, not 40 at once when they all come due.  (Counted by fifths:
    on a busy machine the event loop can stall for a tenth of a second, and two
    tenths' keep-alives then land in one.)"""
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
        per_fifth = collections.Counter(int(t * 5) for t in asked)
        assert max(per_fifth.values()) <= 16, sorted(per_fifth.items())
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


# --- our client against 1,000 of our BMCs in another process -------------------

FLEET = 1000


@pytest.fixture(scope="module")
def fleet() -> Iterator[list[int]]:
    """1,000 BMCs served by one separate process; killed by its PID at the end."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "barecloud.wire.ipmi.server", "--count", str(FLEET),
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
        with pytest.raises(IpmiAuthError, match="wrong password"):
            await s.get_power()
    started = time.monotonic()
    async with IpmiSession("127.0.0.1", closed_udp_port(), "admin", "secret", timeout=1) as s:
        with pytest.raises(IpmiTimeout):
            await s.get_power()
    assert time.monotonic() - started < 1 + 0.5
