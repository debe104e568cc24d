"""Migration 0006 creates the lease tables exactly as the models declare them."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData

from barecloud.db import lease_models
from barecloud.db.session import Database

LEASE_TABLES = {"reservable_hosts", "host_properties", "leases", "lease_reservations",
                "host_allocations", "lease_events"}


def _diff(connection: Any) -> list[Any]:
    wanted = MetaData()
    for table in lease_models.Base.metadata.sorted_tables:
        if table.name in LEASE_TABLES:
            table.to_metadata(wanted)
    context = MigrationContext.configure(connection, opts={
        "compare_type": True,
        "include_name": lambda name, kind, parent: kind != "table" or name in LEASE_TABLES,
    })
    return list(compare_metadata(context, wanted))


async def test_migration_matches_models(database: Database) -> None:
    async with database.engine.connect() as conn:
        assert await conn.run_sync(_diff) == []
