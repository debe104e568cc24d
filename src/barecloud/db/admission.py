"""Turns in a process's event loop: background work a few at a time, user reads at once.

One API process serves tenants' reads on the same event loop as the work
that keeps the fleet going: host agents' reports and long-polls, creates,
the reconcilers' passes, the conductor's transactions.  asyncio runs ready
tasks first come first served, so during a storm a page of servers waited
behind every task already queued (a 1,000-server list took 1.3 s median,
5-11 s p99, against 0.15 s alone: docs/benchmarks.md).  Here every unit of
background work takes a *turn* first, and at most ``slots`` hold one at a
time; a user's read takes none, so it waits for at most that many steps.
The total work is the same, only its order changes.

What takes a turn: a request that is not a user's read (api/admission.py
decides, for the whole request), and any transaction opened outside one
(Database.session; transactions do no I/O but the database's, so a turn
is never held across a BMC or a network wait).  Turns are re-entrant
within a task.  A holder that must wait on something else (a long-poll, an
upload's body) lets its turn go meanwhile (:func:`paused`).

The gate orders work; it never refuses it.  Under load a turn may be waited
for long (the queue is bounded by the clients, each of which waits for its
answer), but when no turn at all has been given back for ``max_wait``, the
holders are stuck on something unforeseen: one more turn is taken over the
limit (counted in ``overrun``), so a stuck holder delays the others, and
deadlocks none.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import logging
import time
from collections.abc import AsyncIterator, Iterator

log = logging.getLogger(__name__)

STEP = 0.02
PATIENCE = 5  # times max_wait: the longest any turn is waited for

# The gate whose turn this task holds (its transactions take none of their own).
_held: contextvars.ContextVar[Admission | None] = contextvars.ContextVar("admission_held",
                                                                         default=None)
# This task serves a user's read: it never waits for a turn.
_reading: contextvars.ContextVar[bool] = contextvars.ContextVar("admission_reading",
                                                                 default=False)


class Admission:
    def __init__(self, slots: int, max_wait: float = 2.0) -> None:
        if slots < 1:
            raise ValueError("an admission gate needs at least one slot")
        self.slots = slots
        self.max_wait = max_wait
        self.free = slots
        self.overrun = 0  # turns taken over the limit: none was given back for max_wait
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()
        self._step: float | None = None  # when the loop's current step was first seen
        self._given_back = time.monotonic()  # the last release

    @contextlib.asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold a turn for the block (none is taken inside a read or another turn)."""
        if _reading.get():
            yield
            return
        if _held.get() is not None:
            await self._pace()
            yield
            return
        await self.acquire()
        token = _held.set(self)
        try:
            yield
        finally:
            if _held.get() is self:  # not if a pause's taking it back was cancelled
                self.release()
            _held.reset(token)

    @property
    def waiting(self) -> int:
        return sum(not w.done() for w in self._waiters)

    async def _pace(self) -> None:
        """Yield to the loop's other ready tasks (a user's read among them) if this
        step of the loop has run for longer than ``STEP`` seconds: transactions run
        back to back without a suspension (SQLite is inline) are one step else."""
        now = time.monotonic()
        if self._step is None:  # the loop went round since: this is a new step
            self._step = now
            asyncio.get_running_loop().call_soon(self._went_round)
        elif now - self._step > STEP:
            await asyncio.sleep(0)

    def _went_round(self) -> None:
        self._step = None

    async def acquire(self) -> None:
        await self._pace()
        if self.free > 0 and not self._waiters:
            self.free -= 1  # no suspension: a free slot costs the caller nothing
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        since = time.monotonic()
        try:
            while True:
                try:
                    await asyncio.wait_for(asyncio.shield(waiter), self.max_wait)
                    return
                except TimeoutError:
                    if waiter.done():  # granted just as the wait ran out: the slot is ours
                        return
                    now = time.monotonic()
                    if now - self._given_back >= self.max_wait:
                        break  # no turn came back for max_wait: stuck, not slow
                    if now - since >= PATIENCE * self.max_wait:
                        break  # turns come back but none reaches us: some are lost
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                self.release()  # granted, then cancelled before it ran: pass it on
            else:
                waiter.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise
        waiter.cancel()
        self._waiters.remove(waiter)
        self.free -= 1  # over the limit: given back by release like any other
        self.overrun += 1
        if self.overrun % 100 == 1:
            log.warning("a turn taken over the limit of %d (%d so far): none came back for "
                        "%g s, or this one waited %g s; some holder keeps its turn across "
                        "a wait", self.slots, self.overrun, self.max_wait,
                        PATIENCE * self.max_wait)

    def release(self) -> None:
        self.free += 1
        self._given_back = time.monotonic()
        while self.free > 0 and self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self.free -= 1
                waiter.set_result(None)


@contextlib.asynccontextmanager
async def paused() -> AsyncIterator[None]:
    """Let this task's turn go while the block waits (a long-poll's wake-up, a
    client's bytes), and take one again after it."""
    gate = _held.get()
    if gate is None:
        yield
        return
    gate.release()
    token = _held.set(None)
    try:
        yield
    finally:
        await gate.acquire()  # cancelled here: no turn held, none to give back
        _held.reset(token)


@contextlib.contextmanager
def reading() -> Iterator[None]:
    """Mark the block (a user's read) as one that never waits for a turn."""
    token = _reading.set(True)
    try:
        yield
    finally:
        _reading.reset(token)
