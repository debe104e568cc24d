"""What Nova's clients read off every answer (issue 21): request ids, ``limit=0``,
integer flavor ids, the update and rebuild views per microversion, access IPs,
``cpu_info``."""

from __future__ import annotations

import hashlib
import random

from tests.api.compute.nova import Nova, fault

# Keys Nova's update and rebuild answers leave out below 2.75.
SHOW_ONLY = {"OS-EXT-AZ:availability_zone", "config_drive", "OS-SRV-USG:launched_at",
             "OS-SRV-USG:terminated_at", "OS-EXT-STS:vm_state", "OS-EXT-STS:task_state",
             "OS-EXT-STS:power_state", "os-extended-volumes:volumes_attached",
             "OS-EXT-SRV-ATTR:host", "host_status"}


def _mac(seed: str) -> str:
    h = hashlib.sha1(seed.encode()).digest()
    return f"52:54:{h[0]:02x}:{h[1]:02x}:{h[2]:02x}:07"


def test_every_compute_answer_carries_novas_request_id(nova: Nova) -> None:
    for r in (nova.request("GET", "/flavors"), nova.request("GET", "/servers/nope"),
              nova.request("GET", "/flavors", version="3.0")):
        rid = r.headers["x-compute-request-id"]
        assert rid.startswith("req-") and r.headers["openstack-request-id"] == rid
    assert "x-compute-request-id" not in nova.glance.get("/images").headers


def test_limit_zero_is_an_empty_page(nova: Nova, rc: str) -> None:
    nova.flavor(rc)
    assert nova.ok("GET", "/flavors")["flavors"]
    for path, key in (("/servers", "servers"), ("/servers/detail", "servers"),
                      ("/flavors", "flavors"), ("/flavors/detail", "flavors"),
                      ("/os-hypervisors", "hypervisors")):
        body = nova.ok("GET", path, params={"limit": 0})
        assert body[key] == [] and f"{key}_links" not in body, path


def test_a_flavor_id_given_as_a_number_is_its_text(nova: Nova) -> None:
    ident = random.randint(10**6, 10**9)
    f = nova.ok("POST", "/flavors", json={"flavor": {
        "name": f"int-{ident}", "ram": 64, "vcpus": 1, "disk": 0, "id": ident}})["flavor"]
    assert f["id"] == str(ident)
    assert nova.ok("GET", f"/flavors/{ident}")["flavor"]["name"] == f"int-{ident}"
    assert "is not of type" in fault(nova.request("POST", "/flavors", json={"flavor": {
        "name": "bool-id", "ram": 64, "vcpus": 1, "disk": 0, "id": True}}), 400)


def test_update_and_rebuild_answer_novas_view_per_version(nova: Nova, rc: str) -> None:
    nova.node(rc, mac=_mac(rc))
    image, flavor = nova.image(), nova.flavor(rc)
    created = nova.create("views", image, flavor, accessIPv4="192.0.2.7",
                          accessIPv6="2001:DB8::7", **{"OS-DCF:diskConfig": "AUTO"})
    assert created["server"]["OS-DCF:diskConfig"] == "AUTO"
    sid = created["server"]["id"]
    s = nova.wait_status(sid, "ACTIVE")
    assert s["OS-DCF:diskConfig"] == "AUTO"
    assert (s["accessIPv4"], s["accessIPv6"]) == ("192.0.2.7", "2001:db8::7")
    assert s["server_groups"] == []  # shown by GET at 2.71+ ...
    detail = nova.ok("GET", "/servers/detail")["servers"]
    assert all("server_groups" not in x for x in detail)  # ... never on a page

    old = nova.ok("PUT", f"/servers/{sid}", version="2.74",
                  json={"server": {"accessIPv4": "192.0.2.8"}})["server"]
    assert old["accessIPv4"] == "192.0.2.8" and old["accessIPv6"] == "2001:db8::7"
    assert not SHOW_ONLY & set(old) and "key_name" not in old
    assert "server_groups" in old and "pinned_availability_zone" not in old
    new = nova.ok("PUT", f"/servers/{sid}", json={"server": {"accessIPv6": "2001:db8::9"}})
    assert set(new["server"]) >= SHOW_ONLY and new["server"]["accessIPv6"] == "2001:db8::9"
    assert "pinned_availability_zone" in new["server"]
    assert "is not a 'ipv4'" in fault(nova.request(
        "PUT", f"/servers/{sid}", json={"server": {"accessIPv4": "not-an-ip"}}), 400)
    assert nova.server(sid)["accessIPv4"] == "192.0.2.8"

    r = nova.request("POST", f"/servers/{sid}/action", version="2.56",
                     json={"rebuild": {"imageRef": image, "accessIPv4": "192.0.2.9"}})
    assert r.status_code == 202, r.text
    rebuilt = r.json()["server"]
    assert rebuilt["accessIPv4"] == "192.0.2.9" and "key_name" in rebuilt
    assert not SHOW_ONLY & set(rebuilt) and "user_data" not in rebuilt
    nova.wait_status(sid, "ACTIVE")
    r = nova.request("POST", f"/servers/{sid}/action",
                     json={"rebuild": {"imageRef": image, "OS-DCF:diskConfig": "MANUAL"}})
    rebuilt = r.json()["server"]
    assert rebuilt["OS-DCF:diskConfig"] == "MANUAL"
    assert set(rebuilt) >= SHOW_ONLY and "user_data" in rebuilt
    assert "OS-EXT-SRV-ATTR:user_data" not in rebuilt  # a rebuild's is user_data
    r = nova.request("POST", f"/servers/{sid}/action", version="2.53",
                     json={"rebuild": {"imageRef": image}})
    assert fault(r, 409)  # still rebuilding
    nova.wait_status(sid, "ACTIVE")
    r = nova.request("POST", f"/servers/{sid}/action", version="2.53",
                     json={"rebuild": {"imageRef": image}})
    assert r.status_code == 202 and "key_name" not in r.json()["server"]
    nova.wait_status(sid, "ACTIVE")
    nova.request("DELETE", f"/servers/{sid}")


def test_hypervisor_cpu_info_per_version(nova: Nova, rc: str) -> None:
    node = nova.node(rc, properties={"cpus": 2, "memory_mb": 512, "local_gb": 10})
    path = f"/os-hypervisors/{node['uuid']}"
    assert nova.ok("GET", path, version="2.27")["hypervisor"]["cpu_info"] == ""
    assert nova.ok("GET", path, version="2.28")["hypervisor"]["cpu_info"] == {}
    assert "cpu_info" not in nova.ok("GET", path, version="2.88")["hypervisor"]
