"""The database's clock, as seen from this process.

Liveness, take-over and wait deadlines compare timestamps written by
different hosts: a conductor whose clock runs 30 s ahead would see every
peer's heartbeat as 30 s old.  So every timestamp barecloud writes or
compares is taken on one clock, the database's: this process measures the
offset between its own UTC clock and PostgreSQL's (``clock_timestamp()``,
the time of the query itself, not of its transaction) at start and again at
every heartbeat, and :func:`barecloud.db.models.utcnow` adds it.  SQLite
runs in this process: its clock is ours, the offset is 0.

The measurement takes the middle of the round trip; its error is at most
half of it, which the conductor's lease margin covers
(docs/design/engine.md, "Recovery").
"""

from __future__ import annotations

import datetime as dt
import time

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

# The database's clock minus ours, in seconds.
_offset = 0.0


def offset() -> float:
    return _offset


def set_offset(seconds: float) -> None:
    """Use ``seconds`` as the offset (tests inject a skew this way)."""
    global _offset
    _offset = float(seconds)


def local_utcnow() -> dt.datetime:
    """This host's UTC clock, naive (what ``utcnow`` was before the offset)."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def now() -> dt.datetime:
    """The database's current UTC time, naive, as barecloud stores times."""
    return local_utcnow() + dt.timedelta(seconds=_offset)


def offset_from(before: dt.datetime, database: dt.datetime, after: dt.datetime) -> float:
    """The offset that ``database``, read between ``before`` and ``after``, implies."""
    middle = before + (after - before) / 2
    return (database - middle).total_seconds()


async def measure(conn: AsyncConnection) -> float:
    """Measure the offset on ``conn`` and use it from now on."""
    if conn.dialect.name != "postgresql":
        set_offset(0.0)
        return 0.0
    started = time.monotonic()
    before = local_utcnow()
    database = await conn.scalar(text("SELECT clock_timestamp() AT TIME ZONE 'UTC'"))
    after = before + dt.timedelta(seconds=time.monotonic() - started)
    set_offset(offset_from(before, database, after))
    return _offset


async def refresh(engine: AsyncEngine) -> float:
    """:func:`measure` on a connection of ``engine`` (API processes, at start)."""
    async with engine.connect() as conn:
        return await measure(conn)
