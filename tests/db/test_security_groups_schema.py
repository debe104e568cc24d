"""Migration 0017: security groups, rules and port bindings as the models declare them."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from barecloud.db.network_models import SecurityGroup
from barecloud.db.session import Database
from tests.db.schema import differences


async def test_migration_matches_models(database: Database) -> None:
    assert await differences(database, {"security_groups", "security_group_rules",
                                        "port_security_groups", "network_ports",
                                        "networks"}) == []


async def test_one_default_group_per_project(database: Database) -> None:
    async with database.session() as s:
        s.add(SecurityGroup(name="default", project_id="p1", is_default=True))
        s.add(SecurityGroup(name="default", project_id="p2", is_default=True))
        s.add(SecurityGroup(name="web", project_id="p1"))
    with pytest.raises(IntegrityError):
        async with database.session() as s:
            s.add(SecurityGroup(name="default", project_id="p1", is_default=True))
