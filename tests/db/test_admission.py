"""The admission gate: background work a few at a time, reads at once, nothing stuck."""

from __future__ import annotations

import asyncio
import time

import pytest

from barecloud.db import admission
from barecloud.db.admission import Admission


async def test_no_more_than_its_slots_hold_a_turn_and_the_rest_go_in_arrival_order() -> None:
    gate = Admission(2)
    inside, most, order = 0, 0, []

    async def work(i: int) -> None:
        nonlocal inside, most
        async with gate.turn():
            inside += 1
            most = max(most, inside)
            order.append(i)
            await asyncio.sleep(0.01)
            inside -= 1

    await asyncio.gather(*(work(i) for i in range(8)))
    assert most == 2
    assert order == list(range(8))
    assert gate.free == 2 and gate.overrun == 0 and gate.waiting == 0


async def test_a_read_never_waits_for_a_turn() -> None:
    gate = Admission(1)
    release = asyncio.Event()

    async def hog() -> None:
        async with gate.turn():
            await release.wait()

    task = asyncio.create_task(hog())
    await asyncio.sleep(0)
    assert gate.free == 0
    with admission.reading():
        async with asyncio.timeout(0.5):  # would wait max_wait (2 s) for the hog
            async with gate.turn():
                assert gate.free == 0  # it took none
    release.set()
    await task
    assert gate.free == 1


async def test_a_turn_inside_a_turn_takes_no_second_slot() -> None:
    gate = Admission(1)
    async with asyncio.timeout(0.5), gate.turn(), gate.turn():
        assert gate.free == 0
    assert gate.free == 1 and gate.overrun == 0


async def test_a_paused_holder_lets_another_in_and_takes_a_turn_back_after() -> None:
    gate = Admission(1)
    woken = asyncio.Event()
    seen: list[str] = []

    async def long_poll() -> None:
        async with gate.turn():
            seen.append("poll read")
            async with admission.paused():
                await woken.wait()
            seen.append("poll answered")
            assert gate.free == 0

    async def writer() -> None:
        async with gate.turn():
            seen.append("write")
            woken.set()

    poll = asyncio.create_task(long_poll())
    await asyncio.sleep(0)
    await asyncio.wait_for(writer(), 0.5)
    await poll
    assert seen == ["poll read", "write", "poll answered"]
    assert gate.free == 1 and gate.overrun == 0


async def test_a_turn_held_too_long_delays_the_others_but_blocks_none() -> None:
    gate = Admission(1, max_wait=0.1)
    release = asyncio.Event()

    async def stuck() -> None:
        async with gate.turn():
            await release.wait()

    task = asyncio.create_task(stuck())
    await asyncio.sleep(0)
    async with asyncio.timeout(1), gate.turn():
        assert gate.overrun == 1
    release.set()
    await task
    assert gate.free == 1 and gate.waiting == 0


async def test_a_long_queue_that_moves_takes_no_turn_over_the_limit() -> None:
    """Slow is not stuck: turns given back all along keep the limit, however long
    the last waiter waits."""
    gate = Admission(1, max_wait=0.05)
    inside, most = 0, 0

    async def work() -> None:
        nonlocal inside, most
        async with gate.turn():
            inside += 1
            most = max(most, inside)
            await asyncio.sleep(0.02)
            inside -= 1

    await asyncio.gather(*(work() for _ in range(10)))  # the last waits ~0.18 s
    assert most == 1 and gate.overrun == 0


async def test_no_turn_is_waited_for_longer_than_its_patience() -> None:
    """Slots held for ever while others come and go over the limit (each giving one
    back, none free): a waiter still goes after PATIENCE x max_wait, not never."""
    gate = Admission(1, max_wait=0.05)
    release = asyncio.Event()

    async def stuck() -> None:
        async with gate.turn():
            await release.wait()

    async def churn() -> None:  # turns coming back that free no slot
        while not release.is_set():
            gate.free -= 1
            gate.release()
            await asyncio.sleep(0.01)

    holder, churning = asyncio.create_task(stuck()), asyncio.create_task(churn())
    await asyncio.sleep(0)
    async with asyncio.timeout(admission.PATIENCE * 0.05 + 1), gate.turn():
        assert gate.overrun == 1
    release.set()
    await asyncio.gather(holder, churning)


async def test_a_waiter_cancelled_leaks_no_slot() -> None:
    gate = Admission(1)
    release = asyncio.Event()

    async def holder() -> None:
        async with gate.turn():
            await release.wait()

    async def waiter() -> None:
        async with gate.turn():
            pytest.fail("a cancelled waiter ran")

    first = asyncio.create_task(holder())
    await asyncio.sleep(0)
    second = asyncio.create_task(waiter())
    await asyncio.sleep(0.01)
    assert gate.waiting == 1
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    release.set()
    await first
    assert gate.free == 1 and gate.waiting == 0
    async with asyncio.timeout(0.5), gate.turn():
        pass


async def test_transactions_run_back_to_back_let_a_waiting_read_in_between() -> None:
    """With SQLite inline, a chain of transactions never suspends: the gate makes
    the chain yield once a step of the loop has run longer than admission.STEP."""
    gate = Admission(2)
    done: list[int] = []
    read_ran_after: list[int] = []

    async def chain() -> None:
        for i in range(30):
            async with gate.turn():
                busy(0.005)  # a transaction's CPU, no suspension
            done.append(i)

    def read() -> None:
        read_ran_after.append(len(done))

    task = asyncio.create_task(chain())
    await asyncio.sleep(0)  # the chain starts its first step
    asyncio.get_running_loop().call_soon(read)
    await task
    # 30 x 5 ms in one step would be 150 ms; the read ran within about STEP (20 ms).
    assert read_ran_after and read_ran_after[0] < 15


def busy(seconds: float) -> None:
    until = time.perf_counter() + seconds
    while time.perf_counter() < until:
        pass


def test_a_gate_needs_a_slot() -> None:
    with pytest.raises(ValueError):
        Admission(0)
