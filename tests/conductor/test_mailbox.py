"""The mailbox's close: a stopping server's long-polls end at once."""

from __future__ import annotations

import asyncio

from barecloud.conductor.mailbox import Mailbox


def test_close_wakes_listeners_and_says_so_until_open() -> None:
    async def main() -> None:
        box = Mailbox()
        with box.listening("node-1") as node, box.listening("host-1") as host:
            await asyncio.sleep(0.05)
            assert not node.is_set() and not host.is_set() and not box.closed
            box.close()
            await asyncio.wait_for(asyncio.gather(node.wait(), host.wait()), 1)
            assert box.closed  # what a long-poll checks before it waits again
        box.open()
        assert not box.closed
        with box.listening("node-1") as node:
            await asyncio.sleep(0.05)
            assert not node.is_set()  # open: a listener waits for its notify
            box.notify("node-1")
            assert node.is_set()

    asyncio.run(main())
