"""A step whose hardware answers "later" (RetryableDriverError) runs again after
the error's delay, within ``step_retry_timeout``; past it the workflow fails."""

from __future__ import annotations

import asyncio
import time

from barecloud import states
from barecloud.drivers import fake
from barecloud.services.baremetal import node_states
from barecloud.services.context import Runtime
from tests.conductor.conftest import RuntimeFactory
from tests.conductor.helpers import CTX, load, make_available, set_driver_info


async def _power_on(rt: Runtime, n: str) -> float:
    started = time.monotonic()
    await node_states.set_power_state(rt, CTX, n, states.POWER_ON, None)
    for _ in range(500):
        node = await load(rt.db, n)
        if node.reservation is None and node.workflow is None:
            return time.monotonic() - started
        await asyncio.sleep(0.02)
    raise AssertionError("the power action did not end")


async def test_a_step_refused_twice_then_answered_completes(rt: Runtime) -> None:
    n = await make_available(rt)
    await set_driver_info(rt.db, n, fake_busy=2, fake_busy_after=0.2)
    took = await _power_on(rt, n)
    node = await load(rt.db, n)
    assert (node.power_state, node.last_error) == (states.POWER_ON, None)
    assert fake.MACHINES[n].refused == 2 and fake.MACHINES[n].power_state == states.POWER_ON
    assert took >= 0.4  # it waited as asked, twice


async def test_a_step_refused_past_the_bound_fails(make_runtime: RuntimeFactory) -> None:
    async with make_runtime(step_retry_timeout=0.5) as rt:
        n = await make_available(rt)
        await set_driver_info(rt.db, n, fake_busy=1000, fake_busy_after=0.2)
        took = await _power_on(rt, n)
        node = await load(rt.db, n)
        assert node.power_state == states.POWER_OFF
        assert node.last_error is not None and "no free session" in node.last_error
        assert "tries" in node.last_error
        assert 2 <= fake.MACHINES[n].refused <= 4  # tried within the bound, then gave up
        assert took < 5
