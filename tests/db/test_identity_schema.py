"""Migration 0003 creates the identity tables exactly as the models declare them."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData

from barecloud.db import identity_models
from barecloud.db.session import Database

IDENTITY_TABLES = {"domains", "projects", "users", "roles", "role_assignments",
                   "application_credentials", "token_revocations"}


def _diff(connection: Any) -> list[Any]:
    wanted = MetaData()
    for table in identity_models.Base.metadata.sorted_tables:
        if table.name in IDENTITY_TABLES:
            table.to_metadata(wanted)
    context = MigrationContext.configure(connection, opts={
        "compare_type": True,
        "include_name": lambda name, kind, parent: kind != "table" or name in IDENTITY_TABLES,
    })
    return list(compare_metadata(context, wanted))


async def test_migration_matches_models(database: Database) -> None:
    async with database.engine.connect() as conn:
        assert await conn.run_sync(_diff) == []
