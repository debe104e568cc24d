"""Console tokens: minted for a console URL, checked when a websocket attaches.

A token is 32 random bytes; the row keeps its SHA-256 (db/console_models.py),
looked up by digest (an index: no timing to learn from), so neither a log
nor a copy of the database opens a console.  Nova's tokens live
``console_token_ttl`` seconds and open the console as many times as wanted
until then (a reconnect needs no new URL); Ironic's live until the node's
console is disabled.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import delete, select

from barecloud.db.console_models import ConsoleToken
from barecloud.db.models import utcnow
from barecloud.services.context import Runtime


def ws_base(base_url: str) -> str:
    """The service's base URL with the websocket scheme (ws, or wss behind TLS)."""
    parts = urlsplit(base_url)
    return urlunsplit(("wss" if parts.scheme == "https" else "ws", parts.netloc,
                       parts.path.rstrip("/"), "", ""))


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Grant:
    """What a valid token opens."""

    kind: str
    server_uuid: str | None
    node_uuid: str | None
    project_id: str


async def mint(rt: Runtime, *, kind: str, project_id: str, server_uuid: str | None = None,
               node_uuid: str | None = None, ttl: float | None = None) -> str:
    """A new token (shown once); ``ttl`` None: until :func:`revoke_node`."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    async with rt.db.session() as s:
        # Expired tokens go as new ones come: the table stays the size of the live ones.
        await s.execute(delete(ConsoleToken).where(ConsoleToken.expires_at < now))
        s.add(ConsoleToken(digest=digest(token), kind=kind, server_uuid=server_uuid,
                           node_uuid=node_uuid, project_id=project_id,
                           expires_at=None if ttl is None else now + dt.timedelta(seconds=ttl)))
    return token


async def check(rt: Runtime, token: str | None, kind: str) -> Grant | None:
    """What ``token`` opens for a console of ``kind``; None if nothing (unknown,
    expired, or another kind)."""
    if not token or len(token) > 200:
        return None
    async with rt.db.session() as s:
        row = await s.scalar(select(ConsoleToken).where(ConsoleToken.digest == digest(token)))
    if row is None or row.kind != kind or (
            row.expires_at is not None and row.expires_at <= utcnow()):
        return None
    return Grant(row.kind, row.server_uuid, row.node_uuid, row.project_id)


async def revoke_node(rt: Runtime, node_uuid: str) -> None:
    """The node's console tokens stop working (its console was disabled)."""
    async with rt.db.session() as s:
        await s.execute(delete(ConsoleToken).where(ConsoleToken.node_uuid == node_uuid))
