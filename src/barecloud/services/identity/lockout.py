"""Failed password logins, throttled per user name and per source address.

As Keystone's ``lockout_failure_attempts`` and ``lockout_duration``: after that
many failed logins in a row a user is refused, even with the right password,
for ``lockout_duration`` seconds, with Keystone's 401 "The account is locked
for user: ...".  A success resets the count, and so does the passing of
``lockout_duration`` since the first failure (the table keeps only recent
ones).  A name no user has counts and locks the same, and the message quotes
the user as the request named it, never an id, so a lock tells no one which
users exist.  A source address is locked after ``lockout_source_attempts``
failures within ``lockout_duration`` (guesses spread over many names), with
the 401 of a wrong password.  The counts are rows of ``login_failures``, so
every API process sees the same; a key is a hash, so the table holds no
names.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
from dataclasses import dataclass, field

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError

from barecloud.db.identity_models import LoginFailure
from barecloud.db.models import utcnow
from barecloud.errors import Unauthorized, prefix
from barecloud.services.context import Runtime
from barecloud.services.identity.subjects import AUTH_FAILED


def _key(kind: str, value: str) -> str:
    return hashlib.sha256(f"{kind}\0{value}".encode()).hexdigest()


@dataclass
class Attempt:
    """One password login: whose counters it moves."""

    user_key: str | None
    source_key: str | None
    shown: str  # the user as the request named it
    user_counted: bool = field(default=False)  # a failure is on record for the user


def attempt(user_id: str | None, named: str, source: str | None) -> Attempt:
    """The login of user ``user_id`` (None: no such user, then counted by ``named``,
    the name or id the request gave) from address ``source``."""
    user = _key("user", user_id) if user_id is not None else _key("name", named)
    return Attempt(user, _key("source", source) if source else None, named)


async def check(rt: Runtime, login: Attempt) -> None:
    """Refuse (401) a login whose user or source is locked now."""
    s = rt.settings
    keys = [k for k, limit in ((login.user_key, s.lockout_failure_attempts),
                               (login.source_key, s.lockout_source_attempts)) if k and limit]
    if not keys:
        return
    async with rt.db.session() as session:
        rows = (await session.scalars(select(LoginFailure).where(
            LoginFailure.key.in_(keys)))).all()
    now = utcnow()
    for row in rows:
        locked = row.locked_until is not None and row.locked_until > now
        if row.key == login.user_key:
            login.user_counted = True
            if locked:
                raise Unauthorized(f"The account is locked for user: {prefix(login.shown)}.")
        elif locked:
            raise Unauthorized(AUTH_FAILED)


async def failed(rt: Runtime, login: Attempt) -> None:
    """Count a failed login against its user and its source."""
    s = rt.settings
    if login.user_key and s.lockout_failure_attempts:
        await _count(rt, login.user_key, s.lockout_failure_attempts)
    if login.source_key and s.lockout_source_attempts:
        await _count(rt, login.source_key, s.lockout_source_attempts)


async def succeeded(rt: Runtime, login: Attempt) -> None:
    """A login that succeeded clears its user's failures (not its source's: one
    good account must not reset a guesser's count)."""
    if login.user_counted and login.user_key:
        async with rt.db.session() as session:
            await session.execute(delete(LoginFailure).where(
                LoginFailure.key == login.user_key))


async def _count(rt: Runtime, key: str, limit: int) -> None:
    """One more failure for ``key``; locked for lockout_duration at ``limit``.  A
    lock that has ended, or a first failure lockout_duration ago, starts the
    count again; such rows of any key go when a new count starts.  The
    increment is one UPDATE, so concurrent processes do not lose counts."""
    duration = dt.timedelta(seconds=rt.settings.lockout_duration)
    for _ in range(3):
        now = utcnow()
        stale = or_(LoginFailure.locked_until <= now, and_(
            LoginFailure.locked_until.is_(None), LoginFailure.first_failure_at <= now - duration))
        try:
            async with rt.db.session() as session:
                await session.execute(delete(LoginFailure).where(LoginFailure.key == key, stale))
                count = (await session.execute(
                    update(LoginFailure).where(LoginFailure.key == key)
                    .values(failures=LoginFailure.failures + 1)
                    .returning(LoginFailure.failures))).scalar_one_or_none()
                if count is None:
                    session.add(LoginFailure(key=key, failures=1, first_failure_at=now))
                    await session.flush()
                    count = 1
                if count >= limit:
                    await session.execute(
                        update(LoginFailure)
                        .where(LoginFailure.key == key, LoginFailure.locked_until.is_(None))
                        .values(locked_until=now + duration))
        except IntegrityError:
            continue  # another process started the count at the same moment: add to it
        if count == 1:  # a new count: forget every key's stale one
            with contextlib.suppress(DBAPIError):  # a clash with another process's purge
                async with rt.db.session() as session:
                    await session.execute(delete(LoginFailure).where(stale))
        return
