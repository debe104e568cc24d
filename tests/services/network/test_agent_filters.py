"""The network agent's port-filter pass on a generic-ssh switch (the lab's SSH switch,
Cisco IOS dialect, over real SSH): a machine's port gets its security groups as
port ACLs once its switch port is on the port's own VLAN, a rule change rewrites
them, a pass with no change types nothing, and a port off its VLAN loses them.
A switch that cannot filter is not asked.  SQLite, whose one process always leads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from barecloud.config import Settings
from barecloud.db.network_models import PortSecurityGroup
from barecloud.db.session import Database
from barecloud.drivers.switches import registry
from barecloud.lab.ssh_switch import SshSwitch
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.network import binding, networks, ports, security_groups, subnets
from barecloud.services.network.agent import NetworkAgent
from barecloud.services.tenancy import NOAUTH_PROJECT

ADMIN = RequestContext(request_id="req-filters", project=NOAUTH_PROJECT)
PASSWORD = "tor-acl-pw-5"
PORT, OTHER = "GigabitEthernet1/0/1", "GigabitEthernet1/0/2"
VLAN = 321


@pytest.fixture
async def switch() -> AsyncIterator[SshSwitch]:
    sw = SshSwitch("cisco_ios", "admin", PASSWORD, ports=(PORT, OTHER))
    await sw.start("127.0.0.1", 0)
    try:
        yield sw
    finally:
        await sw.close()


def _configs(sw: SshSwitch) -> int:
    return sw.state.commands.count("configure terminal")


async def test_the_filter_pass_writes_a_machines_acls(sqlite_db: Database, settings: Settings,
                                                      switch: SshSwitch) -> None:
    settings = settings.model_copy(update={"switches": {
        "tor": {"driver": "generic-ssh", "device_type": "cisco_ios", "address": "127.0.0.1",
                "port": switch.port, "username": "admin", "password": PASSWORD,
                "timeout": 10},
        "dumb": {"driver": "fake", "filters_ports": False}}})
    rt = Runtime(sqlite_db, settings)
    agent = NetworkAgent(rt)
    try:
        assert set(agent._filterers()) == {"tor"}  # the fake one cannot filter
        net = await networks.create(rt, ADMIN, {
            "name": "acl-net", "provider:network_type": "vlan",
            "provider:physical_network": "physnet1", "provider:segmentation_id": VLAN})
        await subnets.create(rt, ADMIN, {"network_id": net.id, "cidr": "10.61.0.0/24",
                                         "ip_version": 4})
        port = await ports.create(rt, ADMIN, {"network_id": net.id})
        address = port.allocations[0].ip_address
        await binding.bind_port(rt.db, port.id, "node-1", "baremetal",
                                [{"switch_info": "tor", "port_id": PORT}])
        tor = registry.switch_driver("tor", settings)

        await agent.sync_filters()  # the switch port is on no VLAN yet: not filtered
        assert switch.state.port_acls(PORT) == {} and _configs(switch) == 0

        segment = await binding.segment_of(rt.db, net.id)
        assert segment.segmentation_id == VLAN
        await tor.bind(PORT, segment)
        await agent.sync_filters()
        acl = switch.state.port_acls(PORT)
        assert set(acl) == {"ip in", "ip out", "ipv6 in", "ipv6 out"}
        assert f"permit ip host {address} any" in acl["ip in"]  # the default group: all out
        assert f"permit ip host {address} any" in acl["ip out"]  # from its group: itself
        assert "permit tcp any any established" in acl["ip out"]  # answers
        assert switch.state.port_acls(OTHER) == {}

        configs = _configs(switch)
        await agent.sync_filters()
        assert _configs(switch) == configs  # nothing changed: nothing typed

        async with rt.db.session() as s:
            [group] = (await s.scalars(select(PortSecurityGroup.security_group_id).where(
                PortSecurityGroup.port_id == port.id))).all()
        await security_groups.create_rule(rt, ADMIN, {
            "security_group_id": group, "direction": "ingress", "ethertype": "IPv4",
            "protocol": "tcp", "port_range_min": 22, "port_range_max": 22,
            "remote_ip_prefix": "192.0.2.0/24"})
        await agent.sync_filters()
        assert "permit tcp 192.0.2.0 0.0.0.255 any eq 22" in switch.state.port_acls(PORT)[
            "ip out"]
        assert _configs(switch) == configs + 1

        await tor.unbind(PORT)  # off its VLAN (e.g. cleaning): its ACLs go
        await agent.sync_filters()
        assert switch.state.port_acls(PORT) == {} and switch.state.acls == {}
    finally:
        await registry.close_all()
