"""The mailbox's close: a stopping server's long-polls end at once."""

from __future__ import annotations

import asyncio
import time

from barecloud.conductor.mailbox import Mailbox


def test_close_wakes_waiters_and_listeners_and_open_lets_them_wait_again() -> None:
    async def main() -> None:
        box = Mailbox()
        waiting = asyncio.create_task(box.wait("node-1", 30))
        with box.listening("host-1") as changed:
            await asyncio.sleep(0.05)
            assert not waiting.done() and not changed.is_set()
            box.close()
            await asyncio.wait_for(waiting, 1)
            assert changed.is_set()
        started = time.monotonic()
        await box.wait("node-1", 30)  # closed: no wait at all
        assert time.monotonic() - started < 0.5
        box.open()
        started = time.monotonic()
        await box.wait("node-1", 0.2)
        assert time.monotonic() - started >= 0.2

    asyncio.run(main())
