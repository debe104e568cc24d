"""The allocator: takes a node for each ``allocating`` allocation, as Ironic's
conductor does in the background of ``POST /v1/allocations``.

Each allocation is one transaction: a node is taken with a conditional UPDATE
(allocations.claim), then the allocation leaves ``allocating`` with another, so
of two API processes on one allocation only one commits (the other's node claim
rolls back with it); an allocation deleted meanwhile also rolls the claim back.
A request wakes this process's allocator; the interval picks up the allocations
a stopped process left.
"""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud import states
from barecloud.db.models import Allocation
from barecloud.services.background import Reconciler
from barecloud.services.baremetal.allocations import claim, matching
from barecloud.services.context import Runtime

BATCH = 50
INTERVAL = 10.0

_wakers: set[asyncio.Event] = set()


def wake() -> None:
    for event in list(_wakers):
        event.set()


class _Taken(Exception):
    """Another process finished (or someone deleted) the allocation first."""


async def allocate_pending(rt: Runtime) -> bool:
    """One pass over the allocations waiting; True if more wait than it took."""
    async with rt.db.session() as s:
        ids = list((await s.scalars(
            select(Allocation.id).where(Allocation.state == states.ALLOCATING)
            .order_by(Allocation.id).limit(BATCH))).all())
    for alloc_id in ids:
        with contextlib.suppress(_Taken):
            await allocate(rt, alloc_id)
    return len(ids) == BATCH


async def allocate(rt: Runtime, alloc_id: int) -> None:
    async with rt.db.session() as s:
        alloc = await s.get(Allocation, alloc_id)
        if alloc is None or alloc.state != states.ALLOCATING:
            return
        node = await claim(s, alloc, [], backfill=False)
        values: dict[str, object]
        if node is not None:
            values = {"state": states.ALLOC_ACTIVE, "node_id": node.id, "last_error": None}
        else:
            values = {"state": states.ALLOC_ERROR, "node_id": None,
                      "last_error": await _why(s, alloc)}
        done = await s.execute(
            update(Allocation)
            .where(Allocation.id == alloc_id, Allocation.state == states.ALLOCATING)
            .values(**values).execution_options(synchronize_session=False))
        if not done.rowcount:  # type: ignore[attr-defined]
            raise _Taken  # rolls the node claim back


async def _why(s: AsyncSession, alloc: Allocation) -> str:
    """Ironic's AllocationFailed message for an allocation no node matched."""
    if alloc.traits and await s.scalar(matching(alloc, traits=False).limit(1)) is not None:
        error = f"no suitable nodes have the requested traits {', '.join(alloc.traits)}"
    elif alloc.candidate_nodes:
        error = ("none of the requested nodes are available and match the resource class "
                 f"{alloc.resource_class}")
    else:
        error = f"no available nodes match the resource class {alloc.resource_class}"
    return f"Failed to process allocation {alloc.uuid}: {error}."


class Allocator(Reconciler):
    """The pass in the background of an API process."""

    name = "allocator"

    def __init__(self, rt: Runtime) -> None:
        super().__init__(rt, _wakers)

    @property
    def interval(self) -> float:
        return INTERVAL

    async def once(self) -> bool:
        return await allocate_pending(self.rt)
