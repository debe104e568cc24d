"""Fernet tokens: issued, validated on every request, revoked by audit id.

A token carries everything needed to check it without a lookup: the user,
the scope, the auth methods, when it was issued and expires, its audit ids
(its own, then the one of the token it was rescoped from) and the
application credential it came from.  Validation decrypts it, checks the
expiry, the revocations (a set refreshed from the database every few
seconds, at once for revocations made in this process) and the subject (the
user's current roles on the scope, cached briefly).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import secrets
import time
import weakref
from dataclasses import dataclass, field

import orjson
from cryptography.fernet import InvalidToken
from sqlalchemy import delete, select

from barecloud.config import Settings
from barecloud.db.identity_models import TokenRevocation
from barecloud.db.models import utcnow
from barecloud.db.session import Database
from barecloud.errors import NotFound, Unauthorized
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.identity import fernet
from barecloud.services.identity.subjects import AUTH_FAILED, Scope, Subject, resolve

log = logging.getLogger(__name__)

PAYLOAD_VERSION = 1
REVOCATIONS_TTL = 2.0  # seconds a process may miss another process's revocation
SUBJECTS_TTL = 3.0  # seconds a role change may take to reach a live token
CACHE_MAX = 20000


class TokenNotFound(NotFound):
    """An X-Subject-Token that is not valid (Keystone answers 404)."""

    def __init__(self) -> None:
        super().__init__("Failed to validate token")


@dataclass(frozen=True)
class Token:
    user_id: str
    methods: tuple[str, ...]
    scope: Scope
    issued_at: float  # seconds since the epoch
    expires_at: float
    audit_ids: tuple[str, ...]
    app_cred_id: str | None = None

    def encode(self) -> bytes:
        return orjson.dumps([PAYLOAD_VERSION, self.user_id, list(self.methods), self.scope.kind,
                             self.scope.id, round(self.issued_at * 1000),
                             round(self.expires_at * 1000), list(self.audit_ids),
                             self.app_cred_id])

    @classmethod
    def decode(cls, raw: bytes) -> Token:
        version, user, methods, kind, scope_id, issued, expires, audits, cred = orjson.loads(raw)
        if version != PAYLOAD_VERSION:
            raise ValueError(f"token payload version {version}")
        return cls(user, tuple(methods), Scope(kind, scope_id), issued / 1000, expires / 1000,
                   tuple(audits), cred)


def new_audit_id() -> str:
    return secrets.token_urlsafe(16)


def isotime(epoch: float) -> str:
    """Keystone's timestamps: microseconds, UTC, a Z."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


ISSUED_AT_PRECISION = 0.001  # seconds: tokens encode issued_at in milliseconds


@dataclass
class _Revocations:
    audit_ids: set[str] = field(default_factory=set)
    users: dict[str, float] = field(default_factory=dict)  # user -> issued up to (epoch)
    loaded_at: float = -1e9

    def revokes(self, token: Token) -> bool:
        if any(a in self.audit_ids for a in token.audit_ids):
            return True
        before = self.users.get(token.user_id)
        # Tokens carry their issue time to the millisecond, rounded: one issued
        # in the millisecond of the revocation is revoked too (Keystone, in
        # whole seconds, revokes more).
        return before is not None and token.issued_at <= before + ISSUED_AT_PRECISION


def _epoch(naive_utc: dt.datetime) -> float:
    return naive_utc.replace(tzinfo=dt.UTC).timestamp()


class Tokens:
    """Issues and validates tokens for one process; caches are per instance."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.fernet = fernet.load(settings.data_dir)
        self._revocations = _Revocations()
        self._refresh = asyncio.Lock()
        self._subjects: dict[tuple[str, Scope, str | None], tuple[float, Subject]] = {}

    # --- issuing ------------------------------------------------------------
    def issue(self, user_id: str, methods: tuple[str, ...], scope: Scope, *,
              parent: Token | None = None, expires_at: float | None = None,
              app_cred_id: str | None = None) -> tuple[str, Token]:
        """A new token; one made from ``parent`` (rescoping) keeps its expiry and
        its audit chain, so revoking the first revokes both.  Times are the
        database's clock, as revocations' are (db/clock.py): a token issued after
        a revocation on a host whose clock is behind is still after it."""
        now = _epoch(utcnow())
        expiry = now + self.settings.token_expiration
        audits: tuple[str, ...] = (new_audit_id(),)
        if parent is not None:
            expiry = min(expiry, parent.expires_at)
            audits = (audits[0], parent.audit_ids[-1])
        if expires_at is not None:
            expiry = min(expiry, expires_at)
        payload = Token(user_id, methods, scope, now, expiry, audits, app_cred_id).encode()
        # Decoded again, so its times are what validating it will find (milliseconds).
        return self.fernet.encrypt(payload).decode(), Token.decode(payload)

    # --- validating ---------------------------------------------------------
    def decode(self, token_id: str) -> Token:
        """The token's content if it is ours and unexpired, else Unauthorized."""
        try:
            token = Token.decode(self.fernet.decrypt(token_id.encode()))
        except (InvalidToken, ValueError, TypeError, UnicodeError):
            raise Unauthorized(AUTH_FAILED) from None
        if token.expires_at <= _epoch(utcnow()):
            raise Unauthorized(AUTH_FAILED)
        return token

    async def validate(self, token_id: str) -> tuple[Token, Subject]:
        """The token and its subject, or Unauthorized (unknown, expired, revoked,
        or its user, scope or roles gone)."""
        token = self.decode(token_id)
        if (await self._current_revocations()).revokes(token):
            raise Unauthorized(AUTH_FAILED)
        return token, await self.subject(token)

    async def validate_subject(self, token_id: str | None) -> tuple[Token, Subject]:
        """As validate, for X-Subject-Token: Keystone's 404 when invalid."""
        if not token_id:
            raise TokenNotFound()
        try:
            return await self.validate(token_id)
        except Unauthorized:
            raise TokenNotFound() from None

    async def context(self, token_id: str, request_id: str) -> RequestContext:
        """The request context of a token (the auth middleware's one call)."""
        _, subject = await self.validate(token_id)
        project = subject.project
        return RequestContext(
            request_id=request_id, user=subject.user.id, user_name=subject.user.name,
            project=project.id if project else None,
            project_name=project.name if project else None,
            domain=subject.domain.id if subject.domain else None, system=subject.system,
            roles=subject.role_names, token=token_id,
        )

    async def subject(self, token: Token) -> Subject:
        key = (token.user_id, token.scope, token.app_cred_id)
        now = time.monotonic()
        cached = self._subjects.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self.db.session() as s:
            subject = await resolve(s, token.user_id, token.scope, token.app_cred_id)
        if len(self._subjects) >= CACHE_MAX:
            self._subjects.clear()
        self._subjects[key] = (now + SUBJECTS_TTL, subject)
        return subject

    def forget_subjects(self) -> None:
        """Drop cached subjects (after a change to users, roles or projects here)."""
        self._subjects.clear()

    async def _current_revocations(self) -> _Revocations:
        if time.monotonic() - self._revocations.loaded_at < REVOCATIONS_TTL:
            return self._revocations
        async with self._refresh:
            if time.monotonic() - self._revocations.loaded_at >= REVOCATIONS_TTL:
                self._revocations = await self._load_revocations()
        return self._revocations

    async def _load_revocations(self) -> _Revocations:
        loaded = _Revocations(loaded_at=time.monotonic())
        async with self.db.session() as s:
            rows = (await s.execute(
                select(TokenRevocation.audit_id, TokenRevocation.user_id,
                       TokenRevocation.issued_before)
                .where(TokenRevocation.expires_at > utcnow())
            )).all()
        for audit_id, user_id, before in rows:
            if audit_id:
                loaded.audit_ids.add(audit_id)
            if user_id and before is not None:
                loaded.users[user_id] = max(loaded.users.get(user_id, 0.0), _epoch(before))
        return loaded

    # --- revoking -----------------------------------------------------------
    async def revoke(self, token: Token, *, chain: bool = False) -> None:
        """Revoke ``token`` and the tokens rescoped from it (they hold its audit id);
        with ``chain``, also the token it was rescoped from and every token rescoped
        from either: they share the last audit id."""
        audit_id = token.audit_ids[-1] if chain else token.audit_ids[0]
        now = utcnow()
        # Every token of the chain expires by then (none outlives its first).
        expires = now + dt.timedelta(seconds=self.settings.token_expiration)
        async with self.db.session() as s:
            await s.execute(delete(TokenRevocation).where(TokenRevocation.expires_at <= now))
            s.add(TokenRevocation(audit_id=audit_id, expires_at=expires))
        self._revocations.audit_ids.add(audit_id)

    async def revoke_user(self, user_id: str) -> None:
        """End every token of ``user_id`` issued until now (password change, disable)."""
        now = utcnow()
        async with self.db.session() as s:
            s.add(TokenRevocation(user_id=user_id, issued_before=now,
                                  expires_at=now + dt.timedelta(
                                      seconds=self.settings.token_expiration)))
        self._revocations.users[user_id] = _epoch(now)
        self.forget_subjects()


_BY_DATABASE: weakref.WeakKeyDictionary[Database, Tokens] = weakref.WeakKeyDictionary()


def tokens_of(rt: Runtime) -> Tokens:
    """The process's token service for ``rt`` (one per database, so one cache)."""
    tokens = _BY_DATABASE.get(rt.db)
    if tokens is None:
        tokens = _BY_DATABASE[rt.db] = Tokens(rt.db, rt.settings)
    return tokens
