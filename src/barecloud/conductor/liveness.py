"""A member's heartbeat, and the lease that keeps a conductor from acting once
its peers may have taken its nodes over.

The heartbeat is ``UPDATE conductors ... WHERE hostname = me AND incarnation
= mine AND online``: a row count of 0 means the peers declared this process
dead (or another process took the name), and it must step down.  It runs on a
connection of its own, so a pool busy with a thousand workflows cannot make
it late.

The lease: peers take over only once the heartbeat is older than
``conductor_heartbeat_timeout`` on the database's clock (db/clock.py).  Each
successful heartbeat extends the lease to (when it *started*, on the
monotonic clock) + timeout - margin, so the lease always ends before the
peers may act; before every workflow step and power action the conductor
calls :meth:`Member.ensure`: past the lease it beats once more, at once, and
steps down if that fails.  A process paused by SIGSTOP wakes with an expired
lease: it asks before it touches anything.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncEngine

from barecloud.conductor import recovery
from barecloud.config import Settings
from barecloud.db import clock
from barecloud.db.session import Database, make_engine

log = logging.getLogger(__name__)


class NotLive(asyncio.CancelledError):
    """This member lost its liveness: what it was doing stops, touching nothing.

    A CancelledError, so that no ``except Exception`` on the way records a
    failure on the node: the node is its peers' now.
    """


class Member:
    """One process's membership: registration, heartbeat loop, lease."""

    def __init__(self, db: Database, settings: Settings, name: str, *,
                 role: str = recovery.CONDUCTOR, group: str = "",
                 on_lost: Callable[[], None] | None = None) -> None:
        self.db, self.settings, self.name = db, settings, name
        self.role, self.group = role, group
        self.on_lost = on_lost
        self.incarnation: str | None = None
        self.lost = False
        self.lease_until = 0.0  # time.monotonic()
        self._engine: AsyncEngine | None = None
        self._beat_lock = asyncio.Lock()
        self._last_beat = 0.0  # when the last finished beat started
        self._task: asyncio.Task[None] | None = None

    @property
    def lease_seconds(self) -> float:
        return self.settings.conductor_heartbeat_timeout - self.settings.lease_margin

    def _heartbeat_engine(self) -> AsyncEngine:
        if self._engine is None:
            # SQLite: one process, one connection; PostgreSQL: a pool of one.
            self._engine = self.db.engine if self.db.is_sqlite else make_engine(
                self.db.url, pool_size=1)
        return self._engine

    async def register(self) -> None:
        """Take the name with a new incarnation (NameTaken if a live process has it)."""
        await clock.refresh(self._heartbeat_engine())
        started = time.monotonic()
        self.incarnation = await recovery.register(
            self.db, self.name, self.group, role=self.role,
            timeout=self.settings.conductor_heartbeat_timeout)
        self.lost = False
        self.lease_until = started + self.lease_seconds

    def leased(self) -> bool:
        return not self.lost and time.monotonic() < self.lease_until

    async def beat(self) -> bool | None:
        """One heartbeat: True (lease renewed), False (lost: step down), or None
        (the database did not answer: the lease runs on and may expire)."""
        asked = time.monotonic()
        async with self._beat_lock:
            if self._last_beat >= asked:  # a beat that started since we asked: its answer
                return True if self.leased() else (False if self.lost else None)
            if self.lost or self.incarnation is None:
                return False
            started = time.monotonic()
            try:
                async with asyncio.timeout(self.settings.conductor_heartbeat_timeout / 2):
                    async with self._heartbeat_engine().begin() as conn:
                        await clock.measure(conn)
                        alive = await recovery.heartbeat(conn, self.name, self.incarnation)
            except Exception as exc:
                log.warning("%s %s: heartbeat failed: %s", self.role, self.name, exc)
                return None
            self._last_beat = started
            if alive:
                self.lease_until = started + self.lease_seconds
                return True
            self.lost = True
            log.error("%s %s: its peers declared it dead (heartbeat of incarnation %s "
                      "matched no live row)", self.role, self.name, self.incarnation)
            if self.on_lost is not None:
                self.on_lost()
            return False

    async def ensure(self) -> None:
        """Return if this member may act; raise :class:`NotLive` if it may not.

        Past the lease, beat at once (and again while the database does not
        answer): only a successful heartbeat lets the caller go on.
        """
        while not self.leased():
            if self.lost:
                raise NotLive(f"{self.role} {self.name} is not live")
            if await self.beat() is None:
                await asyncio.sleep(min(1.0, self.settings.conductor_heartbeat_interval))

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=f"heartbeat-{self.name}")

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.settings.conductor_heartbeat_interval)
            if self.lost:
                if self.on_lost is None:  # no one to step down for us: register again
                    with contextlib.suppress(Exception):
                        await self.register()
                continue
            await self.beat()

    async def stop(self) -> None:
        """Stop beating (the row stays as it is: unregister is the caller's)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def close(self) -> None:
        await self.stop()
        if self._engine is not None and self._engine is not self.db.engine:
            await self._engine.dispose()
        self._engine = None
