"""Nova's ``os-simple-tenant-usage``: each project's servers' hours in a period, and the
vCPU, RAM and disk hours their flavors make of them.

A server counts from ``launched_at`` (its deploy done) to ``terminated_at`` (its
delete), clipped to the period, as Nova's ``_hours_for``; one never launched
counts nothing.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import or_, select

from barecloud.db.compute_models import Server
from barecloud.db.models import utcnow
from barecloud.errors import InvalidParameter
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime

FORMATS = ("%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S.%f", "%Y-%m-%d %H:%M:%S.%f")


def parse_time(raw: str | None) -> dt.datetime:
    """Nova's three spellings (none: now); naive UTC."""
    if not raw:
        return utcnow()
    for fmt in FORMATS:
        try:
            return dt.datetime.strptime(raw, fmt)
        except ValueError:
            continue
    raise InvalidParameter("Invalid datetime string: Datetime is in invalid format")


@dataclass
class ServerUsage:
    server: Server
    hours: float
    now: dt.datetime

    def view(self) -> dict[str, Any]:
        s, f = self.server, self.server.flavor or {}
        ended = s.terminated_at
        started = s.launched_at or s.created_at
        return {
            "instance_id": s.uuid, "name": s.name, "tenant_id": s.project_id,
            "hours": self.hours, "flavor": f.get("name", ""),
            "memory_mb": int(f.get("ram") or s.memory_mb),
            "local_gb": int(f.get("disk") or 0) + int(f.get("ephemeral") or 0),
            "vcpus": int(f.get("vcpus") or s.vcpus),
            "started_at": started.isoformat(),
            "ended_at": ended.isoformat() if ended else None,
            "state": "terminated" if ended else s.vm_state,
            "uptime": int(((ended or self.now) - started).total_seconds()),
        }


@dataclass
class TenantUsage:
    tenant_id: str
    start: dt.datetime
    stop: dt.datetime
    servers: list[ServerUsage] = field(default_factory=list)

    def view(self, detailed: bool) -> dict[str, Any]:
        shown = [u.view() for u in self.servers]
        body: dict[str, Any] = {
            "tenant_id": self.tenant_id,
            "total_local_gb_usage": sum(u["local_gb"] * u["hours"] for u in shown),
            "total_vcpus_usage": sum(u["vcpus"] * u["hours"] for u in shown),
            "total_memory_mb_usage": sum(u["memory_mb"] * u["hours"] for u in shown),
            "total_hours": sum(u["hours"] for u in shown),
            "start": self.start.isoformat(), "stop": self.stop.isoformat()}
        if detailed:
            body["server_usages"] = shown
        return body


def _hours(s: Server, start: dt.datetime, stop: dt.datetime) -> float:
    if s.launched_at is None:
        return 0
    begin, end = max(s.launched_at, start), min(stop, s.terminated_at or stop)
    return max((end - begin).total_seconds(), 0) / 3600.0


async def usages(rt: Runtime, ctx: RequestContext, start: dt.datetime, stop: dt.datetime,
                 project: str | None, limit: int | None,
                 marker: str | None) -> tuple[list[TenantUsage], list[ServerUsage]]:
    """Per project (in the order their first server was made), and the servers counted
    (a page of them: ``limit``, after ``marker``, a server UUID)."""
    if project is None:
        policy.authorize(ctx, "compute:usage:list", {})
    else:
        policy.authorize(ctx, "compute:usage:show", {"project_id": project})
    if not start < stop:
        raise InvalidParameter("Invalid start time. The start time cannot occur after the "
                               "end time.")
    now = utcnow()
    stop = min(stop, now)
    q = select(Server).where(or_(Server.terminated_at.is_(None), Server.terminated_at > start),
                             Server.launched_at < stop).order_by(Server.id)
    if project is not None:
        q = q.where(Server.project_id == project)
    cap = rt.settings.api_max_limit
    async with rt.db.session() as s:
        if marker is not None:
            after = await s.scalar(select(Server.id).where(Server.uuid == marker))
            if after is None:
                raise InvalidParameter(f"Marker {marker} could not be found.")
            q = q.where(Server.id > after)
        servers = (await s.scalars(q.limit(cap if limit is None else min(limit, cap)))).all()
    by_project: dict[str, TenantUsage] = {}
    counted = []
    for server in servers:
        u = ServerUsage(server, _hours(server, start, stop), now)
        by_project.setdefault(server.project_id,
                              TenantUsage(server.project_id, start, stop)).servers.append(u)
        counted.append(u)
    return list(by_project.values()), counted
