"""Conductor membership, and what happens to nodes a conductor left behind.

A conductor that restarts, or is declared dead by its peers, cannot finish
work it had begun: its locks are cleared and every node it held in a
transient state is moved to that state's failed state with a ``last_error``
that says why.  Nodes waiting for their machine keep their deadline.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from barecloud.db.models import Conductor, Node, utcnow
from barecloud.db.session import Database
from barecloud.db.transitions import fail_and_clear


async def register(db: Database, name: str, group: str) -> None:
    async with db.session() as s:
        row = await s.scalar(select(Conductor).where(Conductor.hostname == name))
        if row is None:
            s.add(Conductor(hostname=name, conductor_group=group, online=True))
        else:
            row.online, row.conductor_group, row.updated_at = True, group, utcnow()


async def unregister(db: Database, name: str) -> None:
    async with db.session() as s:
        await s.execute(
            update(Conductor).where(Conductor.hostname == name).values(online=False)
        )


async def heartbeat(db: Database, name: str) -> None:
    async with db.session() as s:
        await s.execute(
            update(Conductor)
            .where(Conductor.hostname == name)
            .values(updated_at=utcnow(), online=True)
        )


async def live_conductors(db: Database, timeout: float) -> list[tuple[str, str]]:
    """(hostname, group) of conductors whose heartbeat is recent."""
    cutoff = utcnow() - dt.timedelta(seconds=timeout)
    async with db.session() as s:
        rows = (
            await s.execute(
                select(Conductor.hostname, Conductor.conductor_group).where(
                    Conductor.online.is_(True), Conductor.updated_at >= cutoff
                )
            )
        ).all()
    return [(r[0], r[1]) for r in rows]


async def abandon_locks(db: Database, holder: str, why: str) -> int:
    """Fail the transient nodes ``holder`` locked and clear its locks."""
    count = 0
    async with db.session() as s:
        nodes = (await s.scalars(select(Node).where(Node.reservation == holder)
                                 .order_by(Node.id).with_for_update(of=Node))).all()
        for node in nodes:
            count += 1
            message = (
                f"{why} while the node was {node.provision_state}; "
                "the operation was abandoned."
            )
            s.add(fail_and_clear(node, message, conductor=holder))
    return count


async def recover_own(db: Database, name: str) -> int:
    return await abandon_locks(db, name, f"Conductor {name} restarted")


async def take_over_dead(db: Database, me: str, timeout: float) -> list[str]:
    """Declare conductors with stale heartbeats dead and release their nodes."""
    cutoff = utcnow() - dt.timedelta(seconds=timeout)
    async with db.session() as s:
        dead = (
            await s.scalars(
                select(Conductor.hostname).where(
                    Conductor.hostname != me,
                    Conductor.online.is_(True),
                    Conductor.updated_at < cutoff,
                )
            )
        ).all()
        if dead:
            await s.execute(
                update(Conductor).where(Conductor.hostname.in_(dead)).values(online=False)
            )
    for host in dead:
        await abandon_locks(db, host, f"Conductor {host} stopped answering")
    return list(dead)
