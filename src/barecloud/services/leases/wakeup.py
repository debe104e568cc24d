"""Wake this process's lease manager now (a lease was created or changed)."""

from __future__ import annotations

import asyncio

_wakers: set[asyncio.Event] = set()


def wake() -> None:
    for event in list(_wakers):
        event.set()


def register(event: asyncio.Event) -> None:
    _wakers.add(event)


def unregister(event: asyncio.Event) -> None:
    _wakers.discard(event)
