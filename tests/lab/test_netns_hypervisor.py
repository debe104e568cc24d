"""A netns lab machine deployed as a hypervisor (issue 18, part 5): its "OS" takes
the static address its config drive gives on the provisioning network, runs
the host agent inside the machine's namespace, and the VMs it is given are
real QEMU processes there, which die with the machine's power.

The VM's network is dual stack: it takes its SLAAC address (its port's
EUI-64) from the advertisements, its default router from a router's, and
pings the lab's outside over IPv6 (issue 20, part 2); the outside pings it
back at that address (no NAT). A second IPv6 subnet, dhcpv6-stateful, gives
it its port's address there by DHCPv6 (the image's dhcpcd)."""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from barecloud.lab.layout import LabDir
from barecloud.lab.netns import run as ip_run
from tests import support
from tests.api.compute.nova import Nova

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the netns lab needs root"),
]

T = TypeVar("T")
VM_V6 = "2001:db8:61::/64"
VM_V6_STATEFUL = "2001:db8:62::/64"
OUTSIDE6 = "2001:db8:ff::1"  # the lab's outside on public's IPv6 subnet
# The VM's user-data: once a router advertised itself, ping the outside over IPv6.
# The VM holds two global addresses: its SLAAC one on the routed subnet and its
# DHCPv6 one on the other, which no router serves.  For the outside's address
# Linux's source selection ties between them (the same common prefix), so the
# script names its source, as a host with an unrouted address must.
ROUTED6 = VM_V6.split("::")[0] + ":"
PING6 = f"""#!/bin/sh
i=0
while [ $i -lt 90 ] && ! ip -6 route | grep -q '^default'; do sleep 1; i=$((i + 1)); done
# The default route can come before the address has left DAD, or the router's
# path is complete: a guest's script retries, as cloud-init's users' do.
i=0
until src=$(ip -6 addr show dev eth0 | grep -o '{ROUTED6}[0-9a-f:]*' | head -n 1)
      [ -n "$src" ] && ping -6 -I "$src" -c 1 -W 2 {OUTSIDE6} >/dev/null 2>&1 ||
      [ $i -ge 30 ]; do
  sleep 1; i=$((i + 1)); done
if ping -6 -I "$src" -c 3 -W 3 {OUTSIDE6} >/dev/null 2>&1; then echo "ping6 {OUTSIDE6} ok"
else echo "ping6 {OUTSIDE6} from $src failed: $(ip -6 route | tr '\\n' ';')"; fi
"""


def _router_to_public(nova: Nova, neutron: str, subnet_id: str) -> str:
    """A router between ``subnet_id`` and the lab's ``public``: its IPv6 gateway address."""
    public = nova.http.get(f"{neutron}/networks", params={"name": "public"}).json()[
        "networks"][0]["id"]
    made = nova.http.post(f"{neutron}/routers", json={"router": {
        "name": "vm-router", "external_gateway_info": {"network_id": public}}})
    assert made.status_code == 201, made.text
    router = made.json()["router"]
    added = nova.http.put(f"{neutron}/routers/{router['id']}/add_router_interface",
                          json={"subnet_id": subnet_id})
    assert added.status_code == 200, added.text
    return next(str(f["ip_address"]) for f in router["external_gateway_info"][
        "external_fixed_ips"] if ":" in f["ip_address"])


def until(what: str, probe: Callable[[], T | None], timeout: float) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if found:
            return found
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s"
        time.sleep(0.5)


def dead(pid: int) -> bool:
    """Gone, or a zombie its parent (PID 1, for a daemon) has not reaped yet."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True


def qemus_in(netns: str) -> list[int]:
    """The QEMU processes running inside ``netns``."""
    out = ip_run(["ip", "netns", "pids", netns], check=False).stdout
    found = []
    for pid in (int(p) for p in out.split() if p.isdigit()):
        try:
            if Path(f"/proc/{pid}/comm").read_text().startswith("qemu-system"):
                found.append(pid)
        except OSError:
            continue
    return found


def test_a_lab_machine_becomes_a_hypervisor_whose_vms_run_in_its_namespace(
        tmp_path: Path) -> None:
    # serve --lab 1 --netns --hypervisors 1: vm.tiny, barecloud-tiny, and the machine
    # deployed as a hypervisor (the stand-in image: a netns lab machine's "OS" is
    # the lab's own whatever its disk holds; the drive is what makes it one).
    svc = support.start_service(tmp_path / "svc", lab=1, netns=True, timeout=600,
                                hypervisors=1,
                                extra_env={"BARECLOUD_HOST_REPORT_INTERVAL": "2"})
    nova = Nova(svc)
    try:
        [node] = nova.bm.get("/nodes").json()["nodes"]
        machine = node["name"]
        wiring = LabDir(svc.data_dir / "lab").read().netns
        assert wiring is not None
        netns = wiring.machines[machine].netns
        [host] = nova.ok("GET", "/barecloud-hypervisors")["hypervisors"]
        assert host["hostname"] == machine

        def state() -> dict[str, Any]:
            found: dict[str, Any] = nova.ok(
                "GET", f"/barecloud-hypervisors/{host['id']}")["hypervisor"]
            return found

        until("the host agent reports", lambda: state()["state"] == "up", 300)
        [port] = nova.http.get(f"{svc.url}/network/v2.0/ports",
                               params={"device_id": host["id"]}).json()["ports"]
        address = port["fixed_ips"][0]["ip_address"]
        text = next(LabDir(svc.data_dir / "lab").machines([machine])).console_path.read_text()
        assert f"cloud-init: eth0 {address}/24" in text  # the drive's, not a lease
        assert f"host agent for {svc.url} started" in text
        assert state()["host_ip"] == address

        image = nova.glance.get("/images", params={"name": "barecloud-tiny"}).json()[
            "images"][0]["id"]
        flavor = next(f["id"] for f in nova.ok("GET", "/flavors")["flavors"]
                      if f["name"] == "vm.tiny")
        # On a tenant network: the host is its VXLAN tunnel endpoint, the network's
        # dnsmasq (behind the lab switch) answers the VM.
        neutron = f"{svc.url}/network/v2.0"
        net = nova.http.post(f"{neutron}/networks", json={"network": {"name": "vm-net"}})
        assert net.status_code == 201, net.text
        sub = nova.http.post(f"{neutron}/subnets", json={"subnet": {
            "network_id": net.json()["network"]["id"], "ip_version": 4,
            "cidr": "10.61.0.0/24"}})
        assert sub.status_code == 201, sub.text
        sub6 = nova.http.post(f"{neutron}/subnets", json={"subnet": {
            "network_id": net.json()["network"]["id"], "ip_version": 6, "cidr": VM_V6,
            "ipv6_ra_mode": "slaac", "ipv6_address_mode": "slaac"}})
        assert sub6.status_code == 201, sub6.text
        stateful = nova.http.post(f"{neutron}/subnets", json={"subnet": {
            "network_id": net.json()["network"]["id"], "ip_version": 6,
            "cidr": VM_V6_STATEFUL, "ipv6_ra_mode": "dhcpv6-stateful",
            "ipv6_address_mode": "dhcpv6-stateful"}})
        assert stateful.status_code == 201, stateful.text
        gateway6 = _router_to_public(nova, neutron, sub6.json()["subnet"]["id"])
        ip_run(["ip", "netns", "exec", wiring.outside_netns, "ip", "-6", "route", "replace",
                VM_V6, "via", gateway6])
        server = nova.create("vm-lab", image, flavor,
                             networks=[{"uuid": net.json()["network"]["id"]}],
                             user_data=base64.b64encode(PING6.encode()).decode())["server"]["id"]
        nova.wait_status(server, "ACTIVE", timeout=180)
        [ip] = [a["addr"] for a in nova.server(server)["addresses"]["vm-net"]
                if a["version"] == 4]
        [vm_port] = nova.http.get(f"{neutron}/ports", params={"device_id": server}).json()[
            "ports"]
        [ip6] = [f["ip_address"] for f in vm_port["fixed_ips"]  # its EUI-64 (SLAAC)
                 if f["subnet_id"] == sub6.json()["subnet"]["id"]]
        [ip6_stateful] = [f["ip_address"] for f in vm_port["fixed_ips"]
                          if f["subnet_id"] == stateful.json()["subnet"]["id"]]

        def console_shows(pattern: str, times: int = 1) -> bool:
            out = nova.action(server, {"os-getConsoleOutput": {}})
            return out.status_code == 200 and out.json()["output"].count(pattern) >= times

        until("the VM's login prompt", lambda: console_shows("vm-lab login:"), 180)
        until("the VM's address by DHCP",
              lambda: console_shows(f"barecloud-vm: address {ip}/24 on eth0"), 60)
        # IPv6: the VM's own SLAAC address is its port's; through the router it
        # reaches the outside, which reaches it back at that address.
        until("the VM's SLAAC address",
              lambda: console_shows(f"barecloud-vm: address6 {ip6}/64 on eth0"), 60)
        # The other subnet's address by DHCPv6 (dnsmasq's RA says M): its port's, a /128.
        until("the VM's DHCPv6 address", lambda: console_shows(
            f"barecloud-vm: address6 {ip6_stateful}/128 on eth0"), 60)
        until("the VM's ping to the outside",
              lambda: console_shows("barecloud-vm: user-data: ping6 "), 240)
        output = nova.action(server, {"os-getConsoleOutput": {}}).json()["output"]
        assert f"barecloud-vm: user-data: ping6 {OUTSIDE6} ok" in output, output[-3000:]
        for group in vm_port["security_groups"]:  # the default group admits members only
            rule = nova.http.post(f"{neutron}/security-group-rules", json={
                "security_group_rule": {"security_group_id": group, "direction": "ingress",
                                        "ethertype": "IPv6", "protocol": "ipv6-icmp"}})
            assert rule.status_code == 201, rule.text
        until("the outside's ping to the VM", lambda: ip_run(
            ["ip", "netns", "exec", wiring.outside_netns, "ping", "-6", "-n", "-c", "1",
             "-W", "2", ip6], check=False).returncode == 0, 30)
        [qemu] = until("its QEMU in the machine's namespace", lambda: qemus_in(netns), 10)

        # The power goes: the VM's QEMU, which daemonized out of the boot's
        # process group, goes with everything else the machine ran.
        r = nova.bm.put(f"/nodes/{node['uuid']}/states/power", json={"target": "power off"})
        assert r.status_code == 202, r.text
        until("power off", lambda: nova.node_of(node["uuid"])["power_state"] == "power off",
              60)
        until("no QEMU left", lambda: not qemus_in(netns) or None, 10)
        assert dead(qemu)
        # Back on: the same hypervisor boots its agent again, which reports the VM as
        # QEMU has it, off (Nova's SHUTOFF for a guest its host lost, not started
        # behind its owner's back), rather than believing the old one runs.
        r = nova.bm.put(f"/nodes/{node['uuid']}/states/power", json={"target": "power on"})
        assert r.status_code == 202, r.text
        nova.wait_status(server, "SHUTOFF", timeout=240)
        assert qemus_in(netns) == []
        r = nova.action(server, {"os-start": None})
        assert r.status_code == 202, r.text
        nova.wait_status(server, "ACTIVE", timeout=120)
        [again] = until("the VM's QEMU again", lambda: qemus_in(netns), 10)
        assert again != qemu
        # The machine's bridges went with its power; the start made them again.
        until("the VM's address again",
              lambda: console_shows(f"barecloud-vm: address {ip}/24 on eth0", 2), 120)

        nova.ok("DELETE", f"/servers/{server}", 204)
        nova.wait_gone(server, timeout=120)
        nova.ok("PUT", f"/barecloud-hypervisors/{host['id']}",
                json={"hypervisor": {"status": "disabled"}})
        r = nova.request("DELETE", f"/barecloud-hypervisors/{host['id']}")
        assert r.status_code == 204, r.text
        nova.wait_node(node["uuid"], lambda n: n["provision_state"] == "available", 300)
        assert nova.http.get(f"{svc.url}/network/v2.0/ports",
                             params={"device_id": host["id"]}).json()["ports"] == []
        until("no QEMU left in the machine's namespace",
              lambda: not qemus_in(netns) or None, 30)
    finally:
        nova.close()
        svc.stop()
