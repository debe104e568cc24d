"""Version discovery and microversion negotiation, as Nova's clients expect them."""

from __future__ import annotations

import httpx
import pytest

from tests import support
from tests.api.compute.nova import Nova, fault


def test_versions_document(compute_service: support.Service) -> None:
    r = httpx.get(f"{compute_service.url}/compute")
    assert r.status_code == 200
    versions = {v["id"]: v for v in r.json()["versions"]}
    assert set(versions) == {"v2.0", "v2.1"}
    assert versions["v2.1"]["status"] == "CURRENT"
    assert versions["v2.1"]["min_version"] == "2.1"
    assert versions["v2.1"]["version"] == "2.96"
    assert versions["v2.0"]["status"] == "SUPPORTED" and versions["v2.0"]["version"] == ""
    assert versions["v2.1"]["links"][0]["href"] == f"{compute_service.url}/compute/v2.1/"
    for path, which in (("/compute/v2.1", "v2.1"), ("/compute/v2.1/", "v2.1"),
                        ("/compute/v2", "v2.0")):
        doc = httpx.get(f"{compute_service.url}{path}").json()["version"]
        assert doc["id"] == which
        assert {"base": "application/json",
                "type": f"application/vnd.openstack.compute+json;version={which[1:]}"} in \
            doc["media-types"]


@pytest.mark.parametrize(("headers", "expected"), [
    ({}, "2.1"),
    ({"OpenStack-API-Version": "compute 2.47"}, "2.47"),
    ({"X-OpenStack-Nova-API-Version": "2.60"}, "2.60"),
    ({"OpenStack-API-Version": "compute latest"}, "2.96"),
    ({"OpenStack-API-Version": "baremetal 1.2, compute 2.10"}, "2.10"),
    # The standard header wins over the legacy one, as microversion_parse does.
    ({"OpenStack-API-Version": "compute 2.5", "X-OpenStack-Nova-API-Version": "2.9"}, "2.5"),
])
def test_negotiation_echoes_the_version(nova: Nova, headers: dict[str, str],
                                        expected: str) -> None:
    r = nova.http.get("/flavors", headers={"OpenStack-API-Version": "", **headers})
    assert r.status_code == 200, r.text
    assert r.headers["OpenStack-API-Version"] == f"compute {expected}"
    assert r.headers["X-OpenStack-Nova-API-Version"] == expected
    assert "OpenStack-API-Version" in r.headers["Vary"]
    assert "X-OpenStack-Nova-API-Version" in r.headers["Vary"]


@pytest.mark.parametrize("value", ["2.97", "3.0", "2.0", "1.1"])
def test_out_of_range_is_406(nova: Nova, value: str) -> None:
    r = nova.http.get("/flavors", headers={"OpenStack-API-Version": f"compute {value}"})
    assert fault(r, 406) == (f"Version {value} is not supported by the API. Minimum is 2.1 "
                             "and maximum is 2.96.")


@pytest.mark.parametrize("value", ["2.x", "two", "2.", "2.01.1"])
def test_malformed_version_is_400(nova: Nova, value: str) -> None:
    r = nova.http.get("/flavors", headers={"OpenStack-API-Version": f"compute {value}"})
    assert "is of invalid format" in fault(r, 400)


def test_legacy_v2_serves_the_same_api(compute_service: support.Service) -> None:
    r = httpx.get(f"{compute_service.url}/compute/v2/flavors",
                  headers={"OpenStack-API-Version": "compute 2.60"})
    assert r.status_code == 200 and "flavors" in r.json()
    assert "OpenStack-API-Version" not in r.headers
    link = httpx.get(f"{compute_service.url}/compute/v2/limits").json()
    assert "absolute" in link["limits"]


def test_unknown_path_and_version_gated_method(nova: Nova) -> None:
    assert fault(nova.request("GET", "/no-such-thing"), 404)
    # PUT /flavors/{id} (a description) arrived in 2.55.
    r = nova.request("PUT", "/flavors/x", json={"flavor": {"description": "d"}},
                     version="2.54")
    assert "not supported on this method" in fault(r, 404)


def test_availability_zones_and_hypervisors(nova: Nova, rc: str) -> None:
    node = nova.node(rc, properties={"availability_zone": f"zone-{rc}", "cpus": 8,
                                     "memory_mb": 4096, "local_gb": 100})
    zones = nova.ok("GET", "/os-availability-zone")["availabilityZoneInfo"]
    assert {"zoneName": f"zone-{rc}", "zoneState": {"available": True},
            "hosts": None} in zones
    detail = nova.ok("GET", "/os-availability-zone/detail")["availabilityZoneInfo"]
    [zone] = [z for z in detail if z["zoneName"] == f"zone-{rc}"]
    assert set(zone["hosts"]) == {node["name"]}
    found = nova.ok("GET", f"/os-hypervisors/{node['uuid']}")["hypervisor"]
    assert found["id"] == node["uuid"] and found["hypervisor_hostname"] == node["uuid"]
    assert found["hypervisor_type"] == "ironic" and found["service"]["host"] == node["name"]
    assert found["status"] == "enabled" and found["state"] == "up"
    assert "vcpus" not in found  # removed in 2.88
    old = nova.ok("GET", f"/os-hypervisors/{node['uuid']}", version="2.87")["hypervisor"]
    assert (old["vcpus"], old["memory_mb"], old["local_gb"], old["running_vms"]) == \
        (8, 4096, 100, 0)
    listed = nova.ok("GET", "/os-hypervisors",
                     params={"hypervisor_hostname_pattern": node["uuid"]})["hypervisors"]
    assert [h["id"] for h in listed] == [node["uuid"]]
    missing = fault(nova.request("GET", "/os-hypervisors/nope"), 404)
    assert missing == "Hypervisor with ID nope could not be found."


def test_hypervisor_statistics_search_and_servers(nova: Nova, rc: str) -> None:
    """Below 2.53 (statistics below 2.88), as Nova's."""
    node = nova.node(rc, properties={"cpus": 3, "memory_mb": 300, "local_gb": 30})
    stats = nova.ok("GET", "/os-hypervisors/statistics", version="2.87")[
        "hypervisor_statistics"]
    assert stats["count"] >= 1 and stats["vcpus"] >= 3 and stats["local_gb"] >= 30
    assert fault(nova.request("GET", "/os-hypervisors/statistics", version="2.88"), 404)

    found = nova.ok("GET", f"/os-hypervisors/{node['name']}/search",
                    version="2.52")["hypervisors"]
    assert [h["hypervisor_hostname"] for h in found] == [node["uuid"]]
    assert fault(nova.request("GET", "/os-hypervisors/no-such/search", version="2.52"),
                 404) == "No hypervisor matching 'no-such' could be found."
    assert fault(nova.request("GET", f"/os-hypervisors/{node['name']}/search"), 404)

    sid = nova.create("on-host", nova.image(), nova.flavor(rc))["server"]["id"]
    nova.wait_status(sid, "ACTIVE")
    [host] = nova.ok("GET", f"/os-hypervisors/{node['name']}/servers",
                     version="2.52")["hypervisors"]
    assert host["servers"] == [{"uuid": sid, "name": "on-host"}]
    nova.request("DELETE", f"/servers/{sid}")


def test_extensions_listing_as_novas(nova: Nova) -> None:
    listed = nova.ok("GET", "/extensions")["extensions"]
    hosts = next(e for e in listed if e["name"] == "Hosts")
    assert hosts == {"alias": "os-hosts", "name": "Hosts", "links": [],
                     "description": "Admin-only host administration.",
                     "namespace": "http://docs.openstack.org/compute/ext/fake_xml",
                     "updated": "2014-12-03T00:00:00Z"}
    assert nova.ok("GET", "/extensions/os-consoles")["extension"]["alias"] == "os-consoles"
    assert fault(nova.request("GET", "/extensions/os-nothing"), 404)
