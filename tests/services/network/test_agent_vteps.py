"""The network agent floods each vxlan network, on the linux-bridge switch, to the
hypervisors that have a VM port of it bound to them, and stops when none is left.

The VTEP query runs on SQLite and PostgreSQL; the agent's pass drives a real
switch namespace (root and iproute2, as tests/drivers/switches) on SQLite,
whose one process always leads (on PostgreSQL the leader's advisory lock is
the whole server's, which a parallel test's service may hold).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import update

from barecloud.config import Settings
from barecloud.db.hypervisor_models import DOWN, UP, Hypervisor
from barecloud.db.network_models import Network, NetworkPort
from barecloud.db.session import Database
from barecloud.drivers.switches import registry
from barecloud.drivers.switches.base import Segment, VtepFlood
from barecloud.services.context import Runtime
from barecloud.services.network.agent import DHCP_OWNER, NetworkAgent

PROJECT = "p" * 32
VNI = 5031
SEGMENT = Segment("vxlan", VNI)
HV1, HV2, HV3 = "192.168.81.11", "192.168.81.12", "192.168.81.13"
PEER = "192.168.81.2"


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=20)


async def _rows(db: Database) -> dict[str, str]:
    """Hypervisors hv1 (up), hv2 (down), hv3 (up, no address reported yet) and hv4
    (up, on the VLAN network only); a vxlan network with a bare-metal port, a VM port
    on each of hv1-hv3 and the DHCP port; a VLAN network with a VM port on hv4."""
    vx, vl = str(uuid.uuid4()), str(uuid.uuid4())
    async with db.session() as s:
        s.add_all([
            Hypervisor(hostname="hv1", state=UP, host_ip=HV1),
            Hypervisor(hostname="hv2", state=DOWN, host_ip=HV2),
            Hypervisor(hostname="hv3", state=UP, host_ip=None),
            Hypervisor(hostname="hv4", state=UP, host_ip=HV3),
            Network(id=vx, name="vx", project_id=PROJECT, mtu=1450, network_type="vxlan",
                    segmentation_id=VNI),
            Network(id=vl, name="vl", project_id=PROJECT, mtu=1500, network_type="vlan",
                    physical_network="physnet1", segmentation_id=131),
        ])
        await s.flush()
        s.add_all([
            NetworkPort(id="bm", network_id=vx, project_id=PROJECT,
                        mac_address="fa:16:3e:00:31:01", device_owner="baremetal:none",
                        binding_host_id=str(uuid.uuid4())),
            NetworkPort(id="vm1", network_id=vx, project_id=PROJECT,
                        mac_address="fa:16:3e:00:31:02", device_owner="compute:nova",
                        binding_host_id="hv1"),
            NetworkPort(id="vm2", network_id=vx, project_id=PROJECT,
                        mac_address="fa:16:3e:00:31:03", device_owner="compute:nova",
                        binding_host_id="hv2"),
            NetworkPort(id="vm3", network_id=vx, project_id=PROJECT,
                        mac_address="fa:16:3e:00:31:04", device_owner="compute:nova",
                        binding_host_id="hv3"),
            NetworkPort(id="dhcp", network_id=vx, project_id=PROJECT,
                        mac_address="fa:16:3e:00:31:05", device_owner=DHCP_OWNER),
            NetworkPort(id="vm4", network_id=vl, project_id=PROJECT,
                        mac_address="fa:16:3e:00:31:06", device_owner="compute:nova",
                        binding_host_id="hv4"),
        ])
    return {"vxlan": vx, "vlan": vl}


async def _unbind(db: Database, *port_ids: str) -> None:
    async with db.session() as s:
        await s.execute(update(NetworkPort).where(NetworkPort.id.in_(port_ids))
                        .values(binding_host_id=""))


async def _host_state(db: Database, hostname: str, state: str) -> None:
    async with db.session() as s:
        await s.execute(update(Hypervisor).where(Hypervisor.hostname == hostname)
                        .values(state=state))


async def test_the_vteps_of_networks_in_use(database: Database, settings: Settings) -> None:
    nets = await _rows(database)
    agent = NetworkAgent(Runtime(database, settings))
    got = await agent._host_vteps()
    assert set(got) == {nets["vxlan"]}  # the VLAN network is no VTEP's business
    seg, addresses = got[nets["vxlan"]]
    assert (seg.network_type, seg.segmentation_id, seg.network_id, seg.mtu) == \
        ("vxlan", VNI, nets["vxlan"], 1450)
    assert addresses == {HV1}  # hv2 is down, hv3 has no address
    await _unbind(database, "vm1")
    assert await agent._host_vteps() == {nets["vxlan"]: (seg, frozenset())}  # bare metal
    await _unbind(database, "bm", "vm2", "vm3")
    assert await agent._host_vteps() == {}  # in use by nobody


# --- the agent's pass on a real switch ---------------------------------------------

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("bridge") is None,
    reason="needs root and iproute2",
)


@pytest.fixture
def switch_ns() -> Iterator[str]:
    """A switch namespace with a port p1 (one end of a veth whose other end is h1)."""
    ns = f"bct-{uuid.uuid4().hex[:6]}-vtep"
    sh("ip", "netns", "add", ns)
    try:
        sh("ip", "-n", ns, "link", "add", "p1", "type", "veth", "peer", "name", "h1")
        yield ns
    finally:
        sh("ip", "netns", "del", ns, check=False)


def flood_fdb(ns: str) -> set[str]:
    out = sh("bridge", "-n", ns, "-j", "fdb", "show", "dev", f"vxlan{VNI}").stdout
    return {e["dst"] for e in json.loads(out or "[]")
            if e["mac"] == "00:00:00:00:00:00" and "dst" in e}


@needs_root
async def test_sync_vteps_floods_to_hypervisors_with_a_vm_port(
        sqlite_db: Database, settings: Settings, switch_ns: str) -> None:
    db = sqlite_db
    settings = settings.model_copy(update={"switches": {
        "tor": {"driver": "linux-bridge", "netns": switch_ns, "vxlan_local": "192.168.81.1",
                "vxlan_peers": [PEER]},
        "plain": {"driver": "linux-bridge", "netns": switch_ns},  # no VTEP: left alone
        "other": {"driver": "fake"},  # cannot flood: left alone
    }})
    agent = NetworkAgent(Runtime(db, settings))
    try:
        tor = registry.switch_driver("tor", settings)
        assert isinstance(tor, VtepFlood)
        assert not isinstance(registry.switch_driver("other", settings), VtepFlood)
        assert agent._flooders() == {"tor": tor}
        await agent.sync_vteps()  # nothing in use, no bridge: nothing to do
        nets = await _rows(db)
        await agent.sync_vteps()  # in use, but the switch has no bridge for it yet
        await tor.bind("p1", Segment("vxlan", VNI, nets["vxlan"], 1450))
        assert flood_fdb(switch_ns) == {PEER}

        await agent.sync_vteps()
        assert flood_fdb(switch_ns) == {PEER, HV1}
        await agent.sync_vteps()
        assert flood_fdb(switch_ns) == {PEER, HV1}

        await _host_state(db, "hv2", UP)  # hv2 comes back up
        await agent.sync_vteps()
        assert flood_fdb(switch_ns) == {PEER, HV1, HV2}

        await _unbind(db, "vm1")  # its VM left hv1
        await agent.sync_vteps()
        assert flood_fdb(switch_ns) == {PEER, HV2}

        await _host_state(db, "hv2", DOWN)
        await agent.sync_vteps()
        assert flood_fdb(switch_ns) == {PEER}

        # The network is in use by nobody (its bridge lingers on the switch): the
        # last hypervisor is taken off all the same.
        await _host_state(db, "hv2", UP)
        await agent.sync_vteps()
        assert flood_fdb(switch_ns) == {PEER, HV2}
        await _unbind(db, "bm", "vm2", "vm3")
        await agent.sync_vteps()
        assert flood_fdb(switch_ns) == {PEER}
        assert agent._flooded == {}
    finally:
        await registry.close_all()
