"""Nova's instance usage audit log (``os-instance_usage_audit_log``), admin only.

Nova's compute services write a task log per audit period when
``instance_usage_audit`` is on (it is off by default); the API reports the
last completed period (a month: its first day to the next's) before the
given time, over every compute service's host.  barecloud runs no usage
audit task (its usage is computed from the servers' own times:
``os-simple-tenant-usage``), so every compute host is reported "not run",
as a Nova whose audit is off answers.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from barecloud.db.models import utcnow
from barecloud.errors import InvalidParameter
from barecloud.services import policy
from barecloud.services.compute.nova_services import list_services
from barecloud.services.context import RequestContext, Runtime


def authorize(ctx: RequestContext) -> None:
    policy.authorize(ctx, "compute:usage_audit_log", {})


def last_completed_month(before: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """Nova's ``last_completed_audit_period`` for its default unit, the month."""
    end = dt.datetime(before.year, before.month, 1)
    begin = dt.datetime(end.year - 1, 12, 1) if end.month == 1 else \
        dt.datetime(end.year, end.month - 1, 1)
    return begin, end


def parse_before(raw: str) -> dt.datetime:
    """The ``before`` timestamp as Nova reads it (with or without microseconds)."""
    try:
        return dt.datetime.strptime(raw, "%Y-%m-%d %H:%M:%S.%f" if "." in raw
                                    else "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise InvalidParameter(f"Invalid timestamp for date {raw}") from None


async def report(rt: Runtime, ctx: RequestContext, before: dt.datetime | None = None
                 ) -> dict[str, Any]:
    """The audit of the last completed period before ``before`` (now if None)."""
    authorize(ctx)
    hosts = sorted({s.host for s in await list_services(rt, ctx, binary="nova-compute")})
    begin, end = last_completed_month(before or utcnow().replace(tzinfo=None))
    return {"period_beginning": str(begin), "period_ending": str(end),
            "num_hosts": len(hosts), "num_hosts_done": 0, "num_hosts_running": 0,
            "num_hosts_not_run": len(hosts), "hosts_not_run": hosts,
            "total_instances": 0, "total_errors": 0,
            "overall_status": f"{'ALL' if not hosts else f'0 of {len(hosts)}'} hosts done. "
                              "0 errors.",
            "log": {}}
