"""Wake this process's lease manager now (a lease was created or changed)."""

from __future__ import annotations

import asyncio

# The events of this process's lease managers (services/background.Reconciler).
wakers: set[asyncio.Event] = set()


def wake() -> None:
    for event in list(wakers):
        event.set()
