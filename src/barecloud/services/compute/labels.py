"""Metadata and tags: what a user writes on a server (Nova's ``/servers/{id}/metadata``
and, from 2.26, ``/servers/{id}/tags``).

Both live on the server's row (``servers.metadata``, ``servers.tags``). A change
first touches the row with a conditional UPDATE (the server still there, in a state
Nova allows the change in), which holds the row's write lock (PostgreSQL) or the
database's (SQLite) until the transaction ends: the read, merge and write that follow
cannot interleave with another request's, so no concurrent change is lost.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.compute_models import Server
from barecloud.db.models import utcnow
from barecloud.errors import InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.compute import quotas
from barecloud.services.compute import status as st
from barecloud.services.compute.actions import invalid_state
from barecloud.services.compute.queries import find
from barecloud.services.context import RequestContext, Runtime

# nova/objects/instance.py and nova/objects/tag.py.
MAX_TAGS = 50
MAX_TAG_LENGTH = 60
# Nova's instance states where metadata and tags may change.
CHANGEABLE = (st.ACTIVE, st.STOPPED, "paused", "suspended")


async def _read(rt: Runtime, ctx: RequestContext, server_id: str) -> Server:
    async with rt.db.session() as s:
        return await find(s, ctx, server_id)


async def _change(rt: Runtime, ctx: RequestContext, server_id: str, action: str,
                  change: Callable[[Server], dict[str, Any]], *, idle: bool = True,
                  check: Callable[[AsyncSession, Server, dict[str, Any]], Awaitable[None]]
                  | None = None) -> None:
    """Write what ``change`` makes of the server as read (the columns to set), under
    the row's lock, after ``check`` (a quota) passes in the same transaction; 409 in
    Nova's words when the server is not in a changeable state (``idle``: nor busy
    with a task, as Nova asks of metadata but not of tags)."""
    async with rt.db.session() as s:
        server = await find(s, ctx, server_id)
        policy.authorize(ctx, "compute:servers:update", {"project_id": server.project_id})
        fence = [Server.id == server.id, Server.deleted.is_(False),
                 Server.vm_state.in_(CHANGEABLE)]
        if idle:
            fence.append(Server.task_state.is_(None))
        touched = await s.execute(update(Server).where(*fence).values(updated_at=utcnow()))
        await s.refresh(server)
        if not touched.rowcount:  # type: ignore[attr-defined]
            raise invalid_state(action, server)
        values = change(server)
        if check is not None:
            await check(s, server, values)
        if values:
            await s.execute(update(Server).where(Server.id == server.id).values(**values))


# --- metadata -----------------------------------------------------------------
async def metadata(rt: Runtime, ctx: RequestContext, server_id: str) -> dict[str, str]:
    return dict((await _read(rt, ctx, server_id)).meta or {})


async def metadata_item(rt: Runtime, ctx: RequestContext, server_id: str, key: str) -> str:
    meta = await metadata(rt, ctx, server_id)
    if key not in meta:
        raise NotFound("Metadata item was not found")
    return meta[key]


async def set_metadata(rt: Runtime, ctx: RequestContext, server_id: str,
                       items: dict[str, str], *, replace: bool) -> dict[str, str]:
    """Merge ``items`` into the server's metadata, or ``replace`` it with them; 403 past
    the project's ``metadata_items`` quota, as Nova."""
    merged: dict[str, str] = {}

    def change(server: Server) -> dict[str, Any]:
        merged.update(items if replace else {**(server.meta or {}), **items})
        return {"meta": dict(merged)}

    async def check(s: AsyncSession, server: Server, values: dict[str, Any]) -> None:
        await quotas.check_metadata(s, server.project_id, len(values["meta"]))

    await _change(rt, ctx, server_id, "update metadata", change, check=check)
    return merged


async def delete_metadata_item(rt: Runtime, ctx: RequestContext, server_id: str,
                               key: str) -> None:
    def change(server: Server) -> dict[str, Any]:
        meta = dict(server.meta or {})
        if key not in meta:
            raise NotFound("Metadata item was not found")
        del meta[key]
        return {"meta": meta}

    await metadata_item(rt, ctx, server_id, key)  # its 404 before a state's 409, as Nova
    await _change(rt, ctx, server_id, "delete metadata", change)


# --- tags -----------------------------------------------------------------------
def check_tag(tag: str) -> str:
    """A tag in the URI (the body's are declared): Nova's words when it is not one."""
    if not 1 <= len(tag) <= MAX_TAG_LENGTH or "/" in tag or "," in tag:
        raise InvalidParameter(f"Tag '{tag}' is invalid. It must be a non empty string "
                               "without characters '/' and ','.")
    return tag


def distinct(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


async def tags(rt: Runtime, ctx: RequestContext, server_id: str) -> list[str]:
    return list((await _read(rt, ctx, server_id)).tags or [])


async def has_tag(rt: Runtime, ctx: RequestContext, server_id: str, tag: str) -> None:
    server = await _read(rt, ctx, server_id)
    if tag not in (server.tags or []):
        raise NotFound(f"Server {server.uuid} has no tag '{tag}'")


async def add_tag(rt: Runtime, ctx: RequestContext, server_id: str, tag: str) -> bool:
    """Whether the tag is new (201) or was there (204)."""
    check_tag(tag)
    added = []

    def change(server: Server) -> dict[str, Any]:
        now = list(server.tags or [])
        if tag in now:
            return {}
        if len(now) >= MAX_TAGS:
            raise InvalidParameter(f"The number of tags exceeded the per-server limit "
                                   f"{MAX_TAGS}")
        added.append(tag)
        return {"tags": [*now, tag]}

    await _change(rt, ctx, server_id, "update tag", change, idle=False)
    return bool(added)


async def set_tags(rt: Runtime, ctx: RequestContext, server_id: str,
                   new: list[str]) -> list[str]:
    wanted = distinct(new)
    await _change(rt, ctx, server_id, "update tags", lambda _: {"tags": wanted}, idle=False)
    return wanted


async def delete_tag(rt: Runtime, ctx: RequestContext, server_id: str, tag: str) -> None:
    def change(server: Server) -> dict[str, Any]:
        now = list(server.tags or [])
        if tag not in now:
            raise NotFound(f"Server {server.uuid} has no tag '{tag}'")
        return {"tags": [t for t in now if t != tag]}

    await _change(rt, ctx, server_id, "delete tag", change, idle=False)


async def delete_tags(rt: Runtime, ctx: RequestContext, server_id: str) -> None:
    await _change(rt, ctx, server_id, "delete tags", lambda _: {"tags": []}, idle=False)
