"""A create whose quota recheck fails leaves no node behind.

``servers.create`` inserts its rows, then counts the quota again and deletes
them if a concurrent create got in too.  A reconciler (here, another API
process) that gave one of those rows a node in between left that node with
the ``instance_uuid`` of a server that no longer exists, for good.
"""

from __future__ import annotations

import asyncio
import contextlib

from sqlalchemy import select

from barecloud.config import Settings
from barecloud.db.compute_models import Server
from barecloud.db.models import Node
from barecloud.db.session import Database
from barecloud.services.compute import quotas, sync
from barecloud.services.compute import status as st
from barecloud.services.context import Runtime
from barecloud.services.tenancy import NOAUTH_PROJECT
from tests.services.compute import support as cs


async def test_a_create_refused_at_its_recheck_leaves_no_node_claimed(
        pg: Database, settings: Settings) -> None:
    # The creating API process has one connection: between two of its
    # transactions, the turn goes to whoever waits for it first (the test).
    api_db = Database(pg.url, pool_size=1)
    api, other = Runtime(api_db, settings), Runtime(pg, settings)
    try:
        await cs.add_node(pg, "free")
        image, flavor = await cs.image(other), await cs.flavor(other)
        await quotas.update(other, cs.ADMIN, NOAUTH_PROJECT, {"quota_set": {
            "instances": 1, "cores": -1, "ram": -1}}, (2, 96))
        create = asyncio.create_task(cs.create(api, image, flavor, name="racer"))
        while True:
            async with api_db.session() as s:  # the create's turns and ours alternate
                row = await s.scalar(select(Server).where(Server.name == "racer"))
                if row is not None:
                    # Inserted, not yet rechecked: the other process's reconciler
                    # passes, and a concurrent create fills the quota.
                    await sync.sync_once(other, "other")
                    async with pg.session() as o:
                        o.add(Server(uuid="00000000-0000-4000-8000-000000000001",
                                     name="concurrent", project_id=NOAUTH_PROJECT,
                                     user_id="u", flavor={}, flavor_id=flavor,
                                     image_ref=image, reservation_id="r-concurre",
                                     vm_state=st.ACTIVE, attempts=[], addresses={},
                                     deleted=False))
                    break
            await asyncio.sleep(0)
        with contextlib.suppress(quotas.OverQuota):
            await create
            raise AssertionError("the recheck let the create through")
    finally:
        await api_db.dispose()
    async with pg.session() as s:
        servers = set((await s.scalars(select(Server.uuid))).all())
        claimed = (await s.scalars(select(Node.instance_uuid).where(
            Node.instance_uuid.is_not(None)))).all()
    assert [u for u in claimed if u not in servers] == []
    assert servers == {"00000000-0000-4000-8000-000000000001"}
