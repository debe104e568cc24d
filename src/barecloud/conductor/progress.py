"""Group commit of workflow progress: the conductor's hot path.

Every step of every workflow saves its progress on the node row (next step,
the step's fields, what the hardware said) with a history row, before the
next step runs.  One transaction per step made a conductor driving a
thousand deploys spend its time opening and committing transactions; here
the steps finished while a transaction was being written wait together and
go into the next one, so the cost per step is a row, not a transaction.  A
lone step is written at once (no timer, no added latency).

Each step still waits for its own commit before the next step runs, and a
step is saved only if the node is still locked by this conductor: the rows
are read ``FOR UPDATE`` under that condition first (PostgreSQL holds them
until the commit; SQLite writes one transaction at a time), and the UPDATE
repeats the condition.  If a batch fails, its steps are retried one by one
so that a bad row fails only its own node.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from barecloud.db.models import Node, NodeHistory
from barecloud.db.session import Database
from barecloud.db.transitions import note

NODES: Table = Node.__table__  # type: ignore[assignment]
HISTORY: Table = NodeHistory.__table__  # type: ignore[assignment]

# The SET clause is made of the keys of the parameters (all but b_id, b_holder),
# and the version bump that fences ORM writers who read the row before.
_SAVE_ONE = (
    update(NODES)
    .where(NODES.c.id == bindparam("b_id"), NODES.c.reservation == bindparam("b_holder"))
    .values(version=NODES.c.version + 1)
    .returning(NODES.c.provision_state)
)
_SAVE_MANY = update(NODES).where(
    NODES.c.id == bindparam("b_id"), NODES.c.reservation == bindparam("b_holder")
).values(version=NODES.c.version + 1)
# Rows per transaction: bounds the IN list and the time a batch holds its rows.
MAX_BATCH = 500


@dataclasses.dataclass(frozen=True, slots=True)
class Stand:
    """What :func:`note` reads of a node, for a step saved without loading it."""

    id: int
    provision_state: str


@dataclasses.dataclass(slots=True)
class Progress:
    node_id: int
    values: dict[str, Any]  # node columns to set
    event: str  # the history row's text
    event_type: str
    duration: float
    done: asyncio.Future[bool]


def history_values(row: NodeHistory) -> dict[str, Any]:
    """The columns of a history row built but not added to a session.

    Unset columns are left out so that their defaults (uuid, created_at,
    severity) apply exactly as when the ORM inserts the row.
    """
    values = {}
    for column in HISTORY.columns:
        value = getattr(row, column.key)
        if value is not None:
            values[column.key] = value
    return values


class ProgressWriter:
    """Saves step progress for the nodes ``holder`` has locked, many per transaction."""

    def __init__(self, db: Database, holder: str) -> None:
        self.db = db
        self.holder = holder
        self._queue: list[Progress] = []
        self._pending = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def save(self, node_id: int, values: dict[str, Any], event: str,
                   event_type: str, duration: float) -> bool:
        """Set ``values`` on the node and record ``event``; False if the lock is gone."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._queue.append(Progress(node_id, values, event, event_type, duration, done))
        self._pending.set()
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._write_loop(), name="progress-writer")
        return await done

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._abandon(self._queue)
        self._queue = []

    @staticmethod
    def _abandon(items: list[Progress]) -> None:
        for item in items:
            if not item.done.done():
                item.done.cancel()

    async def _write_loop(self) -> None:
        while True:
            await self._pending.wait()
            self._pending.clear()
            while self._queue:
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
                try:
                    try:
                        await self._write_batch(batch)
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        await self._write_each(batch)
                except asyncio.CancelledError:
                    self._abandon(batch)
                    raise

    def _history(self, item: Progress, state: str) -> dict[str, Any]:
        return history_values(note(Stand(item.node_id, state), item.event,
                                   event_type=item.event_type, conductor=self.holder,
                                   duration=item.duration))

    async def _write_batch(self, batch: list[Progress]) -> None:
        if len(batch) == 1:
            await self._write_each(batch)
            return
        async with self.db.transaction() as conn:
            rows = await conn.execute(
                select(NODES.c.id, NODES.c.provision_state)
                .where(NODES.c.id.in_([i.node_id for i in batch]),
                       NODES.c.reservation == self.holder)
                .order_by(NODES.c.id)  # rows locked in one order by everyone
                .with_for_update()
            )
            owned = {r[0]: r[1] for r in rows}
            updates: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            history: dict[tuple[str, ...], list[dict[str, Any]]] = {}
            for item in batch:
                state = owned.get(item.node_id)
                if state is None:
                    continue
                params = {**item.values, "b_id": item.node_id, "b_holder": self.holder}
                updates.setdefault(tuple(sorted(params)), []).append(params)
                row = self._history(item, state)
                history.setdefault(tuple(sorted(row)), []).append(row)
            for params_list in updates.values():
                await conn.execute(_SAVE_MANY, params_list)
            for rows_list in history.values():
                await conn.execute(HISTORY.insert(), rows_list)
        for item in batch:
            if not item.done.done():
                item.done.set_result(item.node_id in owned)

    async def _write_each(self, batch: list[Progress]) -> None:
        for item in batch:
            try:
                async with self.db.transaction() as conn:
                    saved = await self._write_one(conn, item)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not item.done.done():
                    item.done.set_exception(exc)
            else:
                if not item.done.done():
                    item.done.set_result(saved)

    async def _write_one(self, conn: AsyncConnection, item: Progress) -> bool:
        state = (
            await conn.execute(_SAVE_ONE, {**item.values, "b_id": item.node_id,
                                           "b_holder": self.holder})
        ).scalar()
        if state is None:
            return False
        await conn.execute(HISTORY.insert(), self._history(item, state))
        return True
