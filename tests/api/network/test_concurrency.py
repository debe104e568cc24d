"""Concurrent requests: addresses and segment ids are never handed out twice."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx

from tests import support
from tests.api.network.neutron import Neutron, error


def _post(svc: support.Service, path: str, body: dict[str, Any]) -> httpx.Response:
    return httpx.post(f"{svc.url}/network/v2.0{path}", json=body, timeout=120)


def test_concurrent_ports_on_a_small_subnet(network_service: support.Service,
                                           neutron: Neutron) -> None:
    net = neutron.network()
    sub = neutron.subnet(net["id"], "10.40.0.0/28", enable_dhcp=False)  # .2 - .14: 13
    body = {"port": {"network_id": net["id"]}}
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda _: _post(network_service, "/ports", body), range(20)))
    made = [r.json()["port"] for r in results if r.status_code == 201]
    refused = [r for r in results if r.status_code != 201]
    ips = [p["fixed_ips"][0]["ip_address"] for p in made]
    assert len(made) == 13 and len(set(ips)) == 13
    assert sorted(ips, key=lambda ip: int(ip.rsplit(".", 1)[1])) == [
        f"10.40.0.{i}" for i in range(2, 15)]
    assert len({p["mac_address"] for p in made}) == 13
    for r in refused:
        error(r, 409, "IpAddressGenerationFailure")
    assert len(neutron.ids("ports", network_id=net["id"])) == 13
    assert all(p["fixed_ips"][0]["subnet_id"] == sub["id"] for p in made)
    for p in made:
        neutron.ok("DELETE", f"/ports/{p['id']}", 204)
    neutron.ok("DELETE", f"/networks/{net['id']}", 204)


def test_concurrent_networks_get_distinct_segments(network_service: support.Service,
                                                   neutron: Neutron) -> None:
    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda i: _post(network_service, "/networks", {
            "network": {"name": f"race-{i}"}}), range(20)))
    assert [r.status_code for r in results] == [201] * 20, [r.text for r in results]
    made = [r.json()["network"] for r in results]
    ids = sorted(n["provider:segmentation_id"] for n in made)
    assert len(set(ids)) == 20 and all(5000 <= i <= 5999 for i in ids)
    for n in made:
        neutron.ok("DELETE", f"/networks/{n['id']}", 204)
