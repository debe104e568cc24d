"""Who a token speaks for, as of now: the user, the scope, the effective roles.

Resolved when a token is issued and again (cached briefly) when it is
validated, so a disabled user, a deleted project or a removed role ends the
tokens that relied on them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select, union
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from barecloud.db.identity_models import (
    ApplicationCredential,
    Domain,
    GroupMember,
    GroupRoleAssignment,
    Project,
    Role,
    RoleAssignment,
    RoleImplication,
    User,
)
from barecloud.db.models import utcnow
from barecloud.errors import Unauthorized

ScopeKind = Literal["project", "domain", "system"]
SYSTEM_ID = "all"
# Fixed implied roles (Keystone's bootstrap defaults).
IMPLIES: dict[str, tuple[str, ...]] = {"admin": ("member",), "member": ("reader",)}
AUTH_FAILED = "The request you have made requires authentication."


@dataclass(frozen=True)
class Ref:
    id: str
    name: str


@dataclass(frozen=True)
class Scope:
    kind: ScopeKind | None = None  # None: unscoped
    id: str | None = None


@dataclass(frozen=True)
class AppCredRef:
    id: str
    name: str
    restricted: bool


@dataclass(frozen=True)
class Subject:
    user: Ref
    user_domain: Ref
    project: Ref | None
    project_domain: Ref | None
    domain: Ref | None
    system: bool
    roles: tuple[Ref, ...]
    app_cred: AppCredRef | None

    @property
    def role_names(self) -> tuple[str, ...]:
        return tuple(r.name for r in self.roles)


async def implications(s: AsyncSession) -> dict[str, set[str]]:
    """Role id -> the role ids it implies directly: the fixed ones and those stored."""
    ids = {name: ident for name, ident in (await s.execute(
        select(Role.name, Role.id).where(Role.domain_id.is_(None)))).all()}
    out: dict[str, set[str]] = {}
    for prior, implied in IMPLIES.items():
        if prior in ids:
            out.setdefault(ids[prior], set()).update(ids[i] for i in implied if i in ids)
    for prior_id, implied_id in (await s.execute(select(
            RoleImplication.prior_role_id, RoleImplication.implied_role_id))).all():
        out.setdefault(prior_id, set()).add(implied_id)
    return out


async def domain_role_ids(s: AsyncSession) -> set[str]:
    """The roles of a domain, which only imply others."""
    return set((await s.scalars(select(Role.id).where(Role.domain_id.is_not(None)))).all())


def implied_closure(role_ids: set[str], implied: dict[str, set[str]]) -> set[str]:
    out, todo = set(role_ids), list(role_ids)
    while todo:
        for more in implied.get(todo.pop(), ()):
            if more not in out:
                out.add(more)
                todo.append(more)
    return out


def groups_of(user_id: str) -> Select[Any]:
    return select(GroupMember.group_id).where(GroupMember.user_id == user_id)


def assigned_targets(user_id: str, kind: ScopeKind) -> Any:
    """The ids of the ``kind`` targets ``user_id`` has a role on, itself or by a group."""
    return union(
        select(RoleAssignment.target_id).where(RoleAssignment.user_id == user_id,
                                               RoleAssignment.target_type == kind),
        select(GroupRoleAssignment.target_id).where(
            GroupRoleAssignment.group_id.in_(groups_of(user_id)),
            GroupRoleAssignment.target_type == kind))


async def effective_roles(s: AsyncSession, user_id: str, kind: ScopeKind,
                          target_id: str) -> tuple[Ref, ...]:
    """The user's roles on one target, its groups' included and implied roles added,
    sorted by name."""
    direct = set((await s.scalars(
        select(RoleAssignment.role_id)
        .where(RoleAssignment.user_id == user_id, RoleAssignment.target_type == kind,
               RoleAssignment.target_id == target_id)
    )).all())
    direct |= set((await s.scalars(
        select(GroupRoleAssignment.role_id)
        .where(GroupRoleAssignment.group_id.in_(groups_of(user_id)),
               GroupRoleAssignment.target_type == kind,
               GroupRoleAssignment.target_id == target_id)
    )).all())
    if not direct:
        return ()
    ids = implied_closure(direct, await implications(s))
    # A domain's role only implies others: it is never in a token (Keystone).
    rows = (await s.execute(select(Role.id, Role.name).where(
        Role.id.in_(ids), Role.domain_id.is_(None)))).all()
    return tuple(sorted((Ref(i, n) for i, n in rows), key=lambda r: r.name))


async def _domain(s: AsyncSession, domain_id: str) -> Domain:
    domain = await s.get(Domain, domain_id)
    if domain is None or not domain.enabled:
        raise Unauthorized(AUTH_FAILED)
    return domain


async def resolve(s: AsyncSession, user_id: str, scope: Scope,
                  app_cred_id: str | None = None) -> Subject:
    """The subject of a token, or Unauthorized if it no longer stands."""
    user = await s.get(User, user_id)
    if user is None or not user.enabled:
        raise Unauthorized(AUTH_FAILED)
    user_domain = await _domain(s, user.domain_id)
    project = project_domain = domain = None
    roles: tuple[Ref, ...] = ()
    app_ref = None
    if scope.kind == "project":
        assert scope.id is not None
        row = await s.get(Project, scope.id)
        if row is None or not row.enabled:
            raise Unauthorized(AUTH_FAILED)
        pd = await _domain(s, row.domain_id)
        project, project_domain = Ref(row.id, row.name), Ref(pd.id, pd.name)
        roles = await effective_roles(s, user_id, "project", row.id)
    elif scope.kind == "domain":
        assert scope.id is not None
        d = await _domain(s, scope.id)
        domain = Ref(d.id, d.name)
        roles = await effective_roles(s, user_id, "domain", d.id)
    elif scope.kind == "system":
        roles = await effective_roles(s, user_id, "system", SYSTEM_ID)
    if app_cred_id is not None:
        cred = await s.get(ApplicationCredential, app_cred_id)
        if cred is None or cred.user_id != user_id or expired(cred.expires_at):
            raise Unauthorized(AUTH_FAILED)
        # What it was given, as far as the user still has it.
        granted = set(cred.role_ids)
        roles = tuple(r for r in roles if r.id in granted)
        app_ref = AppCredRef(cred.id, cred.name, not cred.unrestricted)
    if scope.kind is not None and not roles:
        raise Unauthorized(AUTH_FAILED)
    return Subject(Ref(user.id, user.name), Ref(user_domain.id, user_domain.name), project,
                   project_domain, domain, scope.kind == "system", roles, app_ref)


def expired(when: dt.datetime | None) -> bool:
    return when is not None and when <= utcnow()
