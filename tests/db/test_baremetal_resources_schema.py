"""Migration 0024: deploy templates, volume connectors and targets, port groups as the
models declare them, with ports.portgroup_id; one template per name."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import IntegrityError

from barecloud.db import migrate
from barecloud.db.models import DeployTemplate
from barecloud.db.session import Database
from tests.db.schema import before, differences


async def test_migration_matches_models(database: Database) -> None:
    tables = {"nodes", "chassis", "ports", "portgroups", "deploy_templates", "volume_connectors",
              "volume_targets"}
    assert await differences(database, tables) == []


async def test_one_template_per_name(database: Database) -> None:
    """Two processes creating the same name: the database refuses the second."""
    async with database.session() as s:
        s.add(DeployTemplate(name="CUSTOM_A", steps=[], extra={}))
    with pytest.raises(IntegrityError):
        async with database.session() as s:
            s.add(DeployTemplate(name="CUSTOM_A", steps=[], extra={}))


async def test_downgrade_removes_the_tables_and_the_column(db_url: str) -> None:
    await migrate.upgrade_async(db_url)
    await asyncio.to_thread(command.downgrade, migrate.alembic_config(db_url),
                            before("0024"))
    db = Database(db_url)
    try:
        async with db.engine.connect() as conn:
            names, columns = await conn.run_sync(lambda c: (
                sa.inspect(c).get_table_names(),
                {col["name"] for col in sa.inspect(c).get_columns("ports")}))
    finally:
        await db.dispose()
    assert not {"deploy_templates", "volume_connectors", "volume_targets",
                "portgroups"} & set(names)
    assert "portgroup_id" not in columns and "nodes" in names
