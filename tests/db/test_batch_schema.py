"""Migration 0007 creates the deploy batch tables exactly as the models declare them."""

from __future__ import annotations

from barecloud.db import batch_models  # noqa: F401  (its tables join Base.metadata)
from barecloud.db.session import Database
from tests.db.schema import differences


async def test_migration_matches_models(database: Database) -> None:
    assert await differences(database, {"deploy_batches", "deploy_batch_members"}) == []
