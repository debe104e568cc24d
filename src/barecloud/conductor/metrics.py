"""What this conductor process measures as it works (docs/design/operability.md).

Step durations and power-sync sweeps happen in one process and are lost with
it, so they are process-local Prometheus instruments, scraped from the
process that runs the conductor; fleet-wide state (nodes, leases, batch
members) is read from the database at scrape time instead
(services/metrics.py).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import ParamSpec, Protocol, TypeVar

from prometheus_client import Counter, Histogram

# Steps last from milliseconds (a fake power action) to minutes (an erase).
STEP_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900)
STEP_SECONDS = Histogram(
    "barecloud_workflow_step_duration_seconds",
    "Time the conductor spent running one workflow step (not the machine's wait after it).",
    ("workflow", "step"), buckets=STEP_BUCKETS)
STEP_FAILURES = Counter(
    "barecloud_workflow_step_failures",
    "Workflow steps that failed in the conductor (the node went to its failed state).",
    ("workflow", "step"))

# A sweep of 10,000 BMCs takes seconds; one that takes minutes overlaps the next.
SWEEP_BUCKETS = (0.1, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
POWER_SYNC_SECONDS = Histogram(
    "barecloud_power_sync_duration_seconds",
    "Duration of one power-state sync sweep over every BMC this conductor reads.",
    buckets=SWEEP_BUCKETS)
POWER_SYNC_FAILURES = Counter(
    "barecloud_power_sync_failures",
    "Power-state sync sweeps that raised before finishing.")
POWER_SYNC_BMC_FAILURES = Counter(
    "barecloud_power_sync_bmc_failures",
    "BMCs that did not answer a power-state sync sweep (one per BMC per sweep).")


def step_done(workflow: str, step: str, seconds: float) -> None:
    STEP_SECONDS.labels(workflow, step).observe(seconds)


def step_failed(workflow: str, step: str) -> None:
    STEP_FAILURES.labels(workflow, step).inc()


class _Report(Protocol):
    failed: int


P = ParamSpec("P")
R = TypeVar("R", bound=_Report)


def timed_sweep(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Record a power-sync sweep: its duration, whether it raised, the BMCs that failed."""

    @functools.wraps(fn)
    async def sweep(*args: P.args, **kwargs: P.kwargs) -> R:
        started = time.monotonic()
        try:
            report = await fn(*args, **kwargs)
        except Exception:  # not a cancelled sweep: the conductor is stopping
            POWER_SYNC_SECONDS.observe(time.monotonic() - started)
            POWER_SYNC_FAILURES.inc()
            raise
        POWER_SYNC_SECONDS.observe(time.monotonic() - started)
        POWER_SYNC_BMC_FAILURES.inc(report.failed)
        return report

    return sweep
