"""Ironic's answers at the edges: a request older than the feature it names (reads
404, or 406 where Ironic says NotAcceptable; writes 405), the node list's filters
from the version that introduced each, and what a node without RAID, BIOS or a
console interface answers, as Ironic's ``no-*`` interfaces do."""

from __future__ import annotations

import uuid

from tests.api.baremetal.ironic import Ironic, fault


def test_traits_before_1_37(api: Ironic) -> None:
    node = api.create_node(name="n1")["uuid"]
    fault(api.get(f"/nodes/{node}/traits", version="1.36"), 406)
    fault(api.put(f"/nodes/{node}/traits", version="1.36", json={"traits": ["CUSTOM_A"]}), 405)
    fault(api.put(f"/nodes/{node}/traits/CUSTOM_A", version="1.36"), 405)
    fault(api.delete(f"/nodes/{node}/traits", version="1.36"), 404)
    assert api.ok("GET", f"/nodes/{node}/traits")["traits"] == []


def test_allocations_before_their_versions(api: Ironic) -> None:
    fault(api.get("/allocations", version="1.51"), 404)
    fault(api.post("/allocations", version="1.51", json={"resource_class": "x"}), 405)
    fault(api.delete("/allocations/a1", version="1.51"), 405)
    fault(api.patch("/allocations/a1", version="1.56",
                    json=[{"op": "add", "path": "/extra/a", "value": 1}]), 405)


def test_node_filters(api: Ironic) -> None:
    fault(api.get("/nodes", version="1.20", params={"resource_class": "gold"}), 406)
    fault(api.get("/nodes/detail", version="1.20", params={"resource_class": "gold"}), 406)
    fault(api.get("/nodes", version="1.41", params={"fault": "power failure"}), 406)
    assert "Unrecognized fault" in fault(api.get("/nodes", params={"fault": "somefake"}), 400)
    assert api.ok("GET", "/nodes", params={"fault": "power failure"})["nodes"] == []
    assert api.ok("GET", "/nodes", version="1.21", params={"resource_class": "g"})["nodes"] == []


def test_raid_is_unsupported_without_a_raid_interface(api: Ironic) -> None:
    """The real hardware types have no RAID interface: 400 as Ironic's no-raid."""
    node = api.create_node(name="n1", driver="ipmi")
    assert node["raid_interface"] == "no-raid"
    fault(api.put(f"/nodes/{node['uuid']}/states/raid", version="1.11", json={}), 406)
    assert "does not support raid" in fault(
        api.put(f"/nodes/{node['uuid']}/states/raid", json={}), 400)
    fault(api.put("/nodes/nope/states/raid", json={}), 404)
    fault(api.get("/drivers/ipmi/raid/logical_disk_properties", version="1.11"), 406)
    assert "does not support raid" in fault(
        api.get("/drivers/ipmi/raid/logical_disk_properties"), 400)
    fault(api.get("/drivers/testdriver/raid/logical_disk_properties"), 404)


def test_show_conductor(api: Ironic) -> None:
    listed = api.ok("GET", "/conductors")["conductors"]
    assert listed and "drivers" not in listed[0]
    assert "drivers" in api.ok("GET", "/conductors", params={"detail": "true"})["conductors"][0]
    one = api.ok("GET", f"/conductors/{listed[0]['hostname']}")
    assert one["hostname"] == listed[0]["hostname"] and one["alive"] is True
    assert "fake-hardware" in one["drivers"]
    assert one["links"][0]["href"].endswith(f"/v1/conductors/{one['hostname']}")
    fault(api.get(f"/conductors/{one['hostname']}", version="1.48"), 404)
    assert fault(api.get("/conductors/nowhere"), 404) == "Conductor nowhere could not be found."


def test_bios_settings_are_none(api: Ironic) -> None:
    """No hardware type of barecloud's has a BIOS interface: no node has settings."""
    node = api.create_node(name="n1")["uuid"]
    assert api.ok("GET", f"/nodes/{node}/bios") == {"bios": []}
    assert "BIOS setting 'ProcVirtualization'" in fault(
        api.get(f"/nodes/{node}/bios/ProcVirtualization"), 404)
    fault(api.get(f"/nodes/{node}/bios", version="1.39"), 404)
    fault(api.get("/nodes/nope/bios"), 404)


def test_available_reads_as_none_before_1_2(api: Ironic) -> None:
    """A node made at 1.1 starts available, which 1.1 calls null: in the node and
    in its states alike."""
    node = api.ok("POST", "/nodes", 201, version="1.1", json={"driver": "fake-hardware"})
    states = api.ok("GET", f"/nodes/{node['uuid']}/states", version="1.1")
    assert node["provision_state"] is None and states["provision_state"] is None
    assert api.ok("GET", f"/nodes/{node['uuid']}/states")["provision_state"] == "available"


def test_detach_without_a_vif(api: Ironic) -> None:
    node = api.create_node(name="n1")["uuid"]
    assert "vif_id" in fault(api.delete(f"/nodes/{node}/vifs/"), 400)
    assert "vif_id" in fault(api.delete(f"/nodes/{node}/vifs"), 400)


def test_console_through_the_nodes_collection(api: Ironic) -> None:
    """Ironic serves a node's console state at /nodes/states/console/{node} too."""
    node = api.create_node(name="n1")["uuid"]
    want = {"console_enabled": False, "console_info": None}
    assert api.ok("GET", f"/nodes/states/console/{node}") == want
    assert api.ok("GET", f"/nodes/{node}/states/console") == want
    fault(api.get(f"/nodes/states/console/{uuid.uuid4()}"), 404)
