"""A request whose node changed between its read and its write: 409, never a 500,
and nothing of it written (PostgreSQL, where requests run side by side)."""

from __future__ import annotations

import asyncio

from sqlalchemy import update

from barecloud.db.models import Node
from barecloud.db.session import Database
from tests import support
from tests.api.baremetal.ironic import Ironic, fault


async def test_a_patch_that_lost_a_race_is_409_in_ironic_format(
        pg_service: support.Service, pg_url: str) -> None:
    api = Ironic(pg_service)
    db = Database(pg_url)
    try:
        rsp = api.post("/nodes", json={"driver": "fake-hardware", "name": "race-1"})
        assert rsp.status_code == 201, rsp.text
        node = rsp.json()["uuid"]
        async with db.session() as s:
            # Another writer, mid-transaction: the PATCH reads the node as it was
            # and its UPDATE waits for this row.
            await s.execute(update(Node).where(Node.uuid == node).values(
                description="theirs", version=Node.version + 1))
            patch = asyncio.create_task(asyncio.to_thread(
                api.patch, f"/nodes/{node}",
                json=[{"op": "replace", "path": "/description", "value": "mine"}]))
            await asyncio.sleep(1.0)
            assert not patch.done()
        text = fault(await asyncio.wait_for(patch, 30), 409)
        assert text == f"Node {node} was changed by another request; retry."
        assert api.node(node)["description"] == "theirs"
        rsp = api.patch(f"/nodes/{node}", json=[
            {"op": "replace", "path": "/description", "value": "mine"}])
        assert rsp.status_code == 200, rsp.text  # read again, it goes through
    finally:
        api.close()
        await db.dispose()
