"""Does a migration create some tables exactly as the models declare them?"""

from __future__ import annotations

import asyncio
from collections.abc import Set
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import MetaData

from barecloud.db import migrate
from barecloud.db.models import Base
from barecloud.db.session import Database


def _diff(connection: Any, tables: Set[str]) -> list[Any]:
    wanted = MetaData()
    for table in Base.metadata.sorted_tables:
        if table.name in tables:
            table.to_metadata(wanted)
    context = MigrationContext.configure(connection, opts={
        "compare_type": True,
        "include_name": lambda name, kind, parent: kind != "table" or name in tables,
    })
    return list(compare_metadata(context, wanted))


async def differences(database: Database, tables: Set[str]) -> list[Any]:
    """What autogenerate would change in ``tables`` of the migrated ``database``."""
    async with database.engine.connect() as conn:
        return await conn.run_sync(_diff, tables)


def before(revision: str) -> str:
    """The revision ``revision`` follows (re-chained at merges)."""
    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    down = script.get_revision(revision).down_revision
    assert isinstance(down, str)
    return down


async def after_round_trip(db_url: str, revision: str, tables: Set[str]) -> list[Any]:
    """Upgraded, downgraded to before ``revision``, upgraded again: what autogenerate
    would then change in ``tables``."""
    await migrate.upgrade_async(db_url)
    await asyncio.to_thread(command.downgrade, migrate.alembic_config(db_url),
                            before(revision))
    await migrate.upgrade_async(db_url)
    db = Database(db_url)
    try:
        return await differences(db, tables)
    finally:
        await db.dispose()
