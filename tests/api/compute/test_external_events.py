"""os-server-external-events: answered per event as Nova does; network-changed re-reads a
server's addresses from its ports."""

from __future__ import annotations

import uuid
from typing import Any

from tests.api.compute.nova import Nova, fault, server_on, tenant_network

EVENTS = "/os-server-external-events"


def _events(nova: Nova, *events: dict[str, Any], status: int = 200,
            version: str | None = None) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = nova.ok("POST", EVENTS, status, version=version,
                                          json={"events": list(events)})["events"]
    return found


def test_events_are_answered_one_by_one(nova: Nova, rc: str) -> None:
    network = tenant_network(nova, "192.0.2.0/24")
    sid = server_on(nova, rc, network, "52:54:00:e7:00:01")
    net = network["name"]
    unknown = str(uuid.uuid4())
    [ok] = _events(nova, {"name": "network-changed", "server_uuid": sid})
    assert (ok["status"], ok["code"], ok["server_uuid"]) == ("completed", 200, sid)
    mixed = _events(nova, {"name": "network-vif-plugged", "server_uuid": sid, "tag": "x"},
                    {"name": "network-changed", "server_uuid": unknown}, status=207)
    assert [(e["status"], e["code"]) for e in mixed] == [("completed", 200), ("failed", 404)]
    assert fault(nova.request("POST", EVENTS, json={"events": [
        {"name": "network-changed", "server_uuid": unknown}]}), 404) == \
        "No instances found for any event"
    # volume-extended from 2.51, and with its tag (the volume) only.
    assert fault(nova.request("POST", EVENTS, version="2.50", json={"events": [
        {"name": "volume-extended", "server_uuid": sid}]}), 400)
    [no_tag, vif] = _events(nova, {"name": "volume-extended", "server_uuid": sid},
                            {"name": "network-vif-deleted", "server_uuid": sid},
                            status=207, version="2.51")
    assert (no_tag["code"], vif["code"]) == (400, 200)
    assert fault(nova.request("POST", EVENTS, json={"events": []}), 400)

    # A port's new address shows once Neutron's network-changed says so.
    neutron = f"{nova.svc.url}/network/v2.0"
    [port] = nova.http.get(f"{neutron}/ports", params={"device_id": sid}).json()["ports"]
    r = nova.http.put(f"{neutron}/ports/{port['id']}", json={"port": {
        "fixed_ips": [{"subnet_id": port["fixed_ips"][0]["subnet_id"],
                       "ip_address": "192.0.2.200"}]}})
    assert r.status_code == 200, r.text
    _events(nova, {"name": "network-changed", "server_uuid": sid, "tag": port["id"]})
    [entry] = nova.server(sid)["addresses"][net]
    assert entry["addr"] == "192.0.2.200"
    assert entry["OS-EXT-IPS-MAC:mac_addr"] == "52:54:00:e7:00:01"
