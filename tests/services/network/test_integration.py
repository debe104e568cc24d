"""The plain functions Compute and the conductor call: create, bind, unbind, delete ports."""

from __future__ import annotations

import pytest

from barecloud.config import Settings
from barecloud.db.session import Database
from barecloud.drivers.switches.base import Segment
from barecloud.services import network as api
from barecloud.services.context import Runtime
from barecloud.services.network import networks, subnets
from barecloud.services.network.errors import (
    IpAddressGenerationFailure,
    MacAddressInUse,
    NetworkNotFound,
    PortNotFound,
)
from barecloud.services.tenancy import service_context


async def test_port_life_for_a_node(database: Database, settings: Settings) -> None:
    rt = Runtime(db=database, settings=settings)
    ctx = service_context("req-test")
    net = await networks.create(rt, ctx, {"name": "tenant", "project_id": "p1"})
    v4 = await subnets.create(rt, ctx, {"network_id": net.id, "ip_version": 4,
                                        "cidr": "10.5.0.0/30", "project_id": "p1"})
    v6 = await subnets.create(rt, ctx, {"network_id": net.id, "ip_version": 6,
                                        "cidr": "fd00:5::/64", "ipv6_address_mode": "slaac",
                                        "project_id": "p1"})
    assert (await api.find_network(database, "tenant")).id == net.id
    assert (await api.find_network(database, net.id)).name == "tenant"
    with pytest.raises(NetworkNotFound):
        await api.find_network(database, "nope")
    assert await api.segment_of(database, net.id) == Segment(
        "vxlan", net.segmentation_id, net.id, 1450)

    port = await api.create_port(database, project_id="p1", network_id=net.id,
                                 device_id="server-1", device_owner="compute:nova")
    assert port.status == "DOWN" and port.binding_vif_type == "unbound"
    assert {a.subnet_id: a.ip_address for a in port.allocations}[v4.id] == "10.5.0.2"
    with pytest.raises(IpAddressGenerationFailure):  # a /30 has one address after the gateway
        await api.create_port(rt, None, project_id="p1", network_id=net.id,
                              device_id="server-2", device_owner="compute:nova")
    other = await api.create_port(database, project_id="p1", network_id=net.id,
                                  device_id="server-2", device_owner="compute:nova",
                                  fixed_ips=[{"subnet_id": v6.id}])
    links = [{"switch_id": "aa:bb:cc:dd:ee:ff", "port_id": "Eth1", "switch_info": "sw1"}]
    with pytest.raises(MacAddressInUse):
        await api.bind_port(database, port.id, "node-1", "baremetal", links,
                            other.mac_address)
    bound = await api.bind_port(database, port.id, "node-1", "baremetal", links,
                                "52:54:00:00:00:01")
    assert (bound.status, bound.binding_vif_type, bound.mac_address) == (
        "ACTIVE", "other", "52:54:00:00:00:01")
    assert bound.binding_profile["local_link_information"] == links
    addresses = {a.subnet_id: a.ip_address for a in bound.allocations}
    assert addresses == {v4.id: "10.5.0.2", v6.id: "fd00:5::5054:ff:fe00:1"}
    unbound = await api.unbind_port(database, port.id)
    assert (unbound.status, unbound.binding_host_id, unbound.binding_vif_type) == (
        "DOWN", "", "unbound")
    assert "local_link_information" not in unbound.binding_profile
    assert await api.delete_ports_of_device(database, "server-1") == 1
    with pytest.raises(PortNotFound):
        await api.get_port(database, port.id)
    await api.delete_port(rt, None, other.id)
    with pytest.raises(PortNotFound):
        await api.delete_port(database, None, other.id)
