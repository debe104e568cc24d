"""OS-OAUTH1 consumers: a description and a secret, shown once at creation (as
Keystone's) and kept as a hash.  barecloud issues no OAuth1 request or access
tokens: the consumers are kept for the tools that register them
(docs/design/identity-api.md)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.identity_models import OAuthConsumer
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.identity import passwords, rows, validate

KNOWN = {"id", "description", "secret", "links"}


async def _find(s: AsyncSession, ident: str) -> OAuthConsumer:
    return await rows.get(s, OAuthConsumer, ident, "consumer")


async def create(rt: Runtime, ctx: RequestContext, body: Any) -> tuple[OAuthConsumer, str]:
    """The consumer and its secret, which no later read shows."""
    policy.authorize(ctx, "identity:create_consumer")
    data = body["consumer"]  # declared: schemas.CREATE_CONSUMER
    secret = passwords.generate()
    row = OAuthConsumer(description=data.get("description"),
                        secret_hash=await passwords.hash_async(secret),
                        extra=validate.extra(data, KNOWN))
    async with rt.db.session() as s:
        s.add(row)
    return row, secret


async def get(rt: Runtime, ctx: RequestContext, ident: str) -> OAuthConsumer:
    policy.authorize(ctx, "identity:get_consumer")
    async with rt.db.session() as s:
        return await _find(s, ident)


async def list_consumers(rt: Runtime, ctx: RequestContext) -> list[OAuthConsumer]:
    policy.authorize(ctx, "identity:list_consumers")
    async with rt.db.session() as s:
        return list((await s.scalars(select(OAuthConsumer).order_by(
            OAuthConsumer.created_at, OAuthConsumer.id))).all())


async def update(rt: Runtime, ctx: RequestContext, ident: str, body: Any) -> OAuthConsumer:
    policy.authorize(ctx, "identity:update_consumer")
    data = body["consumer"]  # declared: schemas.UPDATE_CONSUMER (no secret)
    async with rt.db.session() as s:
        row = await _find(s, ident)
        if data.get("id") not in (None, ident):
            raise validate.invalid("id", data["id"], "It cannot be changed.")
        if "description" in data:
            row.description = data["description"]
        row.extra = {**(row.extra or {}), **validate.extra(data, KNOWN)}
        return row


async def remove(rt: Runtime, ctx: RequestContext, ident: str) -> None:
    policy.authorize(ctx, "identity:delete_consumer")
    async with rt.db.session() as s:
        await s.delete(await _find(s, ident))
