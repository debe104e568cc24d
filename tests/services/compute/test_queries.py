"""A page of servers, read as rows, is what reading each server whole gives."""

from __future__ import annotations

import datetime as dt
import json

from barecloud.config import Settings
from barecloud.db.compute_models import Server
from barecloud.db.session import Database
from barecloud.services.compute import queries
from barecloud.services.context import RequestContext, Runtime

MEMBER = RequestContext(request_id="req-test", project="p1", roles=("member", "reader"))


def _server(name: str, **values: object) -> Server:
    return Server(name=name, project_id="p1", user_id="u1", flavor_id="f1", image_ref="i1",
                  reservation_id="r1", vm_state="active",
                  created_at=dt.datetime(2026, 12, 7, 5, 11, 22, 450507), **values)


async def test_a_page_reads_what_the_entities_hold(database: Database, settings: Settings) -> None:
    """JSON as json.loads reads it (orjson refuses NaN and integers past 64 bits), and
    a NULL or JSON null fault as None, on both databases."""
    rt = Runtime(database, settings)
    async with database.session() as s:
        s.add_all([
            _server("a", meta={"\u00e9": "\u00fc\U0001f600", "n": 1.5, "i": -(2**63)},
                    flavor={"name": "x", "extra_specs": {"k": "v"}},
                    addresses={"net": [{"addr": "10.0.0.1", "version": 4}]},
                    fault={"code": 500, "message": "m"}),
            _server("b", meta={"big": 2**64, "small": -(2**63) - 1}, fault=None),
            # PostgreSQL's json refuses NaN.
            *([_server("c", meta={"nan": float("nan")})] if database.is_sqlite else []),
        ])
    page = await queries.list_servers(rt, MEMBER, queries.ServerQuery())
    assert [r.name for r in page.servers][-2:] == ["b", "a"]  # one created_at: newest id first
    for row in page.servers:
        one = (await queries.get(rt, MEMBER, row.uuid)).server
        assert json.dumps(row, default=str) == json.dumps(one, default=str)
    b = page.servers[-2]
    assert b.fault is None and b.meta == {"big": 2**64, "small": -(2**63) - 1}
    assert all(isinstance(v, int) for v in b.meta.values())
