"""VMs through the Compute API, with the host agent's protocol spoken by the test.

The test plays the host agent at the HTTP level (docs/design/host-agent-protocol.md)
to check what the service does with each report; tests/hostagent/ runs the real
agent against a real service.
"""

from __future__ import annotations

import concurrent.futures
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests import support
from tests.api.compute.nova import Nova, fault
from tests.conftest import service_on

AGENT = "/compute/barecloud-host-agent/v1"
INTERVAL = 0.5  # the service's host_report_interval here: down after 1.5 s of silence
HYPERVISOR_NETWORK = "hypervisors"  # where hypervisors' agents reach the service


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def compute_service(request: pytest.FixtureRequest,
                    tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Service]:
    """conftest's, with quick host deadlines and a CPU ratio of 2 (its ``nova`` uses it)."""
    yield from service_on(tmp_path_factory.mktemp("vms"), request.param, extra_env={
        "BARECLOUD_HOST_REPORT_INTERVAL": str(INTERVAL),
        "BARECLOUD_CPU_ALLOCATION_RATIO": "2.0",
        "BARECLOUD_HYPERVISOR_NETWORK": HYPERVISOR_NETWORK})


class Host:
    """The test's stand-in for a host agent: a credential and what it says."""

    def __init__(self, svc: support.Service, credential: str, vcpus: int = 4,
                 memory_mb: int = 4096, disk_gb: int = 20, host_ip: str = "192.0.2.7") -> None:
        self.host_ip = host_ip
        self.http = httpx.Client(base_url=f"{svc.url}{AGENT}", timeout=60,
                                 headers={"Authorization": f"Bearer {credential}"})
        self.capacity = {"vcpus": vcpus, "memory_mb": memory_mb, "disk_gb": disk_gb}
        self.vms: dict[str, dict[str, Any]] = {}
        self.generation = 0
        self.silent = threading.Event()
        self.beating: threading.Thread | None = None

    def report(self) -> dict[str, Any]:
        r = self.http.post("/report", json={
            "hypervisor_type": "QEMU", "hypervisor_version": 7002000, "host_ip": self.host_ip,
            "capacity": self.capacity, "applied_generation": self.generation,
            "uptime": " 10:00:00 up 1 day,  2:03,  0 users,  load average: 0.10, 0.20, 0.30",
            "vms": list(dict(self.vms).values())})
        assert r.status_code == 200, r.text
        answer: dict[str, Any] = r.json()
        return answer

    def start(self, heartbeat: bool = True) -> dict[str, Any]:
        """Register, take the (empty) desired list as a new agent does, and report
        every tenth of a second from now on (``heartbeat``) as a live host does."""
        answer = self.report()
        self.desired(wait=0)
        if heartbeat:
            self.beating = threading.Thread(target=self._beat, daemon=True)
            self.beating.start()
        return answer

    def _beat(self) -> None:
        while not self.silent.wait(0.1):
            self.report()

    def stop_heartbeat(self) -> None:
        self.silent.set()
        if self.beating is not None:
            self.beating.join()

    def desired(self, wait: float = 5) -> dict[str, Any]:
        r = self.http.get("/desired", params={"since": self.generation, "wait": wait})
        assert r.status_code == 200, r.text
        found: dict[str, Any] = r.json()
        self.generation = found["generation"]
        return found

    def act(self, wait: float = 5) -> dict[str, dict[str, Any]]:
        """Carry out the desired list as a host would (states only), then report."""
        wanted = {v["uuid"]: v for v in self.desired(wait)["vms"]}
        for vm_uuid, entry in wanted.items():
            state = {"on": "running", "off": "shutoff", "absent": "missing"}[entry["power"]]
            self.vms[vm_uuid] = {"uuid": vm_uuid, "state": state, "seq": entry["seq"]}
        for gone in set(self.vms) - set(wanted):
            del self.vms[gone]
        self.report()
        return wanted

    def close(self) -> None:
        self.stop_heartbeat()
        self.http.close()


def enrol(nova: Nova, **extra: Any) -> tuple[dict[str, Any], str]:
    name = f"hv-{uuid.uuid4().hex[:8]}"
    made = nova.ok("POST", "/barecloud-hypervisors", 201,
                   json={"hypervisor": {"hostname": name, **extra}})["hypervisor"]
    return made, made.pop("credential")


def vm_flavor(nova: Nova, vcpus: int = 1, ram: int = 512, disk: int = 1) -> str:
    f = nova.ok("POST", "/flavors", json={"flavor": {
        "name": f"vm-{uuid.uuid4().hex[:8]}", "ram": ram, "vcpus": vcpus, "disk": disk}})
    return str(f["flavor"]["id"])


def zone() -> str:
    """A zone of this test's own: other tests' hosts never take its VMs."""
    return f"az-{uuid.uuid4().hex[:8]}"


def test_a_vm_lives_its_life_through_the_host_reports(nova: Nova,
                                                     compute_service: support.Service) -> None:
    az = zone()
    made, credential = enrol(nova, availability_zone=az)
    assert credential.startswith(f"hv.{made['id']}.")
    assert "credential" not in nova.ok("GET", f"/barecloud-hypervisors/{made['id']}")[
        "hypervisor"]
    host = Host(compute_service, credential)
    try:
        assert host.start()["hypervisor"]["hostname"] == made["hostname"]
        listed = nova.ok("GET", "/os-hypervisors/detail", version="2.87")["hypervisors"]
        mine = next(h for h in listed if h["hypervisor_hostname"] == made["hostname"])
        assert (mine["hypervisor_type"], mine["state"], mine["vcpus"]) == ("QEMU", "up", 4)
        uptime = nova.ok("GET", f"/os-hypervisors/{made['id']}/uptime")["hypervisor"]
        assert uptime["uptime"].startswith(" 10:00:00 up 1 day")

        image = nova.image()
        server = nova.create("vm1", image, vm_flavor(nova), availability_zone=az)["server"]
        wanted = host.act()
        entry = wanted[server["id"]]
        assert (entry["power"], entry["seq"], entry["flavor"]) == (
            "on", 1, {"vcpus": 1, "memory_mb": 512, "disk_gb": 1})
        assert entry["config_drive"]["meta_data"]["hostname"] == "vm1"
        assert f"/boot/images/{image}?" in entry["image"]["url"]
        s = nova.wait(server["id"], lambda s: s["status"] == "ACTIVE", timeout=20)
        assert s["OS-EXT-SRV-ATTR:host"] == made["hostname"]
        assert s["OS-EXT-STS:power_state"] == 1
        # The console the host sends is the server's console output; no other host's.
        assert nova.ok("POST", f"/servers/{server['id']}/action",
                       json={"os-getConsoleOutput": {}})["output"] == ""
        r = host.http.put(f"/vms/{server['id']}/console", content=b"boot\nvm1 login: ")
        assert r.status_code == 204, r.text
        out = nova.ok("POST", f"/servers/{server['id']}/action",
                      json={"os-getConsoleOutput": {"length": 1}})["output"]
        assert out == "vm1 login: "
        _, stranger = enrol(nova)
        other_host = Host(compute_service, stranger)
        try:
            fault(other_host.http.put(f"/vms/{server['id']}/console", content=b"x"), 404)
        finally:
            other_host.close()
        # The image URL opens for this host's image, and for nothing else.
        assert httpx.get(entry["image"]["url"]).content == b"\x01" * 4096
        other = entry["image"]["url"].replace(image, str(uuid.uuid4()))
        assert httpx.get(other).status_code == 401

        nova.ok("POST", f"/servers/{server['id']}/action", 202, json={"os-stop": None})
        assert host.act()[server["id"]]["power"] == "off"
        nova.wait(server["id"], lambda s: s["status"] == "SHUTOFF", timeout=20)
        nova.ok("POST", f"/servers/{server['id']}/action", 202, json={"os-start": None})
        assert host.act()[server["id"]]["power"] == "on"
        nova.wait(server["id"], lambda s: s["status"] == "ACTIVE", timeout=20)
        nova.ok("POST", f"/servers/{server['id']}/action", 202,
                json={"reboot": {"type": "HARD"}})
        entry = host.act()[server["id"]]
        assert (entry["reboot"], entry["seq"]) == ("hard", 4)
        nova.wait(server["id"], lambda s: s["status"] == "ACTIVE", timeout=20)

        # A guest that powers itself off is SHUTOFF, as the host says.
        host.vms[server["id"]]["state"] = "shutoff"
        host.report()
        nova.wait(server["id"], lambda s: s["status"] == "SHUTOFF", timeout=20)
        host.vms[server["id"]]["state"] = "running"
        host.report()
        nova.wait(server["id"], lambda s: s["status"] == "ACTIVE", timeout=20)

        # Removing a host with a VM on it is refused, and changes nothing.
        nova.ok("PUT", f"/barecloud-hypervisors/{made['id']}",
                json={"hypervisor": {"status": "disabled", "disabled_reason": "drain"}})
        assert "still runs 1 instance" in fault(
            nova.request("DELETE", f"/barecloud-hypervisors/{made['id']}"), 409)

        r = nova.request("DELETE", f"/servers/{server['id']}")
        assert r.status_code == 204, r.text
        assert host.act()[server["id"]]["power"] == "absent"
        nova.wait_gone(server["id"])
        used = nova.ok("GET", f"/barecloud-hypervisors/{made['id']}")["hypervisor"]
        assert (used["vcpus_used"], used["memory_mb_used"], used["local_gb_used"]) == (0, 0, 0)
        host.stop_heartbeat()
        r = nova.request("DELETE", f"/barecloud-hypervisors/{made['id']}")
        assert r.status_code == 204, r.text
        assert "credential is not valid" in fault(host.http.get("/desired"), 401)
    finally:
        host.close()


def test_a_wrong_or_revoked_credential_is_refused_in_novas_words(
        nova: Nova, compute_service: support.Service) -> None:
    made, credential = enrol(nova)
    for bad in ("", "hv.nope", f"hv.{made['id']}.wrong", credential + "x"):
        r = httpx.post(f"{compute_service.url}{AGENT}/report", json={"capacity": {
            "vcpus": 1, "memory_mb": 1, "disk_gb": 1}},
            headers={"Authorization": f"Bearer {bad}"} if bad else {})
        assert "credential is not valid" in fault(r, 401)
        # The credential is checked before the input: a stranger learns nothing of it.
        for path, kw in (("/report", {"json": {"nope": 1}}),
                         ("/desired?since=x", {}), ("/vms/x/console", {"content": b"x"})):
            method = {"/report": "POST", "/vms/x/console": "PUT"}.get(path, "GET")
            r = httpx.request(method, f"{compute_service.url}{AGENT}{path}", **kw,
                              headers={"Authorization": f"Bearer {bad}"} if bad else {})
            assert "credential is not valid" in fault(r, 401), path
    renewed = nova.ok("POST", f"/barecloud-hypervisors/{made['id']}/credential", 201)[
        "hypervisor"]["credential"]
    old, new = Host(compute_service, credential), Host(compute_service, renewed)
    try:
        assert "credential is not valid" in fault(old.http.get("/desired"), 401)
        assert new.report()["hypervisor"]["uuid"] == made["id"]
    finally:
        old.close()
        new.close()


def test_concurrent_creates_never_put_a_host_past_its_ratio(
        nova: Nova, compute_service: support.Service) -> None:
    """One host of 2 vCPUs at a ratio of 2: room for 4 one-vCPU VMs; 10 racing
    creates give 4 placed and 6 in ERROR with no valid host."""
    az = zone()
    made, credential = enrol(nova, availability_zone=az)
    host = Host(compute_service, credential, vcpus=2, memory_mb=64000, disk_gb=100)
    try:
        host.start()
        image, flavor = nova.image(), vm_flavor(nova)
        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            ids = list(pool.map(lambda i: nova.create(f"race{i}", image, flavor,
                                                      availability_zone=az)["server"]["id"],
                                range(10)))
        final = [nova.wait(i, lambda s: s["status"] in ("ERROR", "BUILD") and (
            s["status"] == "ERROR" or s.get("OS-EXT-SRV-ATTR:host"))) for i in ids]
        placed = [s for s in final if s["status"] == "BUILD"]
        failed = [s for s in final if s["status"] == "ERROR"]
        assert len(placed) == 4, [s["status"] for s in final]
        assert all("No valid host" in s["fault"]["message"] for s in failed)
        assert "is full" in failed[0]["fault"]["details"]
        used = nova.ok("GET", f"/barecloud-hypervisors/{made['id']}")["hypervisor"]
        assert used["vcpus_used"] == 4
        assert len(host.act()) == 4
        for s in placed:
            nova.wait(s["id"], lambda s: s["status"] == "ACTIVE", timeout=20)
        for i in ids:  # the module's quota of 10 instances is for the other tests too
            assert nova.request("DELETE", f"/servers/{i}").status_code == 204
        deadline = time.monotonic() + 20
        while {e["power"] for e in host.act().values()} - {"absent"}:  # handed over one by one
            assert time.monotonic() < deadline
        for i in ids:
            nova.wait_gone(i)
    finally:
        host.close()


def test_a_flavor_larger_than_any_host_finds_no_valid_host(nova: Nova) -> None:
    az = zone()
    _, credential = enrol(nova, availability_zone=az)
    host = Host(nova.svc, credential, vcpus=2, memory_mb=2048)
    try:
        host.start()
        big = vm_flavor(nova, ram=40000)
        server = nova.create("big", nova.image(), big, availability_zone=az)["server"]
        s = nova.wait(server["id"], lambda s: s["status"] == "ERROR")
        assert "No valid host" in s["fault"]["message"]
        assert "even empty" in s["fault"]["details"]
    finally:
        host.close()


def test_a_silent_host_makes_its_vms_unknown_until_it_reports_again(nova: Nova) -> None:
    az = zone()
    made, credential = enrol(nova, availability_zone=az)
    host = Host(nova.svc, credential)
    try:
        host.start()
        server = nova.create("quiet", nova.image(), vm_flavor(nova),
                             availability_zone=az)["server"]
        host.act()
        nova.wait(server["id"], lambda s: s["status"] == "ACTIVE", timeout=20)
        host.stop_heartbeat()
        s = nova.wait(server["id"], lambda s: s["status"] == "UNKNOWN", timeout=20)
        assert f"Host {made['hostname']} stopped reporting" in s["fault"]["message"]
        assert s["host_status"] == "UNKNOWN"
        down = nova.ok("GET", f"/barecloud-hypervisors/{made['id']}")["hypervisor"]
        assert down["state"] == "down"
        host.report()
        s = nova.wait(server["id"], lambda s: s["status"] == "ACTIVE", timeout=20)
        assert "fault" not in s
    finally:
        host.close()


def test_hypervisor_enrolment_refuses_bad_input(nova: Nova) -> None:
    made, _ = enrol(nova)
    r = nova.request("POST", "/barecloud-hypervisors",
                     json={"hypervisor": {"hostname": made["hostname"]}})
    assert "already exists" in fault(r, 409)
    for body in ({}, {"hypervisor": {}}, {"hypervisor": {"hostname": "a b"}},
                 {"hypervisor": {"hostname": "x", "vcpus": 4}}):
        fault(nova.request("POST", "/barecloud-hypervisors", json=body), 400)
    assert "is enabled" in fault(nova.request("DELETE",
                                              f"/barecloud-hypervisors/{made['id']}"), 409)
    fault(nova.request("GET", f"/barecloud-hypervisors/{uuid.uuid4()}"), 404)


def test_a_vm_grows_to_a_larger_flavor_and_waits_for_the_confirmation(nova: Nova) -> None:
    az = zone()
    made, credential = enrol(nova, availability_zone=az)
    host = Host(nova.svc, credential, vcpus=2, memory_mb=4096, disk_gb=10)
    try:
        host.start()
        small, large = vm_flavor(nova, ram=512, disk=1), vm_flavor(nova, vcpus=2, ram=1024,
                                                                   disk=2)
        huge, smaller = vm_flavor(nova, vcpus=8, ram=1024, disk=2), vm_flavor(nova, ram=256)
        server = nova.create("grow", nova.image(), small, availability_zone=az)["server"]
        host.act()
        nova.wait(server["id"], lambda s: s["status"] == "ACTIVE", timeout=20)
        action = f"/servers/{server['id']}/action"
        assert "smaller flavor" in fault(nova.request("POST", action, json={
            "resize": {"flavorRef": smaller}}), 400)
        assert "must change flavor" in fault(nova.request("POST", action, json={
            "resize": {"flavorRef": small}}), 400)
        # 2 host vCPUs at a ratio of 2: 8 do not fit; nothing changes.
        assert "has no room" in fault(nova.request("POST", action, json={
            "resize": {"flavorRef": huge}}), 400)
        assert nova.server(server["id"])["flavor"]["vcpus"] == 1
        nova.ok("POST", action, 202, json={"resize": {"flavorRef": large}})
        assert nova.server(server["id"])["status"] == "RESIZE"
        entry = host.act()[server["id"]]
        assert entry["flavor"] == {"vcpus": 2, "memory_mb": 1024, "disk_gb": 2}
        s = nova.wait(server["id"], lambda s: s["status"] == "VERIFY_RESIZE", timeout=20)
        assert s["flavor"]["vcpus"] == 2
        used = nova.ok("GET", f"/barecloud-hypervisors/{made['id']}")["hypervisor"]
        assert (used["vcpus_used"], used["memory_mb_used"], used["local_gb_used"]) == (2, 1024, 2)
        [moved] = _migrations(nova, server["id"])
        assert moved["status"] == "finished" and moved["migration_type"] == "resize"
        assert moved["source_compute"] == moved["dest_compute"] == made["hostname"]
        assert moved["old_instance_type_id"] != moved["new_instance_type_id"]
        assert moved["project_id"] == s["tenant_id"] and moved["uuid"]
        nova.ok("POST", action, 204, json={"confirmResize": None})
        nova.wait(server["id"], lambda s: s["status"] == "ACTIVE", timeout=20)
        [moved] = _migrations(nova, server["id"], version="2.23")
        assert moved["status"] == "confirmed" and "uuid" not in moved
        assert nova.ok("GET", "/os-migrations", params={
            "instance_uuid": server["id"], "status": "finished"})["migrations"] == []
        assert "not supported" in fault(nova.request("POST", action, json={
            "revertResize": None}), 400)
        assert nova.request("DELETE", f"/servers/{server['id']}").status_code == 204
        host.act()
        nova.wait_gone(server["id"])
    finally:
        host.close()


def _migrations(nova: Nova, server_id: str, version: str = "2.80") -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = nova.ok("GET", "/os-migrations", version=version,
                                          params={"instance_uuid": server_id})["migrations"]
    return found


def _cabled(nova: Nova, node: dict[str, Any], switch_port: str) -> str:
    mac = "52:54:00:" + ":".join(f"{b:02x}" for b in uuid.uuid4().bytes[:3])
    r = nova.bm.post("/ports", json={"address": mac, "node_uuid": node["uuid"],
                                     "local_link_connection": {
                                         "switch_id": "52:54:00:00:00:01",
                                         "port_id": switch_port, "switch_info": "lab"}})
    assert r.status_code == 201, r.text
    return mac


def _hypervisor_ports(nova: Nova, host_id: str) -> list[dict[str, Any]]:
    r = nova.http.get(f"{nova.svc.url}/network/v2.0/ports", params={"device_id": host_id})
    assert r.status_code == 200, r.text
    ports: list[dict[str, Any]] = r.json()["ports"]
    return ports


def test_machines_become_hypervisors_and_go_back_to_the_pool(nova: Nova) -> None:
    rc = f"rc-{uuid.uuid4().hex[:8]}"
    nodes = [nova.node(rc) for _ in range(2)]
    names = [n["name"] for n in nodes]
    body = {"hypervisor": {"nodes": names, "availability_zone": zone()}}
    if not any(i["name"] == "barecloud-hypervisor" for i in nova.glance.get(
            "/images", params={"name": "barecloud-hypervisor"}).json()["images"]):
        assert "no active hypervisor image" in fault(
            nova.request("POST", "/barecloud-hypervisors", json=body), 400)
        image = nova.image()
        r = nova.glance.patch(f"/images/{image}", json=[
            {"op": "replace", "path": "/name", "value": "barecloud-hypervisor"}],
            headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
        assert r.status_code == 200, r.text
    # A hypervisor's first NIC goes on the hypervisor network: it must exist, and
    # each machine needs a NIC cabled to a switch; nothing is made until both hold.
    network = nova.http.get(f"{nova.svc.url}/network/v2.0/networks",
                            params={"name": HYPERVISOR_NETWORK}).json()["networks"]
    if not network:
        assert f"hypervisor network '{HYPERVISOR_NETWORK}' does not exist" in fault(
            nova.request("POST", "/barecloud-hypervisors", json=body), 409)
        r = nova.http.post(f"{nova.svc.url}/network/v2.0/networks",
                           json={"network": {"name": HYPERVISOR_NETWORK}})
        assert r.status_code == 201, r.text
        r = nova.http.post(f"{nova.svc.url}/network/v2.0/subnets", json={"subnet": {
            "network_id": r.json()["network"]["id"], "ip_version": 4,
            "cidr": "10.96.0.0/24"}})
        assert r.status_code == 201, r.text
    macs = [_cabled(nova, nodes[0], f"hv-{uuid.uuid4().hex[:6]}")]
    assert "has no free NIC cabled to a switch" in fault(
        nova.request("POST", "/barecloud-hypervisors", json=body), 409)
    assert all(nova.node_of(n["uuid"])["instance_uuid"] is None for n in nodes)
    macs.append(_cabled(nova, nodes[1], f"hv-{uuid.uuid4().hex[:6]}"))
    made = nova.ok("POST", "/barecloud-hypervisors", 202, json=body)["hypervisors"]
    assert [h["hostname"] for h in made] == names
    assert all("credential" not in h and h["state"] == "new" for h in made)
    for node, host, mac in zip(nodes, made, macs, strict=True):
        n = nova.wait_node(node["uuid"], lambda n: n["provision_state"] == "active")
        assert n["instance_uuid"] == host["id"]
        assert "credential" not in str(n) and "hv." not in str(n)
        assert n["instance_info"]["display_name"] == f"hypervisor {host['hostname']}"
        [port] = _hypervisor_ports(nova, host["id"])
        assert (port["mac_address"], port["binding:host_id"], port["device_owner"]) == (
            mac, node["uuid"], "compute:hypervisor")
    # A machine already a hypervisor cannot become another.
    assert "not available" in fault(nova.request("POST", "/barecloud-hypervisors", json={
        "hypervisor": {"nodes": names[:1]}}), 409)
    for node, host in zip(nodes, made, strict=True):
        nova.ok("PUT", f"/barecloud-hypervisors/{host['id']}",
                json={"hypervisor": {"status": "disabled"}})
        r = nova.request("DELETE", f"/barecloud-hypervisors/{host['id']}")
        assert r.status_code == 204, r.text
        n = nova.wait_node(node["uuid"], lambda n: n["provision_state"] == "available")
        assert n["instance_uuid"] is None
        assert _hypervisor_ports(nova, host["id"]) == []
    assert "could not be found" in fault(nova.request("POST", "/barecloud-hypervisors", json={
        "hypervisor": {"nodes": ["no-such-node"]}}), 400)
    fault(nova.request("POST", "/barecloud-hypervisors", json={
        "hypervisor": {"nodes": names, "hostname": "both"}}), 400)


def test_a_requested_destination_must_be_of_the_flavors_kind(nova: Nova) -> None:
    """2.74's host / hypervisor_hostname: a VM goes to the hypervisor named, a
    bare-metal server to the node named; the wrong kind is a 400 at create."""
    az = zone()
    hosts = [enrol(nova, availability_zone=az) for _ in range(2)]
    agents = [Host(nova.svc, credential) for _, credential in hosts]
    rc = f"rc-{uuid.uuid4().hex[:8]}"
    node = nova.node(rc)
    try:
        for agent in agents:
            agent.start()
        image, vm, bm = nova.image(), vm_flavor(nova), nova.flavor(rc)
        target = hosts[1][0]["hostname"]
        for _ in range(3):  # spread would put the second VM on the other host
            server = nova.create("pinned", image, vm, availability_zone=az,
                                 hypervisor_hostname=target)["server"]
            agents[1].act()
            s = nova.wait(server["id"], lambda s: s["status"] == "ACTIVE", timeout=20)
            assert s["OS-EXT-SRV-ATTR:host"] == target
        assert "is a bare-metal node" in fault(nova.request("POST", "/servers", json={
            "server": {"name": "x", "imageRef": image, "flavorRef": vm, "networks": "none",
                       "hypervisor_hostname": node["name"]}}), 400)
        assert "is a hypervisor" in fault(nova.request("POST", "/servers", json={
            "server": {"name": "x", "imageRef": image, "flavorRef": bm, "networks": "none",
                       "host": target}}), 400)
        assert "could not be found" in fault(nova.request("POST", "/servers", json={
            "server": {"name": "x", "imageRef": image, "flavorRef": vm, "networks": "none",
                       "host": "nowhere"}}), 400)
        server = nova.create("on-node", image, bm, hypervisor_hostname=node["name"])["server"]
        s = nova.wait(server["id"], lambda s: s["status"] == "ACTIVE")
        assert s["OS-EXT-SRV-ATTR:hypervisor_hostname"] == node["uuid"]
        # Below 2.74 the keys are not part of a create, as in Nova.
        fault(nova.request("POST", "/servers", version="2.73", json={"server": {
            "name": "x", "imageRef": image, "flavorRef": vm, "networks": "none",
            "host": target}}), 400)
    finally:
        for agent in agents:
            agent.close()


def _network(nova: Nova, cidr: str, **extra: Any) -> str:
    neutron = f"{nova.svc.url}/network/v2.0"
    r = nova.http.post(f"{neutron}/networks", json={"network": {
        "name": f"net-{uuid.uuid4().hex[:6]}", **extra}})
    assert r.status_code == 201, r.text
    network_id = str(r.json()["network"]["id"])
    r = nova.http.post(f"{neutron}/subnets", json={"subnet": {
        "network_id": network_id, "ip_version": 4, "cidr": cidr}})
    assert r.status_code == 201, r.text
    return network_id


def _ports_of(nova: Nova, device_id: str) -> list[dict[str, Any]]:
    return _hypervisor_ports(nova, device_id)


def _act_until(agent: Host, server_id: str) -> dict[str, Any]:
    """The server's entry, once its host has it: a VM whose ports are being bound
    is in no list yet (a list may come between its placement and then)."""
    deadline = time.monotonic() + 20
    while True:
        wanted = agent.act()
        if server_id in wanted or time.monotonic() > deadline:
            return wanted[server_id]


def test_a_vms_nics_are_its_ports_bound_to_its_host(nova: Nova) -> None:
    """Ports are bound between placement and spawn; each NIC of the desired entry
    names its VXLAN segment and the network's other VTEPs, which a host that
    already has the network hears of at once."""
    az = zone()
    hosts = [enrol(nova, availability_zone=az) for _ in range(2)]
    agents = [Host(nova.svc, credential, host_ip=f"192.0.2.{20 + i}")
              for i, (_, credential) in enumerate(hosts)]
    try:
        for agent in agents:
            agent.start()
        image, flavor = nova.image(), vm_flavor(nova)
        net = _network(nova, "10.50.0.0/24")
        vms = []
        for i, agent in enumerate(agents):
            server = nova.create(f"wired{i}", image, flavor, availability_zone=az,
                                 hypervisor_hostname=hosts[i][0]["hostname"],
                                 networks=[{"uuid": net}])["server"]
            entry = _act_until(agent, server["id"])
            [nic] = entry["nics"]
            [port] = _ports_of(nova, server["id"])
            assert (nic["mac"], nic["network_id"], nic["mtu"]) == (
                port["mac_address"], net, 1450)
            assert nic["segment"]["type"] == "vxlan" and nic["segment"]["id"] > 0
            assert nic["vteps"] == ([] if i == 0 else ["192.0.2.20"])
            assert (port["binding:host_id"], port["binding:vnic_type"]) == (
                hosts[i][0]["hostname"], "normal")
            s = nova.wait(server["id"], lambda s: s["status"] == "ACTIVE", timeout=20)
            [address] = next(iter(s["addresses"].values()))
            assert (address["addr"], address["OS-EXT-IPS-MAC:mac_addr"]) == (
                port["fixed_ips"][0]["ip_address"], port["mac_address"])
            assert entry["config_drive"]["network_data"]["links"][0][
                "ethernet_mac_address"] == port["mac_address"]
            vms.append(server["id"])
        # The first host's list changed with the second VM: its NIC floods there too.
        assert agents[0].act(wait=1)[vms[0]]["nics"][0]["vteps"] == ["192.0.2.21"]

        # A network a VM cannot reach fails the build, in Nova's words; no port is left.
        vlan = _network(nova, "10.51.0.0/24", **{"provider:network_type": "vlan"})
        server = nova.create("unwired", image, flavor, availability_zone=az,
                             networks=[{"uuid": vlan}])["server"]
        s = nova.wait(server["id"], lambda s: s["status"] == "ERROR", timeout=20)
        assert "aborted" in s["fault"]["message"] and "VXLAN" in s["fault"]["message"]
        assert _ports_of(nova, server["id"]) == []
        nova.ok("DELETE", f"/servers/{server['id']}", 204)

        # A deleted VM's ports go with it.
        nova.ok("DELETE", f"/servers/{vms[0]}", 204)
        deadline = time.monotonic() + 20
        while agents[0].act().get(vms[0], {}).get("power") != "absent":
            assert time.monotonic() < deadline, "the delete never reached the host"
        agents[0].act(wait=0)
        nova.wait_gone(vms[0])
        deadline = time.monotonic() + 20
        while _ports_of(nova, vms[0]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _ports_of(nova, vms[0]) == []
        assert len(_ports_of(nova, vms[1])) == 1
    finally:
        for agent in agents:
            agent.close()


def test_a_vm_console_whose_host_never_opens_it_is_unavailable(
        nova: Nova, compute_service: support.Service) -> None:
    """The console URL's websocket waits for the host agent's leg, then says why
    it gave up (4503), not that someone else holds the console (4409)."""
    from websockets.exceptions import ConnectionClosed
    from websockets.sync.client import connect

    az = zone()
    _, credential = enrol(nova, availability_zone=az)
    host = Host(compute_service, credential)  # speaks reports and lists, never consoles
    try:
        host.start()
        server = nova.create("mute", nova.image(), vm_flavor(nova),
                             availability_zone=az)["server"]["id"]
        _act_until(host, server)
        nova.wait(server, lambda s: s["status"] == "ACTIVE", timeout=20)
        url = nova.ok("POST", f"/servers/{server}/remote-consoles", json={
            "remote_console": {"protocol": "serial", "type": "serial"}})["remote_console"]["url"]
        with connect(url, open_timeout=30) as ws:
            with pytest.raises(ConnectionClosed):
                ws.recv(timeout=60)
            assert ws.close_code == 4503, (ws.close_code, ws.close_reason)
            assert "did not open its console" in (ws.close_reason or "")
    finally:
        host.close()
