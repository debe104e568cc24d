"""What the provisioning channel refused: a history row on the node, a log line.

A forged or replayed agent call, or a boot script asked for a second time or
too late, is someone who should not be there (or a machine gone wrong): the
operator sees it in the node's history with the address it came from.  At
most one row per node per minute (per process), so that a flood cannot fill
the history; every refusal gets a log line.  Neither ever holds a token.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging

from sqlalchemy import select

from barecloud.db.models import Node, NodeHistory, utcnow
from barecloud.db.transitions import note
from barecloud.services.context import Runtime

EVENT_TYPE = "agent-refused"
EVERY = dt.timedelta(minutes=1)

log = logging.getLogger(__name__)
_lock = asyncio.Lock()


async def record(rt: Runtime, node_id: int | None, text: str) -> None:
    """Log ``text``; note it on the node unless a refusal was noted this past minute."""
    log.warning("%s", text)
    if node_id is None:
        return
    async with _lock, rt.db.session() as s:
        node = await s.get(Node, node_id)
        if node is None:
            return
        recent = await s.scalar(select(NodeHistory.id).where(
            NodeHistory.node_id == node_id, NodeHistory.event_type == EVENT_TYPE,
            NodeHistory.created_at >= utcnow() - EVERY).limit(1))
        if recent is None:
            s.add(note(node, text, event_type=EVENT_TYPE, error=True))
