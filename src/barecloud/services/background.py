"""A reconciler's loop: passes in the background of an API process.

A pass runs every ``interval`` seconds, at once when a request wakes the loop
(it changed something the reconciler acts on), and again at once while a
pass reports more work than it took.  A pass that fails is logged and the
loop goes on: the next pass starts from the database again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets

from barecloud.services.context import Runtime

log = logging.getLogger(__name__)


class Reconciler:
    name = "reconciler"

    def __init__(self, rt: Runtime, wakers: set[asyncio.Event]) -> None:
        self.rt = rt
        # Who claims rows for a while (several API processes share the work).
        self.holder = f"{rt.settings.conductor_name}:{os.getpid()}:{secrets.token_hex(3)}"
        self._wakers = wakers
        self._event = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    @property
    def interval(self) -> float:
        raise NotImplementedError

    async def once(self) -> bool:
        """One pass; True if another should follow at once."""
        raise NotImplementedError

    async def start(self) -> None:
        self._wakers.add(self._event)
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        self._wakers.discard(self._event)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            self._event.clear()
            try:
                busy = await self.once()
            except Exception:
                log.exception("%s pass failed", self.name)
                busy = False
            if busy:
                await asyncio.sleep(0.05)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._event.wait(), self.interval)
