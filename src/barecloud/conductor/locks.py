"""Per-node exclusive lock: a conditional UPDATE of ``nodes.reservation``.

The UPDATE is atomic on SQLite and PostgreSQL alike: of two claims racing for
the same node exactly one sees a row count of 1.  The lock is released by the
same transaction that finishes the work, or rolled back with it.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.models import Node


async def reserve(session: AsyncSession, node_id: int, holder: str) -> bool:
    result = await session.execute(
        update(Node)
        .where(Node.id == node_id, Node.reservation.is_(None))
        .values(reservation=holder)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def release(session: AsyncSession, node_id: int, holder: str) -> bool:
    result = await session.execute(
        update(Node)
        .where(Node.id == node_id, Node.reservation == holder)
        .values(reservation=None)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
