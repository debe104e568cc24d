"""Sessions to many BMCs kept open, kept alive, and called a bounded number at a time.

BMCs end sessions idle for 60 s (the spec's inactivity timeout; some 30 s),
so a pool can keep its sessions alive (``keepalive_interval``): each open
session is visited once per interval, in a fixed order spread evenly over
it, and sent Get Device ID (User privilege, read-only; what pyghmi and
ipmitool send) unless it answered in the last quarter interval.  A session
then idles at most 1.25 intervals; one the BMC no longer answers is dropped,
and one no call used for ``max_idle`` (its node deleted, moved to another
conductor, its address changed) is logged out instead of kept.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from barecloud.wire.ipmi.client import IpmiSession
from barecloud.wire.ipmi.commands import BootDevice, BootOptions, PowerAction

T = TypeVar("T")


class _Limiter:
    """A FIFO counting semaphore whose release is O(1).

    Python 3.11's ``asyncio.Semaphore`` rescans woken waiters on every
    release; with 10,000 calls queued behind 256 slots that shows up.
    """

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def __aenter__(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._release()  # handed a slot, then cancelled: pass it on
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._release()

    def _release(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # the slot goes straight to the next waiter
                return
        self._free += 1


@dataclass(frozen=True, slots=True)
class BmcTarget:
    """Where a BMC is and how to log in to it."""

    host: str
    port: int = 623
    username: str = ""
    password: str = field(default="", repr=False)
    cipher_suite: int = 3

    @property
    def key(self) -> tuple[str, int, str]:
        return self.host, self.port, self.username


@dataclass(slots=True)
class _Entry:
    target: BmcTarget
    session: IpmiSession
    used: float  # loop time of the last call on it (keep-alives do not count)


class IpmiPool:
    """Sessions kept open per (host, port, user), and a bound on calls in flight.

    A power-state sweep over N BMCs is then N status round trips on open
    sessions, ``concurrency`` at a time.  Each open session holds one socket:
    N BMCs need ``RLIMIT_NOFILE`` above N.  With ``keepalive_interval`` > 0 a
    background task keeps idle sessions open (see the module's docstring):
    N / ``keepalive_interval`` requests per second at most, evenly spread,
    sharing the ``concurrency`` bound with calls.
    """

    def __init__(
        self,
        *,
        concurrency: int = 256,
        timeout: float = 5.0,
        retries: int = 3,
        idle_relogin: float = 45.0,
        keepalive_interval: float = 0.0,
        max_idle: float = 300.0,
    ) -> None:
        if keepalive_interval < 0 or max_idle <= 0:
            raise ValueError("keepalive_interval must not be negative, max_idle must be positive")
        self.timeout = timeout
        self.retries = retries
        self.idle_relogin = idle_relogin
        self.keepalive_interval = keepalive_interval
        self.max_idle = max_idle
        self._limit = _Limiter(concurrency)
        self._sessions: dict[tuple[str, int, str], _Entry] = {}
        self._closing: set[asyncio.Task[None]] = set()
        # The keep-alive hand: every session's key once, visited in this order.
        self._ring: collections.deque[tuple[str, int, str]] = collections.deque()
        self._ringed: set[tuple[str, int, str]] = set()
        self._keeper: asyncio.Task[None] | None = None
        self._pings: set[asyncio.Task[None]] = set()
        self.keepalives = 0  # keep-alives the BMCs answered
        self.dropped = 0  # sessions given up because the BMC stopped answering them
        self.expired = 0  # sessions logged out because no call used them for max_idle

    def __len__(self) -> int:
        return len(self._sessions)

    def session(self, target: BmcTarget) -> IpmiSession:
        """The open (or to-be-opened) session for ``target``."""
        return self._entry(target).session

    def _entry(self, target: BmcTarget) -> _Entry:
        entry = self._sessions.get(target.key)
        if entry is not None and entry.target == target:
            return entry
        if entry is not None:  # password or cipher suite changed
            self._close_later(entry.session)
        session = IpmiSession(
            target.host,
            target.port,
            target.username,
            target.password,
            cipher_suite=target.cipher_suite,
            timeout=self.timeout,
            retries=self.retries,
            idle_relogin=self.idle_relogin,
        )
        loop = asyncio.get_running_loop()
        entry = self._sessions[target.key] = _Entry(target, session, loop.time())
        if target.key not in self._ringed:
            self._ringed.add(target.key)
            self._ring.append(target.key)
        if self.keepalive_interval > 0 and self._keeper is None:
            self._keeper = loop.create_task(self._keep_alive(), name="ipmi-keepalive")
        return entry

    async def run(self, target: BmcTarget, call: Callable[[IpmiSession], Awaitable[T]]) -> T:
        """Run ``call`` on the target's session, within the concurrency bound."""
        async with self._limit:
            entry = self._entry(target)
            entry.used = asyncio.get_running_loop().time()
            return await call(entry.session)

    async def get_power(self, target: BmcTarget) -> bool:
        return await self.run(target, lambda s: s.get_power())

    async def set_power(self, target: BmcTarget, action: PowerAction | str) -> None:
        await self.run(target, lambda s: s.set_power(action))

    async def set_boot_device(
        self,
        target: BmcTarget,
        device: BootDevice | str,
        persistent: bool = False,
        uefi: bool = False,
    ) -> None:
        await self.run(target, lambda s: s.set_boot_device(device, persistent, uefi))

    async def get_boot_device(self, target: BmcTarget) -> BootOptions:
        return await self.run(target, lambda s: s.get_boot_device())

    async def discard(self, target: BmcTarget) -> None:
        """Close and forget the session (e.g. the node was deleted)."""
        entry = self._sessions.pop(target.key, None)
        if entry is not None:
            await entry.session.close()

    async def close(self) -> None:
        """Stop the keep-alives; close every session, ``concurrency`` at a time."""
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, *self._pings, return_exceptions=True)
            self._keeper = None
        sessions = [e.session for e in self._sessions.values()]
        self._sessions.clear()
        self._ring.clear()
        self._ringed.clear()

        async def close_one(s: IpmiSession) -> None:
            async with self._limit:
                await s.close()

        await asyncio.gather(*(close_one(s) for s in sessions))
        if self._closing:
            await asyncio.gather(*self._closing)

    def _close_later(self, session: IpmiSession) -> None:
        task = asyncio.get_running_loop().create_task(session.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    # --- keep-alives ----------------------------------------------------------

    async def _keep_alive(self) -> None:
        """Turn the hand: each session once per interval, a slice every tick."""
        loop = asyncio.get_running_loop()
        interval = self.keepalive_interval
        tick = min(1.0, interval / 10)
        owed = 0.0
        last = loop.time()
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            owed += len(self._ring) * (now - last) / interval
            last = now
            for _ in range(min(int(owed), len(self._ring))):
                owed -= 1
                self._visit(self._ring.popleft(), now)
            owed = min(owed, 1.0)  # a ring that shrank owes no burst later

    def _visit(self, key: tuple[str, int, str], now: float) -> None:
        entry = self._sessions.get(key)
        if entry is None:  # discarded or dropped: it leaves the ring
            self._ringed.discard(key)
            return
        if now - entry.used > self.max_idle:
            del self._sessions[key]
            self._ringed.discard(key)
            self.expired += 1
            self._close_later(entry.session)  # log out: the BMC has few sessions
            return
        self._ring.append(key)
        session = entry.session
        if session.logged_in and now - session.last_answer >= self.keepalive_interval / 4:
            task = asyncio.get_running_loop().create_task(self._ping(key, entry))
            self._pings.add(task)
            task.add_done_callback(self._pings.discard)

    async def _ping(self, key: tuple[str, int, str], entry: _Entry) -> None:
        session = entry.session
        async with self._limit:
            answered = session.keepalives
            alive = await session.keepalive()
            self.keepalives += session.keepalives - answered
        if not alive and self._sessions.get(key) is entry:
            del self._sessions[key]  # its next call makes a new session and logs in
            self.dropped += 1
