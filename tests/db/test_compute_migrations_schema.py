"""Migration 0029: ``migrations`` (a VM's resizes, Nova's os-migrations) as the model
declares it, and back."""

from __future__ import annotations

from barecloud.db.compute_models import Migration
from barecloud.db.session import Database
from tests.db.schema import after_round_trip, differences

TABLES = {Migration.__tablename__}


async def test_migration_matches_models(database: Database) -> None:
    assert await differences(database, TABLES) == []


async def test_downgrade_and_upgrade_again(db_url: str) -> None:
    assert await after_round_trip(db_url, "0029", TABLES) == []
