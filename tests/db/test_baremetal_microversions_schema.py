"""Migration 0027: nodes' other interfaces, RAID configuration, shard, parent node and
service step; runbooks (one per name) and node inventories, as the models declare."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import IntegrityError

from barecloud.db import migrate
from barecloud.db.models import Runbook
from barecloud.db.session import Database
from tests.db.schema import before, differences


async def test_migration_matches_models(database: Database) -> None:
    assert await differences(database, {"nodes", "chassis", "runbooks", "node_inventories"}) == []


async def test_one_runbook_per_name(database: Database) -> None:
    async with database.session() as s:
        s.add(Runbook(name="CUSTOM_A", steps=[], extra={}))
    with pytest.raises(IntegrityError):
        async with database.session() as s:
            s.add(Runbook(name="CUSTOM_A", steps=[], extra={}))


async def test_downgrade_removes_what_it_added(db_url: str) -> None:
    await migrate.upgrade_async(db_url)
    await asyncio.to_thread(command.downgrade, migrate.alembic_config(db_url), before("0027"))
    db = Database(db_url)
    try:
        async with db.engine.connect() as conn:
            names, columns = await conn.run_sync(lambda c: (
                sa.inspect(c).get_table_names(),
                {col["name"] for col in sa.inspect(c).get_columns("nodes")}))
    finally:
        await db.dispose()
    assert not {"runbooks", "node_inventories"} & set(names)
    assert not {"raid_interface", "shard", "parent_node", "service_step"} & columns
    await migrate.upgrade_async(db_url)
