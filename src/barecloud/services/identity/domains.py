"""Domains: the namespaces of users and projects."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.identity_models import (
    DEFAULT_DOMAIN,
    ApplicationCredential,
    Credential,
    Domain,
    DomainConfig,
    Group,
    GroupRoleAssignment,
    Project,
    Role,
    RoleAssignment,
    User,
)
from barecloud.errors import Conflict, Forbidden, NotFound
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.identity import rows, validate
from barecloud.services.identity.tokens import tokens_of

KNOWN = {"name", "description", "enabled", "tags", "options", "id", "links", "explicit_domain_id"}


def not_found(ident: str) -> NotFound:
    return rows.not_found("domain", ident)


async def find(s: AsyncSession, ident: str) -> Domain:
    return await rows.get(s, Domain, ident, "domain")


async def find_by_name(s: AsyncSession, name: str) -> Domain:
    domain = await s.scalar(select(Domain).where(Domain.name == name))
    if domain is None:
        raise not_found(name)
    return domain


async def get(rt: Runtime, ctx: RequestContext, ident: str) -> Domain:
    async with rt.db.session() as s:
        # Keystone: a token scoped to a project of the domain reads the domain.
        own = await s.get(Project, ctx.project) if ctx.project else None
        policy.authorize(ctx, "identity:get_domain", {
            "domain_id": ident,
            "project_in_domain": own.id if own is not None and own.domain_id == ident
            else None})
        return await find(s, ident)


async def list_domains(rt: Runtime, ctx: RequestContext, name: str | None,
                       enabled: bool | None,
                       rule: str = "identity:list_domains") -> list[Domain]:
    """The domains; ``rule`` is the list's (``/projects?is_domain=true`` lists them too)."""
    policy.authorize(ctx, rule)
    q = select(Domain).order_by(Domain.name)
    if name is not None:
        q = q.where(Domain.name == name)
    if enabled is not None:
        q = q.where(Domain.enabled.is_(enabled))
    async with rt.db.session() as s:
        return list((await s.scalars(q)).all())


async def _unique(s: AsyncSession, name: str, own_id: str | None) -> None:
    other = await s.scalar(select(Domain.id).where(Domain.name == name))
    if other is not None and other != own_id:
        raise Conflict(f"Conflict occurred attempting to store domain - Duplicate entry found "
                       f"with name {name}.")


async def create(rt: Runtime, ctx: RequestContext, body: Any) -> Domain:
    policy.authorize(ctx, "identity:create_domain")
    data = body["domain"]
    name = data["name"]
    domain = Domain(name=name, description=data.get("description") or "",
                    enabled=data.get("enabled") is not False,
                    extra={"tags": validate.tags(data) or [],
                           **validate.extra(data, KNOWN)})
    async with rt.db.session() as s:
        await _unique(s, name, None)
        s.add(domain)
    return domain


async def update(rt: Runtime, ctx: RequestContext, ident: str, body: Any) -> Domain:
    policy.authorize(ctx, "identity:update_domain")
    data = body["domain"]
    name = data.get("name")
    description = data.get("description")
    enabled = data.get("enabled")
    tags = validate.tags(data)
    async with rt.db.session() as s:
        domain = await find(s, ident)
        if enabled is False and domain.id == DEFAULT_DOMAIN:
            raise Forbidden("The default domain holds the cloud's admin: it cannot be "
                            "disabled.")
        if name is not None:
            await _unique(s, name, domain.id)
            domain.name = name
        if description is not None:
            domain.description = description
        if enabled is not None:
            domain.enabled = enabled
        extra = dict(domain.extra or {})
        extra.update(validate.extra(data, KNOWN))
        if tags is not None:
            extra["tags"] = tags
        domain.extra = extra
    tokens_of(rt).forget_subjects()
    return domain


async def remove(rt: Runtime, ctx: RequestContext, ident: str) -> None:
    """Delete a disabled domain with its projects, users, groups, roles, configuration
    and role assignments."""
    policy.authorize(ctx, "identity:delete_domain")
    async with rt.db.session() as s:
        domain = await find(s, ident)
        if domain.enabled:
            raise Forbidden("Cannot delete a domain that is enabled, please disable it first.")
        projects = list((await s.scalars(select(Project.id)
                                         .where(Project.domain_id == domain.id))).all())
        for model in (RoleAssignment, GroupRoleAssignment):
            await s.execute(delete(model).where(
                ((model.target_type == "domain") & (model.target_id == domain.id))
                | ((model.target_type == "project") & model.target_id.in_(projects))))
        # Memberships and the groups' other assignments go with them (foreign keys).
        for group in (await s.scalars(select(Group).where(Group.domain_id == domain.id))):
            await s.delete(group)
        for owned in (ApplicationCredential, Credential):
            await s.execute(delete(owned).where(owned.project_id.in_(projects)))
        # Its roles' assignments, implications and its configuration go by foreign keys.
        await s.execute(delete(Role).where(Role.domain_id == domain.id))
        await s.execute(delete(DomainConfig).where(DomainConfig.domain_id == domain.id))
        await s.execute(delete(User).where(User.domain_id == domain.id))
        await s.execute(delete(Project).where(Project.domain_id == domain.id))
        await s.delete(domain)
    tokens_of(rt).forget_subjects()
