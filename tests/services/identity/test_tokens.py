"""Tokens below the API: sealing, revocation across processes, and what validation costs."""

from __future__ import annotations

import asyncio
import stat
import statistics
import time
from pathlib import Path

import pytest
from sqlalchemy import select

from barecloud.config import Settings
from barecloud.db import clock
from barecloud.db.identity_models import Project, User
from barecloud.db.session import Database
from barecloud.errors import Unauthorized
from barecloud.services.identity import bootstrap, fernet, passwords
from barecloud.services.identity.subjects import Scope
from barecloud.services.identity.tokens import REVOCATIONS_TTL, Tokens


async def admin_scope(db: Database) -> tuple[str, Scope]:
    await bootstrap.run(db, accounts=True)
    async with db.session() as s:
        user = await s.scalar(select(User.id).where(User.name == "admin"))
        project = await s.scalar(select(Project.id).where(Project.name == "admin"))
    assert user and project
    return user, Scope("project", project)


def test_passwords() -> None:
    stored = passwords.hash_secret("correct horse")
    scheme, n, r, p, salt, key = stored.split("$")
    assert len(salt) == 24 and len(key) == 44  # base64 of 16 and 32 bytes
    assert (scheme, n, r, p) == ("scrypt", "16384", "8", "1")
    assert "correct horse" not in stored
    assert passwords.verify("correct horse", stored)
    assert not passwords.verify("correct horsE", stored)
    assert not passwords.verify("anything", None)
    assert not passwords.verify("anything", "md5$garbage")
    assert passwords.hash_secret("same") != passwords.hash_secret("same")  # salted


def test_fernet_keys_are_private_and_kept(tmp_path: Path) -> None:
    first = fernet.load(tmp_path)
    key = fernet.key_dir(tmp_path) / "0"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    sealed = first.encrypt(b"x")
    assert fernet.load(tmp_path).decrypt(sealed) == b"x"
    assert [p.name for p in key.parent.iterdir()] == ["0"]


async def test_issue_validate_revoke(database: Database, settings: Settings) -> None:
    user, scope = await admin_scope(database)
    one, other = Tokens(database, settings), Tokens(database, settings)  # two processes
    token_id, token = one.issue(user, ("password",), scope)
    ctx = await other.context(token_id, "req-1")
    assert (ctx.user, ctx.user_name, ctx.project_name) == (user, "admin", "admin")
    assert ctx.roles == ("admin", "member", "reader") and ctx.is_admin and ctx.token == token_id
    with pytest.raises(Unauthorized):
        await other.context(token_id[:-2] + "xx", "req-2")
    with pytest.raises(Unauthorized):
        await other.context("not a token at all", "req-3")
    await one.revoke(token)
    with pytest.raises(Unauthorized):
        await one.validate(token_id)  # at once where it was revoked
    await asyncio.sleep(REVOCATIONS_TTL + 0.1)
    with pytest.raises(Unauthorized):
        await other.validate(token_id)  # within seconds elsewhere
    fresh, _ = one.issue(user, ("password",), scope)
    assert (await other.context(fresh, "req-4")).user == user
    await one.revoke_user(user)
    with pytest.raises(Unauthorized):
        await one.validate(fresh)


async def test_validation_is_cheap(database: Database, settings: Settings) -> None:
    """The auth middleware's one call per request: decrypt, expiry, revocations, subject."""
    user, scope = await admin_scope(database)
    tokens = Tokens(database, settings)
    token_id, _ = tokens.issue(user, ("password",), scope)
    await tokens.context(token_id, "warm-up")
    times = []
    for i in range(3000):
        start = time.perf_counter()
        await tokens.context(token_id, f"req-{i}")
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"token validation: median {median * 1e6:.1f} us, "
          f"p99 {sorted(times)[int(len(times) * 0.99)] * 1e6:.1f} us")
    assert median < 0.001


async def test_a_revocation_ends_tokens_issued_before_it_whatever_the_local_clock(
        database: Database, settings: Settings) -> None:
    """Tokens and revocations are both on the database's clock: with this host's
    clock half a second ahead of the database's (as measured), a token issued
    just before ``revoke_user`` is still revoked (CI saw it kept, when a token's
    time came from the local clock and the revocation's from the database's)."""
    user, scope = await admin_scope(database)
    tokens = Tokens(database, settings)
    clock.set_offset(-0.5)
    try:
        token_id, _ = tokens.issue(user, ("password",), scope)
        await tokens.revoke_user(user)
        with pytest.raises(Unauthorized):
            await tokens.validate(token_id)
        later, _ = tokens.issue(user, ("password",), scope)
        await asyncio.sleep(0.01)
        assert (await tokens.context(later, "req-after")).user == user
    finally:
        clock.set_offset(0.0)
