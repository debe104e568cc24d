"""Application credentials: a secret a user hands a program instead of a password.

Created with a project-scoped token, it keeps that project and (a subset of)
the token's roles, implied roles included; authenticating with it yields a
token scoped to that project with those of the roles the user still has.
The secret is shown once, at creation, and stored hashed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.identity_models import ApplicationCredential, Role
from barecloud.db.models import utcnow
from barecloud.errors import Conflict, Forbidden, InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.identity import passwords, users, validate
from barecloud.services.identity.subjects import (
    Ref,
    effective_roles,
    implications,
    implied_closure,
)
from barecloud.services.identity.tokens import tokens_of


@dataclass
class Created:
    credential: ApplicationCredential
    roles: list[Role]
    secret: str


def not_found(ident: str) -> NotFound:
    return NotFound(f"Could not find Application Credential: {ident}.")


def parse_time(raw: str | None) -> dt.datetime | None:
    """A declared ``date-time`` as naive UTC (Keystone takes ``2030-01-01T00:00:00[Z]``)."""
    if raw is None:
        return None
    when = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return when


async def _from_app_cred_token(rt: Runtime, ctx: RequestContext) -> bool:
    if not ctx.token:
        return False
    return tokens_of(rt).decode(ctx.token).app_cred_id is not None


async def _role_rows(s: AsyncSession, ids: list[str]) -> list[Role]:
    return list((await s.scalars(select(Role).where(Role.id.in_(ids))
                                 .order_by(Role.name))).all())


async def create(rt: Runtime, ctx: RequestContext, user_id: str, body: Any) -> Created:
    policy.authorize(ctx, "identity:create_application_credential", {"user_id": user_id})
    if await _from_app_cred_token(rt, ctx):
        raise Forbidden("Using method 'application_credential' is not allowed for managing "
                        "additional application credentials.")
    if ctx.project is None:
        raise InvalidParameter("Invalid application credential: it needs a project-scoped "
                               "token, whose project it is for.")
    data = body["application_credential"]  # declared: schemas.CREATE_APP_CREDENTIAL
    name = data["name"]
    description = data.get("description")
    secret = data.get("secret")
    unrestricted = data.get("unrestricted") or False
    expires_at = parse_time(data.get("expires_at"))
    if expires_at is not None and expires_at <= utcnow():
        raise validate.invalid("expires_at", data["expires_at"], "The expiry is in the past.")
    if data.get("access_rules"):
        raise validate.invalid("access_rules", data["access_rules"],
                               "barecloud does not restrict credentials by access rules.")
    wanted = data.get("roles")
    secret = secret or passwords.generate()
    secret_hash = await passwords.hash_async(secret)
    async with rt.db.session() as s:
        await users.find(s, user_id)
        held = await effective_roles(s, user_id, "project", ctx.project)
        by_id = {r.id: r for r in held}
        by_name = {r.name: r for r in held}
        chosen: list[Ref] = [] if wanted else list(held)  # none named: the token's
        for ref in wanted or []:
            role = by_id.get(ref.get("id", "")) or by_name.get(ref.get("name", ""))
            if role is None:
                raise NotFound(f"Could not find role assignment with role: "
                               f"{ref.get('id') or ref.get('name')}, user or group: {user_id}, "
                               f"project, domain, or system: {ctx.project}.")
            chosen.append(role)
        ids = implied_closure({r.id for r in chosen}, await implications(s))
        role_ids = [r.id for r in held if r.id in ids]
        if await s.scalar(select(ApplicationCredential.id).where(
                ApplicationCredential.user_id == user_id, ApplicationCredential.name == name)):
            raise Conflict(f"Conflict occurred attempting to store application_credential - "
                           f"Duplicate entry found with name {name}.")
        cred = ApplicationCredential(name=name, user_id=user_id, project_id=ctx.project,
                                     secret_hash=secret_hash, description=description,
                                     expires_at=expires_at, unrestricted=unrestricted,
                                     role_ids=role_ids)
        s.add(cred)
        await s.flush()
        rows = await _role_rows(s, role_ids)
    return Created(cred, rows, secret)


async def list_credentials(rt: Runtime, ctx: RequestContext, user_id: str,
                           name: str | None) -> list[tuple[ApplicationCredential, list[Role]]]:
    policy.authorize(ctx, "identity:list_application_credentials", {"user_id": user_id})
    q = select(ApplicationCredential).where(ApplicationCredential.user_id == user_id)
    if name is not None:
        q = q.where(ApplicationCredential.name == name)
    async with rt.db.session() as s:
        await users.find(s, user_id)
        creds = list((await s.scalars(q.order_by(ApplicationCredential.name))).all())
        roles = {r.id: r for r in (await s.scalars(select(Role))).all()}
    return [(c, [roles[i] for i in c.role_ids if i in roles]) for c in creds]


async def get(rt: Runtime, ctx: RequestContext, user_id: str,
              cred_id: str) -> tuple[ApplicationCredential, list[Role]]:
    policy.authorize(ctx, "identity:get_application_credential", {"user_id": user_id})
    async with rt.db.session() as s:
        cred = await s.get(ApplicationCredential, cred_id)
        if cred is None or cred.user_id != user_id:
            raise not_found(cred_id)
        return cred, await _role_rows(s, cred.role_ids)


async def remove(rt: Runtime, ctx: RequestContext, user_id: str, cred_id: str) -> None:
    """Delete it; the tokens it gave stop working."""
    policy.authorize(ctx, "identity:delete_application_credential", {"user_id": user_id})
    if await _from_app_cred_token(rt, ctx):
        raise Forbidden("Using method 'application_credential' is not allowed for managing "
                        "additional application credentials.")
    async with rt.db.session() as s:
        cred = await s.get(ApplicationCredential, cred_id)
        if cred is None or cred.user_id != user_id:
            raise not_found(cred_id)
        await s.delete(cred)
    tokens_of(rt).forget_subjects()
