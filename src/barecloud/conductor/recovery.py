"""Membership, and what happens to nodes a member left behind.

Conductors and API processes are members: a row in ``conductors`` with a
heartbeat, an incarnation (a token drawn at each process start) and a role.
A member that restarts, is declared dead by its peers, or stops without
handing its work over cannot finish work it had begun: its locks are
cleared and every node it held in a transient state is moved to that
state's failed state with a ``last_error`` that says why.  Nodes waiting for
their machine keep their deadline.  docs/design/engine.md, "Recovery".
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import logging
import os
import secrets
import socket
from pathlib import Path

from sqlalchemy import delete, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from barecloud.conductor import locks, wakeups
from barecloud.conductor.ring import HashRing
from barecloud.db.models import Conductor, Node, utcnow
from barecloud.db.session import Database
from barecloud.db.transitions import fail_and_clear, note
from barecloud.errors import BarecloudError

log = logging.getLogger(__name__)

CONDUCTOR, API = "conductor", "api"


class NameTaken(BarecloudError):
    """Another live process is registered under this name."""

    code = 409


def _process_id(pid: int) -> str:
    """``pid`` and its start time (a pid the kernel gave again is another process)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f"{pid}.{f.read().rpartition(')')[2].split()[19]}"
    except (OSError, IndexError):
        return str(pid)


def _pid_space() -> str:
    """Where a pid means the same process as here: this kernel boot and pid
    namespace (two containers on one host share the boot, not the namespace)."""
    parts = [socket.gethostname()]
    with contextlib.suppress(OSError):
        parts.append(Path("/proc/sys/kernel/random/boot_id").read_text().strip())
    with contextlib.suppress(OSError):
        parts.append(os.readlink("/proc/self/ns/pid"))
    return hashlib.blake2b("/".join(parts).encode(), digest_size=6).hexdigest()


def new_incarnation() -> str:
    """A fresh token that also says which process it is:
    ``<random> <pid space> <pid>.<start time> <host name>``."""
    return (f"{secrets.token_hex(8)} {_pid_space()} {_process_id(os.getpid())} "
            f"{socket.gethostname()[:120]}")


def _gone(incarnation: str | None) -> bool:
    """Whether the process of ``incarnation`` is known to have ended: it ran where
    our pids mean the same processes, it is not this one, and it is no more.  A
    conductor restarted at once after a crash need not wait for its old
    heartbeat to age."""
    parts = (incarnation or "").split(" ")
    if len(parts) != 4 or parts[1] != _pid_space():
        return False
    pid = parts[2].split(".")[0]
    if not pid.isdigit() or int(pid) == os.getpid():
        return False  # this very process: live, as far as it can tell
    return _process_id(int(pid)) != parts[2]


def _where(incarnation: str | None) -> str:
    parts = (incarnation or "").split(" ")
    if len(parts) != 4:
        return "an unknown process"
    return f"process {parts[2].split('.')[0]} on host {parts[3]}"


async def register(db: Database, name: str, group: str, *, role: str = CONDUCTOR,
                   timeout: float) -> str:
    """Take the member row ``name`` for this process; its new incarnation.

    Refused (:class:`NameTaken`) while another live process holds the name:
    two conductors under one name would run the same nodes.
    """
    incarnation = new_incarnation()
    try:
        async with db.session() as s:
            row = await s.scalar(
                select(Conductor).where(Conductor.hostname == name).with_for_update())
            now = utcnow()
            if row is not None and row.online and row.incarnation and (
                    row.updated_at >= now - dt.timedelta(seconds=timeout)) and not _gone(
                    row.incarnation):
                age = (now - row.updated_at).total_seconds()
                raise NameTaken(
                    f"A live {row.role} named {name!r} is already running "
                    f"({_where(row.incarnation)}; last heartbeat "
                    f"{row.updated_at.isoformat(timespec='seconds')} UTC, {age:.0f} s ago). "
                    f"Stop it, or choose another name.")
            if row is None:
                s.add(Conductor(hostname=name, conductor_group=group, online=True,
                                incarnation=incarnation, role=role, created_at=now,
                                updated_at=now))
            else:
                row.online, row.conductor_group, row.updated_at = True, group, now
                row.incarnation, row.role = incarnation, role
                row.created_at = now  # when this incarnation began (a step-down's too)
    except IntegrityError:  # another process inserted the name meanwhile
        raise NameTaken(f"Another process registered as {name!r} at the same time.") from None
    return incarnation


async def unregister(db: Database, name: str, incarnation: str | None = None) -> None:
    """Mark the member offline (only this incarnation of it, when given)."""
    cond = [Conductor.hostname == name]
    if incarnation is not None:
        cond.append(Conductor.incarnation == incarnation)
    async with db.session() as s:
        await s.execute(update(Conductor).where(*cond).values(online=False, updated_at=utcnow()))


async def heartbeat(conn: AsyncConnection, name: str, incarnation: str) -> bool:
    """Renew this incarnation's heartbeat; False if its peers declared it dead (or
    another process took the name): it must step down."""
    result = await conn.execute(
        update(Conductor)
        .where(Conductor.hostname == name, Conductor.incarnation == incarnation,
               Conductor.online.is_(True))
        .values(updated_at=utcnow(), online=True)
    )
    return bool(result.rowcount)


async def live_conductors(db: Database, timeout: float) -> list[tuple[str, str]]:
    """(hostname, group) of conductors whose heartbeat is recent (API members,
    which run no workflow, are not among them)."""
    cutoff = utcnow() - dt.timedelta(seconds=timeout)
    async with db.session() as s:
        rows = (
            await s.execute(
                select(Conductor.hostname, Conductor.conductor_group).where(
                    Conductor.online.is_(True), Conductor.updated_at >= cutoff,
                    Conductor.role == CONDUCTOR,
                )
            )
        ).all()
    return [(r[0], r[1]) for r in rows]


async def abandon_locks(db: Database, holder: str, why: str) -> int:
    """Fail the transient nodes ``holder`` locked and clear its locks."""
    async with db.session() as s:
        return await _abandon(s, holder, why)


async def _abandon(s: AsyncSession, holder: str, why: str) -> int:
    count = 0
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


async def take_over_dead(db: Database, me: str, timeout: float,
                         incarnation: str | None = None) -> list[str]:
    """Declare members with stale heartbeats dead and release every lock whose
    holder is not a live member; the names declared dead.

    Covers a crash (heartbeat stale while online), a member that went offline
    holding locks (a crash during a graceful stop: its heartbeat then ages
    too, the stop had that long to hand its nodes over), and locks under a
    name no member has.

    One transaction: the members' rows stay locked until their nodes are
    released, so a member cannot register again meanwhile (its heartbeat
    waits, then finds itself offline and steps down), and a claim for it
    (``FOR KEY SHARE`` in :func:`locks.claim_for`) waits, then finds it dead.
    Declaring a member dead and releasing its nodes commit together or not at
    all: a take-over cut short (its conductor paused, then found dead itself)
    never leaves a member online whose nodes were taken.  With ``incarnation``
    the caller's own row is read first, ``FOR KEY SHARE``: a caller its peers
    declared dead (or are declaring so) takes nobody over.  Two conductors
    taking over at once skip each other's rows.
    """
    cutoff = utcnow() - dt.timedelta(seconds=timeout)
    holders = select(Node.reservation).where(Node.reservation.is_not(None))
    async with db.session() as s:
        if incarnation is not None and await s.scalar(
                select(Conductor.id).where(Conductor.hostname == me,
                                           Conductor.incarnation == incarnation,
                                           Conductor.online.is_(True))
                .with_for_update(read=True, key_share=True)) is None:
            return []
        rows = (await s.execute(
            select(Conductor.hostname, Conductor.online, Conductor.role)
            .where(Conductor.hostname != me, Conductor.updated_at < cutoff,
                   or_(Conductor.online.is_(True), Conductor.hostname.in_(holders)))
            .order_by(Conductor.hostname)
            .with_for_update(skip_locked=True, of=Conductor)
        )).all()
        dead = [r.hostname for r in rows if r.online]
        if dead:
            await s.execute(
                update(Conductor).where(Conductor.hostname.in_(dead)).values(online=False)
            )
        orphans = (await s.scalars(
            select(Node.reservation).distinct().where(
                Node.reservation.is_not(None), Node.reservation != me,
                Node.reservation.not_in(select(Conductor.hostname)))
        )).all()
        gone = [(r.hostname, _why(r.hostname, r.role, r.online)) for r in rows]
        gone += [(h, f"Conductor {h} stopped answering") for h in orphans if h]
        for host, why in gone:
            released = await _abandon(s, host, why)
            if released:
                log.warning("releasing %d node(s) held by %s (%s)", released, host, why)
    async with db.session() as s:
        # API members are named after their pid: rows of ended ones would pile up.
        await s.execute(delete(Conductor).where(
            Conductor.role == API, Conductor.online.is_(False), Conductor.updated_at < cutoff,
            Conductor.hostname.not_in(holders)))
    return dead


def _why(host: str, role: str, online: bool) -> str:
    who = "API process" if role == API else "Conductor"
    return f"{who} {host} {'stopped answering' if online else 'stopped'}"


async def hand_over(db: Database, me: str, timeout: float) -> tuple[int, int]:
    """At a graceful stop: give each node ``me`` holds with a workflow to the live
    conductor of its group the hash ring names without ``me``; it resumes at the
    saved ``workflow_step``.  Nodes nobody can take are failed, and every lock
    ``me`` still holds is cleared.  (handed over, abandoned)."""
    rings = HashRing.by_group((h, g) for h, g in await live_conductors(db, timeout)
                              if h != me)
    handed = 0
    async with db.session() as s:
        # Our row locked: a peer's take-over skips us while we hand over.
        await s.execute(select(Conductor.id).where(Conductor.hostname == me)
                        .with_for_update())
        nodes = (await s.scalars(
            select(Node).where(Node.reservation == me, Node.workflow.is_not(None))
            .order_by(Node.id).with_for_update()
        )).all()
        woken: set[str] = set()
        for node in nodes:
            ring = rings.get(node.conductor_group)
            target = ring.host_for(node.uuid) if ring else None
            if target is None or not await locks.holder_is_live(s, target, timeout):
                continue
            node.reservation = target
            s.add(note(node, f"Conductor {me} was stopped: {target} resumes the "
                             f"{node.workflow} at step {node.workflow_step}",
                       event_type=str(node.workflow), conductor=me))
            handed += 1
            if target not in woken:
                woken.add(target)
                await wakeups.notify(s, target)
    abandoned = await abandon_locks(db, me, f"Conductor {me} was stopped")
    return handed, abandoned
