"""The host's side of VM networks: ``plan`` checks a desired entry's NICs, and
``LinuxNetworking`` makes each network's bridge and VXLAN device.

The namespace test makes its own namespaces (two hosts joined by a veth
underlay, and one for a VM of a second network) with unique names and
deletes them afterwards, failed or not; deleting a namespace deletes its
interfaces.  It needs root and iproute2, as the netns lab does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import uuid as uuidlib
from collections.abc import Iterator, Sequence
from typing import Any

import pytest

from barecloud.hostagent.network import (
    LinuxNetworking,
    NetworkingError,
    NicPlan,
    NoNetworking,
    bridge_name,
    plan,
)
from tests.netprobe import connected, reaches

VM = "11111111-1111-1111-1111-111111111111"
NET1 = "0123456789abcdef0123456789abcdef"
NET2 = "fedcba9876543210fedcba9876543210"
NET3 = "00000000000033330000000000003333"


def nic(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"mac": "FA:16:3E:00:00:01", "network_id": NET1, "mtu": 1450,
                            "segment": {"type": "vxlan", "id": 4242},
                            "vteps": ["10.97.0.254", "10.97.0.21"]}
    base.update(changes)
    return base


# -- plan ----------------------------------------------------------------------


def test_plan_takes_a_vxlan_nic_with_its_vteps() -> None:
    (got,) = plan(VM, [nic(vteps=["10.97.0.254", "2001:DB8::1", "10.97.0.254"])])
    assert got.mac == "fa:16:3e:00:00:01" and got.mtu == 1450
    assert got.bridge == bridge_name(NET1) == "brq0123456789a"
    assert dict(got.segment) == {"type": "vxlan", "id": 4242} and got.vni == 4242
    # As `bridge fdb show` writes them, so they compare with the host's; each once.
    assert got.vteps == ("10.97.0.254", "2001:db8::1")


@pytest.mark.parametrize("segment", [None, {}])
def test_plan_without_a_segment_is_a_bridge_with_no_tunnel(segment: Any) -> None:
    (got,) = plan(VM, [nic(segment=segment, vteps=None)])
    assert got.bridge == bridge_name(NET1) and got.vni is None and got.vteps == ()
    (other,) = plan(VM, [{"mac": "fa:16:3e:00:00:02"}])  # no network at all
    assert other.bridge == "" and other.vni is None and other.mtu == 1500


@pytest.mark.parametrize(("segment", "message"), [
    ({"type": "vlan", "id": 100}, "nics[1]: a vlan segment cannot reach this host (VXLAN only)"),
    ({"type": "flat", "id": None}, "nics[1]: a flat segment cannot reach this host"),
    ({"id": 4242}, "nics[1]: a typeless segment cannot reach this host"),
    ({"type": "vxlan"}, "nics[1]: VXLAN id None is not"),
    ({"type": "vxlan", "id": 0}, "nics[1]: VXLAN id 0 is not"),
    ({"type": "vxlan", "id": 2**24}, "nics[1]: VXLAN id 16777216 is not"),
    ({"type": "vxlan", "id": "4242"}, "nics[1]: VXLAN id '4242' is not"),
    ({"type": "vxlan", "id": True}, "nics[1]: VXLAN id True is not"),
    ("vxlan:4242", "nics[1]: segment must be an object"),
])
def test_plan_refuses_a_segment_this_host_cannot_carry(segment: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        plan(VM, [nic(), nic(mac="fa:16:3e:00:00:02", segment=segment)])


@pytest.mark.parametrize(("vteps", "message"), [
    (["10.97.0.254", "10.97.0.300"], "nics[0]: VTEP '10.97.0.300' is not an IP address"),
    (["switch.lab"], "nics[0]: VTEP 'switch.lab' is not an IP address"),
    ([None], "nics[0]: VTEP None is not an IP address"),
    ("10.97.0.254", "nics[0]: vteps must be a list of IP addresses"),
])
def test_plan_refuses_a_vtep_that_is_not_an_ip(vteps: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        plan(VM, [nic(vteps=vteps)])


def test_plan_refuses_nics_it_cannot_name() -> None:
    with pytest.raises(ValueError, match=r"nics\[0\]: a segment needs a network_id"):
        plan(VM, [nic(network_id=None)])
    with pytest.raises(ValueError, match=r"nics\[0\] has no mac"):
        plan(VM, [nic(mac="")])
    with pytest.raises(ValueError, match=r"nics\[0\] is not an object"):
        plan(VM, ["fa:16:3e:00:00:01"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="nics must be a list"):
        plan(VM, {"mac": "fa:16:3e:00:00:01"})  # type: ignore[arg-type]
    assert plan(VM, None) == plan(VM, []) == ()


async def test_no_networking_does_nothing() -> None:
    networking = NoNetworking()
    (planned,) = plan(VM, [nic()])
    assert await networking.plug(VM, [planned]) is None
    assert await networking.refresh([planned]) is None
    assert await networking.unplug(VM) is None


@pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2")
async def test_a_failing_command_raises_with_its_stderr() -> None:
    networking = LinuxNetworking(netns=f"bctn-{os.getpid()}-absent")
    with pytest.raises(NetworkingError, match="Cannot open network namespace"):
        await networking.plug(VM, plan(VM, [nic()]))


# -- LinuxNetworking on real namespaces -------------------------------------------

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None or shutil.which("bridge") is None,
    reason="needs root and iproute2 (ip, bridge): network namespaces")


def sh(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=check, timeout=20)


def links(ns: str) -> dict[str, dict[str, Any]]:
    out = sh("ip", "-n", ns, "-d", "-j", "link", "show").stdout
    return {ln["ifname"]: ln for ln in json.loads(out)}


def flood_to(ns: str, dev: str) -> set[str]:
    """The VTEPs ``dev``'s all-zeros FDB entries send to."""
    out = sh("bridge", "-n", ns, "-j", "fdb", "show", "dev", dev).stdout
    return {e["dst"] for e in json.loads(out) if e["mac"] == "00:00:00:00:00:00"}


# One ICMP echo from inside a namespace (there is no `ping` binary here): exit 0 on a reply.
class Recording(LinuxNetworking):
    """LinuxNetworking that keeps the commands it ran."""

    def __init__(self, netns: str) -> None:
        super().__init__(netns=netns)
        self.commands: list[tuple[str, ...]] = []

    async def _run(self, *argv: str, ok: tuple[str, ...] = ()) -> str:
        self.commands.append(argv)
        return await super()._run(*argv, ok=ok)


@pytest.fixture
def namespaces() -> Iterator[list[str]]:
    """Host namespaces A and B joined by a veth underlay (192.0.2.1/24, 192.0.2.2/24),
    and C for a VM; all deleted at the end."""
    tag = f"bctn-{os.getpid()}-{uuidlib.uuid4().hex[:4]}"
    made: list[str] = []
    try:
        for name in ("a", "b", "c"):
            ns = f"{tag}-{name}"
            sh("ip", "netns", "add", ns)
            made.append(ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        a, b, _ = made
        sh("ip", "-n", a, "link", "add", "under", "type", "veth", "peer", "name", "under",
           "netns", b)
        for ns, cidr in ((a, "192.0.2.1/24"), (b, "192.0.2.2/24")):
            sh("ip", "-n", ns, "addr", "add", cidr, "dev", "under")
            sh("ip", "-n", ns, "link", "set", "under", "up")
        yield made
    finally:
        for ns in reversed(made):
            sh("ip", "netns", "del", ns, check=False)


def vm_port(host: str, bridge: str, port: str, cidr: str, vm: str | None = None) -> None:
    """A VM's NIC, as a veth instead of a tap: ``port`` on ``bridge`` in ``host``, its
    peer (``cidr``) in ``vm``'s namespace, or in the host's own."""
    vm = vm or host
    sh("ip", "-n", host, "link", "add", port, "mtu", "1450", "type", "veth", "peer", "name",
       "eth0", "mtu", "1450", "netns", vm)
    sh("ip", "-n", host, "link", "set", port, "master", bridge, "up")
    sh("ip", "-n", vm, "addr", "add", cidr, "dev", "eth0")
    sh("ip", "-n", vm, "link", "set", "eth0", "up")


def nics(vm: str, network_id: str, vni: int, vteps: Sequence[str]) -> tuple[NicPlan, ...]:
    return plan(vm, [{"mac": "fa:16:3e:00:00:01", "network_id": network_id, "mtu": 1450,
                      "segment": {"type": "vxlan", "id": vni}, "vteps": list(vteps)}])


@needs_root
async def test_hosts_are_vteps_of_their_networks(namespaces: list[str]) -> None:
    a, b, c = namespaces
    host_a, host_b = Recording(a), LinuxNetworking(netns=b)
    br1, br2 = bridge_name(NET1), bridge_name(NET2)
    on_a = nics("vm-a", NET1, 4242, ["192.0.2.2"])
    await host_a.plug("vm-a", on_a)
    await host_b.plug("vm-b", nics("vm-b", NET1, 4242, ["192.0.2.1"]))

    found = links(a)
    assert found[br1]["linkinfo"]["info_kind"] == "bridge" and found[br1]["mtu"] == 1450
    vxlan = found["vxlan4242"]
    info = vxlan["linkinfo"]["info_data"]
    assert (info["id"], info["port"], info["learning"]) == (4242, 4789, False)
    assert "local" not in info  # the kernel picks the source by route
    assert vxlan["master"] == br1 and vxlan["mtu"] == 1450 and "UP" in vxlan["flags"]
    assert "UP" in found[br1]["flags"]
    assert flood_to(a, "vxlan4242") == {"192.0.2.2"}
    assert flood_to(b, "vxlan4242") == {"192.0.2.1"}

    # Idempotent: again, it only reads.
    host_a.commands.clear()
    await host_a.plug("vm-a", on_a)
    assert [cmd for cmd in host_a.commands if "show" not in cmd] == []

    vm_port(a, br1, "vm-a0", "10.0.0.1/24")
    vm_port(b, br1, "vm-b0", "10.0.0.2/24")
    assert connected(a, "10.0.0.2"), "A's VM does not reach B's over VXLAN 4242"

    # The VTEPs follow the list: none left, nothing crosses; back, it does again.
    # A network the host does not have is not made.
    await host_a.refresh([*nics("vm-a", NET1, 4242, []), *nics("vm-x", NET3, 4343, ["1.2.3.4"])])
    assert flood_to(a, "vxlan4242") == set() and "vxlan4343" not in links(a)
    assert not reaches(a, "10.0.0.2")
    await host_a.refresh(nics("vm-a", NET1, 4242, ["192.0.2.99", "192.0.2.2"]))
    assert flood_to(a, "vxlan4242") == {"192.0.2.99", "192.0.2.2"}
    assert connected(a, "10.0.0.2")
    await host_a.plug("vm-a", on_a)  # the plug's list is exact: the extra one goes
    assert flood_to(a, "vxlan4242") == {"192.0.2.2"}

    # Another network (VNI 4343) on B, flooding to A too: its VM (in C) reaches
    # neither A's VM nor B's, which are on VNI 4242.
    await host_b.plug("vm-c", nics("vm-c", NET2, 4343, ["192.0.2.1"]))
    vm_port(b, br2, "vm-c0", "10.0.0.3/24", vm=c)
    assert flood_to(b, "vxlan4343") == {"192.0.2.1"}
    assert not reaches(c, "10.0.0.1") and not reaches(c, "10.0.0.2")

    # unplug reads the host (a new LinuxNetworking: as after an agent restart):
    # a bridge with a VM's port on it stays; without, it goes with its VXLAN device.
    restarted = LinuxNetworking(netns=a)
    await restarted.unplug("vm-a")
    assert {br1, "vxlan4242"} <= set(links(a))
    sh("ip", "-n", a, "link", "set", "vm-a0", "nomaster")
    await restarted.unplug("vm-a")
    assert not {br1, "vxlan4242"} & set(links(a))
    assert {br1, br2, "vxlan4242", "vxlan4343"} <= set(links(b))  # B's are B's

    # A bridge plugged for a VM whose tap is not made yet (its create under way)
    # outlives another VM's unplug, until that VM's own.
    await host_b.plug("vm-d", nics("vm-d", NET3, 4444, ["192.0.2.1"]))
    await host_b.unplug("vm-gone")
    assert {bridge_name(NET3), "vxlan4444"} <= set(links(b))
    await host_b.unplug("vm-d")
    assert not {bridge_name(NET3), "vxlan4444"} & set(links(b))
    assert {br1, br2} <= set(links(b))
