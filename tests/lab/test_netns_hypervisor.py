"""A netns lab machine deployed as a hypervisor (issue 18, part 5): its "OS" takes
the static address its config drive gives on the provisioning network, runs
the host agent inside the machine's namespace, and the VMs it is given are
real QEMU processes there, which die with the machine's power."""

from __future__ import annotations

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
        server = nova.create("vm-lab", image, flavor,
                             networks=[{"uuid": net.json()["network"]["id"]}])["server"]["id"]
        nova.wait_status(server, "ACTIVE", timeout=180)
        [ip] = [a["addr"] for a in nova.server(server)["addresses"]["vm-net"]]

        def console_shows(pattern: str, times: int = 1) -> bool:
            out = nova.action(server, {"os-getConsoleOutput": {}})
            return out.status_code == 200 and out.json()["output"].count(pattern) >= times

        until("the VM's login prompt", lambda: console_shows("vm-lab login:"), 180)
        until("the VM's address by DHCP",
              lambda: console_shows(f"barecloud-vm: address {ip}/24 on eth0"), 60)
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
