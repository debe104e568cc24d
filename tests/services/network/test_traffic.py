"""The top-talker report from a fake switch's counters, on SQLite and PostgreSQL.

A server on a network, bound to a node whose NIC is cabled to port p1 of a
fake switch; the test sets the switch's counters between samples as traffic
would move them, and reads the ranking: increases summed (a counter reset
counts from zero), the tenant, server and network named as they were when
the bytes moved, even after the machine changed hands.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from barecloud.config import Settings
from barecloud.db.session import Database
from barecloud.drivers.switches import registry
from barecloud.drivers.switches.base import PortCounters
from barecloud.drivers.switches.fake import FakeSwitch
from barecloud.errors import Forbidden, InvalidParameter, NotFound
from barecloud.services.compute import actions
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.network import traffic
from tests.services.compute import support as cs

READER = RequestContext(request_id="req-reader", user="u", project="e" * 32,
                        roles=("member", "reader"))


@pytest.fixture
async def rt(database: Database, settings: Settings) -> AsyncIterator[Runtime]:
    cabled = settings.model_copy(update={"switches": {"tor": {
        "driver": "fake", "ports": ["n1-0", "p2", "p3"]}}})
    async with cs.running(database, cabled) as runtime:
        yield runtime
    await registry.close_all()


def _tor() -> FakeSwitch:
    switch = registry.switch("tor")
    assert isinstance(switch, FakeSwitch)
    return switch


async def test_ranking_names_who_sent_it(rt: Runtime) -> None:
    node = await cs.cabled_node(rt.db, "n1", ("52:54:00:00:09:01",))
    net = await cs.network(rt, "bulk-net", "10.9.0.0/24")
    image_id, flavor_id = await cs.image(rt), await cs.flavor(rt)
    [uuid] = await cs.create(rt, image_id, flavor_id, "sender", networks=[{"uuid": net}])
    [server] = await cs.settle(rt)
    assert server.node_uuid == node and server.vm_state == "active", server.fault

    tor = _tor()
    steps = [  # (p1 = the sender's NIC, p2 = nobody's, p3 = nobody's, reset between)
        (PortCounters(1_000, 50, 10, 1), PortCounters(500, 0, 5, 0), PortCounters(5_000)),
        (PortCounters(901_000, 80, 610, 2), PortCounters(700, 0, 7, 0), PortCounters(100)),
        (PortCounters(1_901_000, 90, 1_210, 3), PortCounters(800, 0, 8, 0), PortCounters(400)),
    ]
    for i, (p1, p2, p3) in enumerate(steps):
        tor.set_counters("n1-0", p1)
        tor.set_counters("p2", p2)
        tor.set_counters("p3", p3)
        assert await traffic.sample_once(rt) == 3
        if i == 0:  # one sample: no bytes counted yet, but the owner is named
            first = await traffic.top_talkers(rt, cs.ADMIN, switch="tor", minutes=5, limit=3)
            [p1_row] = [r for r in first if r["port"] == "n1-0"]
            assert p1_row["server_name"] == "sender" and p1_row["rx_bytes"] == 0

    rows = await traffic.top_talkers(rt, cs.ADMIN, switch="tor", minutes=5, limit=10)
    assert [r["port"] for r in rows] == ["n1-0", "p3", "p2"]
    top = rows[0]
    assert top["rx_bytes"] == 1_900_000 and top["tx_bytes"] == 40
    assert top["rx_packets"] == 1_200 and top["tx_packets"] == 2
    assert top["project_id"] == server.project_id
    assert top["server_id"] == uuid and top["server_name"] == "sender"
    assert top["network_id"] == net and top["network_name"] == "bulk-net"
    assert rows[1]["rx_bytes"] == 100 + 300  # reset to 100 counts 100, then +300
    assert rows[2]["project_id"] is None and rows[2]["rx_bytes"] == 300
    assert [r["port"] for r in await traffic.top_talkers(
        rt, cs.ADMIN, switch=None, minutes=5, limit=1)] == ["n1-0"]
    # Ranked by what the ports' machines received: only p1 received anything.
    received = await traffic.top_talkers(rt, cs.ADMIN, switch="tor", minutes=5, limit=10,
                                         sort="received")
    assert (received[0]["port"], received[0]["tx_bytes"]) == ("n1-0", 40)

    # The machine is given back: new bytes on p1 belong to nobody, the old ones
    # still to the sender.
    await actions.delete(rt, cs.ADMIN, uuid)
    await cs.settle(rt, until=lambda rows: all(r.deleted for r in rows))
    tor.set_counters("n1-0", PortCounters(1_902_000, 90, 1_211, 3))
    await traffic.sample_once(rt)
    [top] = await traffic.top_talkers(rt, cs.ADMIN, switch="tor", minutes=5, limit=1)
    assert top["server_id"] == uuid and top["rx_bytes"] == 1_901_000


async def test_report_refuses_bad_questions(rt: Runtime) -> None:
    for minutes, limit, switch, error in ((0, 10, None, InvalidParameter),
                                          (24 * 60 + 1, 10, None, InvalidParameter),
                                          (5, 0, None, InvalidParameter),
                                          (5, 10, "nope", NotFound)):
        with pytest.raises(error):
            await traffic.top_talkers(rt, cs.ADMIN, switch=switch, minutes=minutes,
                                      limit=limit)
    with pytest.raises(InvalidParameter, match="sort must be one of sent"):
        await traffic.top_talkers(rt, cs.ADMIN, switch=None, minutes=5, limit=10,
                                  sort="loudest")
    with pytest.raises(Forbidden):
        await traffic.top_talkers(rt, READER, switch=None, minutes=5, limit=10)
    assert await traffic.top_talkers(rt, cs.ADMIN, switch="tor", minutes=5, limit=10) == []
