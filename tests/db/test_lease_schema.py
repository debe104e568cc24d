"""Migration 0006 creates the lease tables exactly as the models declare them."""

from __future__ import annotations

from barecloud.db import lease_models  # noqa: F401  (its tables join Base.metadata)
from barecloud.db.session import Database
from tests.db.schema import differences

LEASE_TABLES = {"reservable_hosts", "host_properties", "leases", "lease_reservations",
                "host_allocations", "lease_events"}


async def test_migration_matches_models(database: Database) -> None:
    assert await differences(database, LEASE_TABLES) == []
