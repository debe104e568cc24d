"""Instance actions (Nova's ``os-instance-actions``): what each request did to a server.

A request that changes a server records its action in the same transaction as
the change (``record``), under the request's id, which the client read from the
``x-compute-request-id`` header.  Rows outlive their server (from 2.21 a deleted
server's actions are listed).  barecloud's reconciler, not a compute service,
carries the work out, so no action has events (docs/design/compute-api.md).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.compute_models import InstanceAction, Server
from barecloud.db.models import utcnow
from barecloud.errors import InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.baremetal.schemas import UUID_RE
from barecloud.services.compute.queries import not_found
from barecloud.services.context import RequestContext, Runtime


def record(s: AsyncSession, ctx: RequestContext, server: Server, action: str) -> None:
    now = utcnow()
    s.add(InstanceAction(server_uuid=server.uuid, action=action, request_id=ctx.request_id,
                         project_id=ctx.project or server.project_id,
                         user_id=ctx.user or server.user_id, start_time=now, updated_at=now))


@dataclass
class ActionQuery:
    limit: int | None = None
    marker: str | None = None  # a request id
    changes_since: dt.datetime | None = None
    changes_before: dt.datetime | None = None


async def _server(s: AsyncSession, ctx: RequestContext, server_id: str,
                  deleted: bool) -> Server:
    """The server, a deleted one too when ``deleted`` (2.21); 404 for others'."""
    server = None
    if UUID_RE.match(server_id):
        q = select(Server).where(Server.uuid == server_id.lower())
        if not deleted:
            q = q.where(Server.deleted.is_(False))
        server = (await s.scalars(q.order_by(Server.id.desc()))).first()
    if server is None or not policy.can(ctx, "compute:servers:show",
                                        {"project_id": server.project_id}):
        raise not_found(server_id)
    return server


async def list_actions(rt: Runtime, ctx: RequestContext, server_id: str, deleted: bool,
                       query: ActionQuery) -> list[InstanceAction]:
    """Newest first, as Nova."""
    if query.changes_since and query.changes_before and \
            query.changes_before < query.changes_since:
        raise InvalidParameter("The value of changes-since must be less than or equal to "
                               "changes-before.")
    async with rt.db.session() as s:
        server = await _server(s, ctx, server_id, deleted)
        q = select(InstanceAction).where(InstanceAction.server_uuid == server.uuid)
        if query.marker is not None:
            marker = (await s.scalars(q.where(InstanceAction.request_id == query.marker)
                                      .order_by(InstanceAction.id))).first()
            if marker is None:
                raise InvalidParameter(f"Marker {query.marker} could not be found.")
            q = q.where(InstanceAction.id < marker.id)
        if query.changes_since is not None:
            q = q.where(InstanceAction.updated_at >= query.changes_since)
        if query.changes_before is not None:
            q = q.where(InstanceAction.updated_at <= query.changes_before)
        cap = rt.settings.api_max_limit
        limit = cap if query.limit is None else min(query.limit, cap)
        q = q.order_by(InstanceAction.id.desc()).limit(limit)
        return list((await s.scalars(q)).all())


async def get_action(rt: Runtime, ctx: RequestContext, server_id: str, deleted: bool,
                     request_id: str) -> InstanceAction:
    async with rt.db.session() as s:
        server = await _server(s, ctx, server_id, deleted)
        found = (await s.scalars(select(InstanceAction).where(
            InstanceAction.server_uuid == server.uuid, InstanceAction.request_id == request_id)
            .order_by(InstanceAction.id))).first()
    if found is None:
        raise NotFound(f"Action {request_id} not found")
    return found
