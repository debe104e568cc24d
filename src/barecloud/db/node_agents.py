"""Writes of a node's agent row (``node_agents``): each names its own columns.

Every write is a Core UPDATE of the columns it means to change, never a
read-modify-write of the whole row, so a heartbeat cannot put back a command
the conductor replaced meanwhile.  A row is created on first use (nodes
enrolled before the table existed got theirs from migration 0009).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.models import LIVE_COMMAND, NodeAgent


async def ensure(s: AsyncSession, node_id: int) -> None:
    """Create the node's agent row unless it exists (racing creators both succeed)."""
    insert = postgresql.insert if s.get_bind().dialect.name == "postgresql" else sqlite.insert
    await s.execute(insert(NodeAgent).values(node_id=node_id, command={})
                    .on_conflict_do_nothing(index_elements=["node_id"]))


async def write(s: AsyncSession, node_id: int, **values: Any) -> NodeAgent:
    """Set ``values`` on the row; the row as it is now (loaded afresh)."""
    change = (update(NodeAgent).where(NodeAgent.node_id == node_id).values(**values)
              .execution_options(synchronize_session=False))
    if not (await s.execute(change)).rowcount:  # type: ignore[attr-defined]
        await ensure(s, node_id)  # the first write of this node's agent
        await s.execute(change)
    return await read(s, node_id)


async def read(s: AsyncSession, node_id: int) -> NodeAgent:
    row = await s.scalar(select(NodeAgent).where(NodeAgent.node_id == node_id)
                         .execution_options(populate_existing=True))
    assert row is not None
    return row


def split(record: dict[str, Any]) -> dict[str, Any]:
    """An ``agent_command`` record as the columns that hold it."""
    rest = {k: v for k, v in record.items() if k not in ("id", "status")}
    return {"command_id": record["id"], "command_status": record["status"], "command": rest}


async def issue(s: AsyncSession, node_id: int, record: dict[str, Any]) -> None:
    """Make ``record`` (``AgentCommand.issued``) the agent's current command."""
    await write(s, node_id, at_gate=False, **split(record))


async def settle(s: AsyncSession, node_id: int, record: dict[str, Any],
                 **values: Any) -> bool:
    """Save what the agent reported on its current command, only if it is still
    current and live; False for a late or replayed report.

    The condition is in the UPDATE itself: on PostgreSQL a report that waited
    for another's row lock re-checks it against the row that one committed.
    """
    result = await s.execute(
        update(NodeAgent)
        .where(NodeAgent.node_id == node_id, NodeAgent.command_id == record["id"],
               NodeAgent.command_status.in_(LIVE_COMMAND))
        .values(**split(record), **values)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def deliver_token(s: AsyncSession, node_id: int) -> bool:
    """Mark the token as sent for this boot; True for the one caller that did it."""
    await ensure(s, node_id)
    result = await s.execute(
        update(NodeAgent)
        .where(NodeAgent.node_id == node_id, NodeAgent.token_delivered.is_(False))
        .values(token_delivered=True)
        .execution_options(synchronize_session=False)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]
