"""Servers on networks, on SQLite and PostgreSQL: ports bound to the NICs, and let go.

fake-hardware nodes whose NICs are cabled to a fake switch; servers created
through ``services.servers`` with ``networks`` and driven by the real
reconciler.  What is checked is what the network interface and the tenant
DHCP server rely on: the Neutron port bound to the node with the NIC's MAC
and switch port, the NIC's Ironic port naming the VIF and its segment, the
server's addresses; and after the delete, nothing of it left.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from barecloud.config import Settings
from barecloud.db.models import Node, Port
from barecloud.db.network_models import NetworkPort
from barecloud.db.session import Database
from barecloud.errors import Conflict, InvalidParameter
from barecloud.services.compute import actions, servers
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.network import networks, ports, subnets, vifs
from tests.services.compute import support as cs

OTHER = RequestContext(request_id="req-other", user="u-other", project="f" * 32,
                       roles=("member", "reader"))
MEMBER = RequestContext(request_id="req-member", user="u-member", project="e" * 32,
                        roles=("member", "reader"))


@pytest.fixture
async def rt(database: Database, settings: Settings) -> AsyncIterator[Runtime]:
    async with cs.running(database, settings) as runtime:
        yield runtime


async def _nics(db: Database, node_uuid: str) -> list[Port]:
    async with db.session() as s:
        return list((await s.scalars(select(Port).join(Node).where(
            Node.uuid == node_uuid).order_by(Port.id))).all())


async def _ports_of(db: Database, device: str) -> list[NetworkPort]:
    async with db.session() as s:
        return list((await s.scalars(select(NetworkPort).where(
            NetworkPort.device_id == device))).all())


async def test_ports_bound_to_the_nics_and_let_go(rt: Runtime) -> None:
    node = await cs.cabled_node(rt.db, "two-nics", ("52:54:00:00:00:01", "52:54:00:00:00:02"))
    front = await cs.network(rt, "front", "10.1.0.0/24")
    back = await cs.network(rt, "back", "10.2.0.0/24")
    given = await ports.create(rt, cs.ADMIN, {"network_id": back, "name": "mine"})
    image_id, flavor_id = await cs.image(rt), await cs.flavor(rt)
    [uuid] = await cs.create(rt, image_id, flavor_id, "web", networks=[
        {"uuid": front}, {"port": given.id}])
    [server] = await cs.settle(rt)
    assert server.vm_state == "active" and server.node_uuid == node, server.fault

    bound = {p.network_id: p for p in await _ports_of(rt.db, uuid)}
    nics = await _nics(rt.db, node)
    # The first VIF on the PXE NIC, the second on the other one; each with that
    # NIC's MAC and switch port, bound to the node.
    for vif, nic in ((bound[front], nics[0]), (bound[back], nics[1])):
        assert vif.mac_address == nic.address
        assert vif.binding_host_id == node and vif.binding_vnic_type == "baremetal"
        assert vif.binding_profile["local_link_information"] == [nic.local_link_connection]
        assert vif.status == "ACTIVE"
        assert nic.internal_info["tenant_vif_port_id"] == vif.id
        segment = nic.internal_info["tenant_segment"]
        assert segment["network_id"] == vif.network_id
        assert segment["network_type"] == "vxlan" and segment["segmentation_id"] >= 5000
    assert server.addresses["front"][0]["addr"].startswith("10.1.0.")
    assert server.addresses["front"][0]["OS-EXT-IPS-MAC:mac_addr"] == nics[0].address
    assert server.addresses["back"][0]["addr"] == given.allocations[0].ip_address
    # The config drive's network_data: one link per NIC, its static address.
    data = await vifs.network_data(rt, server)
    assert data is not None
    assert [link["ethernet_mac_address"] for link in data["links"]] == [
        nics[0].address, nics[1].address]
    addrs = {n["network_id"]: (n["ip_address"], n["netmask"], n["routes"])
             for n in data["networks"]}
    assert addrs[front] == (server.addresses["front"][0]["addr"], "255.255.255.0",
                            [{"network": "0.0.0.0", "netmask": "0.0.0.0",
                              "gateway": "10.1.0.1"}])
    assert addrs[back][0] == given.allocations[0].ip_address

    await actions.delete(rt, cs.ADMIN, uuid)
    await cs.settle(rt, until=lambda rows: all(r.deleted for r in rows))
    # The port the server made is gone; the one it was given is kept, unbound.
    assert await _ports_of(rt.db, uuid) == []
    async with rt.db.session() as s:
        kept = await s.get(NetworkPort, given.id)
    assert kept is not None and kept.device_id == "" and kept.binding_host_id == ""
    assert kept.status == "DOWN"
    assert all("tenant_vif_port_id" not in n.internal_info for n in await _nics(rt.db, node))


async def test_more_networks_than_cabled_nics_fails_the_build(rt: Runtime) -> None:
    await cs.cabled_node(rt.db, "one-nic", ("52:54:00:00:01:01",))
    a = await cs.network(rt, "a", "10.3.0.0/24")
    b = await cs.network(rt, "b", "10.4.0.0/24")
    image_id, flavor_id = await cs.image(rt), await cs.flavor(rt)
    [uuid] = await cs.create(rt, image_id, flavor_id, "wide", networks=[{"uuid": a},
                                                                        {"uuid": b}])
    [server] = await cs.settle(rt)
    assert server.vm_state == "error"
    assert "1 free NIC(s) cabled to a switch" in server.fault["message"], server.fault
    assert await _ports_of(rt.db, uuid) == []  # nothing half-made is left


async def test_bad_networks_refused_at_create(rt: Runtime) -> None:
    image_id, flavor_id = await cs.image(rt), await cs.flavor(rt)
    hidden = await networks.create(rt, OTHER, {"name": "theirs"})
    for nets, error, words in (
        ([{"uuid": "00000000-0000-4000-8000-000000000000"}], InvalidParameter,
         "could not be found"),
        ([{"uuid": hidden.id}], InvalidParameter, "could not be found"),  # not visible
        ([{"port": "00000000-0000-4000-8000-000000000001"}], InvalidParameter,
         "could not be found"),
    ):
        body = {"server": {"name": "nope", "imageRef": image_id, "flavorRef": flavor_id,
                           "networks": nets}}
        with pytest.raises(error, match=words):
            await servers.create(rt, MEMBER, body, (2, 96))
    # The owner may use it.
    await servers.create(rt, OTHER, {"server": {
        "name": "theirs", "imageRef": image_id, "flavorRef": flavor_id,
        "networks": [{"uuid": hidden.id}]}}, (2, 96))
    assert [s.name for s in await cs.all_servers(rt.db)] == ["theirs"]
    net = await cs.network(rt, "mine", "10.5.0.0/24")
    busy = await ports.create(rt, cs.ADMIN, {"network_id": net, "device_id": "someone"})
    with pytest.raises(Conflict, match="still in use"):
        await cs.create(rt, image_id, flavor_id, "nope", networks=[{"port": busy.id}])
    assert [s.name for s in await cs.all_servers(rt.db)] == ["theirs"]


async def test_a_nic_carrying_another_vif_is_not_used(rt: Runtime) -> None:
    node = await cs.cabled_node(rt.db, "taken", ("52:54:00:00:02:01",))
    net = await cs.network(rt, "c", "10.6.0.0/24")
    other = await ports.create(rt, cs.ADMIN, {"network_id": net})
    async with rt.db.session() as s:  # as Ironic's VIF API leaves it
        [nic] = (await s.scalars(select(Port).join(Node).where(Node.uuid == node))).all()
        nic.internal_info = {"tenant_vif_port_id": other.id}
    image_id, flavor_id = await cs.image(rt), await cs.flavor(rt)
    [uuid] = await cs.create(rt, image_id, flavor_id, "late", networks=[{"uuid": net}])
    [server] = await cs.settle(rt)
    assert server.vm_state == "error"
    assert "0 free NIC(s)" in server.fault["message"], server.fault
    [still] = await _nics(rt.db, node)
    assert still.internal_info == {"tenant_vif_port_id": other.id}
    assert await _ports_of(rt.db, uuid) == []


async def test_a_switch_that_cannot_filter_refuses_a_port_with_port_security(
        database: Database, settings: Settings) -> None:
    """Neutron's failed binding: the server goes to ERROR with a fault naming the
    switch, its port and the remedy, and nothing of the attempt is left; a network
    without port security binds on the same switch."""
    ovs = {"driver": "openvswitch", "netns": "lab-ovs", "db": "unix:/nonexistent/db.sock"}
    async with cs.running(database, settings.model_copy(
            update={"switches": {"tor": ovs}})) as rt:
        node = await cs.cabled_node(rt.db, "unfiltered", ("52:54:00:00:03:01",))
        secured = await cs.network(rt, "secured", "10.6.0.0/24")
        image_id, flavor_id = await cs.image(rt), await cs.flavor(rt)
        [uuid] = await cs.create(rt, image_id, flavor_id, "walled",
                                 networks=[{"uuid": secured}])
        [server] = await cs.settle(rt)
        assert server.vm_state == "error", server
        message = server.fault["message"]
        assert "Binding failed for port" in message, message
        assert "switch tor cannot enforce security groups on its port unfiltered-0" in message
        assert "the openvswitch switch driver cannot filter ports" in message, message
        assert "--disable-port-security" in message, message
        assert await _ports_of(rt.db, uuid) == []
        assert all("tenant_vif_port_id" not in n.internal_info
                   for n in await _nics(rt.db, node))

        open_net = await networks.create(rt, cs.ADMIN, {"name": "open",
                                                        "port_security_enabled": False})
        await subnets.create(rt, cs.ADMIN, {"network_id": open_net.id, "cidr": "10.7.0.0/24",
                                            "ip_version": 4})
        [uuid] = await cs.create(rt, image_id, flavor_id, "open", networks=[
            {"uuid": open_net.id}])
        [_, server] = sorted(await cs.settle(rt), key=lambda s: s.name != "walled")
        assert server.vm_state == "active" and server.node_uuid == node, server.fault
        [vif] = await _ports_of(rt.db, uuid)
        assert vif.binding_host_id == node and not vif.port_security_enabled
