"""In-process wake-ups for agents long-polling for their next command.

The engine stores a command on the node row; an agent's long-poll in the
same process hears of it at once through here instead of at its next poll
of the database.  Across processes the long-poll's periodic re-read covers
it, so a missed signal costs latency, never correctness.

When the API stops, :meth:`Mailbox.close` ends every long-poll at once with
what it would have answered at its deadline: the HTTP server waits for the
requests under way before it exits, and a long-poll would hold a stop for up
to its whole wait (25 s for a host agent).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator


class Mailbox:
    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}
        self._listeners: dict[str, int] = {}
        self.closed = False

    def open(self) -> None:
        """Long-polls wait again (a server starting in this process)."""
        self.closed = False

    def close(self) -> None:
        """Wake every listener; long-polls see :attr:`closed` and answer at once:
        the server is stopping."""
        self.closed = True
        for event in self._events.values():
            event.set()

    def notify(self, node_uuid: str) -> None:
        event = self._events.get(node_uuid)
        if event is not None:
            event.set()

    @contextlib.contextmanager
    def listening(self, key: str) -> Iterator[asyncio.Event]:
        """An event set by every :meth:`notify` of ``key`` while the block runs.

        Listen first, then read the state, then wait (clearing the event before
        each read): a notify between the read and the wait is not lost.  A
        long-poll checks :attr:`closed` before it waits.
        """
        event = self._events.setdefault(key, asyncio.Event())
        self._listeners[key] = self._listeners.get(key, 0) + 1
        try:
            yield event
        finally:
            self._listeners[key] -= 1
            if not self._listeners[key]:
                del self._listeners[key]
                if self._events.get(key) is event:
                    del self._events[key]


MAILBOX = Mailbox()
