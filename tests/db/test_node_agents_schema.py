"""Migration 0009: nodes.version and node_agents, as the models say, and the agent's
keys moved out of driver_internal_info (and back on downgrade)."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import sqlalchemy as sa
from alembic import command

from barecloud.db import migrate
from barecloud.db.models import NodeAgent
from barecloud.db.session import Database
from tests.db.schema import before, differences

COMMAND = {"id": "5f0c7d9e-0000-4000-8000-000000000001", "name": "write_image",
           "params": {"url": "http://10.0.0.1/i"}, "status": "running",
           "issued_at": "2026-12-06T07:00:00", "progress": {"bytes": 1, "total": 2}}
DII = {"agent_last_heartbeat": "2026-12-06T07:01:02.345678", "agent_url": "http://10.0.0.5:9",
       "agent_version": "1.2", "agent_command": COMMAND, "agent_token_delivered": True,
       "deploy_batch_gate": True, "clean_steps": ["keep me"]}


def _before() -> str:
    return before("0009")


async def test_migration_matches_models(database: Database) -> None:
    assert await differences(database, {"node_agents", "nodes", "chassis"}) == []


_JSON = ("driver_info", "driver_internal_info", "properties", "instance_info", "extra",
         "network_data", "clean_step", "deploy_step", "workflow_args")
NODES = sa.table("nodes", sa.column("id", sa.Integer()),
                 *(sa.column(c, sa.JSON()) for c in _JSON),
                 *(sa.column(c) for c in ("uuid", "driver", "conductor_group", "provision_state",
                                          "maintenance", "power_sync_failures",
                                          "console_enabled", "protected", "retired",
                                          "workflow_step", "workflow_attempts", "created_at",
                                          "chassis_uuid")))


async def insert_node(db: Database, number: int, dii: dict[str, Any], **more: Any) -> int:
    """A node row as revision 0008 has them (no ORM: the model is ahead of it), and
    ``more`` columns of later revisions."""
    values: dict[str, Any] = {c: {} for c in _JSON}
    values.update(uuid=f"00000000-0000-4000-8000-{number:012d}", driver="fake-hardware",
                  driver_internal_info=dii, conductor_group="", provision_state="deploy wait",
                  maintenance=False, power_sync_failures=0, console_enabled=False,
                  protected=False, retired=False, workflow_step=0, workflow_attempts=0,
                  created_at=dt.datetime(2026, 12, 6), **more)
    async with db.transaction() as conn:
        return int((await conn.execute(
            NODES.insert().values(**values).returning(NODES.c.id))).scalar_one())


async def _downgrade(url: str, revision: str) -> None:
    await asyncio.to_thread(command.downgrade, migrate.alembic_config(url), revision)


async def test_the_agent_keys_move_to_their_row_and_back(db_url: str) -> None:
    await migrate.upgrade_async(db_url, _before())
    db = Database(db_url)
    try:
        moved = await insert_node(db, 1, DII)
        untouched = await insert_node(db, 2, {"other": 1})
        await migrate.upgrade_async(db_url)
        async with db.session() as s:
            row = await s.get(NodeAgent, moved)
            assert row is not None
            assert row.last_heartbeat == dt.datetime(2026, 12, 6, 7, 1, 2, 345678)
            assert (row.url, row.agent_version, row.token_delivered, row.at_gate) == (
                "http://10.0.0.5:9", "1.2", True, True)
            assert row.command_record() == COMMAND
            assert row.internal_info()["agent_command"] == COMMAND
            assert await s.get(NodeAgent, untouched) is None
            dii = (await s.execute(sa.text(
                "SELECT driver_internal_info, version FROM nodes WHERE id = :i"),
                {"i": moved})).one()
            assert (_json(dii[0]), dii[1]) == ({"clean_steps": ["keep me"]}, 0)
        await _downgrade(db_url, _before())
        async with db.transaction() as conn:
            back = (await conn.execute(sa.text(
                "SELECT driver_internal_info FROM nodes WHERE id = :i"), {"i": moved})).scalar()
        assert _json(back) == {**DII, "agent_last_heartbeat": "2026-12-06T07:01:02.345678"}
    finally:
        await db.dispose()


def _json(value: Any) -> Any:
    import json

    return json.loads(value) if isinstance(value, str) else value
