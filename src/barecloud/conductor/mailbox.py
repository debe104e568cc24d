"""In-process wake-ups for agents long-polling for their next command.

The engine stores a command on the node row; an agent's long-poll in the
same process hears of it at once through here instead of at its next poll
of the database.  Across processes the long-poll's periodic re-read covers
it, so a missed signal costs latency, never correctness.
"""

from __future__ import annotations

import asyncio
import contextlib


class Mailbox:
    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def notify(self, node_uuid: str) -> None:
        event = self._events.get(node_uuid)
        if event is not None:
            event.set()

    async def wait(self, node_uuid: str, timeout: float) -> None:
        """Return when ``node_uuid`` is notified or after ``timeout`` seconds."""
        event = self._events.setdefault(node_uuid, asyncio.Event())
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(event.wait(), timeout)
        finally:
            event.clear()
            if self._events.get(node_uuid) is event and not event.is_set():
                del self._events[node_uuid]


MAILBOX = Mailbox()
