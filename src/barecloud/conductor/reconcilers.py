"""Periodic loops that make the database converge to what is true.

- deadlines: a node waiting for its machine past the deadline fails, with a
  ``last_error`` that says so, instead of waiting forever (a deploy batch
  member is retried alone first, conductor/batches.py);
- deploy batches: gates whose deadline passed open, members whose node left
  the deploy are KO, finished batches close;
- power sync: what the BMCs report is compared with the database; drift is
  recorded (or the expected state enforced), and a node whose BMC keeps
  failing goes to maintenance with the fault ``power failure`` and comes
  back by itself when the BMC answers again;
- membership: the take-over of dead members (this conductor's own heartbeat
  runs apart, on a connection of its own: conductor/liveness.py).

The update path (hardware -> database) is separate from the effect path
(API -> workflow): a sweep never writes a node someone holds a lock on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud import states
from barecloud.conductor import batches, locks, metrics, recovery, shares
from barecloud.conductor.liveness import Member
from barecloud.conductor.node_views import node_view
from barecloud.config import Settings
from barecloud.db import sealed
from barecloud.db.models import Node, bump, utcnow
from barecloud.db.session import Database
from barecloud.db.transitions import apply_event, fail_and_clear, note
from barecloud.drivers import hardware
from barecloud.drivers.base import NodeView
from barecloud.errors import BarecloudError

log = logging.getLogger(__name__)

POWER_FAILURE = "power failure"
WAIT_STATES = tuple(s.name for s in states.STATES.values() if s.waits)
# Nodes claimed (power sync) or failed (deadlines) per short transaction.
SWEEP_BATCH = 500
# The nodes a power sync looks at: free, enrolled, and not in maintenance unless
# it is for a power failure (which the sweep ends when the BMC answers again).
_SWEPT = (Node.reservation.is_(None), Node.provision_state != states.ENROLL,
          Node.maintenance.is_(False) | (Node.fault == POWER_FAILURE))


@dataclass
class SyncReport:
    checked: int = 0
    changed: int = 0
    failed: int = 0
    to_maintenance: int = 0
    recovered: int = 0
    seconds: float = 0.0


@dataclass
class _Probe:
    node_id: int
    view: NodeView
    db_state: str | None
    expected: str | None
    maintenance: bool
    fault: str | None
    failures: int
    result: str | None = None
    error: str | None = None
    # What the BMC said before the "enforce" policy restored ``expected``.
    enforced_from: str | None = None
    # The row's ``updated_at`` when read: a node changed since (a power action
    # that began and ended during the sweep) makes this probe stale.
    version: dt.datetime | None = None


class Host(Protocol):
    """What the loops use of the conductor that runs them (conductor/engine.py)."""

    db: Database
    settings: Settings
    name: str
    member: Member
    stopping: bool

    def wake(self) -> None: ...

    async def power_action(self, node: NodeView, target: str) -> str: ...


class Reconcilers:
    def __init__(self, conductor: Host) -> None:
        self.c = conductor

    def start(self) -> list[asyncio.Task[None]]:
        st = self.c.settings
        return [
            asyncio.create_task(self._every(st.deadline_check_interval, self.check_deadlines)),
            asyncio.create_task(self._every(st.deadline_check_interval, self.check_batches)),
            asyncio.create_task(self._every(st.power_sync_interval, self.periodic_power_sync)),
            asyncio.create_task(self._every(st.conductor_heartbeat_interval, self.membership)),
        ]

    async def _every(self, interval: float, fn: Callable[[], Awaitable[Any]]) -> None:
        while not self.c.stopping:
            await asyncio.sleep(interval)
            try:
                await fn()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("reconciler %s failed", getattr(fn, "__name__", fn))

    # --- membership ----------------------------------------------------------
    async def membership(self) -> None:
        await self.c.member.ensure()  # a conductor that may be dead takes nobody over
        dead = await recovery.take_over_dead(
            self.c.db, self.c.name, self.c.settings.conductor_heartbeat_timeout,
            self.c.member.incarnation,
        )
        if dead:
            log.warning("conductor(s) %s declared dead; their nodes were released", dead)

    # --- wait deadlines ------------------------------------------------------
    async def check_deadlines(self) -> int:
        """Fail (or retry alone) this conductor's share of the nodes whose wait
        deadline passed: in id order, ``SWEEP_BATCH`` at a time, one short
        transaction each, so peers that overlap while the ring changes lock
        rows in one order (no deadlock) and skip what the other holds."""
        share = await self._shares()
        failed = retried = 0
        after = 0
        while True:
            async with self.c.db.session() as s:
                now = utcnow()  # the database's clock (db/clock.py)
                due = (await s.execute(
                    select(Node.id, Node.uuid, Node.conductor_group).where(
                        Node.workflow_deadline < now,
                        Node.reservation.is_(None),
                        Node.provision_state.in_(WAIT_STATES),
                        Node.id > after,
                    ).order_by(Node.id).limit(SWEEP_BATCH)
                )).all()
            if not due:
                break
            after = due[-1][0]
            ids = [i for i, uuid, group in due if share.mine(uuid, group, anyone=True)]
            if ids:
                f, r = await self._expire(ids)
                failed, retried = failed + f, retried + r
            if len(due) < SWEEP_BATCH:
                break
        if retried:
            self.c.wake()
        return failed

    async def _expire(self, ids: list[int]) -> tuple[int, int]:
        """One batch of :meth:`check_deadlines`: (failed, retried)."""
        failed = retried = 0
        async with self.c.db.session() as s:
            now = utcnow()  # the database's clock (db/clock.py)
            nodes = (await s.scalars(
                select(Node).where(
                    Node.id.in_(ids), Node.workflow_deadline < now,
                    Node.reservation.is_(None), Node.provision_state.in_(WAIT_STATES),
                ).order_by(Node.id).with_for_update(skip_locked=True)
            )).all()
            members = await batches.members_of(s, nodes)
            for node in nodes:
                if not await locks.claim(s, node, self.c.name):
                    continue
                message = (
                    f"Timeout reached while waiting for callback for node {node.uuid} "
                    f"(state {node.provision_state})"
                )
                if await batches.retry_alone(s, self.c.settings, node, message, alive=False,
                                             members=members):
                    s.add(apply_event(node, "resume", conductor=self.c.name,
                                      message="retrying the image write alone"))
                    node.workflow_deadline = None
                    retried += 1
                    continue
                s.add(fail_and_clear(node, message, conductor=self.c.name))
                failed += 1
        return failed, retried

    async def check_batches(self) -> int:
        share = await self._shares()
        return await batches.check_gates(self.c.db, self.c.settings, share.mine)

    # --- power state sync ----------------------------------------------------
    async def periodic_power_sync(self) -> SyncReport:
        """The periodic sweep: a node polled by any conductor within (most of) the
        interval is left alone, so a ring change never polls a BMC twice in one."""
        return await self.sync_power(min_age=self.c.settings.power_sync_interval * 0.9)

    @metrics.timed_sweep
    async def sync_power(self, min_age: float = 0.0) -> SyncReport:
        """Sweep this conductor's share of the nodes (``shares``) not polled by
        anyone in the last ``min_age`` seconds (0: a sweep asked for by hand)."""

        started = time.monotonic()
        report = SyncReport()
        keys = sealed.keyring(self.c.settings.data_dir)
        share = await self._shares()
        async with self.c.db.session() as s:
            candidates = (
                await s.execute(
                    select(Node.id, Node.uuid, Node.conductor_group)
                    .where(*_SWEPT).order_by(Node.id)
                )
            ).all()
        ids = [i for i, uuid, group in candidates if share.mine(uuid, group)]
        probes: list[_Probe] = []
        for chunk in _chunks(ids, SWEEP_BATCH):
            async with self.c.db.session() as s:
                claimed = await _claim_polls(s, chunk, min_age)
                if not claimed:
                    continue
                nodes = (await s.scalars(
                    select(Node).where(Node.id.in_(claimed)).order_by(Node.id))).all()
                probes += [
                    _Probe(n.id, node_view(n, keys, with_ports=False), n.power_state,
                           n.expected_power_state, n.maintenance, n.fault,
                           n.power_sync_failures, version=n.updated_at)
                    for n in nodes
                ]
        workers = asyncio.Semaphore(self.c.settings.power_sync_workers)

        async def probe(p: _Probe) -> None:
            async with workers:
                try:
                    await self.c.member.ensure()  # NotLive: the sweep stops here
                    iface = hardware.interface(
                        "power",
                        hardware.hardware_type(p.view.driver).check(
                            "power", p.view.driver_internal_info["interfaces"].get("power")
                        ),
                    )
                    p.result = await iface.get_power_state(p.view)
                    if (
                        self.c.settings.power_state_change_policy == "enforce"
                        and p.expected
                        and p.result != p.expected
                        and not p.maintenance
                        and await self._hold(p)
                    ):
                        # Under the node's lock, and only if nobody changed the
                        # node since it was read: a workflow that took it since
                        # owns the machine, and one that has come and gone
                        # meanwhile set a new expected state, not this sweep.
                        try:
                            p.enforced_from = p.result
                            p.result = await self.c.power_action(p.view, p.expected)
                        finally:
                            await self._let_go(p)
                except BarecloudError as exc:
                    p.error = exc.message
                except Exception as exc:
                    p.error = f"{type(exc).__name__}: {exc}"

        await asyncio.gather(*(probe(p) for p in probes))
        await self._write_sync(probes, report)
        report.checked = len(probes)
        report.seconds = time.monotonic() - started
        return report

    async def _shares(self) -> shares.Shares:
        st = self.c.settings
        return await shares.current(self.c.db, self.c.name, st.conductor_group,
                                    st.conductor_heartbeat_timeout)

    async def _hold(self, p: _Probe) -> bool:
        """Lock the node if it is free and unchanged since the sweep read it."""
        unchanged = (Node.updated_at.is_(None) if p.version is None
                     else Node.updated_at == p.version)
        async with self.c.db.session() as s:
            result = await s.execute(
                update(Node)
                .where(Node.id == p.node_id, Node.reservation.is_(None), unchanged)
                .values(reservation=self.c.name, **bump())
                .execution_options(synchronize_session=False)
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    async def _let_go(self, p: _Probe) -> None:
        async with self.c.db.session() as s:
            if await locks.release(s, p.node_id, self.c.name):
                # This sweep's own change: the write that follows is still due.
                p.version = await s.scalar(select(Node.updated_at).where(Node.id == p.node_id))

    async def _write_sync(self, probes: list[_Probe], report: SyncReport) -> None:
        limit = self.c.settings.power_sync_max_failures
        todo = [p for p in probes if p.error or p.failures or p.result != p.db_state
                or p.fault == POWER_FAILURE or p.enforced_from is not None]
        if not todo:
            return
        async with self.c.db.session() as s:
            rows = {
                n.id: n
                for n in (
                    await s.scalars(
                        select(Node).where(
                            Node.id.in_([p.node_id for p in todo]), Node.reservation.is_(None)
                        )
                    )
                ).all()
            }
            for p in todo:
                node = rows.get(p.node_id)
                if node is None or node.updated_at != p.version:
                    # Locked, or changed (a power action done) since the sweep
                    # read it: what the BMC said may predate that; next sweep.
                    continue
                if p.error is not None:
                    report.failed += 1
                    node.power_sync_failures = p.failures + 1
                    if node.power_sync_failures >= limit and not node.maintenance:
                        report.to_maintenance += 1
                        reason = (
                            f"During power state sync, max retries ({limit}) exceeded for node "
                            f"{node.uuid}: {p.error}. Switching node to maintenance mode."
                        )
                        node.maintenance, node.fault = True, POWER_FAILURE
                        node.maintenance_reason = reason
                        node.power_state = None
                        node.last_error = reason
                        s.add(note(node, reason, event_type="power", error=True,
                                   conductor=self.c.name))
                    continue
                node.power_sync_failures = 0
                if node.maintenance and node.fault == POWER_FAILURE:
                    report.recovered += 1
                    if node.last_error == node.maintenance_reason:
                        node.last_error = None  # that error is over (history keeps it)
                    node.maintenance, node.fault, node.maintenance_reason = False, None, None
                    s.add(note(node, "BMC answers again: leaving maintenance (power failure)",
                               event_type="power", conductor=self.c.name))
                if p.enforced_from is not None:
                    s.add(note(
                        node,
                        f"Power state changed to {p.enforced_from} outside barecloud; "
                        f"restored to {p.result} (power state change policy: enforce)",
                        event_type="power", conductor=self.c.name,
                    ))
                if p.result != node.power_state:
                    report.changed += 1
                    # Unknown before (the BMC did not answer): no change to speak of.
                    text = (f"Power state is {p.result}" if node.power_state is None else
                            f"Power state changed from {node.power_state} to {p.result} "
                            "outside barecloud")
                    s.add(note(node, text, event_type="power", conductor=self.c.name))
                    node.power_state = p.result


def _chunks(ids: list[int], size: int) -> list[list[int]]:
    return [ids[i:i + size] for i in range(0, len(ids), size)]


async def _claim_polls(s: AsyncSession, ids: list[int], min_age: float) -> list[int]:
    """Stamp ``power_synced_at`` on those of ``ids`` that are free and that no
    conductor polled in the last ``min_age`` seconds; their ids (to poll now).

    One conditional UPDATE: of two conductors that both think a node theirs
    (the ring changed between their sweeps), only one stamps it.  It keeps
    ``updated_at`` as it was: the stamp is no change of the node, and the
    sweep's own check for changes (``_Probe.version``) must not see one.
    """
    now = utcnow()  # the database's clock (db/clock.py)
    result = await s.execute(
        update(Node)
        .where(Node.id.in_(ids), *_SWEPT,
               or_(Node.power_synced_at.is_(None),
                   Node.power_synced_at <= now - dt.timedelta(seconds=min_age)))
        .values(power_synced_at=now, updated_at=Node.updated_at)
        .returning(Node.id)
        .execution_options(synchronize_session=False)
    )
    return sorted(result.scalars().all())
