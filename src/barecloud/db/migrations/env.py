"""Alembic environment: runs migrations over the async engine of the settings' URL."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

import barecloud.db.batch_models  # deploy batches
import barecloud.db.compute_models  # registers the Compute tables
import barecloud.db.identity_models
import barecloud.db.lease_models  # the Reservation tables
import barecloud.db.network_models  # noqa: F401  (the Network tables)
from barecloud.db.models import Base

target_metadata = Base.metadata
MIGRATION_LOCK = 0x62617265  # "bare"


def _run(connection: Any) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            # API and conductor processes starting together must not race.
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        context.run_migrations()


async def _online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    assert url
    engine = create_async_engine(url)
    async with engine.connect() as conn:
        await conn.run_sync(_run)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=context.config.get_main_option("sqlalchemy.url"),
                      target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_online())
