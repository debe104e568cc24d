"""Role assignments: a user's role on a project, a domain, or the system."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.identity_models import Domain, Project, Role, RoleAssignment, User
from barecloud.errors import InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.identity import domains, projects, roles, users
from barecloud.services.identity.subjects import IMPLIES, SYSTEM_ID, ScopeKind
from barecloud.services.identity.tokens import tokens_of


@dataclass(frozen=True)
class Assignment:
    user_id: str
    role_id: str
    target_type: ScopeKind
    target_id: str
    prior_role_id: str | None = None  # set for a role implied by another (effective)


@dataclass
class Names:
    """Names for include_names: by id."""

    users: dict[str, tuple[str, str, str]]  # id -> (name, domain id, domain name)
    roles: dict[str, str]
    projects: dict[str, tuple[str, str, str]]
    domains: dict[str, str]


def _missing(role_id: str, user_id: str, target_id: str) -> NotFound:
    return NotFound(f"Could not find role assignment with role: {role_id}, user or group: "
                    f"{user_id}, project, domain, or system: {target_id}.")


async def _check_target(s: AsyncSession, kind: ScopeKind, target_id: str) -> None:
    if kind == "project":
        await projects.find(s, target_id)
    elif kind == "domain":
        await domains.find(s, target_id)
    elif target_id != SYSTEM_ID:
        raise NotFound(f"Could not find system: {target_id}.")


async def _grant_row(s: AsyncSession, kind: ScopeKind, target_id: str, user_id: str,
                     role_id: str) -> RoleAssignment | None:
    row: RoleAssignment | None = await s.scalar(select(RoleAssignment).where(
        RoleAssignment.user_id == user_id, RoleAssignment.target_type == kind,
        RoleAssignment.target_id == target_id, RoleAssignment.role_id == role_id))
    return row


async def grant(rt: Runtime, ctx: RequestContext, kind: ScopeKind, target_id: str,
                user_id: str, role_id: str) -> None:
    policy.authorize(ctx, "identity:create_grant")
    async with rt.db.session() as s:
        await _check_target(s, kind, target_id)
        await users.find(s, user_id)
        await roles.find(s, role_id)
        if await _grant_row(s, kind, target_id, user_id, role_id) is None:
            s.add(RoleAssignment(user_id=user_id, target_type=kind, target_id=target_id,
                                 role_id=role_id))
    tokens_of(rt).forget_subjects()


async def check(rt: Runtime, ctx: RequestContext, kind: ScopeKind, target_id: str,
                user_id: str, role_id: str) -> None:
    policy.authorize(ctx, "identity:check_grant")
    async with rt.db.session() as s:
        await _check_target(s, kind, target_id)
        await users.find(s, user_id)
        await roles.find(s, role_id)
        if await _grant_row(s, kind, target_id, user_id, role_id) is None:
            raise _missing(role_id, user_id, target_id)


async def revoke(rt: Runtime, ctx: RequestContext, kind: ScopeKind, target_id: str,
                 user_id: str, role_id: str) -> None:
    policy.authorize(ctx, "identity:revoke_grant")
    async with rt.db.session() as s:
        await _check_target(s, kind, target_id)
        await users.find(s, user_id)
        await roles.find(s, role_id)
        row = await _grant_row(s, kind, target_id, user_id, role_id)
        if row is None:
            raise _missing(role_id, user_id, target_id)
        await s.execute(delete(RoleAssignment).where(RoleAssignment.id == row.id))
    tokens_of(rt).forget_subjects()


async def roles_of(rt: Runtime, ctx: RequestContext, kind: ScopeKind, target_id: str,
                   user_id: str) -> list[Role]:
    """The roles given to ``user_id`` on the target directly."""
    policy.authorize(ctx, "identity:list_grants")
    async with rt.db.session() as s:
        await _check_target(s, kind, target_id)
        await users.find(s, user_id)
        return list((await s.scalars(
            select(Role).join(RoleAssignment, RoleAssignment.role_id == Role.id)
            .where(RoleAssignment.user_id == user_id, RoleAssignment.target_type == kind,
                   RoleAssignment.target_id == target_id).order_by(Role.name)
        )).all())


@dataclass
class Filters:
    user_id: str | None = None
    role_id: str | None = None
    project_id: str | None = None
    domain_id: str | None = None
    system: str | None = None
    group_id: str | None = None
    effective: bool = False
    inherited: bool = False


async def list_assignments(rt: Runtime, ctx: RequestContext, f: Filters) -> list[Assignment]:
    """``GET /role_assignments``; with ``effective``, implied roles are listed too,
    each with the role that implies it."""
    policy.authorize(ctx, "identity:list_role_assignments")
    scopes = [x for x in (f.project_id, f.domain_id, f.system) if x is not None]
    if len(scopes) > 1:
        raise InvalidParameter("Specify one of scope.project.id, scope.domain.id and "
                               "scope.system.")
    if f.group_id is not None or f.inherited:
        return []  # barecloud has neither groups nor inherited assignments
    q = select(RoleAssignment)
    if f.user_id is not None:
        q = q.where(RoleAssignment.user_id == f.user_id)
    for kind, value in (("project", f.project_id), ("domain", f.domain_id),
                        ("system", f.system)):
        if value is not None:
            q = q.where(RoleAssignment.target_type == kind, RoleAssignment.target_id == value)
    if f.role_id is not None and not f.effective:
        q = q.where(RoleAssignment.role_id == f.role_id)
    async with rt.db.session() as s:
        rows = list((await s.scalars(q.order_by(RoleAssignment.id))).all())
        named = await roles.by_name(s)
    out = [Assignment(r.user_id, r.role_id, r.target_type, r.target_id)  # type: ignore[arg-type]
           for r in rows]
    if f.effective:
        out = _with_implied(out, named)
        if f.role_id is not None:
            out = [a for a in out if a.role_id == f.role_id]
    return out


def _with_implied(direct: list[Assignment], named: dict[str, Role]) -> list[Assignment]:
    """``direct`` and the roles each implies, each naming its immediate prior role."""
    name_of = {r.id: n for n, r in named.items()}
    seen = {(a.user_id, a.target_type, a.target_id, a.role_id) for a in direct}
    out, todo = list(direct), list(direct)
    while todo:
        a = todo.pop(0)
        for implied in IMPLIES.get(name_of.get(a.role_id, ""), ()):
            role = named.get(implied)
            if role is None or (a.user_id, a.target_type, a.target_id, role.id) in seen:
                continue
            seen.add((a.user_id, a.target_type, a.target_id, role.id))
            derived = Assignment(a.user_id, role.id, a.target_type, a.target_id, a.role_id)
            out.append(derived)
            todo.append(derived)
    return out


async def names_for(rt: Runtime, found: list[Assignment]) -> Names:
    """The names include_names adds, in four queries."""
    user_ids = {a.user_id for a in found}
    project_ids = {a.target_id for a in found if a.target_type == "project"}
    async with rt.db.session() as s:
        all_domains = {d.id: d.name for d in (await s.scalars(select(Domain))).all()}
        user_rows = (await s.scalars(select(User).where(User.id.in_(user_ids)))).all()
        project_rows = (await s.scalars(select(Project)
                                        .where(Project.id.in_(project_ids)))).all()
        role_names = {r.id: r.name for r in (await s.scalars(select(Role))).all()}
    return Names(
        users={u.id: (u.name, u.domain_id, all_domains.get(u.domain_id, "")) for u in user_rows},
        roles=role_names,
        projects={p.id: (p.name, p.domain_id, all_domains.get(p.domain_id, ""))
                  for p in project_rows},
        domains=all_domains,
    )


async def domains_of(rt: Runtime, user_id: str | None) -> list[Domain]:
    """The enabled domains ``user_id`` has a role on (``/auth/domains``)."""
    if user_id is None:
        return []
    async with rt.db.session() as s:
        return list((await s.scalars(select(Domain).where(
            Domain.enabled.is_(True),
            Domain.id.in_(select(RoleAssignment.target_id).where(
                RoleAssignment.user_id == user_id, RoleAssignment.target_type == "domain")),
        ).order_by(Domain.name))).all())


async def has_system_role(rt: Runtime, user_id: str | None) -> bool:
    """Whether ``user_id`` may ask for a system-scoped token (``/auth/system``)."""
    if user_id is None:
        return False
    async with rt.db.session() as s:
        return await s.scalar(select(RoleAssignment.id).where(
            RoleAssignment.user_id == user_id, RoleAssignment.target_type == "system"
        ).limit(1)) is not None
