"""os-services and os-hosts: barecloud's member processes and compute hosts as Nova's."""

from __future__ import annotations

from tests.api.compute.nova import Nova, fault


def test_services_name_processes_and_compute_hosts(nova: Nova, rc: str) -> None:
    node = nova.node(rc, properties={"availability_zone": f"az-{rc}", "cpus": 4,
                                     "memory_mb": 2048, "local_gb": 20})
    services = nova.ok("GET", "/os-services")["services"]
    mine = [x for x in services if x["host"] == node["name"]]
    assert len(mine) == 1
    svc = mine[0]
    assert (svc["binary"], svc["zone"], svc["status"], svc["state"]) == \
        ("nova-compute", f"az-{rc}", "enabled", "up")
    assert svc["id"] == node["uuid"] and svc["forced_down"] is False  # 2.53, 2.11
    assert {x["binary"] for x in services} >= {"nova-compute", "nova-conductor"}  # serve
    assert all(x["zone"] == "internal" for x in services if x["binary"] != "nova-compute")

    old = nova.ok("GET", "/os-services", version="2.1",
                  params={"host": node["name"]})["services"]
    assert [x["id"] for x in old] == [svc_id := old[0]["id"]] and isinstance(svc_id, int)
    assert "forced_down" not in old[0]
    assert nova.ok("GET", "/os-services", params={"binary": "nova-compute",
                                                  "host": "nowhere"}) == {"services": []}
    conductors = nova.ok("GET", "/os-services", params={"binary": "nova-conductor"})
    assert conductors["services"] and all(x["binary"] == "nova-conductor" and
                                          x["state"] == "up" for x in conductors["services"])


def test_hosts_below_2_43(nova: Nova, rc: str) -> None:
    node = nova.node(rc, properties={"availability_zone": f"hz-{rc}", "cpus": 4,
                                     "memory_mb": 2048, "local_gb": 20})
    hosts = nova.ok("GET", "/os-hosts", version="2.42",
                    params={"zone": f"hz-{rc}"})["hosts"]
    assert hosts == [{"host_name": node["name"], "service": "compute",
                      "zone": f"hz-{rc}"}]
    shown = nova.ok("GET", f"/os-hosts/{node['name']}", version="2.42")["host"]
    resources = {r["resource"]["project"]: r["resource"] for r in shown}
    assert (resources["(total)"]["cpu"], resources["(total)"]["memory_mb"],
            resources["(total)"]["disk_gb"]) == (4, 2048, 20)
    assert resources["(used_now)"]["cpu"] == 0 and resources["(used_max)"]["cpu"] == 0
    assert fault(nova.request("GET", "/os-hosts/nowhere", version="2.42"), 404) == \
        "Compute host nowhere could not be found."
    assert fault(nova.request("GET", "/os-hosts", version="2.43"), 404)


def test_host_update_and_power_are_the_ironic_drivers_501(nova: Nova, rc: str) -> None:
    """Nova's Ironic driver implements neither: the input, the host and then 501."""
    node = nova.node(rc)
    host = f"/os-hosts/{node['name']}"
    for body in ({}, {"status": "invalid"}, {"maintenance_mode": "on"},
                 {"status": "enable", "other": 1}):
        assert fault(nova.request("PUT", host, version="2.42", json=body), 400), body
    assert fault(nova.request("PUT", "/os-hosts/nowhere", version="2.42",
                              json={"status": "enable"}), 404)
    assert fault(nova.request("PUT", host, version="2.42", json={
        "status": "disable", "maintenance_mode": "enable"}), 501) == \
        "Virt driver does not implement host disabled status."
    assert fault(nova.request("PUT", host, version="2.42", json={
        "maintenance_mode": "Enable"}), 501) == \
        "Virt driver does not implement host maintenance mode."
    for action in ("reboot", "shutdown", "startup"):
        assert fault(nova.request("GET", f"{host}/{action}", version="2.42"), 501) == \
            "Virt driver does not implement host power management."
        assert fault(nova.request("GET", f"/os-hosts/nowhere/{action}", version="2.42"), 404)
    assert fault(nova.request("GET", f"{host}/reboot", version="2.43"), 404)
