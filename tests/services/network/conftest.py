"""Network service fixtures: a migrated SQLite database of a test's own."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from barecloud.db.session import Database
from tests import support


@pytest.fixture
async def sqlite_db(tmp_path: Path) -> AsyncIterator[Database]:
    """SQLite, whose one process always leads the network agent (on PostgreSQL the
    leader's advisory lock is the whole server's, which a parallel test may hold)."""
    path = tmp_path / "network.sqlite"
    shutil.copyfile(support.migrated_sqlite(), path)
    db = Database(f"sqlite+aiosqlite:///{path}")
    try:
        yield db
    finally:
        await db.dispose()
