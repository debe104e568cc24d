"""Alembic environment: runs migrations over the async engine of the settings' URL."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

import barecloud.db.batch_models  # deploy batches
import barecloud.db.compute_models  # registers the Compute tables
import barecloud.db.console_models  # console tokens
import barecloud.db.hypervisor_models  # the hypervisors VMs run on
import barecloud.db.identity_models
import barecloud.db.lease_models  # the Reservation tables
import barecloud.db.network_models  # noqa: F401  (the Network tables)
from barecloud.db.migrate import MIGRATION_LOCK
from barecloud.db.models import Base

target_metadata = Base.metadata


def _run(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            postgres = conn.dialect.name == "postgresql"
            if postgres:
                # API and conductor processes starting together on a fresh database:
                # the first migrates, the others wait here, then find the version
                # at head.  Session level, not transaction level: a migration that
                # commits midway (an autocommit_block, for CREATE INDEX
                # CONCURRENTLY) must not let the next process in.  SQLite needs
                # none: its one process holds the file's lock (db/sqlite_lock.py).
                await conn.execute(text("SELECT pg_advisory_lock(:key)"),
                                   {"key": MIGRATION_LOCK})
                await conn.commit()
            await conn.run_sync(_run)
            await conn.commit()
            if postgres:
                await conn.execute(text("SELECT pg_advisory_unlock(:key)"),
                                   {"key": MIGRATION_LOCK})
                await conn.commit()
    finally:
        # Closing the connection also ends the lock, when a migration failed.
        await engine.dispose()


if context.is_offline_mode():
    context.configure(url=context.config.get_main_option("sqlalchemy.url"),
                      target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_online())
