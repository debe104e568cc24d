"""First start: the default domain, the built-in roles, and two accounts.

``admin`` (admin on project ``admin`` and on the system) and ``demo``
(member of project ``demo``) get random passwords when they are created;
the caller writes them to clouds.yaml.  Running it again changes nothing and
cannot tell passwords it did not create (``None``): an operator may have
changed them since.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.identity_models import (
    DEFAULT_DOMAIN,
    Domain,
    Project,
    Role,
    RoleAssignment,
    User,
)
from barecloud.db.session import Database
from barecloud.services.context import Runtime
from barecloud.services.identity import passwords
from barecloud.services.identity.roles import BUILT_IN
from barecloud.services.identity.subjects import SYSTEM_ID, Scope
from barecloud.services.identity.tokens import tokens_of

_LOCK = 0x6964656E  # "iden": one bootstrap at a time on PostgreSQL


@dataclass(frozen=True)
class Account:
    user: str
    project: str
    password: str | None  # None: the user existed; its password is not known here


# user -> (project, roles on the project, on the system too)
ACCOUNTS = {"admin": ("admin", "admin", True), "demo": ("demo", "member", False)}


async def _get_or_add_role(s: AsyncSession, name: str) -> Role:
    role = await s.scalar(select(Role).where(Role.name == name))
    if role is None:
        role = Role(name=name)
        s.add(role)
        await s.flush()
    return role


async def _grant(s: AsyncSession, user: User, kind: str, target: str, role: Role) -> None:
    if await s.scalar(select(RoleAssignment.id).where(
            RoleAssignment.user_id == user.id, RoleAssignment.target_type == kind,
            RoleAssignment.target_id == target, RoleAssignment.role_id == role.id)) is None:
        s.add(RoleAssignment(user_id=user.id, target_type=kind, target_id=target,
                             role_id=role.id))


async def _once(db: Database, accounts: bool, hashes: dict[str, tuple[str, str]]
                ) -> dict[str, Account]:
    created: dict[str, Account] = {}
    async with db.session() as s:
        if not db.is_sqlite:
            await s.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _LOCK})
        if await s.get(Domain, DEFAULT_DOMAIN) is None:
            s.add(Domain(id=DEFAULT_DOMAIN, name="Default", description="The default domain"))
            await s.flush()
        roles = {name: await _get_or_add_role(s, name) for name in BUILT_IN}
        if not accounts:
            return created
        for name, (project_name, role, system) in ACCOUNTS.items():
            project = await s.scalar(select(Project).where(
                Project.name == project_name, Project.domain_id == DEFAULT_DOMAIN))
            if project is None:
                project = Project(name=project_name, domain_id=DEFAULT_DOMAIN,
                                  description=f"Bootstrap project {project_name}")
                s.add(project)
                await s.flush()
            user = await s.scalar(select(User).where(User.name == name,
                                                     User.domain_id == DEFAULT_DOMAIN))
            password = None
            if user is None:
                password, hashed = hashes.get(name) or _new_password()
                user = User(name=name, domain_id=DEFAULT_DOMAIN, password_hash=hashed,
                            default_project_id=project.id)
                s.add(user)
                await s.flush()
            await _grant(s, user, "project", project.id, roles[role])
            if system:
                await _grant(s, user, "system", SYSTEM_ID, roles[role])
            created[name] = Account(name, project_name, password)
    return created


def _new_password() -> tuple[str, str]:
    password = passwords.generate()
    return password, passwords.hash_secret(password)


async def run(db: Database, *, accounts: bool) -> dict[str, Account]:
    """Create what is missing; ``accounts=False`` (noauth) creates the domain and
    roles only, so the accounts are made, with passwords someone sees, the
    first time Identity is in use."""
    hashes: dict[str, tuple[str, str]] = {}
    if accounts:
        async with db.session() as s:
            existing = set((await s.scalars(select(User.name).where(
                User.domain_id == DEFAULT_DOMAIN, User.name.in_(ACCOUNTS)))).all())
        for name in ACCOUNTS.keys() - existing:  # hashed off the event loop
            password = passwords.generate()
            hashes[name] = (password, await passwords.hash_async(password))
    try:
        return await _once(db, accounts, hashes)
    except IntegrityError:  # another process bootstrapped meanwhile (SQLite)
        return await _once(db, accounts, hashes)


async def admin_token(rt: Runtime) -> str:
    """A token of the bootstrap admin on project admin, for the service's own
    calls to its APIs (the lab enrolling its machines)."""
    async with rt.db.session() as s:
        user_id = await s.scalar(select(User.id).where(User.name == "admin",
                                                       User.domain_id == DEFAULT_DOMAIN))
        project_id = await s.scalar(select(Project.id).where(
            Project.name == "admin", Project.domain_id == DEFAULT_DOMAIN))
    if user_id is None or project_id is None:
        raise RuntimeError("Identity is not bootstrapped: no admin user or project")
    token_id, _ = tokens_of(rt).issue(user_id, ("token",), Scope("project", project_id))
    return token_id
