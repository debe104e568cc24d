"""Wake this process's L3 agent now (a router or floating IP changed).

Another process's agent (the leader may be elsewhere) sees the change at its
next pass, ``l3.INTERVAL`` seconds at most.
"""

from __future__ import annotations

import asyncio

# The events of this process's L3 loops (services/network/agent.py).
wakers: set[asyncio.Event] = set()


def wake() -> None:
    for event in list(wakers):
        event.set()
