"""Nova's network proxies (/os-floating-ips, /os-networks, /os-tenant-networks, 2.1 to
2.35): Nova's format over Neutron's resources, Nova's refusals, and 404 from 2.36.  The association
actions (addFloatingIp/removeFloatingIp, to 2.43) need a server with a routed
port: tempest's compute floating-IP tests cover them (bench/conformance)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from tests import support
from tests.api.compute.nova import Nova, fault
from tests.api.network.neutron import Neutron


@pytest.fixture
def old(compute_service: support.Service) -> Iterator[Nova]:
    client = Nova(compute_service, version="2.35")
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def pool(compute_service: support.Service) -> Iterator[str]:
    """An external network with a subnet: a pool, by name."""
    neutron = Neutron(compute_service)
    try:
        net = neutron.network(**{"router:external": True})
        neutron.subnet(net["id"], cidr="198.51.100.0/24")
        yield str(net["name"])
    finally:
        neutron.close()


def test_allocate_show_list_release(old: Nova, pool: str) -> None:
    made = old.ok("POST", "/os-floating-ips", json={"pool": pool})["floating_ip"]
    assert set(made) == {"id", "ip", "fixed_ip", "instance_id", "pool"}
    assert (made["pool"], made["fixed_ip"], made["instance_id"]) == (pool, None, None)
    assert made["ip"].startswith("198.51.100.")
    assert old.ok("GET", f"/os-floating-ips/{made['id']}")["floating_ip"] == made
    assert made in old.ok("GET", "/os-floating-ips")["floating_ips"]
    old.ok("DELETE", f"/os-floating-ips/{made['id']}", 202)
    assert fault(old.request("GET", f"/os-floating-ips/{made['id']}"), 404) == \
        f"Floating IP not found for ID {made['id']}"


def test_novas_refusals(old: Nova, pool: str) -> None:
    assert fault(old.request("POST", "/os-floating-ips", json={"pool": "no-such-pool"}),
                 404) == "Floating IP pool not found."
    assert fault(old.request("DELETE", f"/os-floating-ips/{uuid.uuid4()}"), 404)
    assert fault(old.request("GET", "/os-floating-ips/12"), 404)
    missing = str(uuid.uuid4())
    assert fault(old.request("POST", f"/servers/{missing}/action", json={
        "addFloatingIp": {"address": "0.0.0.0"}}), 404)
    assert fault(old.request("POST", f"/servers/{missing}/action", json={
        "addFloatingIp": {"address": ""}}), 400)


def test_gone_from_2_36(old: Nova, pool: str) -> None:
    assert fault(old.request("GET", "/os-floating-ips", version="2.36"), 404)
    assert fault(old.request("POST", "/os-floating-ips", version="2.36",
                             json={"pool": pool}), 404)
    # The actions end at 2.44.
    r = old.request("POST", f"/servers/{uuid.uuid4()}/action", version="2.44",
                    json={"addFloatingIp": {"address": "0.0.0.0"}})
    assert r.status_code == 400, r.text


def test_networks_with_only_name_and_id(old: Nova, pool: str) -> None:
    listed = old.ok("GET", "/os-networks")["networks"]
    [mine] = [n for n in listed if n["label"] == pool]
    assert mine["cidr"] is None and mine["id"]
    assert "mtu" in mine  # the caller is an admin here: Nova's admin fields, all null
    assert old.ok("GET", f"/os-networks/{mine['id']}")["network"] == mine
    tenant = old.ok("GET", f"/os-tenant-networks/{mine['id']}")["network"]
    assert tenant == {"id": mine["id"], "cidr": "None", "label": pool}
    assert tenant in old.ok("GET", "/os-tenant-networks")["networks"]
    assert fault(old.request("GET", f"/os-networks/{uuid.uuid4()}"), 404) == \
        "Network not found."
    assert fault(old.request("GET", "/os-tenant-networks", version="2.36"), 404)
