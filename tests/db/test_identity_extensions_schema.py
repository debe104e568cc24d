"""Migration 0025: domain roles, domain configurations, endpoint groups and OAuth1
consumers as the models declare them, on SQLite and PostgreSQL; the roles kept,
their names unique per domain (globally for the global roles), and back again."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import IntegrityError

import barecloud.db.identity_models  # noqa: F401  (declares the tables compared)
from barecloud.db import migrate
from barecloud.db.session import Database
from tests.db.schema import before, differences


async def test_migration_matches_models(database: Database) -> None:
    assert await differences(database, {"roles", "domain_configs", "endpoint_groups",
                                        "endpoint_group_projects", "oauth_consumers", "domains",
                                        "projects"}) == []


async def _insert(db: Database, sql: str, **values: object) -> None:
    async with db.session() as s:
        await s.execute(sa.text(sql), values)


async def test_roles_are_kept_and_unique_per_domain(db_url: str) -> None:
    await migrate.upgrade_async(db_url, before("0025"))
    db = Database(db_url)
    role = ("INSERT INTO roles (id, name, description, created_at) "
            "VALUES (:id, :name, '', CURRENT_TIMESTAMP)")
    try:
        await _insert(db, role, id="r1", name="operator")
        await migrate.upgrade_async(db_url)
        async with db.session() as s:
            assert (await s.execute(sa.text("SELECT id, name, domain_id FROM roles "
                                            "WHERE id = 'r1'"))).one() == ("r1", "operator", None)
        with_domain = ("INSERT INTO roles (id, name, description, created_at, domain_id) "
                       "VALUES (:id, :name, '', CURRENT_TIMESTAMP, :domain)")
        await _insert(db, "INSERT INTO domains (id, name, description, enabled, extra, "
                          "created_at) VALUES ('d1', 'd1', '', true, '{}', CURRENT_TIMESTAMP)")
        await _insert(db, with_domain, id="r2", name="operator", domain="d1")
        with pytest.raises(IntegrityError):
            await _insert(db, with_domain, id="r3", name="operator", domain="d1")
        with pytest.raises(IntegrityError):
            await _insert(db, role, id="r4", name="operator")
        await _insert(db, "DELETE FROM roles WHERE id = 'r2'")
        await asyncio.to_thread(command.downgrade, migrate.alembic_config(db_url),
                                before("0025"))
        with pytest.raises(IntegrityError):
            await _insert(db, role, id="r5", name="operator")
    finally:
        await db.dispose()
