"""Migrations (Nova's ``os-migrations``): the moves of servers, for admins.

A bare-metal server never moves (it is its machine); a VM is resized in place on
its host, which Nova records as a ``resize`` migration whose source and
destination are that host.  The row is written in the resize's own transaction
(``record``) as ``migrating`` and becomes ``confirmed`` with confirmResize
(``confirm``); in between, the listing reads the server: ``finished`` once it
waits in VERIFY_RESIZE (or the host has done it), ``error`` if the resize put it
in ERROR, as Nova's compute manager writes those states along the way.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.compute_models import Flavor, Migration, Server
from barecloud.db.hypervisor_models import Hypervisor
from barecloud.errors import InvalidParameter
from barecloud.services import policy
from barecloud.services.compute import status as st
from barecloud.services.context import RequestContext, Runtime

RESIZE = "resize"
MIGRATING, FINISHED, CONFIRMED, ERROR = "migrating", "finished", "confirmed", "error"


async def record(s: AsyncSession, ctx: RequestContext, server: Server,
                 new_flavor: Flavor) -> None:
    """A resize of VM ``server`` on its host to ``new_flavor``, in the caller's
    transaction."""
    old = await s.scalar(select(Flavor.id).where(Flavor.flavorid == server.flavor_id))
    host = await s.scalar(select(Hypervisor.hostname).where(
        Hypervisor.id == server.hypervisor_id))
    s.add(Migration(server_uuid=server.uuid, project_id=server.project_id,
                    user_id=ctx.user or server.user_id, migration_type=RESIZE,
                    status=MIGRATING, source_compute=host, dest_compute=host,
                    old_flavor_id=old, new_flavor_id=new_flavor.id))


async def confirm(s: AsyncSession, server: Server) -> None:
    """confirmResize: the server's open resize is ``confirmed``."""
    await s.execute(update(Migration).where(
        Migration.server_uuid == server.uuid, Migration.status == MIGRATING,
    ).values(status=CONFIRMED).execution_options(synchronize_session=False))


@dataclass
class MigrationQuery:
    filters: dict[str, str] = field(default_factory=dict)  # column -> value
    host: str | None = None  # source or destination
    limit: int | None = None
    marker: str | None = None  # a migration's uuid (2.59)
    changes_since: dt.datetime | None = None
    changes_before: dt.datetime | None = None


@dataclass(frozen=True)
class Listed:
    row: Migration
    status: str


def shown_status(row: Migration, server: Server | None) -> str:
    """The status Nova's compute manager would have written by now."""
    if row.status != MIGRATING or server is None:
        return row.status
    if server.pending == RESIZE:
        return MIGRATING
    return ERROR if server.vm_state == st.ERROR else FINISHED


async def list_migrations(rt: Runtime, ctx: RequestContext,
                          query: MigrationQuery) -> list[Listed]:
    """Newest first (Nova's ``created_at``, ``id`` descending), filtered as asked."""
    policy.authorize(ctx, "compute:migrations:list", {})
    if query.changes_since and query.changes_before and \
            query.changes_before < query.changes_since:
        raise InvalidParameter("The value of changes-since must be less than or equal to "
                               "changes-before.")
    async with rt.db.session() as s:
        q = select(Migration)
        for column, value in query.filters.items():
            if column != "status":
                q = q.where(getattr(Migration, column) == value)
        if query.host is not None:
            q = q.where(or_(Migration.source_compute == query.host,
                            Migration.dest_compute == query.host))
        if query.marker is not None:
            marker = await s.scalar(select(Migration).where(Migration.uuid == query.marker))
            if marker is None:
                raise InvalidParameter(f"Marker {query.marker} could not be found.")
            q = q.where(or_(Migration.created_at < marker.created_at,
                            (Migration.created_at == marker.created_at)
                            & (Migration.id < marker.id)))
        changed = func.coalesce(Migration.updated_at, Migration.created_at)
        if query.changes_since is not None:
            q = q.where(changed >= query.changes_since)
        if query.changes_before is not None:
            q = q.where(changed <= query.changes_before)
        q = q.order_by(Migration.created_at.desc(), Migration.id.desc())
        rows = list((await s.scalars(q)).all())
        uuids = {r.server_uuid for r in rows}
        servers = {sv.uuid: sv for sv in (await s.scalars(select(Server).where(
            Server.uuid.in_(uuids), Server.deleted.is_(False)))).all()} if uuids else {}
    listed = [Listed(r, shown_status(r, servers.get(r.server_uuid))) for r in rows]
    wanted = query.filters.get("status")
    if wanted is not None:  # on the status shown, which is read, not stored
        listed = [m for m in listed if m.status == wanted]
    cap = rt.settings.api_max_limit
    return listed[:cap if query.limit is None else min(query.limit, cap)]
