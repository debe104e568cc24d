"""Schema migrations (Alembic), run by ``barecloud db upgrade`` and on start."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic import command
from alembic.config import Config

MIGRATIONS = Path(__file__).parent / "migrations"
# PostgreSQL advisory lock key held by the process migrating (migrations/env.py).
MIGRATION_LOCK = 0x62617265  # "bare"


def alembic_config(url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return cfg


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the schema at ``url`` to ``revision``; safe to call on every start."""
    command.upgrade(alembic_config(url), revision)


async def upgrade_async(url: str, revision: str = "head") -> None:
    # env.py runs its own event loop, so run it on a thread of its own.
    await asyncio.to_thread(upgrade, url, revision)
