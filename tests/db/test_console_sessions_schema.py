"""Migration 0015: console sessions announced to every API process, as the model
declares them, and the one-session-per-console rule they carry."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from barecloud.db.console_models import ConsoleSession
from barecloud.db.models import utcnow
from barecloud.db.session import Database
from barecloud.services.compute import console_sessions as sessions
from tests.db.schema import differences


async def test_migration_matches_models(database: Database) -> None:
    assert await differences(database, {"console_sessions"}) == []


async def test_one_session_of_a_kind_per_vm_and_expired_ones_give_way(
        database: Database) -> None:
    seq = await sessions.announce(database, "s1", "hv", "vm", "serial", "10.0.0.1:1", "k")
    vnc = await sessions.announce(database, "s2", "hv", "vm", "vnc", "10.0.0.2:2", "k")
    assert vnc > seq
    with pytest.raises(sessions.Taken) as taken:
        await sessions.announce(database, "s3", "hv", "vm", "serial", "10.0.0.2:2", "k")
    assert taken.value.holder is not None
    assert (taken.value.holder.session, taken.value.holder.relay) == ("s1", "10.0.0.1:1")
    last, waiting = await sessions.pending(database, "hv")
    assert last == vnc and [a.session for a in waiting] == ["s1", "s2"]
    assert await sessions.waiting(database, "s1", "hv", "vm") is not None
    assert await sessions.waiting(database, "s1", "other-hv", "vm") is None
    # Attached: no longer listed, nor handed to a leg.
    await sessions.attached(database, "s1")
    assert [a.session for a in (await sessions.pending(database, "hv"))[1]] == ["s2"]
    assert await sessions.waiting(database, "s1", "hv", "vm") is None
    # An owner that stopped renewing: its session expires and gives way.
    async with database.session() as s:
        await s.execute(update(ConsoleSession).where(ConsoleSession.session == "s1")
                        .values(expires_at=utcnow() - dt.timedelta(seconds=1)))
    await sessions.announce(database, "s3", "hv", "vm", "serial", "10.0.0.2:2", "k")
    await sessions.renew(database, ["s3"])
    await sessions.forget(database, "s2")
    await sessions.forget(database, "s3")
    assert await sessions.pending(database, "hv") == (0, [])
