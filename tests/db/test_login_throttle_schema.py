"""Migration 0008 creates the failed-login table exactly as the model declares it."""

from __future__ import annotations

from barecloud.db import identity_models  # noqa: F401  (its tables join Base.metadata)
from barecloud.db.session import Database
from tests.db.schema import differences


async def test_migration_matches_models(database: Database) -> None:
    assert await differences(database, {"login_failures"}) == []
