"""Readiness: can this process serve, and is anyone there to do the work.

Liveness (/healthz) needs nothing: a process that answers is alive.  Ready
means a real query on the database answers within ``readiness_timeout``, and
some conductor sent a heartbeat within ``conductor_heartbeat_timeout``: an
API without a conductor accepts work that nothing would ever do.
"""

from __future__ import annotations

import asyncio
import logging

from barecloud.conductor.recovery import live_conductors
from barecloud.services.context import Runtime

log = logging.getLogger(__name__)

OK = "ok"


async def readiness(rt: Runtime) -> dict[str, str]:
    """Each check's verdict: ``"ok"`` or why not (no secrets: the DSN stays in the log)."""
    timeout = rt.settings.readiness_timeout
    checks = {"database": OK, "conductor": OK}
    try:
        live = await asyncio.wait_for(
            live_conductors(rt.db, rt.settings.conductor_heartbeat_timeout), timeout)
    except TimeoutError:
        log.warning("readiness: the database did not answer in %g s", timeout)
        checks["database"] = f"no answer in {timeout:g} s"
        checks["conductor"] = "unknown (no database)"
        return checks
    except Exception as exc:
        log.warning("readiness: the database failed: %s", exc)
        checks["database"] = f"unreachable ({type(exc).__name__})"
        checks["conductor"] = "unknown (no database)"
        return checks
    if not live:
        checks["conductor"] = (
            "no conductor sent a heartbeat in the last "
            f"{rt.settings.conductor_heartbeat_timeout:g} s")
    return checks
