"""Per-node exclusive lock: a conditional UPDATE of ``nodes.reservation``.

The UPDATE is atomic on SQLite and PostgreSQL alike: of two claims racing for
the same node exactly one sees a row count of 1.  The lock is released by the
same transaction that finishes the work, or rolled back with it.
"""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from barecloud.db.models import Node


async def reserve(session: AsyncSession, node_id: int, holder: str) -> bool:
    result = await session.execute(
        update(Node)
        .where(Node.id == node_id, Node.reservation.is_(None))
        .values(reservation=holder)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def claim(session: AsyncSession, node: Node, holder: str) -> bool:
    """:func:`reserve` ``node`` and tell the session the row is now locked.

    The conditional UPDATE bypasses the ORM, so ``node`` still says the row is
    free; were the caller to set ``node.reservation = None`` later in the same
    transaction (an immediate transition, a deadline failure), the ORM would
    see no change and the lock would stay in the database for ever.
    """
    if not await reserve(session, node.id, holder):
        return False
    set_committed_value(node, "reservation", holder)
    return True


async def release(session: AsyncSession, node_id: int, holder: str) -> bool:
    result = await session.execute(
        update(Node)
        .where(Node.id == node_id, Node.reservation == holder)
        .values(reservation=None)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
