"""Credentials (/v3/credentials): a user's EC2 key pairs and other blobs, sealed at
rest with the service's secret keys (db/sealed.py) as Keystone encrypts them with
its credential keys; shown to their owner and admins, never logged."""

from __future__ import annotations

import hashlib
import json
import secrets
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db import sealed
from barecloud.db.identity_models import Credential
from barecloud.errors import Conflict, InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.identity import projects, rows, users, validate

KNOWN = {"id", "user_id", "project_id", "type", "blob", "links"}


def not_found(ident: str) -> NotFound:
    return rows.not_found("credential", ident)


def _keys(rt: Runtime) -> sealed.Keyring:
    return sealed.keyring(rt.settings.data_dir)


def _ec2_blob(blob: str) -> dict[str, Any]:
    """An EC2 blob: a JSON object with ``access`` (Keystone's _validate_blob_json)."""
    try:
        parsed = json.loads(blob)
    except ValueError:
        raise InvalidParameter("Invalid blob in credential") from None
    if not parsed or not isinstance(parsed, dict):
        raise InvalidParameter("Expecting to find blob in credential.")
    if parsed.get("access") is None:
        raise InvalidParameter("Expecting to find access in credential.")
    return parsed


async def _find(s: AsyncSession, ident: str) -> Credential:
    return await rows.get(s, Credential, ident, "credential")


def opened(rt: Runtime, row: Credential) -> str:
    """The blob, as its owner sent it."""
    blob: str = _keys(rt).open(row.blob)
    return blob


async def create(rt: Runtime, ctx: RequestContext, body: Any) -> tuple[Credential, str]:
    data = body["credential"]  # declared: schemas.CREATE_CREDENTIAL
    policy.authorize(ctx, "identity:create_credential", {"user_id": data["user_id"]})
    blob = data["blob"]
    ident = None
    if data["type"].lower() == "ec2":
        ident = hashlib.sha256(str(_ec2_blob(blob)["access"]).encode()).hexdigest()
    row = Credential(user_id=data["user_id"], project_id=data.get("project_id"),
                     type=data["type"], blob=_keys(rt).seal(blob),
                     extra=validate.extra(data, KNOWN))
    if ident is not None:
        row.id = ident
    async with rt.db.session() as s:
        await users.find(s, row.user_id)
        if row.project_id is not None:
            await projects.find(s, row.project_id)
        if ident is not None and await s.get(Credential, ident) is not None:
            raise Conflict("Conflict occurred attempting to store credential - Duplicate "
                           "entry.")
        s.add(row)
    return row, blob


async def get(rt: Runtime, ctx: RequestContext, ident: str) -> tuple[Credential, str]:
    async with rt.db.session() as s:
        row = await _find(s, ident)
    policy.authorize(ctx, "identity:get_credential", {"user_id": row.user_id})
    return row, opened(rt, row)


async def list_credentials(rt: Runtime, ctx: RequestContext, user_id: str | None,
                           type_: str | None) -> list[tuple[Credential, str]]:
    """Every credential for admins and system readers; a user's own for others."""
    q = select(Credential).order_by(Credential.created_at, Credential.id)
    if not policy.can(ctx, "identity:list_credentials"):
        q = q.where(Credential.user_id == (ctx.user or ""))
    if user_id is not None:
        q = q.where(Credential.user_id == user_id)
    if type_ is not None:
        q = q.where(Credential.type == type_)
    async with rt.db.session() as s:
        rows = list((await s.scalars(q)).all())
    return [(r, opened(rt, r)) for r in rows]


async def update(rt: Runtime, ctx: RequestContext, ident: str,
                 body: Any) -> tuple[Credential, str]:
    data = body["credential"]
    async with rt.db.session() as s:
        row = await _find(s, ident)
        policy.authorize(ctx, "identity:update_credential", {"user_id": row.user_id})
        if data.get("id") not in (None, ident):
            raise validate.invalid("id", data["id"], "It cannot be changed.")
        # Moving it to another user is the new owner's to allow, as Keystone checks.
        policy.authorize(ctx, "identity:update_credential",
                         {"user_id": data.get("user_id", row.user_id)})
        if data.get("user_id") is not None:
            await users.find(s, data["user_id"])
            row.user_id = data["user_id"]
        if "project_id" in data:
            if data["project_id"] is not None:
                await projects.find(s, data["project_id"])
            row.project_id = data["project_id"]
        if data.get("type") is not None:
            row.type = data["type"]
        blob = data.get("blob")
        if blob is not None:
            if row.type.lower() == "ec2":
                _ec2_blob(blob)
            row.blob = _keys(rt).seal(blob)
        row.extra = {**(row.extra or {}), **validate.extra(data, KNOWN)}
        return row, opened(rt, row)


async def remove(rt: Runtime, ctx: RequestContext, ident: str) -> None:
    async with rt.db.session() as s:
        row = await _find(s, ident)
        policy.authorize(ctx, "identity:delete_credential", {"user_id": row.user_id})
        await s.delete(row)


# --- /users/{id}/credentials/OS-EC2: EC2 key pairs made by the service -------------
def ec2_id(access: str) -> str:
    return hashlib.sha256(access.encode()).hexdigest()


def ec2_view(row: Credential, blob: str) -> dict[str, Any]:
    """Keystone's EC2 shape of a credential."""
    parsed = json.loads(blob)
    return {"user_id": row.user_id, "tenant_id": row.project_id,
            "access": parsed.get("access"), "secret": parsed.get("secret"),
            "trust_id": parsed.get("trust_id")}


async def ec2_create(rt: Runtime, ctx: RequestContext, user_id: str,
                     project_id: str | None) -> tuple[Credential, str]:
    policy.authorize(ctx, "identity:ec2_create_credential", {"user_id": user_id})
    blob = json.dumps({"access": secrets.token_hex(16), "secret": secrets.token_hex(16),
                       "trust_id": None})
    async with rt.db.session() as s:
        await users.find(s, user_id)
        await projects.find(s, project_id or "")
    return await create(rt, ctx, {"credential": {
        "user_id": user_id, "project_id": project_id, "type": "ec2", "blob": blob}})


async def ec2_list(rt: Runtime, ctx: RequestContext,
                   user_id: str) -> list[tuple[Credential, str]]:
    policy.authorize(ctx, "identity:ec2_list_credentials", {"user_id": user_id})
    async with rt.db.session() as s:
        await users.find(s, user_id)
        rows = list((await s.scalars(select(Credential).where(
            Credential.user_id == user_id, Credential.type == "ec2"
        ).order_by(Credential.created_at, Credential.id))).all())
    return [(r, opened(rt, r)) for r in rows]


async def _ec2_row(s: AsyncSession, user_id: str, access: str) -> Credential:
    await users.find(s, user_id)
    row = await s.get(Credential, ec2_id(access))
    if row is None or row.type != "ec2" or row.user_id != user_id:
        raise not_found(access)
    return row


async def ec2_get(rt: Runtime, ctx: RequestContext, user_id: str,
                  access: str) -> tuple[Credential, str]:
    policy.authorize(ctx, "identity:ec2_get_credential", {"user_id": user_id})
    async with rt.db.session() as s:
        row = await _ec2_row(s, user_id, access)
    return row, opened(rt, row)


async def ec2_delete(rt: Runtime, ctx: RequestContext, user_id: str, access: str) -> None:
    policy.authorize(ctx, "identity:ec2_delete_credential", {"user_id": user_id})
    async with rt.db.session() as s:
        await s.delete(await _ec2_row(s, user_id, access))
