"""Migration 0014: the index a project's server list walks, as the model declares it."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from barecloud.db.compute_models import Server
from barecloud.db.session import Database
from barecloud.services.compute.queries import SHOWN
from tests.db.schema import differences


async def test_migration_matches_models(database: Database) -> None:
    assert await differences(database, {"servers"}) == []


async def test_a_projects_page_walks_the_index_unsorted(database: Database) -> None:
    """Nova's default list (newest first) needs no sort of the project's rows."""
    if not database.is_sqlite:
        pytest.skip("the plan of an empty PostgreSQL table says nothing")
    page = (sa.select(*SHOWN).where(Server.project_id == "p", Server.deleted.is_(False))
            .order_by(Server.created_at.desc(), Server.id.desc()).limit(1000))
    async with database.engine.connect() as conn:
        sql = str(page.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
        plan = " / ".join(row[-1] for row in await conn.exec_driver_sql(
            f"EXPLAIN QUERY PLAN {sql}"))
    assert "USING INDEX ix_servers_list" in plan and "TEMP B-TREE" not in plan, plan
