"""Port moves of one switch, batched: one SSH session for every move queued.

``bind`` and ``unbind`` queue a *move* (its port and its lines, checked
before anything is queued) and wait for it.  A session takes every move
queued when it starts (at most ``max_batch``, in arrival order): one log-in,
configuration mode entered once, the lines of each move in turn, left once,
one save or commit; then each caller is told its own outcome.  Moves queued
while it runs wait for the next session.  A move alone types exactly what
one call always typed.  One session at a time per switch, as NGS's
per-switch lock.  Outcomes:

- A line the switch refuses fails the move that typed it, with the
  switch's words; the rest of that move's lines are not typed.
  IOS / EOS: every other move of the batch goes on (the lines applied
  before and after stay applied, as NGS accepts: each line takes effect at
  once) and the batch is saved.  A move's first line is a global command
  (``vlan N`` or ``interface X``), which the CLI takes from any
  sub-mode, so the next move starts cleanly after a refusal.
  Junos: the private candidate then holds a partly typed move, so the
  driver types ``rollback 0`` and types the batch again without the
  refused move(s), in the same session, then commits: one bad port never
  takes the other moves of its batch down.  (The refused move's caller
  gets its error at once; the others get theirs after the commit.)
- If every move of a batch was refused, nothing is saved or committed and
  the session is dropped, as a single refused call always did.
- A save or commit that fails, a lost session, a timeout, a refused log-in
  or an unreachable switch fails every move of the batch that had not
  failed already, each with the same error (retryable ones stay
  retryable).
- Two moves of one port in a batch are applied in order (the last wins)
  and both succeed.
- A caller cancelled before its session starts drops its move; once typed,
  a move runs to the end of its batch.  ``close()`` stops the session under
  way and fails every move not yet saved (retryable).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
from dataclasses import dataclass

from barecloud.drivers.switches.base import Segment
from barecloud.drivers.switches.generic_ssh.cli import Session, SshCli
from barecloud.errors import DriverError, RetryableDriverError

log = logging.getLogger(__name__)


@dataclass(eq=False)
class Move:
    """One queued bind or unbind: its lines, and the awaitable its caller waits on."""

    port: str
    lines: list[str]
    segment: Segment | None
    future: asyncio.Future[None]

    def fail(self, exc: BaseException) -> None:
        if self.future.done():
            return
        # A copy each: one exception object raised in many tasks would share
        # (and grow) one traceback.
        with contextlib.suppress(Exception):
            exc = copy.copy(exc)
        self.future.set_exception(exc)


class MoveQueue:
    """The moves waiting for a session of one switch, and the one task that runs them.

    ``configured`` is kept up to date with each saved move's segment (by port).
    """

    def __init__(self, cli: SshCli, max_batch: int,
                 configured: dict[str, Segment | None]) -> None:
        self.cli = cli
        self.max_batch = max_batch
        self.configured = configured
        # Held by each session (a batch of moves, or the driver's bindings()).
        self.lock = asyncio.Lock()
        self._queue: list[Move] = []
        self._worker: asyncio.Task[None] | None = None

    async def move(self, port: str, lines: list[str], segment: Segment | None) -> None:
        """Queue one move and wait until its batch is saved (or it failed)."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append(Move(port, lines, segment, future))
        if self._worker is None:
            self._worker = asyncio.create_task(self._drain(),
                                               name=f"switch {self.cli.name} sessions")
        await future

    async def close(self) -> None:
        """Stop the worker: a move still queued or running fails (retryable)."""
        worker = self._worker
        if worker is not None:
            worker.cancel()
            await asyncio.wait({worker})
            if self._worker is worker:  # cancelled before it ever ran
                self._worker = None
        closed = self._closed()
        for move in self._queue:
            move.fail(closed)
        self._queue.clear()

    def _closed(self) -> RetryableDriverError:
        return RetryableDriverError(self.cli.message("driver closed before the move was saved"))

    async def _drain(self) -> None:
        """Run sessions until the queue is empty (the queue's one worker task)."""
        batch: list[Move] = []
        try:
            while self._queue:
                async with self.lock:
                    # Moves queued while waiting for the lock join this session;
                    # moves whose caller gave up before it starts are dropped.
                    self._queue = [m for m in self._queue if not m.future.done()]
                    batch = self._queue[: self.max_batch]
                    del self._queue[: len(batch)]
                    if not batch:
                        continue
                    try:
                        await self._run_batch(batch)
                    except DriverError as exc:
                        for move in batch:
                            move.fail(exc)
                    except Exception as exc:  # a bug: tell the callers, keep serving
                        log.exception("switch %s: batch failed", self.cli.name)
                        for move in batch:
                            move.fail(exc)
                    batch = []
        except asyncio.CancelledError:
            closed = self._closed()
            for move in (*batch, *self._queue):
                move.fail(closed)
            self._queue.clear()
            raise
        finally:
            self._worker = None

    async def _run_batch(self, batch: list[Move]) -> None:
        """One session for ``batch``: log in, type every move, save, tell each caller."""
        cli, vendor = self.cli, self.cli.vendor
        log.debug("switch %s: one session for %d moves (%d config lines)", cli.name,
                  len(batch), sum(len(m.lines) for m in batch))
        async with cli.session() as session:
            await session.send(vendor.enter_config)
            pending = batch
            while True:
                refused = await self._type_moves(session, pending)
                if not refused:
                    break
                pending = [m for m in pending if m not in refused]
                if not pending:
                    # Nothing to save: drop the session, as one refused call always did.
                    return
                if vendor.device_type != "juniper_junos":
                    break  # IOS/EOS: applied lines stay; save the rest of the batch
                # Junos: the candidate holds the refused move's first lines.
                # Start the candidate again and type the batch without it.
                log.debug("switch %s: %d refused, typing the other %d moves again",
                          cli.name, len(refused), len(pending))
                await session.send("rollback 0")
            if vendor.commit:
                await session.send(vendor.commit)
            await session.send(vendor.leave_config)
            if vendor.save:
                await session.send(vendor.save)
            for move in pending:
                self.configured[move.port] = move.segment
            await session.log_out()
        # Saved, and the session is over: tell the callers.
        for move in pending:
            if not move.future.done():
                move.future.set_result(None)

    async def _type_moves(self, session: Session, moves: list[Move]) -> list[Move]:
        """Type each move's lines in config mode; the moves a line of which was refused.

        A refusal fails that move (its caller is told at once) and skips its
        remaining lines; the session goes on with the next move.
        """
        refused: list[Move] = []
        for move in moves:
            for line in move.lines:
                answer = await session.send(line, check=False)
                try:
                    self.cli.check(line, answer)
                except DriverError as exc:
                    log.debug("%s", exc.message)
                    move.fail(exc)
                    refused.append(move)
                    break
        return refused
