"""Migration 0020: nodes.chassis_uuid a foreign key to chassis, as the models say;
a chassis made for each UUID nodes named before (none could be created then)."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import IntegrityError

from barecloud.db import migrate
from barecloud.db.models import Chassis, Node
from barecloud.db.session import Database
from tests.db.schema import before, differences
from tests.db.test_node_agents_schema import insert_node

NAMED = "0c4b2a3e-1d5f-4e6a-9b7c-8d9e0f1a2b3c"


def _before() -> str:
    return before("0020")


async def test_migration_matches_models(database: Database) -> None:
    assert await differences(database, {"nodes", "chassis"}) == []


async def test_named_chassis_are_made_and_then_kept(db_url: str) -> None:
    await migrate.upgrade_async(db_url, _before())
    db = Database(db_url)
    try:
        # Rows as revision 0019 has them (no ORM: the model is ahead of it).
        for number, chassis in ((1, NAMED), (2, NAMED), (3, None)):
            await insert_node(db, number, {}, chassis_uuid=chassis)
        await migrate.upgrade_async(db_url)
        async with db.session() as s:
            made = (await s.scalars(sa.select(Chassis))).all()
            assert [c.uuid for c in made] == [NAMED]
            assert made[0].extra == {} and made[0].created_at is not None
        with pytest.raises(IntegrityError):
            async with db.session() as s:
                await s.execute(sa.delete(Chassis).where(Chassis.uuid == NAMED))
        with pytest.raises(IntegrityError):
            async with db.session() as s:
                s.add(Node(driver="fake-hardware", provision_state="enroll",
                           chassis_uuid="9c4b2a3e-1d5f-4e6a-9b7c-8d9e0f1a2b3c"))
        await asyncio.to_thread(command.downgrade, migrate.alembic_config(db_url), _before())
    finally:
        await db.dispose()
