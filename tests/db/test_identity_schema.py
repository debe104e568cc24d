"""Migration 0003 creates the identity tables exactly as the models declare them."""

from __future__ import annotations

from barecloud.db import identity_models  # noqa: F401  (its tables join Base.metadata)
from barecloud.db.session import Database
from tests.db.schema import differences

IDENTITY_TABLES = {"domains", "projects", "users", "roles", "role_assignments",
                   "application_credentials", "token_revocations"}


async def test_migration_matches_models(database: Database) -> None:
    assert await differences(database, IDENTITY_TABLES) == []
