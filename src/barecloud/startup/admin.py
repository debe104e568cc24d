"""The administration commands, as ``nova-manage``'s: they work on the database
itself, with the service stopped when it is SQLite's (``guards.alone_on``)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from barecloud.config import Settings
from barecloud.db import migrate, sealed
from barecloud.services import private_files
from barecloud.startup.guards import alone_on
from barecloud.startup.processes import prepare


def upgrade_database(settings: Settings, revision: str) -> None:
    """Bring the database schema to ``revision`` (not under a running service)."""
    with alone_on(settings, "barecloud db upgrade"):
        private_files.restrict(settings.data_dir)
        private_files.private_sqlite(settings.effective_database_url)
        migrate.upgrade(settings.effective_database_url, revision)


@dataclass(frozen=True)
class Rotation:
    new: int
    retired: list[int]
    resealed: int
    key_dir: Path


def rotate_secrets(settings: Settings) -> Rotation:
    """Seal every secret with a new key and retire the old ones."""

    async def rotate() -> tuple[int, list[int], int]:
        db = await prepare(settings)
        try:
            return await sealed.rotate(db, settings.data_dir)
        finally:
            await db.dispose()

    # SQLite: not while the service runs (its loop would wait on our writes).
    with alone_on(settings, "barecloud secrets rotate"):
        new, retired, count = asyncio.run(rotate())
    return Rotation(new, retired, count, sealed.key_dir(settings.data_dir))
