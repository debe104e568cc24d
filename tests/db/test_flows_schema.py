"""Migration 0018: the flow collector's rows, as the model declares them."""

from __future__ import annotations

from barecloud.db.network_models import FlowRecord
from barecloud.db.session import Database
from tests.db.schema import differences


async def test_migration_matches_models(database: Database) -> None:
    assert await differences(database, {FlowRecord.__tablename__}) == []
