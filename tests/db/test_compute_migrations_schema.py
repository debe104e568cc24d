"""Migration 0029: ``migrations`` (a VM's resizes, Nova's os-migrations) as the model
declares it, and back."""

from __future__ import annotations

import asyncio

from alembic import command

from barecloud.db import migrate
from barecloud.db.compute_models import Migration
from barecloud.db.session import Database
from tests.db.schema import before, differences

TABLES = {Migration.__tablename__}


async def test_migration_matches_models(database: Database) -> None:
    assert await differences(database, TABLES) == []


async def test_downgrade_and_upgrade_again(db_url: str) -> None:
    await migrate.upgrade_async(db_url)
    await asyncio.to_thread(command.downgrade, migrate.alembic_config(db_url), before("0029"))
    await migrate.upgrade_async(db_url)
    db = Database(db_url)
    try:
        assert await differences(db, TABLES) == []
    finally:
        await db.dispose()
