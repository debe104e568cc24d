"""Engines and sessions for SQLite (embedded) and PostgreSQL (scale-out)."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy import event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError
from sqlalchemy.util import await_

from barecloud.db import admission
from barecloud.db.admission import Admission
from barecloud.db.models import Node
from barecloud.errors import NodeChanged


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


class InlineSQLiteConnection(aiosqlite.Connection):
    """aiosqlite that runs each call at once, on the event loop's thread.

    aiosqlite hands every call to a worker thread and waits for the answer.
    With one connection shared by a busy process, each hand-off waits for
    the GIL (up to the 5 ms switch interval) while the loop runs other
    requests, and the connection stays checked out meanwhile: the embedded
    service then drove 15-40 nodes a second on a core it did not fill.
    SQLite on a local file answers in microseconds, so running the call
    inline costs less than handing it over, and a transaction (which never
    awaits anything but the database) holds the connection only as long as
    its statements take.  The worker thread is still started, and still
    opens and closes the connection, so aiosqlite's life cycle is unchanged.
    A second process writing the same file would make the loop wait on the
    busy timeout: the embedded setup is one process (scale-out is
    PostgreSQL), and ``sqlite_lock`` keeps it so.
    """

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)


def _inline_sqlite_creator(url: str) -> Any:
    database = make_url(url).database or ":memory:"

    async def connect() -> aiosqlite.Connection:
        # Opened on aiosqlite's thread, used on the loop's: not same-thread.
        conn = InlineSQLiteConnection(
            partial(sqlite3.connect, database, check_same_thread=False), 64
        )
        conn._thread.daemon = True
        return await conn

    return connect


def make_engine(url: str, *, pool_size: int = 40, busy_timeout_ms: int = 30000,
                idle_in_transaction_s: float | None = None) -> AsyncEngine:
    """``idle_in_transaction_s`` (PostgreSQL): the server ends a session whose
    transaction waits that long for its client, so a process paused (SIGSTOP)
    inside one does not hold its row locks, and its peers' take-over, for ever.
    barecloud's transactions do no I/O but the database's while open: one
    that idle is a process stalled past its own lease."""
    if is_sqlite(url):
        # One connection: SQLite serialises writers anyway, and a single
        # connection avoids SQLITE_BUSY on read-to-write lock upgrades, which
        # the busy handler cannot wait out.  Every transaction is short (no
        # hardware I/O while a session is open), so queueing on it is cheap.
        engine = create_async_engine(url, pool_size=1, max_overflow=0, pool_timeout=30,
                                     async_creator=_inline_sqlite_creator(url))

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            cur.close()

        return engine
    # Connections are opened on demand and kept: a pool that closes what it
    # opened past its size when it comes back opened hundreds of connections
    # (a process fork each on the server) during a thousand-node deploy.
    connect_args: dict[str, Any] = {}
    if idle_in_transaction_s is not None:
        connect_args["server_settings"] = {
            "idle_in_transaction_session_timeout": str(max(1, int(idle_in_transaction_s * 1000)))}
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=0, pool_pre_ping=True, connect_args=connect_args
    )
    engine.sync_engine.dialect.do_ping = _ping_once  # type: ignore[method-assign]
    return engine


def _ping_once(dbapi_connection: Any) -> bool:
    """The pre-ping in one round trip.

    SQLAlchemy's asyncpg ping wraps ``;`` in BEGIN and ROLLBACK (for
    pgbouncer's transaction mode), three round trips before every
    transaction.  A connection that does not answer is reported dead, and the
    pool replaces it, as when the stock ping finds it closed.
    """
    try:
        await_(dbapi_connection.driver_connection.fetchrow(";"))
    except Exception:
        return False
    return True


# Session.info key: uuids of the nodes the last flush wrote, to name one that
# failed its version check (StaleDataError says only "0 rows matched").
_WRITING = "barecloud_writing_nodes"


class FencedSession(Session):
    """A session that remembers which nodes each flush writes."""


@event.listens_for(FencedSession, "before_flush")
def _writing(session: Session, _context: Any, _instances: Any) -> None:
    session.info[_WRITING] = [str(inspect(o).dict.get("uuid"))
                              for o in (*session.dirty, *session.deleted)
                              if isinstance(o, Node)]


class Database:
    """The engine and its session factory, shared by a process."""

    def __init__(self, url: str, *, pool_size: int = 40, busy_timeout_ms: int = 30000,
                 idle_in_transaction_s: float | None = None,
                 admission_slots: int | None = None,
                 admission_max_wait: float = 2.0) -> None:
        self.url = url
        # SQLite runs every transaction inline, one after another: two turns only let
        # one task's wait (a client, the pool) overlap another's work.
        self.admission = Admission(admission_slots or (2 if is_sqlite(url) else 8),
                                   admission_max_wait)
        self.engine = make_engine(url, pool_size=pool_size, busy_timeout_ms=busy_timeout_ms,
                                  idle_in_transaction_s=idle_in_transaction_s)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False,
                                               sync_session_class=FencedSession)

    @property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session in a transaction, committed on success, rolled back on error.

        A node written by someone else since this session read it (its version
        moved: models.Node.version) is a :class:`NodeChanged` conflict, which
        the API answers with 409 and the conductor treats as a lost race.
        """
        async with self.admission.turn(), self.sessionmaker() as session:
            try:
                async with session.begin():
                    yield session
            except StaleDataError as exc:
                nodes = session.sync_session.info.get(_WRITING) or ["?"]
                raise NodeChanged(", ".join(sorted(nodes))) from exc

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A Core connection in a transaction, for hot paths that need no ORM."""
        async with self.admission.turn(), self.engine.begin() as conn:
            yield conn

    async def dispose(self) -> None:
        await self.engine.dispose()


async def serialize(s: AsyncSession, key: str) -> None:
    """Hold a PostgreSQL advisory lock on ``key`` until the transaction ends.

    For writers that must not interleave (segment ids, quota checks, lease
    admission).  SQLite needs none: the embedded service has one connection,
    so its transactions never interleave.
    """
    if s.get_bind().dialect.name != "postgresql":
        return
    number = int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big",
                            signed=True)
    # Waiting for another transaction is not work: the turn goes to others meanwhile
    # (creates of one project queued here held every turn of their process).
    async with admission.paused():
        await s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": number})
