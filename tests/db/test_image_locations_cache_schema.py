"""Migration 0028: an image's external ``locations`` and the image cache's table, as
the models say; a downgrade takes both away."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from alembic import command

from barecloud.db import migrate
from barecloud.db.session import Database
from tests.db.schema import before, differences


async def test_migration_matches_models(database: Database) -> None:
    assert await differences(database, {"images", "image_cache"}) == []


async def test_downgrade_removes_them(db_url: str) -> None:
    await migrate.upgrade_async(db_url)
    await asyncio.to_thread(command.downgrade, migrate.alembic_config(db_url), before("0028"))
    db = Database(db_url)
    try:
        async with db.session() as s:
            def columns(sync: sa.Connection) -> tuple[list[str], list[str]]:
                inspector = sa.inspect(sync)
                return (inspector.get_table_names(),
                        [c["name"] for c in inspector.get_columns("images")])
            tables, image_columns = await s.run_sync(lambda sync: columns(sync.connection()))
        assert "image_cache" not in tables and "locations" not in image_columns
    finally:
        await db.dispose()
