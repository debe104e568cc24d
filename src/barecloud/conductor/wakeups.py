"""Cross-process wake-ups over PostgreSQL LISTEN/NOTIFY.

An API process that hands a node to a conductor in another process sends
``NOTIFY`` in the claiming transaction, so the conductor hears of the work
when it commits instead of at its next poll.  SQLite has no such thing and
needs none: there the API and the conductor share one process.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.conductor.mailbox import MAILBOX

log = logging.getLogger(__name__)

CHANNEL = "barecloud_work"


async def _notify(session: AsyncSession, channel: str, payload: str) -> None:
    """NOTIFY ``channel`` when ``session`` commits (PostgreSQL only)."""
    if session.bind is not None and session.bind.dialect.name == "postgresql":
        await session.execute(text("SELECT pg_notify(:c, :p)"), {"c": channel, "p": payload})


async def notify(session: AsyncSession, conductor: str) -> None:
    """Tell ``conductor`` there is work, when ``session`` commits."""
    await _notify(session, CHANNEL, conductor)


# "A command was issued for node <uuid>": agents long-polling an API process
# hear of it when the conductor's transaction commits.
COMMANDS = "barecloud_agent_command"


async def notify_command(session: AsyncSession, node_uuid: str) -> None:
    """Tell API processes that ``node_uuid``'s agent has a new command."""
    await _notify(session, COMMANDS, node_uuid)


class _Listening:
    """One connection of its own that LISTENs on ``channel``; every payload goes to
    :meth:`heard`.  Without PostgreSQL (or if it cannot connect) nothing is heard
    and the caller's polling is the safety net."""

    channel = ""

    def __init__(self, url: str) -> None:
        self.url = url
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
            await self._conn.add_listener(self.channel, self._on_notify)
        except Exception as exc:  # polling still finds the work
            log.warning("LISTEN %s unavailable, relying on polling: %s", self.channel, exc)
            self._conn = None

    @property
    def listening(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        self.heard(payload)

    def heard(self, payload: str) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        if self._conn is not None:
            await self._conn.close()
            self._conn = None


class Listener(_Listening):
    """Calls ``wake`` whenever a NOTIFY names this conductor."""

    channel = CHANNEL

    def __init__(self, url: str, name: str, wake: Callable[[], None]) -> None:
        super().__init__(url)
        self.name, self.wake = name, wake

    def heard(self, payload: str) -> None:
        if payload == self.name:
            self.wake()


class CommandListener(_Listening):
    """Wakes this process's long-polls (the mailbox) on a NOTIFY from any conductor."""

    channel = COMMANDS

    def heard(self, payload: str) -> None:
        MAILBOX.notify(payload)


class Channel(_Listening):
    """Calls ``wake`` on every NOTIFY on ``channel``; :meth:`tell` sends one, for the
    process that LISTENs there to act (a leader) when another one changed something."""

    def __init__(self, url: str, channel: str, wake: Callable[[], None]) -> None:
        super().__init__(url)
        self.channel, self.wake = channel, wake
        self._sending = asyncio.Lock()  # one query at a time on a connection

    def heard(self, payload: str) -> None:
        self.wake()

    async def tell(self) -> None:
        """NOTIFY ``channel`` now (over this connection: no transaction to wait for).
        Not listening (SQLite, or no connection): nothing; polling is the safety net."""
        if not self.listening:
            return
        try:
            async with self._sending:
                await self._conn.execute(f"NOTIFY {self.channel}")
        except Exception as exc:
            log.warning("NOTIFY %s failed, relying on polling: %s", self.channel, exc)
