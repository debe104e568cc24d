"""One leader among processes, for work that must run exactly once in a cluster.

The tenant DHCP servers are such work: two dnsmasq answering on one network
hand out leases twice.  On PostgreSQL the leader is the process holding a
session-level advisory lock on a connection of its own: the lock lives as
long as that connection, so a leader that is killed (or whose connection
breaks) frees it without anyone's help, and another process takes it at its
next try.  A leader that loses its connection stops leading at once: it
cannot know that nobody took the lock meanwhile.  SQLite is one process: it
always leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from typing import Any

from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

# A lock that does not answer this fast is treated as lost.
CHECK_TIMEOUT = 5.0


def lock_key(role: str) -> int:
    """The advisory lock's number for ``role`` (a signed 64-bit integer)."""
    return int.from_bytes(hashlib.blake2b(f"barecloud:leader:{role}".encode(),
                                          digest_size=8).digest(), "big", signed=True)


class Leader:
    """Whether this process leads ``role``; tries to become leader every ``retry`` s."""

    def __init__(self, url: str, role: str, retry: float) -> None:
        self.url, self.role, self.retry = url, role, retry
        self._conn: Any = None
        self._leading = not url.startswith("postgresql")
        self._task: asyncio.Task[None] | None = None

    @property
    def leading(self) -> bool:
        if not self.url.startswith("postgresql"):
            return True
        return self._leading and self._conn is not None and not self._conn.is_closed()

    async def start(self) -> None:
        if not self.url.startswith("postgresql"):
            return
        await self.check()
        self._task = asyncio.create_task(self._loop(), name=f"leader-{self.role}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        await self._drop()  # closing the connection frees the lock

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.retry)
            await self.check()

    async def check(self) -> bool:
        """Take the lock if free, or make sure it is still held; whether we lead."""
        if not self.url.startswith("postgresql"):
            return True
        try:
            if self._conn is None or self._conn.is_closed():
                await self._drop()
                self._conn = await asyncio.wait_for(self._connect(), CHECK_TIMEOUT)
            if self._leading:
                # Still held while the connection answers: the lock dies with it.
                await asyncio.wait_for(self._conn.fetchval("SELECT 1"), CHECK_TIMEOUT)
            else:
                won = await asyncio.wait_for(self._conn.fetchval(
                    "SELECT pg_try_advisory_lock($1)", lock_key(self.role)), CHECK_TIMEOUT)
                if won:
                    log.warning("this process now leads %s", self.role)
                    self._leading = True
        except Exception as exc:
            if self._leading:
                log.warning("lost the lead of %s: %s", self.role, exc)
            await self._drop()
        return self._leading

    async def _connect(self) -> Any:
        import asyncpg

        dsn = make_url(self.url).set(drivername="postgresql").render_as_string(
            hide_password=False)
        conn = await asyncpg.connect(dsn)
        conn.add_termination_listener(self._terminated)
        return conn

    def _terminated(self, _conn: Any) -> None:
        if self._leading:
            log.warning("lost the lead of %s: its connection closed", self.role)
        self._leading = False

    async def _drop(self) -> None:
        self._leading = False
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(), CHECK_TIMEOUT)
