"""The ``neutron`` network interface in the workflows, against a switch over SSH.

A fake-hardware node whose NIC is cabled to port Gi1/0/1 of the lab's SSH
switch (Cisco IOS dialect, driven by the generic-ssh driver): cleaning puts
the port on the provisioning VLAN and takes it off; a deploy puts it on the
provisioning VLAN, then off, then on the tenant's VLAN before the final
boot; undeploy takes it off the tenant's VLAN before cleaning.  A switch
that refuses the tenant binding fails the deploy, with the switch's words
and no password, and the node never goes active.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import select

from barecloud import states
from barecloud.db.models import Node, Port
from barecloud.db.network_models import Network
from barecloud.drivers.switches.base import Segment
from barecloud.lab.ssh_switch import SshSwitch
from barecloud.services.baremetal import nodes
from barecloud.services.context import Runtime
from tests.conductor.conftest import RuntimeFactory
from tests.conductor.helpers import CTX, act, drive, load, wait_state

PASSWORD = "tor1-Secret-77"
PORT = "GigabitEthernet1/0/1"
PROVISIONING_VLAN = 10
TENANT_VLAN = 123


@pytest.fixture
async def switch() -> AsyncIterator[SshSwitch]:
    sw = SshSwitch("cisco_ios", "admin", PASSWORD, ports=(PORT, "GigabitEthernet1/0/2"))
    await sw.start("127.0.0.1", 0)
    try:
        yield sw
    finally:
        await sw.close()


@contextlib.asynccontextmanager
async def cabled(make_runtime: RuntimeFactory, switch: SshSwitch) -> AsyncIterator[Runtime]:
    tor = {"driver": "generic-ssh", "device_type": "cisco_ios", "address": "127.0.0.1",
           "port": switch.port, "username": "admin", "password": PASSWORD, "timeout": 10}
    async with make_runtime(switches={"tor1": tor}, provisioning_network="prov") as rt:
        async with rt.db.session() as s:
            s.add(Network(name="prov", project_id="ops", mtu=1500, network_type="vlan",
                          segmentation_id=PROVISIONING_VLAN))
        yield rt


async def _node(rt: Runtime, tenant: Segment | None) -> str:
    node = await nodes.create(rt, CTX, {"driver": "fake-hardware", "name": "cabled-1",
                                        "network_interface": "neutron"},
                              initial=states.ENROLL)
    info = ({"tenant_vif_port_id": "vif-1", "tenant_segment": dataclasses.asdict(tenant)}
            if tenant else {})
    async with rt.db.session() as s:
        row = await s.scalar(select(Node).where(Node.uuid == node.uuid))
        assert row is not None
        s.add(Port(address="52:54:00:aa:00:01", node_id=row.id, pxe_enabled=True, extra={},
                   internal_info=info, local_link_connection={
                       "switch_id": "00:11:22:33:44:55", "port_id": PORT,
                       "switch_info": "tor1"}))
    return node.uuid


def _vlan_lines(sw: SshSwitch) -> list[str]:
    return [c for c in sw.state.commands
            if c.startswith(("switchport access vlan", "no switchport access vlan"))]


async def test_ports_follow_clean_deploy_and_undeploy(
    make_runtime: RuntimeFactory, switch: SshSwitch,
) -> None:
    tenant = Segment("vlan", TENANT_VLAN, "5b9e3f55-0d5c-4a4e-9a61-1a2b3c4d5e6f")
    async with cabled(make_runtime, switch) as rt:
        uuid = await _node(rt, tenant)
        await drive(rt, uuid, "manage", states.MANAGEABLE)
        await drive(rt, uuid, "provide", states.AVAILABLE)
        # Cleaning: on the provisioning VLAN while the agent works, then off it.
        assert _vlan_lines(switch) == [f"switchport access vlan {PROVISIONING_VLAN}",
                                       "no switchport access vlan"]
        assert switch.state.access_vlan(PORT) is None  # shut down: on no segment

        await drive(rt, uuid, "deploy", states.ACTIVE)
        assert _vlan_lines(switch)[2:] == [f"switchport access vlan {PROVISIONING_VLAN}",
                                           "no switchport access vlan",
                                           f"switchport access vlan {TENANT_VLAN}"]
        assert switch.state.access_vlan(PORT) == TENANT_VLAN
        assert switch.state.startup is not None  # saved

        await drive(rt, uuid, "deleted", states.AVAILABLE)
        # Off the tenant's VLAN first, then cleaning on the provisioning one, then off.
        assert _vlan_lines(switch)[5:] == ["no switchport access vlan",
                                           f"switchport access vlan {PROVISIONING_VLAN}",
                                           "no switchport access vlan"]
        assert switch.state.access_vlan(PORT) is None
        # The other port was never touched.
        assert not any("GigabitEthernet1/0/2" in c for c in switch.state.commands)


async def test_a_refused_binding_fails_the_deploy_cleanly(
    make_runtime: RuntimeFactory, switch: SshSwitch,
) -> None:
    tenant = Segment("vlan", TENANT_VLAN, "5b9e3f55-0d5c-4a4e-9a61-1a2b3c4d5e6f")
    async with cabled(make_runtime, switch) as rt:
        uuid = await _node(rt, tenant)
        await drive(rt, uuid, "manage", states.MANAGEABLE)
        await drive(rt, uuid, "provide", states.AVAILABLE)
        switch.state.refuse(f"switchport access vlan {TENANT_VLAN}")
        await act(rt, uuid, "deploy")
        node = await wait_state(rt, uuid, states.DEPLOYFAIL)
        assert node.last_error and "tor1" in node.last_error, node.last_error
        assert "Invalid input" in node.last_error, node.last_error
        assert PASSWORD not in node.last_error
        assert switch.state.access_vlan(PORT) != TENANT_VLAN
        assert node.provision_state != states.ACTIVE
        # The operator can take it back: undeploy cleans it on the provisioning VLAN.
        switch.state.refusals.clear()
        await drive(rt, uuid, "deleted", states.AVAILABLE)
        assert (await load(rt.db, uuid)).provision_state == states.AVAILABLE


async def test_validation_refuses_a_node_without_cabling(make_runtime: RuntimeFactory,
                                                         switch: SshSwitch) -> None:
    async with cabled(make_runtime, switch) as rt:
        node = await nodes.create(rt, CTX, {"driver": "fake-hardware", "name": "loose",
                                            "network_interface": "neutron"},
                                  initial=states.ENROLL)
        await drive(rt, node.uuid, "manage", states.MANAGEABLE)
        await drive(rt, node.uuid, "provide", states.AVAILABLE)  # cleaning binds nothing
        await act(rt, node.uuid, "deploy")
        failed = await wait_state(rt, node.uuid, states.DEPLOYFAIL)
        assert failed.last_error and "local_link_connection" in failed.last_error
