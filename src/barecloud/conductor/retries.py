"""Run a workflow step again when the hardware says "later".

A driver raises :class:`RetryableDriverError` for a refusal that passes (a
BMC with all its sessions taken, a switch busy), with ``retry_after``
seconds to wait.  Failing the whole deploy on that would turn a moment of
contention into an operator's problem, so the step runs again after the
delay, for at most ``bound`` seconds (``step_retry_timeout``); past it the
error goes on as before and the workflow fails with it.

A :class:`HardwareTimeout` is not retried here: the driver has already waited
out its own timeout (and retried within it), so a BMC that does not answer
fails the step now, as in Ironic, rather than a minute later with the node
locked all along.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from barecloud.conductor.workflows import StepContext
from barecloud.drivers.base import StepResult
from barecloud.errors import HardwareTimeout, RetryableDriverError

log = logging.getLogger(__name__)

# A driver that asks for no delay still gets this much, so a refusal cannot spin.
MIN_DELAY = 0.05


async def run_step(run: Callable[[StepContext], Awaitable[StepResult]], ctx: StepContext,
                   bound: float, *,
                   before_retry: Callable[[], Awaitable[None]] | None = None) -> StepResult:
    """``run(ctx)``, again after each retryable error's delay while within ``bound``.

    ``before_retry`` runs before each new try: the conductor's lease check, since
    the delays may outlast the lease the first try was started under."""
    give_up = time.monotonic() + bound
    tries = 0
    while True:
        # What a failed try set is not what happened: each try starts from here.
        node, updates, writes = ctx.node, dict(ctx.updates), list(ctx.writes)
        try:
            return await run(ctx)
        except HardwareTimeout:
            raise
        except RetryableDriverError as exc:
            delay = max(MIN_DELAY, float(exc.retry_after or 0.0))
            tries += 1
            if time.monotonic() + delay > give_up:
                if tries > 1:
                    exc.message = f"{exc.message} (gave up after {tries} tries)"
                raise
            log.info("node %s: %s; trying again in %.1f s", ctx.node.uuid, exc.message,
                     delay)
            ctx.node, ctx.updates, ctx.writes = node, updates, writes
            await asyncio.sleep(delay)
            if before_retry is not None:
                await before_retry()
