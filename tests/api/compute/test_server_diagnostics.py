"""A bare-metal server's diagnostics (the node's figures), a rebuild of a stopped server,
and os-migrations' input, as Nova answers them."""

from __future__ import annotations

import uuid

from tests.api.compute.nova import Nova, fault

PROPS = {"cpus": 8, "memory_mb": 16384, "local_gb": 200}


def _server(nova: Nova, rc: str, mac: str) -> str:
    nova.node(rc, mac=mac, properties=PROPS)
    sid: str = nova.create("diag", nova.image(), nova.flavor(rc))["server"]["id"]
    nova.wait_status(sid, "ACTIVE")
    return sid


def test_diagnostics_are_the_nodes_figures(nova: Nova, rc: str) -> None:
    mac = "52:54:00:d1:a9:01"
    sid = _server(nova, rc, mac)
    d = nova.ok("GET", f"/servers/{sid}/diagnostics", version="2.48")
    assert (d["state"], d["driver"], d["config_drive"]) == ("running", "ironic", True)
    assert (d["num_cpus"], d["num_nics"], d["num_disks"]) == (8, 1, 1)
    assert d["memory_details"] == {"maximum": 16384, "used": None}
    assert [c["id"] for c in d["cpu_details"]] == list(range(8))
    [nic] = d["nic_details"]
    assert nic["mac_address"] == mac and nic["rx_octets"] is None
    assert set(d["disk_details"][0]) == {"read_bytes", "read_requests", "write_bytes",
                                         "write_requests", "errors_count"}
    assert d["uptime"] is None and d["hypervisor_os"] is None

    legacy = nova.ok("GET", f"/servers/{sid}/diagnostics", version="2.47")
    assert legacy["memory"] == 16384 * 1024 and legacy["nic0_mac"] == mac
    assert "memory_details" not in legacy

    nova.ok("POST", f"/servers/{sid}/action", 202, json={"os-stop": None})
    nova.wait_status(sid, "SHUTOFF")
    assert nova.ok("GET", f"/servers/{sid}/diagnostics")["state"] == "shutdown"
    assert fault(nova.request("GET", f"/servers/{uuid.uuid4()}/diagnostics"), 404)


def test_a_stopped_server_is_rebuilt_and_stays_stopped(nova: Nova, rc: str) -> None:
    sid = _server(nova, rc, "52:54:00:d1:a9:02")
    nova.ok("POST", f"/servers/{sid}/action", 202, json={"os-stop": None})
    nova.wait_status(sid, "SHUTOFF")
    image = nova.image(b"\x02" * 4096)
    nova.ok("POST", f"/servers/{sid}/action", 202, json={"rebuild": {"imageRef": image}})
    s = nova.wait_status(sid, "SHUTOFF")
    assert s["image"]["id"] == image and s["OS-EXT-STS:power_state"] == 4
    actions = [a["action"] for a in nova.ok(
        "GET", f"/servers/{sid}/os-instance-actions")["instanceActions"]]
    assert actions[:2] == ["rebuild", "stop"]


def test_migrations_input_is_novas(nova: Nova) -> None:
    # Below 2.59 any parameter is taken (Nova's schema is open), from 2.59 none.
    assert nova.ok("GET", "/os-migrations", version="2.1",
                   params={"instance_uuid": str(uuid.uuid4()), "other": "x"}) == \
        {"migrations": []}
    assert fault(nova.request("GET", "/os-migrations", version="2.59",
                              params={"other": "x"}), 400)
    marker = str(uuid.uuid4())
    assert fault(nova.request("GET", "/os-migrations", version="2.59",
                              params={"marker": marker}), 400) == \
        f"Marker {marker} could not be found."
    assert fault(nova.request("GET", "/os-migrations", version="2.66", params={
        "changes-since": "2026-01-02T00:00:00Z",
        "changes-before": "2026-01-01T00:00:00Z"}), 400)
    assert fault(nova.request("GET", "/os-migrations", version="2.59",
                              params={"limit": "-1"}), 400)
