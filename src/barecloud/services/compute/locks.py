"""Nova's server lock: a locked server refuses its owner's changes until unlocked.

``lock`` records who locked it: ``owner`` when the caller is of the server's
project, else ``admin`` (Nova's ``locked_by``), and the reason (2.73).  While
locked, a non-admin's delete, reboot, start, stop, rebuild and resize answer
409 "Instance <uuid> is locked" (Nova's ``check_instance_lock``); an admin's
go through.  Unlocking a server someone else's kind locked (the owner's lock
by an admin from another project, an admin's lock by the owner) needs
``unlock_override`` (admin), else 403.
"""

from __future__ import annotations

from sqlalchemy import update

from barecloud.db.compute_models import Server
from barecloud.errors import Conflict
from barecloud.services import policy
from barecloud.services.compute import instance_actions
from barecloud.services.compute.queries import find
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.tenancy import project_of


def is_admin(ctx: RequestContext) -> bool:
    return policy.can(ctx, "compute:context_is_admin")


def check_unlocked(ctx: RequestContext, server: Server) -> None:
    """Nova's ``check_instance_lock``: a locked server refuses non-admins."""
    if server.locked_by is not None and not is_admin(ctx):
        raise Conflict(f"Instance {server.uuid} is locked")


def _expected(ctx: RequestContext, server: Server) -> str:
    return "owner" if project_of(ctx) == server.project_id else "admin"


async def lock(rt: Runtime, ctx: RequestContext, server_id: str, reason: str | None) -> None:
    async with rt.db.session() as s:
        server = await find(s, ctx, server_id)
        policy.authorize(ctx, "compute:servers:lock", {"project_id": server.project_id})
        instance_actions.record(s, ctx, server, "lock")
        await s.execute(update(Server).where(Server.id == server.id).values(
            locked_by=_expected(ctx, server), locked_reason=reason))


async def unlock(rt: Runtime, ctx: RequestContext, server_id: str) -> None:
    async with rt.db.session() as s:
        server = await find(s, ctx, server_id)
        policy.authorize(ctx, "compute:servers:lock", {"project_id": server.project_id})
        if server.locked_by is not None and server.locked_by != _expected(ctx, server):
            policy.authorize(ctx, "compute:servers:unlock_override",
                             {"project_id": server.project_id})
        instance_actions.record(s, ctx, server, "unlock")
        await s.execute(update(Server).where(Server.id == server.id).values(
            locked_by=None, locked_reason=None))
