"""Keystone's deprecated /v3/policies: blobs of a ``type`` kept for the clients
that store them there; barecloud enforces its own rules (services/policy.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.identity_models import Policy
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.identity import rows, validate

KNOWN = {"id", "type", "blob", "links"}


async def _find(s: AsyncSession, ident: str) -> Policy:
    return await rows.get(s, Policy, ident, "policy")


async def create(rt: Runtime, ctx: RequestContext, body: Any) -> Policy:
    policy.authorize(ctx, "identity:create_policy")
    data = body["policy"]  # declared: schemas.CREATE_POLICY
    row = Policy(type=data["type"], blob=data["blob"], extra=validate.extra(data, KNOWN))
    async with rt.db.session() as s:
        s.add(row)
    return row


async def get(rt: Runtime, ctx: RequestContext, ident: str) -> Policy:
    policy.authorize(ctx, "identity:get_policy")
    async with rt.db.session() as s:
        return await _find(s, ident)


async def list_policies(rt: Runtime, ctx: RequestContext, type_: str | None) -> list[Policy]:
    policy.authorize(ctx, "identity:list_policies")
    q = select(Policy).order_by(Policy.created_at, Policy.id)
    if type_ is not None:
        q = q.where(Policy.type == type_)
    async with rt.db.session() as s:
        return list((await s.scalars(q)).all())


async def update(rt: Runtime, ctx: RequestContext, ident: str, body: Any) -> Policy:
    policy.authorize(ctx, "identity:update_policy")
    data = body["policy"]
    async with rt.db.session() as s:
        row = await _find(s, ident)
        if data.get("id") not in (None, ident):
            raise validate.invalid("id", data["id"], "It cannot be changed.")
        for key in ("type", "blob"):
            if data.get(key) is not None:
                setattr(row, key, data[key])
        row.extra = {**(row.extra or {}), **validate.extra(data, KNOWN)}
        return row


async def remove(rt: Runtime, ctx: RequestContext, ident: str) -> None:
    policy.authorize(ctx, "identity:delete_policy")
    async with rt.db.session() as s:
        await s.delete(await _find(s, ident))
