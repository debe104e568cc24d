"""Migration 0016: routers and floating IPs as the models declare them."""

from __future__ import annotations

import pytest
from sqlalchemy.exc import IntegrityError

from barecloud.db.network_models import FloatingIP
from barecloud.db.session import Database
from tests.db.schema import differences


async def test_migration_matches_models(database: Database) -> None:
    assert await differences(database, {"routers", "floating_ips"}) == []


async def test_one_floating_ip_per_fixed_ip_and_external_network(database: Database) -> None:
    def fip(n: int, port: str) -> FloatingIP:
        return FloatingIP(project_id="p", floating_network_id="ext", floating_port_id=port,
                          floating_ip_address=f"203.0.113.{n}", fixed_port_id="vm",
                          fixed_ip_address="10.0.0.5", revision_number=0)

    async with database.session() as s:
        s.add(fip(10, "fp1"))
    with pytest.raises(IntegrityError):
        async with database.session() as s:
            s.add(fip(11, "fp2"))
