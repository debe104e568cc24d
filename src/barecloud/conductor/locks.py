"""Per-node exclusive lock: a conditional UPDATE of ``nodes.reservation``.

The UPDATE is atomic on SQLite and PostgreSQL alike: of two claims racing for
the same node exactly one sees a row count of 1.  The lock is released by the
same transaction that finishes the work, or rolled back with it.  Each of
these UPDATEs bumps the row's version (models.Node.version), so an ORM writer
that read the node before the lock changed hands cannot write over it.

A claim made *for* another process (the API hands a node to the conductor
the hash ring names) goes through :func:`claim_for`, which first checks, in
the same transaction, that the holder is a live conductor.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from barecloud.db.models import Conductor, Node, bump, utcnow
from barecloud.errors import BarecloudError


class ConductorGone(BarecloudError):
    """The conductor a node was to be handed to is not live (the caller's view of
    the hash ring is stale): look again, or answer 503."""

    code = 503


async def reserve(session: AsyncSession, node_id: int, holder: str) -> bool:
    result = await session.execute(
        update(Node)
        .where(Node.id == node_id, Node.reservation.is_(None))
        .values(reservation=holder, **bump())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def claim(session: AsyncSession, node: Node, holder: str) -> bool:
    """:func:`reserve` ``node`` as the caller read it, and tell the session.

    The claim succeeds only if the row is free *and* still at the version the
    caller read: a caller deciding from a stale read (a deadline extended,
    a workflow resumed meanwhile) loses, as if the node were locked.  The
    conditional UPDATE bypasses the ORM, so ``node`` is then told the lock
    and the new version; else a later ``node.reservation = None`` in the same
    transaction would look like no change (the lock kept for ever), and the
    next flush would fail its version check.
    """
    await session.flush()  # the caller's own changes first: they move the version
    version = (
        await session.execute(
            update(Node)
            .where(Node.id == node.id, Node.reservation.is_(None),
                   Node.version == node.version)
            .values(reservation=holder, **bump())
            .returning(Node.version)
            .execution_options(synchronize_session=False)
        )
    ).scalar()
    if version is None:
        return False
    set_committed_value(node, "reservation", holder)
    set_committed_value(node, "version", version)
    return True


async def release(session: AsyncSession, node_id: int, holder: str) -> bool:
    result = await session.execute(
        update(Node)
        .where(Node.id == node_id, Node.reservation == holder)
        .values(reservation=None, **bump())
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def holder_is_live(session: AsyncSession, holder: str, timeout: float) -> bool:
    """Whether ``holder`` is a live conductor: online, heartbeat within ``timeout``.

    ``FOR KEY SHARE`` keeps its row until ``session`` ends from a peer taking
    ``holder`` over (its ``SELECT ... FOR UPDATE`` of that row skips it, or
    waits), so the peer sees the node claimed here when it releases
    ``holder``'s locks.  Not ``FOR SHARE``: that would also hold back
    ``holder``'s own heartbeat (an UPDATE of the row), and claims overlapping
    for a busy conductor let it age past the timeout, making it look dead.
    """
    cutoff = utcnow() - dt.timedelta(seconds=timeout)
    found = await session.scalar(
        select(Conductor.id).where(
            Conductor.hostname == holder, Conductor.online.is_(True),
            Conductor.updated_at >= cutoff, Conductor.role == "conductor",
        ).with_for_update(read=True, key_share=True)
    )
    return found is not None


async def claim_for(session: AsyncSession, node: Node, holder: str, timeout: float) -> bool:
    """:func:`claim` ``node`` for conductor ``holder``, which must be live
    (:class:`ConductorGone` otherwise); False if the node is locked."""
    if not await holder_is_live(session, holder, timeout):
        raise ConductorGone(
            f"Conductor {holder}, which node {node.uuid} was to be handed to, is not alive.")
    return await claim(session, node, holder)
