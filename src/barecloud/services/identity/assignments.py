"""Role assignments: a user's or a group's role on a project, a domain, or the system."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.identity_models import (
    Domain,
    Group,
    GroupMember,
    GroupRoleAssignment,
    Project,
    Role,
    RoleAssignment,
    User,
)
from barecloud.errors import InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.identity import domains, projects, roles, users
from barecloud.services.identity.subjects import (
    SYSTEM_ID,
    ScopeKind,
    assigned_targets,
    domain_role_ids,
    groups_of,
    implications,
)
from barecloud.services.identity.tokens import tokens_of

Actor = Literal["user", "group"]
_MODELS: dict[Actor, type[RoleAssignment] | type[GroupRoleAssignment]] = {
    "user": RoleAssignment, "group": GroupRoleAssignment}


@dataclass(frozen=True)
class Assignment:
    """A role on a target, given to a user or (``user_id`` None) to a group.  In an
    effective list a user's role by a group names the group, and a role implied by
    another names that one (``prior_role_id``)."""

    user_id: str | None
    role_id: str
    target_type: ScopeKind
    target_id: str
    prior_role_id: str | None = None
    group_id: str | None = None


@dataclass
class Names:
    """Names for include_names: by id."""

    users: dict[str, tuple[str, str, str]]  # id -> (name, domain id, domain name)
    groups: dict[str, tuple[str, str, str]]
    roles: dict[str, str]
    projects: dict[str, tuple[str, str, str]]
    domains: dict[str, str]


def _missing(role_id: str, actor_id: str, target_id: str) -> NotFound:
    return NotFound(f"Could not find role assignment with role: {role_id}, user or group: "
                    f"{actor_id}, project, domain, or system: {target_id}.")


async def _check_target(s: AsyncSession, kind: ScopeKind, target_id: str) -> None:
    if kind == "project":
        await projects.find(s, target_id)
    elif kind == "domain":
        await domains.find(s, target_id)
    elif target_id != SYSTEM_ID:
        raise NotFound(f"Could not find system: {target_id}.")


async def _check_actor(s: AsyncSession, actor: Actor, actor_id: str) -> None:
    if actor == "user":
        await users.find(s, actor_id)
    elif await s.get(Group, actor_id) is None:
        raise NotFound(f"Could not find group: {actor_id}.")


def _actor_column(actor: Actor) -> Any:
    return RoleAssignment.user_id if actor == "user" else GroupRoleAssignment.group_id


async def _grant_row(s: AsyncSession, kind: ScopeKind, target_id: str, actor: Actor,
                     actor_id: str, role_id: str) -> int | None:
    model = _MODELS[actor]
    row: int | None = await s.scalar(select(model.id).where(
        _actor_column(actor) == actor_id, model.target_type == kind,
        model.target_id == target_id, model.role_id == role_id))
    return row


async def _checked(s: AsyncSession, kind: ScopeKind, target_id: str, actor: Actor,
                   actor_id: str, role_id: str) -> int | None:
    await _check_target(s, kind, target_id)
    await _check_actor(s, actor, actor_id)
    await roles.find(s, role_id)
    return await _grant_row(s, kind, target_id, actor, actor_id, role_id)


async def grant(rt: Runtime, ctx: RequestContext, kind: ScopeKind, target_id: str,
                actor_id: str, role_id: str, actor: Actor = "user") -> None:
    policy.authorize(ctx, "identity:create_grant")
    async with rt.db.session() as s:
        if await _checked(s, kind, target_id, actor, actor_id, role_id) is None:
            if actor == "user":
                s.add(RoleAssignment(user_id=actor_id, target_type=kind, target_id=target_id,
                                     role_id=role_id))
            else:
                s.add(GroupRoleAssignment(group_id=actor_id, target_type=kind,
                                          target_id=target_id, role_id=role_id))
    tokens_of(rt).forget_subjects()


async def check(rt: Runtime, ctx: RequestContext, kind: ScopeKind, target_id: str,
                actor_id: str, role_id: str, actor: Actor = "user") -> None:
    policy.authorize(ctx, "identity:check_grant")
    async with rt.db.session() as s:
        if await _checked(s, kind, target_id, actor, actor_id, role_id) is None:
            raise _missing(role_id, actor_id, target_id)


async def revoke(rt: Runtime, ctx: RequestContext, kind: ScopeKind, target_id: str,
                 actor_id: str, role_id: str, actor: Actor = "user") -> None:
    policy.authorize(ctx, "identity:revoke_grant")
    model = _MODELS[actor]
    async with rt.db.session() as s:
        row = await _checked(s, kind, target_id, actor, actor_id, role_id)
        if row is None:
            raise _missing(role_id, actor_id, target_id)
        await s.execute(delete(model).where(model.id == row))
    tokens_of(rt).forget_subjects()


async def roles_of(rt: Runtime, ctx: RequestContext, kind: ScopeKind, target_id: str,
                   actor_id: str, actor: Actor = "user") -> list[Role]:
    """The roles given to the user or group on the target directly."""
    policy.authorize(ctx, "identity:list_grants")
    model = _MODELS[actor]
    async with rt.db.session() as s:
        await _check_target(s, kind, target_id)
        await _check_actor(s, actor, actor_id)
        return list((await s.scalars(
            select(Role).join(model, model.role_id == Role.id)
            .where(_actor_column(actor) == actor_id, model.target_type == kind,
                   model.target_id == target_id).order_by(Role.name)
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


def _scoped(q: Any, model: Any, f: Filters) -> Any:
    for kind, value in (("project", f.project_id), ("domain", f.domain_id),
                        ("system", f.system)):
        if value is not None:
            q = q.where(model.target_type == kind, model.target_id == value)
    if f.role_id is not None and not f.effective:
        q = q.where(model.role_id == f.role_id)
    return q


def _check_filters(f: Filters) -> None:
    """Keystone's refusals of filters that contradict each other."""
    if f.project_id is not None and f.domain_id is not None:
        raise InvalidParameter("Specify a domain or project, not both")
    if f.system is not None and f.domain_id is not None:
        raise InvalidParameter("Specify system or domain, not both")
    if f.system is not None and f.project_id is not None:
        raise InvalidParameter("Specify system or project, not both")
    if f.user_id is not None and f.group_id is not None:
        raise InvalidParameter("Specify a user or group, not both")
    if f.effective and f.group_id is not None:
        raise InvalidParameter("Combining effective and group filter will always result in "
                               "an empty list.")


async def list_assignments(rt: Runtime, ctx: RequestContext, f: Filters) -> list[Assignment]:
    """``GET /role_assignments``; with ``effective``, a group's assignments become
    one per member and implied roles are listed too, each naming its origin."""
    policy.authorize(ctx, "identity:list_role_assignments")
    _check_filters(f)
    if f.inherited:
        return []  # barecloud has no inherited assignments
    out: list[Assignment] = []
    async with rt.db.session() as s:
        if f.group_id is None:
            q = _scoped(select(RoleAssignment), RoleAssignment, f)
            if f.user_id is not None:
                q = q.where(RoleAssignment.user_id == f.user_id)
            out += [Assignment(r.user_id, r.role_id, r.target_type, r.target_id)
                    for r in (await s.scalars(q.order_by(RoleAssignment.id))).all()]
        if f.user_id is None or f.effective:
            q = _scoped(select(GroupRoleAssignment), GroupRoleAssignment, f)
            if f.group_id is not None:
                q = q.where(GroupRoleAssignment.group_id == f.group_id)
            if f.user_id is not None:
                q = q.where(GroupRoleAssignment.group_id.in_(groups_of(f.user_id)))
            rows = list((await s.scalars(q.order_by(GroupRoleAssignment.id))).all())
            if not f.effective:
                out += [Assignment(None, r.role_id, r.target_type, r.target_id,
                                   group_id=r.group_id) for r in rows]
            else:
                out += await _by_membership(s, rows, f.user_id)
        implied = await implications(s)
        domain_roles = await domain_role_ids(s) if f.effective else set()
    if f.effective:
        # A domain's role only implies others: it is never effective itself (Keystone).
        out = [a for a in _with_implied(out, implied) if a.role_id not in domain_roles]
        if f.role_id is not None:
            out = [a for a in out if a.role_id == f.role_id]
    return out


async def _by_membership(s: AsyncSession, rows: list[GroupRoleAssignment],
                         user_id: str | None) -> list[Assignment]:
    """Each group assignment as one per member (only ``user_id``'s, if given)."""
    q = select(GroupMember).where(GroupMember.group_id.in_({r.group_id for r in rows}))
    if user_id is not None:
        q = q.where(GroupMember.user_id == user_id)
    members: dict[str, list[str]] = {}
    for m in (await s.scalars(q.order_by(GroupMember.user_id))).all():
        members.setdefault(m.group_id, []).append(m.user_id)
    return [Assignment(u, r.role_id, r.target_type, r.target_id,  # type: ignore[arg-type]
                       group_id=r.group_id)
            for r in rows for u in members.get(r.group_id, [])]


def _with_implied(direct: list[Assignment], implied: dict[str, set[str]]) -> list[Assignment]:
    """``direct`` and the roles each implies, each naming its immediate prior role."""
    seen = {(a.user_id, a.group_id, a.target_type, a.target_id, a.role_id) for a in direct}
    out, todo = list(direct), list(direct)
    while todo:
        a = todo.pop(0)
        for role_id in sorted(implied.get(a.role_id, ())):
            key = (a.user_id, a.group_id, a.target_type, a.target_id, role_id)
            if key in seen:
                continue
            seen.add(key)
            derived = Assignment(a.user_id, role_id, a.target_type, a.target_id, a.role_id,
                                 a.group_id)
            out.append(derived)
            todo.append(derived)
    return out


def _named(rows: Any, all_domains: dict[str, str]) -> dict[str, tuple[str, str, str]]:
    return {r.id: (r.name, r.domain_id, all_domains.get(r.domain_id, "")) for r in rows}


async def names_for(rt: Runtime, found: list[Assignment]) -> Names:
    """The names include_names adds, in five queries."""
    user_ids = {a.user_id for a in found if a.user_id is not None}
    group_ids = {a.group_id for a in found if a.group_id is not None}
    project_ids = {a.target_id for a in found if a.target_type == "project"}
    async with rt.db.session() as s:
        all_domains = {d.id: d.name for d in (await s.scalars(select(Domain))).all()}
        user_rows = (await s.scalars(select(User).where(User.id.in_(user_ids)))).all()
        group_rows = (await s.scalars(select(Group).where(Group.id.in_(group_ids)))).all()
        project_rows = (await s.scalars(select(Project)
                                        .where(Project.id.in_(project_ids)))).all()
        role_names = {r.id: r.name for r in (await s.scalars(select(Role))).all()}
    return Names(users=_named(user_rows, all_domains), groups=_named(group_rows, all_domains),
                 roles=role_names, projects=_named(project_rows, all_domains),
                 domains=all_domains)


async def domains_of(rt: Runtime, user_id: str | None) -> list[Domain]:
    """The enabled domains ``user_id`` has a role on, itself or by a group
    (``/auth/domains``)."""
    if user_id is None:
        return []
    async with rt.db.session() as s:
        return list((await s.scalars(select(Domain).where(
            Domain.enabled.is_(True), Domain.id.in_(assigned_targets(user_id, "domain")),
        ).order_by(Domain.name))).all())


async def has_system_role(rt: Runtime, user_id: str | None) -> bool:
    """Whether ``user_id`` may ask for a system-scoped token (``/auth/system``)."""
    if user_id is None:
        return False
    async with rt.db.session() as s:
        return await s.scalar(assigned_targets(user_id, "system").limit(1)) is not None
