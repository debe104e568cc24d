"""VM console sessions announced in the database, for API processes to find each
other's (several over PostgreSQL: docs/design/remote-consoles.md, "Several API
processes").

A row per session under way: the host it waits for, its VM and kind (unique
together: one session of a kind per VM, whatever process made it), the
owner's relay address (console_peers.py), whether the agent's leg came, and
a lease the owner renews while it holds the session.  A row whose lease has
run out is nobody's: its owner died (or lost the database) and no one waits
on it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError

from barecloud.conductor import wakeups
from barecloud.db.console_models import ConsoleSession
from barecloud.db.models import utcnow
from barecloud.db.session import Database

LEASE = 30.0  # seconds a row lives unless its owner renews it


@dataclass(frozen=True)
class Announced:
    """What a row says of a session (read in another process than its owner's)."""

    session: str
    host: str
    vm: str
    kind: str
    relay: str
    seq: int


class Taken(Exception):
    """The VM's console of that kind has a session already (``holder``'s)."""

    def __init__(self, holder: Announced | None) -> None:
        super().__init__(holder.session if holder else "")
        self.holder = holder


def _announced(row: ConsoleSession) -> Announced:
    return Announced(row.session, row.hypervisor_uuid, row.server_uuid, row.kind,
                     row.relay, row.seq)


def _until() -> dt.datetime:
    return utcnow() + dt.timedelta(seconds=LEASE)


async def announce(db: Database, session: str, host: str, vm: str, kind: str, relay: str,
                   wake: str) -> int:
    """Add the session's row (its seq); Taken if another row holds that VM's console
    of that kind (an expired one is removed first).  ``wake``: the mailbox key
    every API process's long-polls of that host listen on (NOTIFY on commit)."""
    try:
        async with db.session() as s:
            await s.execute(delete(ConsoleSession).where(
                ConsoleSession.server_uuid == vm, ConsoleSession.kind == kind,
                ConsoleSession.expires_at < utcnow()))
            row = ConsoleSession(session=session, hypervisor_uuid=host, server_uuid=vm,
                                 kind=kind, relay=relay, attached=False, expires_at=_until())
            s.add(row)
            await s.flush()
            await wakeups.notify_command(s, wake)
            return row.seq
    except IntegrityError:
        pass
    async with db.session() as s:
        holder = await s.scalar(select(ConsoleSession).where(
            ConsoleSession.server_uuid == vm, ConsoleSession.kind == kind))
        raise Taken(_announced(holder) if holder is not None else None)


async def pending(db: Database, host: str) -> tuple[int, list[Announced]]:
    """The newest seq of any session, and the sessions waiting for ``host``'s agent
    (not attached, lease running), oldest first."""
    async with db.session() as s:
        last = await s.scalar(select(func.max(ConsoleSession.seq)))
        rows = (await s.scalars(select(ConsoleSession).where(
            ConsoleSession.hypervisor_uuid == host, ConsoleSession.attached.is_(False),
            ConsoleSession.expires_at > utcnow()).order_by(ConsoleSession.seq))).all()
    return int(last or 0), [_announced(r) for r in rows]


async def waiting(db: Database, session: str, host: str, vm: str) -> Announced | None:
    """The session an agent's leg names, if it waits for that host and VM."""
    async with db.session() as s:
        row = await s.scalar(select(ConsoleSession).where(
            ConsoleSession.session == session, ConsoleSession.hypervisor_uuid == host,
            ConsoleSession.server_uuid == vm, ConsoleSession.attached.is_(False),
            ConsoleSession.expires_at > utcnow()))
    return _announced(row) if row is not None else None


async def attached(db: Database, session: str) -> None:
    """The agent's leg came: no long-poll lists the session any more."""
    async with db.session() as s:
        await s.execute(update(ConsoleSession).where(ConsoleSession.session == session)
                        .values(attached=True))


async def renew(db: Database, sessions: Collection[str]) -> None:
    """The owner still holds ``sessions``: their leases start again."""
    if sessions:
        async with db.session() as s:
            await s.execute(update(ConsoleSession).where(
                ConsoleSession.session.in_(list(sessions))).values(expires_at=_until()))


async def forget(db: Database, session: str) -> None:
    """The session ended (or its owner is gone): its row goes."""
    async with db.session() as s:
        await s.execute(delete(ConsoleSession).where(ConsoleSession.session == session))
