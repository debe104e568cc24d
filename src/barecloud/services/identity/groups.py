"""Groups: users of a domain given roles together (their assignments are in
assignments.py; a member's tokens carry its groups' roles)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.identity_models import DEFAULT_DOMAIN, Group, GroupMember, User
from barecloud.errors import Conflict, NotFound
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.identity import domains, rows, users, validate
from barecloud.services.identity.tokens import tokens_of

KNOWN = {"name", "domain_id", "description", "id", "links"}


def not_found(ident: str) -> NotFound:
    return rows.not_found("group", ident)


async def find(s: AsyncSession, ident: str) -> Group:
    return await rows.get(s, Group, ident, "group")


async def get(rt: Runtime, ctx: RequestContext, ident: str) -> Group:
    policy.authorize(ctx, "identity:get_group")
    async with rt.db.session() as s:
        return await find(s, ident)


async def list_groups(rt: Runtime, ctx: RequestContext, *, name: str | None = None,
                      domain_id: str | None = None) -> list[Group]:
    policy.authorize(ctx, "identity:list_groups")
    q = select(Group).order_by(Group.name, Group.id)
    if name is not None:
        q = q.where(Group.name == name)
    if domain_id is not None:
        q = q.where(Group.domain_id == domain_id)
    async with rt.db.session() as s:
        return list((await s.scalars(q)).all())


async def _unique(s: AsyncSession, name: str, domain_id: str, own_id: str | None) -> None:
    other = await s.scalar(select(Group.id).where(Group.name == name,
                                                  Group.domain_id == domain_id))
    if other is not None and other != own_id:
        raise Conflict(f"Conflict occurred attempting to store group - Duplicate entry found "
                       f"with name {name} at domain ID {domain_id}.")


async def create(rt: Runtime, ctx: RequestContext, body: Any) -> Group:
    policy.authorize(ctx, "identity:create_group")
    data = body["group"]  # declared: schemas.CREATE_GROUP
    domain_id = data.get("domain_id") or ctx.domain or DEFAULT_DOMAIN
    group = Group(name=data["name"], domain_id=domain_id,
                  description=data.get("description") or "",
                  extra=validate.extra(data, KNOWN))
    async with rt.db.session() as s:
        await domains.find(s, domain_id)
        await _unique(s, group.name, domain_id, None)
        s.add(group)
    return group


async def update(rt: Runtime, ctx: RequestContext, ident: str, body: Any) -> Group:
    policy.authorize(ctx, "identity:update_group")
    data = body["group"]
    async with rt.db.session() as s:
        group = await find(s, ident)
        for key, own in (("id", group.id), ("domain_id", group.domain_id)):
            if key in data and data[key] != own:
                raise validate.invalid(key, data[key], "It cannot be changed.")
        if data.get("name") is not None:
            await _unique(s, data["name"], group.domain_id, group.id)
            group.name = data["name"]
        if "description" in data:
            group.description = data["description"] or ""
        group.extra = {**(group.extra or {}), **validate.extra(data, KNOWN)}
    return group


async def remove(rt: Runtime, ctx: RequestContext, ident: str) -> None:
    """Delete a group; its memberships and role assignments go with it."""
    policy.authorize(ctx, "identity:delete_group")
    async with rt.db.session() as s:
        await s.delete(await find(s, ident))
    tokens_of(rt).forget_subjects()


async def members(rt: Runtime, ctx: RequestContext, ident: str) -> list[User]:
    policy.authorize(ctx, "identity:list_users_in_group")
    async with rt.db.session() as s:
        await find(s, ident)
        return list((await s.scalars(
            select(User).join(GroupMember, GroupMember.user_id == User.id)
            .where(GroupMember.group_id == ident).order_by(User.name, User.id))).all())


async def of_user(rt: Runtime, ctx: RequestContext, user_id: str) -> list[Group]:
    policy.authorize(ctx, "identity:list_groups_for_user", {"user_id": user_id})
    async with rt.db.session() as s:
        await users.find(s, user_id)
        return list((await s.scalars(
            select(Group).join(GroupMember, GroupMember.group_id == Group.id)
            .where(GroupMember.user_id == user_id).order_by(Group.name, Group.id))).all())


def _not_member(user_id: str, group_id: str) -> NotFound:
    return NotFound(f"User '{user_id}' not found in group '{group_id}'.")


async def _membership(s: AsyncSession, group_id: str, user_id: str) -> GroupMember | None:
    await find(s, group_id)
    await users.find(s, user_id)
    return await s.get(GroupMember, (group_id, user_id))


async def add_member(rt: Runtime, ctx: RequestContext, group_id: str, user_id: str) -> None:
    policy.authorize(ctx, "identity:add_user_to_group")
    async with rt.db.session() as s:
        if await _membership(s, group_id, user_id) is None:
            s.add(GroupMember(group_id=group_id, user_id=user_id))
    tokens_of(rt).forget_subjects()


async def check_member(rt: Runtime, ctx: RequestContext, group_id: str, user_id: str) -> None:
    policy.authorize(ctx, "identity:check_user_in_group")
    async with rt.db.session() as s:
        if await _membership(s, group_id, user_id) is None:
            raise _not_member(user_id, group_id)


async def remove_member(rt: Runtime, ctx: RequestContext, group_id: str,
                        user_id: str) -> None:
    policy.authorize(ctx, "identity:remove_user_from_group")
    async with rt.db.session() as s:
        if await _membership(s, group_id, user_id) is None:
            raise _not_member(user_id, group_id)
        await s.execute(delete(GroupMember).where(GroupMember.group_id == group_id,
                                                  GroupMember.user_id == user_id))
    tokens_of(rt).forget_subjects()
