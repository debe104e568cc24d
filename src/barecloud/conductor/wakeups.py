"""Cross-process wake-ups over PostgreSQL LISTEN/NOTIFY.

An API process that hands a node to a conductor in another process sends
``NOTIFY`` in the claiming transaction, so the conductor hears of the work
when it commits instead of at its next poll.  SQLite has no such thing and
needs none: there the API and the conductor share one process.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)

CHANNEL = "barecloud_work"


async def notify(session: AsyncSession, conductor: str) -> None:
    """Tell ``conductor`` there is work, when ``session`` commits (PostgreSQL only)."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_notify(:c, :p)"), {"c": CHANNEL, "p": conductor})


class Listener:
    """Calls ``wake`` whenever a NOTIFY names this conductor."""

    def __init__(self, url: str, name: str, wake: Callable[[], None]) -> None:
        self.url, self.name, self.wake = url, name, wake
        self._conn: Any = None

    async def start(self) -> None:
        if not self.url.startswith("postgresql"):
            return
        import asyncpg

        dsn = make_url(self.url).set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        try:
            self._conn = await asyncpg.connect(dsn)
            await self._conn.add_listener(CHANNEL, self._on_notify)
        except Exception as exc:  # polling still finds the work
            log.warning("LISTEN unavailable, relying on polling: %s", exc)
            self._conn = None

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        if payload == self.name:
            self.wake()

    async def stop(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None
