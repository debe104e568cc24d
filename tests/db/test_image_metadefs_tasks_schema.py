"""Migration 0021: the metadata definition and task tables, as the models say; a
namespace's items go with it, and a name is one item's per namespace and kind."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.exc import IntegrityError

from barecloud.db import migrate
from barecloud.db.models import MetadefItem, MetadefNamespace
from barecloud.db.session import Database
from tests.db.schema import before, differences


async def test_migration_matches_models(database: Database) -> None:
    assert await differences(database, {"metadef_namespaces", "metadef_items",
                                               "image_tasks"}) == []


async def test_items_unique_and_deleted_with_their_namespace(db_url: str) -> None:
    await migrate.upgrade_async(db_url)
    db = Database(db_url)
    try:
        async with db.session() as s:
            ns = MetadefNamespace(namespace="n1")
            s.add(ns)
            await s.flush()
            s.add_all([MetadefItem(namespace_id=ns.id, kind="tag", name="a"),
                       MetadefItem(namespace_id=ns.id, kind="object", name="a")])
        with pytest.raises(IntegrityError):
            async with db.session() as s:
                s.add(MetadefItem(namespace_id=ns.id, kind="tag", name="a"))
        async with db.session() as s:
            await s.execute(sa.delete(MetadefNamespace).where(MetadefNamespace.id == ns.id))
        async with db.session() as s:
            assert (await s.scalars(sa.select(MetadefItem))).all() == []
        await asyncio.to_thread(command.downgrade, migrate.alembic_config(db_url),
                                before("0021"))
        async with db.session() as s:
            tables = await s.run_sync(lambda sync: sa.inspect(sync.connection()).get_table_names())
            assert not {"metadef_items", "metadef_namespaces", "image_tasks"} & set(tables)
    finally:
        await db.dispose()
