"""The flow collector end to end on a real UDP socket, on SQLite and PostgreSQL.

A fake switch that exports flows (the product's ``fake`` driver with
``flow_export``: port N of its list is ifIndex N) is pointed by the
collector at the collector's own socket; the test sends it sFlow datagrams
as a switch would: a bulk TCP flow from one server's machine to another's,
its ACKs back, a flow from an address that no MAC names (attributed by the
switch port it came in by), and garbage.  The report ranks the flows by
estimated bytes, names both ends' tenant, server and network, and gives the
95 % error of each estimate.
"""

from __future__ import annotations

import asyncio
import math
import socket
import struct
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import func, select

from barecloud.config import Settings
from barecloud.db.models import Node
from barecloud.db.network_models import FlowRecord, IPAllocation, NetworkPort
from barecloud.db.session import Database
from barecloud.drivers.switches import registry
from barecloud.drivers.switches.fake import FakeSwitch
from barecloud.errors import Forbidden, NotFound
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.network import flow_report, flows
from barecloud.wire import sflow
from tests.services.compute import support as cs

MEMBER = RequestContext(request_id="req-m", user="u", project="e" * 32, roles=("member",))


@pytest.fixture
async def rt(database: Database, settings: Settings) -> AsyncIterator[Runtime]:
    cabled = settings.model_copy(update={"host": "127.0.0.1", "flow_interval": 600,
                                         "switches": {"tor": {
        "driver": "fake", "ports": ["n1-0", "n2-0", "p3"], "flow_export": True},
        "plain": {"driver": "fake"}}})
    async with cs.running(database, cabled) as runtime:
        yield runtime
    await registry.close_all()


def frame(src_mac: str, dst_mac: str, src: str, dst: str, sport: int, dport: int) -> bytes:
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 40, 1, 0, 64, 6, 0, socket.inet_aton(src),
                     socket.inet_aton(dst))
    return (bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex(src_mac.replace(":", ""))
            + b"\x08\x00" + ip + struct.pack("!HHIIHHHH", sport, dport, 0, 0, 0, 0, 0, 0))


async def _vif(rt: Runtime, server: str) -> tuple[str, str]:
    async with rt.db.session() as s:
        port = await s.scalar(select(NetworkPort).where(NetworkPort.device_id == server))
        assert port is not None
        ip = await s.scalar(select(IPAllocation.ip_address).where(
            IPAllocation.port_id == port.id))
    assert ip is not None
    return port.mac_address, ip


async def test_flows_attributed_ranked_with_their_error(rt: Runtime) -> None:
    await cs.unlimited(rt)
    await cs.cabled_node(rt.db, "n1", ("52:54:00:00:0a:01",))
    await cs.cabled_node(rt.db, "n2", ("52:54:00:00:0a:02",))
    net = await cs.network(rt, "flow-net", "10.11.0.0/24")
    image_id, flavor_id = await cs.image(rt), await cs.flavor(rt)
    sender = (await cs.create(rt, image_id, flavor_id, "sender", networks=[{"uuid": net}]))[0]
    receiver = (await cs.create(rt, image_id, flavor_id, "receiver",
                                networks=[{"uuid": net}]))[0]
    servers = await cs.settle(rt)
    assert all(s.vm_state == "active" for s in servers), [s.fault for s in servers]
    (s_mac, s_ip), (r_mac, r_ip) = await _vif(rt, sender), await _vif(rt, receiver)
    by_uuid = {s.uuid: s for s in servers}
    node_of = {s.uuid: s.node_uuid for s in servers}

    collector = flows.FlowCollector(rt, "tor")
    assert flows.exporting_switches(rt) == ["tor"]  # "plain" exports nothing
    await collector.start()  # this process leads: it listens, the switch exports to it
    for _ in range(500):
        if collector.target:
            break
        await asyncio.sleep(0.01)
    tor = registry.switch("tor")
    assert isinstance(tor, FakeSwitch) and tor.flow_target == collector.target
    host, port = str(collector.target).rsplit(":", 1)
    assert host == "127.0.0.1"
    # Which machine is on which port: the node cabled to n1-0 holds the sender?
    cabled = {srv: ("n1-0" if node_of[srv] == await _node_uuid(rt, "n1") else "n2-0")
              for srv in (sender, receiver)}
    s_if = {"n1-0": 1, "n2-0": 2}[cabled[sender]]
    r_if = {"n1-0": 1, "n2-0": 2}[cabled[receiver]]
    assert s_if != r_if

    bulk = frame(s_mac, r_mac, s_ip, r_ip, 40000, 5201)
    acks = frame(r_mac, s_mac, r_ip, s_ip, 5201, 40000)
    stray = frame("02:00:00:00:00:99", r_mac, "192.0.2.7", r_ip, 1234, 80)
    samples = [sflow.encode_flow_sample(sequence=i, source=s_if, rate=1000, pool=i * 1000,
                                        inp=s_if, outp=r_if, frame=bulk, frame_length=1514)
               for i in range(100)]
    samples += [sflow.encode_flow_sample(sequence=i, source=r_if, rate=1000, pool=i,
                                         inp=r_if, outp=s_if, frame=acks, frame_length=66)
                for i in range(25)]
    samples += [sflow.encode_flow_sample(sequence=i, source=3, rate=1000, pool=i, inp=s_if,
                                         outp=r_if, frame=stray, frame_length=100)
                for i in range(4)]
    out = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for i in range(0, len(samples), 5):
        out.sendto(sflow.encode_datagram("127.0.0.1", i, i, samples[i:i + 5]),
                   (host, int(port)))
    out.sendto(b"not sflow", (host, int(port)))
    out.close()
    for _ in range(200):
        if collector.table.samples == len(samples) and collector.table.errors == 1:
            break
        await asyncio.sleep(0.01)
    assert (collector.table.samples, collector.table.errors) == (len(samples), 1)
    assert await collector.flush() == 3  # one row per flow, not per sample
    assert await collector.flush() == 0

    rows = await flow_report.top_flows(rt, cs.ADMIN, switch="tor", port=cabled[sender],
                                       minutes=5, limit=10)
    assert [r["dst_port"] for r in rows] == [5201, 40000, 80]  # by estimated bytes
    top = rows[0]
    assert (top["in_port"], top["out_port"], top["protocol"]) == (
        cabled[sender], cabled[receiver], "tcp")
    assert (top["src_ip"], top["src_port"], top["dst_ip"]) == (s_ip, 40000, r_ip)
    assert top["samples"] == 100 and top["bytes"] == 100 * 1514 * 1000
    assert top["packets"] == 100_000
    assert top["error_percent"] == pytest.approx(196 * math.sqrt(1 / 100), abs=0.05)
    assert top["bytes_low"] < top["bytes"] < top["bytes_high"]
    project = by_uuid[sender].project_id
    assert top["source"]["server_id"] == sender and top["source"]["server_name"] == "sender"
    assert top["source"]["project_id"] == project
    assert top["source"]["network_name"] == "flow-net"
    assert top["destination"]["server_name"] == "receiver"
    assert rows[1]["source"]["server_name"] == "receiver"  # the ACKs
    # A MAC no port has: the machine behind the port it came in by is named.
    assert rows[2]["source"]["server_name"] == "sender" and rows[2]["src_ip"] == "192.0.2.7"
    # Filters: another port sees none of these; a flow's out port sees them too.
    assert await flow_report.top_flows(rt, cs.ADMIN, switch="tor", port="p3", minutes=5,
                                       limit=10) == []
    assert len(await flow_report.top_flows(rt, cs.ADMIN, switch=None, port=cabled[receiver],
                                           minutes=5, limit=2)) == 2
    with pytest.raises(NotFound):
        await flow_report.top_flows(rt, cs.ADMIN, switch="nope", port=None, minutes=5,
                                    limit=1)
    with pytest.raises(Forbidden):
        await flow_report.top_flows(rt, MEMBER, switch=None, port=None, minutes=5, limit=1)
    async with rt.db.session() as s:
        assert await s.scalar(select(func.count()).select_from(FlowRecord)) == 3
    await collector.stop()
    assert collector.transport is None


async def _node_uuid(rt: Runtime, name: str) -> str:
    async with rt.db.session() as s:
        uuid = await s.scalar(select(Node.uuid).where(Node.name == name))
    assert uuid is not None
    return str(uuid)
