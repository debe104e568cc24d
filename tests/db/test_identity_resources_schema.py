"""Migration 0022: the groups, catalog, credentials, policies and role implications
tables as the models declare them."""

from __future__ import annotations

import barecloud.db.identity_models  # noqa: F401  (declares the tables compared)
from barecloud.db.session import Database
from tests.db.schema import differences


async def test_migration_matches_models(database: Database) -> None:
    assert await differences(database, {"groups", "group_members", "group_role_assignments",
                                        "domains", "users", "roles", "catalog_regions",
                                        "catalog_services", "catalog_endpoints",
                                        "credentials", "policies",
                                        "role_implications"}) == []
