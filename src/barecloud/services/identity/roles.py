"""Roles: global names (admin, member, reader and any an admin adds), and the roles
of a domain (``domain_id`` set), whose names are unique in it.  A domain's role is
never effective itself: a grant of it gives the roles it implies (Keystone's
domain-specific roles), and no global role may imply one.

admin implies member, which implies reader; these three are created at
bootstrap and cannot be deleted or renamed, since the policy rules name them,
nor can these implications be removed.  Admins add others
(``/roles/{prior}/implies/{implied}``).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.identity_models import Role, RoleImplication
from barecloud.errors import Conflict, Forbidden, NotFound
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.identity import domains, rows, validate
from barecloud.services.identity.subjects import IMPLIES, implications, implied_closure
from barecloud.services.identity.tokens import tokens_of

BUILT_IN = ("admin", "member", "reader")


def not_found(ident: str) -> NotFound:
    return rows.not_found("role", ident)


async def find(s: AsyncSession, ident: str) -> Role:
    return await rows.get(s, Role, ident, "role")


async def by_name(s: AsyncSession) -> dict[str, Role]:
    """The global roles by name."""
    return {r.name: r for r in (await s.scalars(
        select(Role).where(Role.domain_id.is_(None)))).all()}


def _built_in(role: Role) -> bool:
    return role.domain_id is None and role.name in BUILT_IN


async def get(rt: Runtime, ctx: RequestContext, ident: str) -> Role:
    policy.authorize(ctx, "identity:get_role")
    async with rt.db.session() as s:
        return await find(s, ident)


async def list_roles(rt: Runtime, ctx: RequestContext, name: str | None,
                     domain_id: str | None = None) -> list[Role]:
    """The global roles, or with ``domain_id`` that domain's (as Keystone lists)."""
    policy.authorize(ctx, "identity:list_roles")
    q = select(Role).where(Role.domain_id == domain_id if domain_id is not None
                           else Role.domain_id.is_(None)).order_by(Role.name)
    if name is not None:
        q = q.where(Role.name == name)
    async with rt.db.session() as s:
        return list((await s.scalars(q)).all())


async def _unique(s: AsyncSession, name: str, domain_id: str | None,
                  own_id: str | None) -> None:
    other = await s.scalar(select(Role.id).where(
        Role.name == name,
        Role.domain_id == domain_id if domain_id is not None else Role.domain_id.is_(None)))
    if other is not None and other != own_id:
        raise Conflict(f"Conflict occurred attempting to store role - Duplicate entry found "
                       f"with name {name}.")


async def create(rt: Runtime, ctx: RequestContext, body: Any) -> Role:
    policy.authorize(ctx, "identity:create_role")
    data = body["role"]
    name, domain_id = data["name"], data.get("domain_id")
    role = Role(name=name, description=data.get("description") or "", domain_id=domain_id)
    async with rt.db.session() as s:
        if domain_id is not None:
            await domains.find(s, domain_id)
        await _unique(s, name, domain_id, None)
        s.add(role)
    return role


async def update(rt: Runtime, ctx: RequestContext, ident: str, body: Any) -> Role:
    policy.authorize(ctx, "identity:update_role")
    data = body["role"]
    name = data.get("name")
    description = data.get("description")
    async with rt.db.session() as s:
        role = await find(s, ident)
        if data.get("domain_id", role.domain_id) != role.domain_id:
            raise validate.invalid("domain_id", data["domain_id"], "It cannot be changed.")
        if name is not None and name != role.name:
            if _built_in(role):
                raise Forbidden(f"The role {role.name} is built in: policy rules name it.")
            await _unique(s, name, role.domain_id, role.id)
            role.name = name
        if description is not None:
            role.description = description
    tokens_of(rt).forget_subjects()
    return role


async def remove(rt: Runtime, ctx: RequestContext, ident: str) -> None:
    policy.authorize(ctx, "identity:delete_role")
    async with rt.db.session() as s:
        role = await find(s, ident)
        if _built_in(role):
            raise Forbidden(f"The role {role.name} is built in: policy rules name it.")
        await s.delete(role)
    tokens_of(rt).forget_subjects()


async def inferences(rt: Runtime, ctx: RequestContext) -> list[tuple[Role, list[Role]]]:
    """Each prior role with the roles it implies directly, by name."""
    policy.authorize(ctx, "identity:list_implied_roles")
    async with rt.db.session() as s:
        implied = await implications(s)
        by_id = {r.id: r for r in (await s.scalars(select(Role))).all()}
    found = [(by_id[p], sorted((by_id[i] for i in ids if i in by_id), key=lambda r: r.name))
             for p, ids in implied.items() if p in by_id and ids]
    return sorted(found, key=lambda pair: pair[0].name)


def _fixed(prior: Role, implied: Role) -> bool:
    return (prior.domain_id is None and implied.domain_id is None
            and implied.name in IMPLIES.get(prior.name, ()))


def _no_rule(prior_id: str, implied_id: str) -> NotFound:
    return NotFound(f"{prior_id} does not imply {implied_id}.")


async def _pair(s: AsyncSession, prior_id: str, implied_id: str) -> tuple[Role, Role, bool]:
    """Both roles (404 if one is missing) and whether the first implies the second."""
    prior, implied = await find(s, prior_id), await find(s, implied_id)
    held = _fixed(prior, implied) or await s.get(RoleImplication,
                                                 (prior.id, implied.id)) is not None
    return prior, implied, held


async def imply(rt: Runtime, ctx: RequestContext, prior_id: str,
                implied_id: str) -> tuple[Role, Role]:
    """``PUT /roles/{prior}/implies/{implied}``; admin is implied by none (Keystone's
    ``prohibited_implied_role``), and no role implies itself in the end."""
    policy.authorize(ctx, "identity:create_implied_role")
    async with rt.db.session() as s:
        prior, implied, held = await _pair(s, prior_id, implied_id)
        if _built_in(implied) and implied.name == "admin":
            raise validate.invalid("implied_role_id", implied.id,
                                   "admin cannot be an implied role.")
        if prior.domain_id is None and implied.domain_id is not None:
            raise Forbidden(f"{implied.id} is not a valid implied role: a global role "
                            "cannot imply a domain-specific role.")
        if prior.id in implied_closure({implied.id}, await implications(s)):
            raise validate.invalid("implied_role_id", implied.id,
                                   "The implication would make a cycle.")
        if not held:
            s.add(RoleImplication(prior_role_id=prior.id, implied_role_id=implied.id))
    tokens_of(rt).forget_subjects()
    return prior, implied


async def implication(rt: Runtime, ctx: RequestContext, prior_id: str,
                      implied_id: str, action: str = "identity:get_implied_role",
                      ) -> tuple[Role, Role]:
    policy.authorize(ctx, action)
    async with rt.db.session() as s:
        prior, implied, held = await _pair(s, prior_id, implied_id)
    if not held:
        raise _no_rule(prior_id, implied_id)
    return prior, implied


async def unimply(rt: Runtime, ctx: RequestContext, prior_id: str, implied_id: str) -> None:
    policy.authorize(ctx, "identity:delete_implied_role")
    async with rt.db.session() as s:
        prior, implied, held = await _pair(s, prior_id, implied_id)
        if _fixed(prior, implied):
            raise Forbidden(f"{prior.name} implies {implied.name} in barecloud's policy "
                            "rules: it cannot be removed.")
        if not held:
            raise _no_rule(prior_id, implied_id)
        await s.execute(delete(RoleImplication).where(
            RoleImplication.prior_role_id == prior.id,
            RoleImplication.implied_role_id == implied.id))
    tokens_of(rt).forget_subjects()
