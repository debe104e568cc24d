"""Users: names in a domain, with a password (hashed) and a default project."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.identity_models import DEFAULT_DOMAIN, User
from barecloud.errors import Conflict, InvalidParameter, NotFound, Unauthorized, quote
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.identity import domains, passwords, projects, rows, validate
from barecloud.services.identity.subjects import AUTH_FAILED
from barecloud.services.identity.tokens import tokens_of

KNOWN = {"name", "domain_id", "password", "enabled", "default_project_id", "description",
         "options", "id", "links", "password_expires_at", "federated"}
NAME_MAX = 255


def not_found(ident: str) -> NotFound:
    return rows.not_found("user", ident)


async def find(s: AsyncSession, ident: str) -> User:
    return await rows.get(s, User, ident, "user")


async def find_by_name(s: AsyncSession, name: str, domain_id: str) -> User:
    user = await s.scalar(select(User).where(User.name == name, User.domain_id == domain_id))
    if user is None:
        raise not_found(name)
    return user


async def get(rt: Runtime, ctx: RequestContext, ident: str) -> User:
    policy.authorize(ctx, "identity:get_user", {"user_id": ident})
    async with rt.db.session() as s:
        return await find(s, ident)


async def list_users(rt: Runtime, ctx: RequestContext, *, name: str | None = None,
                     domain_id: str | None = None, enabled: bool | None = None) -> list[User]:
    policy.authorize(ctx, "identity:list_users")
    q = select(User).order_by(User.name, User.id)
    if name is not None:
        q = q.where(User.name == name)
    if domain_id is not None:
        q = q.where(User.domain_id == domain_id)
    if enabled is not None:
        q = q.where(User.enabled.is_(enabled))
    async with rt.db.session() as s:
        return list((await s.scalars(q)).all())


async def _unique(s: AsyncSession, name: str, domain_id: str, own_id: str | None) -> None:
    other = await s.scalar(select(User.id).where(User.name == name, User.domain_id == domain_id))
    if other is not None and other != own_id:
        raise Conflict(f"Conflict occurred attempting to store user - Duplicate entry found "
                       f"with name {name} at domain ID {domain_id}.")


async def _check_project(s: AsyncSession, project_id: str | None) -> None:
    if project_id is not None:
        await projects.find(s, project_id)


async def create(rt: Runtime, ctx: RequestContext, body: Any) -> User:
    policy.authorize(ctx, "identity:create_user")
    data = body["user"]  # declared: schemas.CREATE_USER
    name = data["name"]
    password = data.get("password")
    domain_id = data.get("domain_id") or ctx.domain or DEFAULT_DOMAIN
    default_project = data.get("default_project_id")
    user = User(name=name, domain_id=domain_id, enabled=data.get("enabled")
                is not False, default_project_id=default_project,
                description=data.get("description") or "",
                extra=validate.extra(data, KNOWN))
    # Hashed before the transaction: it takes tens of milliseconds.
    user.password_hash = await passwords.hash_async(password) if password is not None else None
    async with rt.db.session() as s:
        await domains.find(s, domain_id)
        await _check_project(s, default_project)
        await _unique(s, name, domain_id, None)
        s.add(user)
    return user


async def update(rt: Runtime, ctx: RequestContext, ident: str, body: Any) -> User:
    policy.authorize(ctx, "identity:update_user")
    data = body["user"]
    name = data.get("name")
    enabled = data.get("enabled")
    description = data.get("description")
    new_hash = None
    if "password" in data:
        password = data.get("password")
        new_hash = await passwords.hash_async(password) if password is not None else ""
    async with rt.db.session() as s:
        user = await find(s, ident)
        # Keystone takes a body that repeats the user's own id and domain.
        for key, own in (("id", user.id), ("domain_id", user.domain_id)):
            if key in data and data[key] != own:
                raise InvalidParameter(f"Invalid input for field/attribute {key}. Value: "
                                       f"{quote(data[key])}. It cannot be changed.")
        if name is not None:
            await _unique(s, name, user.domain_id, user.id)
            user.name = name
        if "default_project_id" in data:
            project = data.get("default_project_id")
            await _check_project(s, project)
            user.default_project_id = project
        if description is not None:
            user.description = description
        if enabled is not None:
            user.enabled = enabled
        if new_hash is not None:
            user.password_hash = new_hash or None
        user.extra = {**(user.extra or {}), **validate.extra(data, KNOWN)}
    if new_hash is not None or enabled is False:
        await tokens_of(rt).revoke_user(user.id)
    else:
        tokens_of(rt).forget_subjects()
    return user


async def change_password(rt: Runtime, ctx: RequestContext, ident: str, body: Any) -> None:
    """A user's own change, proven with the current password; ends its tokens."""
    policy.authorize(ctx, "identity:change_password", {"user_id": ident})
    data = body["user"]
    original, password = data["original_password"], data["password"]
    async with rt.db.session() as s:
        stored = (await find(s, ident)).password_hash
    if not await passwords.verify_async(original, stored):
        raise Unauthorized(AUTH_FAILED)
    new_hash = await passwords.hash_async(password)
    async with rt.db.session() as s:
        (await find(s, ident)).password_hash = new_hash
    await tokens_of(rt).revoke_user(ident)


async def remove(rt: Runtime, ctx: RequestContext, ident: str) -> None:
    """Delete a user; its role assignments and application credentials go with it."""
    policy.authorize(ctx, "identity:delete_user")
    async with rt.db.session() as s:
        await s.delete(await find(s, ident))
    await tokens_of(rt).revoke_user(ident)
