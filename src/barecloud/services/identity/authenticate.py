"""POST /v3/auth/tokens: prove who you are, pick a scope, get a token.

Methods: ``password`` (user by id, or name and domain), ``token`` (rescope
a valid token; the new one keeps its expiry and audit chain) and
``application_credential`` (by id, or name and user; its project is the
scope).  Scopes: a project (id, or name and domain), a domain, the system
(``{"all": true}``), or none (the user's default project if it has a role
there, else unscoped).  Every failure to authenticate is the same 401.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.identity_models import ApplicationCredential, Domain, Project, User
from barecloud.errors import InvalidParameter, Unauthorized
from barecloud.services.context import Runtime
from barecloud.services.identity import lockout, passwords
from barecloud.services.identity.subjects import (
    AUTH_FAILED,
    SYSTEM_ID,
    Scope,
    Subject,
    effective_roles,
    expired,
    resolve,
)
from barecloud.services.identity.tokens import Token, tokens_of

METHODS = ("password", "token", "application_credential")


@dataclass
class Issued:
    token_id: str
    token: Token
    subject: Subject


def _bad(message: str) -> InvalidParameter:
    return InvalidParameter(f"Invalid input for field {message}")


def _object(parent: dict[str, Any], key: str, path: str, *, required: bool) -> dict[str, Any]:
    value = parent.get(key)
    if value is None:
        if required:
            raise InvalidParameter(
                f"Expecting to find {key} in {path or 'auth'} - the server could not comply "
                "with the request since it is either malformed or otherwise incorrect. The "
                "client is assumed to be in error.")
        return {}
    result: dict[str, Any] = value  # declared an object (schemas.ISSUE_TOKEN)
    return result


def _str(parent: dict[str, Any], key: str, path: str) -> str | None:
    value: str | None = parent.get(key)  # declared a string without NUL, or null
    return value


def _named(ref: dict[str, Any], path: str) -> tuple[str | None, str | None]:
    ident, name = _str(ref, "id", path), _str(ref, "name", path)
    if ident is None and name is None:
        raise _bad(f"{path}: id or name must be present.")
    return ident, name


async def _domain_id(s: AsyncSession, ref: dict[str, Any], path: str) -> str:
    ident, name = _named(ref, path)
    if ident is not None:
        domain = await s.get(Domain, ident)
    else:
        domain = await s.scalar(select(Domain).where(Domain.name == name))
    if domain is None or not domain.enabled:
        raise Unauthorized(AUTH_FAILED)
    return domain.id


async def _user_id(s: AsyncSession, ref: dict[str, Any], path: str) -> str | None:
    """The user's id, or None if there is no such user (the caller still checks a
    password, so that the answer takes as long)."""
    ident, name = _named(ref, path)
    if ident is not None:
        user = await s.get(User, ident)
    else:
        domain_ref = _object(ref, "domain", path, required=True)
        domain_id = await _domain_id(s, domain_ref, f"{path}/domain")
        user = await s.scalar(select(User).where(User.name == name, User.domain_id == domain_id))
    return user.id if user is not None else None


def _named_as(ref: dict[str, Any]) -> str:
    """The user as the request names it: its id, or its domain and name."""
    if ref.get("id") is not None:
        return str(ref["id"])
    domain = ref.get("domain")
    where = domain.get("id") or domain.get("name") if isinstance(domain, dict) else None
    return f"{where}/{ref.get('name')}"


async def _password(rt: Runtime, identity: dict[str, Any], source: str | None) -> str:
    payload = _object(identity, "password", "identity", required=True)
    ref = _object(payload, "user", "identity/password", required=True)
    secret = _str(ref, "password", "identity/password/user")
    async with rt.db.session() as s:
        try:
            user_id = await _user_id(s, ref, "identity/password/user")
        except Unauthorized:  # no such domain: a failure like any other
            user_id = None
        user = await s.get(User, user_id) if user_id else None
        stored = user.password_hash if user is not None else None
    login = lockout.attempt(user_id, _named_as(ref), source)
    await lockout.check(rt, login)
    if secret is None or not await passwords.verify_async(secret, stored) or user_id is None:
        await lockout.failed(rt, login)
        raise Unauthorized(AUTH_FAILED)
    await lockout.succeeded(rt, login)
    return user_id


async def _app_cred(rt: Runtime, identity: dict[str, Any]) -> ApplicationCredential:
    path = "identity/application_credential"
    payload = _object(identity, "application_credential", "identity", required=True)
    secret = _str(payload, "secret", path)
    ident, name = _named(payload, path)
    async with rt.db.session() as s:
        if ident is not None:
            cred = await s.get(ApplicationCredential, ident)
        else:
            user_ref = _object(payload, "user", path, required=True)
            user_id = await _user_id(s, user_ref, f"{path}/user")
            cred = await s.scalar(select(ApplicationCredential).where(
                ApplicationCredential.user_id == user_id, ApplicationCredential.name == name))
    stored = cred.secret_hash if cred is not None else None
    if secret is None or not await passwords.verify_async(secret, stored) or cred is None \
            or expired(cred.expires_at):
        raise Unauthorized(AUTH_FAILED)
    return cred


async def _scope(rt: Runtime, auth: dict[str, Any]) -> Scope | None:
    """The scope asked for; None when none was (Scope() is explicitly unscoped)."""
    raw = auth.get("scope")
    if raw is None:
        return None
    if raw == "unscoped":
        return Scope()
    if not isinstance(raw, dict):
        raise _bad(f"scope: {raw!r} is not of type 'object', 'string'")
    asked = [k for k in ("project", "domain", "system", "OS-TRUST:trust", "unscoped")
             if k in raw]
    if len(asked) > 1:
        raise InvalidParameter(f"Scoping to more than one of {', '.join(asked)} is not "
                               "allowed.")
    if not asked:
        return None
    if asked[0] == "unscoped":
        return Scope()
    if asked[0] == "OS-TRUST:trust":
        raise Unauthorized(AUTH_FAILED)  # no trusts in barecloud
    if asked[0] == "system":
        system = _object(raw, "system", "scope", required=True)
        if system.get("all") is not True:
            raise _bad("scope/system: the system scope is {\"all\": true}.")
        return Scope("system", SYSTEM_ID)
    async with rt.db.session() as s:
        if asked[0] == "domain":
            return Scope("domain", await _domain_id(s, _object(raw, "domain", "scope",
                                                               required=True), "scope/domain"))
        ref = _object(raw, "project", "scope", required=True)
        ident, name = _named(ref, "scope/project")
        if ident is not None:
            project = await s.get(Project, ident)
        else:
            domain_ref = _object(ref, "domain", "scope/project", required=True)
            domain_id = await _domain_id(s, domain_ref, "scope/project/domain")
            project = await s.scalar(select(Project).where(Project.name == name,
                                                           Project.domain_id == domain_id))
    if project is None:
        raise Unauthorized(AUTH_FAILED)
    return Scope("project", project.id)


async def _default_scope(rt: Runtime, user_id: str) -> Scope:
    """The user's default project if it may act there, else no scope (as Keystone)."""
    async with rt.db.session() as s:
        user = await s.get(User, user_id)
        project_id = user.default_project_id if user else None
        if project_id is None:
            return Scope()
        project = await s.get(Project, project_id)
        if project is None or not project.enabled or not await effective_roles(
                s, user_id, "project", project_id):
            return Scope()
    return Scope("project", project_id)


async def issue(rt: Runtime, body: Any, source: str | None = None) -> Issued:
    """Authenticate ``body`` (``{"auth": ...}``, as schemas.ISSUE_TOKEN declares it)
    from address ``source`` and issue its token."""
    auth: dict[str, Any] = body["auth"]  # declared: schemas.ISSUE_TOKEN
    identity = _object(auth, "identity", "auth", required=True)
    methods: list[str] = identity["methods"]
    if not methods or any(m not in METHODS for m in methods):
        raise Unauthorized("Attempted to authenticate with an unsupported method.")
    scope = await _scope(rt, auth)
    tokens = tokens_of(rt)
    users: set[str] = set()
    parent: Token | None = None
    cred: ApplicationCredential | None = None
    for method in dict.fromkeys(methods):
        if method == "password":
            users.add(await _password(rt, identity, source))
        elif method == "token":
            ref = _object(identity, "token", "identity", required=True)
            token_id = _str(ref, "id", "identity/token")
            if not token_id:
                raise _bad("identity/token: 'id' is a required property")
            parent, _ = await tokens.validate(token_id)
            if parent.app_cred_id is not None:
                raise Unauthorized(AUTH_FAILED)  # its roles are the credential's alone
            users.add(parent.user_id)
        else:
            cred = await _app_cred(rt, identity)
            users.add(cred.user_id)
    if len(users) != 1:
        raise Unauthorized(AUTH_FAILED)
    user_id = users.pop()
    if cred is not None:
        if scope is not None:
            raise Unauthorized("Application credentials cannot request a scope.")
        scope = Scope("project", cred.project_id)
    elif scope is None:
        scope = await _default_scope(rt, user_id)
    async with rt.db.session() as s:
        subject = await resolve(s, user_id, scope, cred.id if cred else None)
    names = tuple(dict.fromkeys([*methods, *(parent.methods if parent else ())]))
    expiry = None
    if cred is not None and cred.expires_at is not None:
        expiry = cred.expires_at.replace(tzinfo=dt.UTC).timestamp()
    token_id, token = tokens.issue(user_id, names, scope, parent=parent, expires_at=expiry,
                                   app_cred_id=cred.id if cred else None)
    return Issued(token_id, token, subject)
