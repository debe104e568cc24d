"""Two-way copies (a console's bytes between a websocket and a stream, or between
two processes): one pump each way, and the copy ends when either side does."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


async def until_either(*pumps: Coroutine[Any, Any, None]) -> None:
    """Run the pumps until one returns (its side closed), then stop the others;
    their errors are theirs to log (a closed peer is how a copy ends)."""
    tasks = [asyncio.create_task(p) for p in pumps]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
