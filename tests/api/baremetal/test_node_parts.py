"""What API 1.79-1.92 added around nodes: shards, parent and child nodes, the
inventory, firmware, virtual media, ``.json`` suffixes, the service and unhold
verbs, and allocations."""

from __future__ import annotations

from tests.api.baremetal.ironic import Ironic, fault


def test_shards(api: Ironic) -> None:
    a = api.create_node(name="a", shard="s1")
    api.create_node(name="b", shard="s1")
    c = api.create_node(name="c")
    fault(api.post("/nodes", version="1.81", json={"driver": "fake-hardware", "shard": "x"}),
          406)
    assert a["shard"] == "s1" and "shard" not in api.ok("GET", "/nodes/a", version="1.81")
    assert api.ok("GET", "/shards")["shards"] == [{"name": "s1", "count": 2},
                                                   {"name": "None", "count": 1}]
    fault(api.get("/shards", version="1.81"), 404)
    listed = api.ok("GET", "/nodes", params={"shard": "s1"})["nodes"]
    assert sorted(n["name"] for n in listed) == ["a", "b"]
    unsharded = api.ok("GET", "/nodes", params={"sharded": "false"})["nodes"]
    assert [n["uuid"] for n in unsharded] == [c["uuid"]]
    fault(api.get("/nodes", params={"shard": "s1"}, version="1.81"), 406)
    api.ok("POST", "/ports", 201, json={"node_uuid": a["uuid"], "address": "52:54:00:00:01:01"})
    api.ok("POST", "/ports", 201, json={"node_uuid": c["uuid"], "address": "52:54:00:00:01:02"})
    ports = api.ok("GET", "/ports", params={"shard": "s1"})["ports"]
    assert [p["address"] for p in ports] == ["52:54:00:00:01:01"]
    fault(api.get("/ports", params={"shard": "s1", "node": "a"}), 403)


def test_parent_and_children(api: Ironic) -> None:
    parent = api.create_node(name="host")
    child = api.create_node(name="dpu", parent_node="host")
    assert child["parent_node"] == parent["uuid"]
    assert "unknown" in fault(api.post("/nodes", json={"driver": "fake-hardware",
                                                       "parent_node": "unknown"}), 400)
    names = [n["name"] for n in api.ok("GET", "/nodes")["nodes"]]
    assert names == ["host"]  # children are listed only when asked for
    every = api.ok("GET", "/nodes", params={"include_children": "true"})["nodes"]
    assert sorted(n["name"] for n in every) == ["dpu", "host"]
    of_host = api.ok("GET", "/nodes", params={"parent_node": parent["uuid"]})["nodes"]
    assert [n["name"] for n in of_host] == ["dpu"]
    assert api.ok("GET", "/nodes/host/children") == {"children": [child["uuid"]]}
    fault(api.get("/nodes/host/children", version="1.82"), 404)
    fault(api.get("/nodes", params={"include_children": "true"}, version="1.82"), 406)


def test_inventory_firmware_vmedia(api: Ironic) -> None:
    api.create_node(name="n1")
    fault(api.get("/nodes/n1/inventory", version="1.80"), 404)
    assert "Inventory not recorded" in fault(api.get("/nodes/n1/inventory"), 404)
    assert api.ok("GET", "/nodes/n1/firmware") == {"firmware": []}
    fault(api.get("/nodes/n1/firmware", version="1.85"), 404)
    media = {"device_type": "cdrom", "image_url": "http://images/boot.iso"}
    fault(api.post("/nodes/n1/vmedia", version="1.88", json=media), 404)
    assert "does not support attach_virtual_media" in fault(
        api.post("/nodes/n1/vmedia", json=media), 400)
    fault(api.post("/nodes/n1/vmedia", json={**media, "device_type": "CDROM"}), 400)
    assert "URL scheme" in fault(api.post("/nodes/n1/vmedia", json={
        **media, "image_url": "ftp://x/y.iso"}), 400)
    fault(api.put("/nodes/n1/vmedia", json=media), 405)
    fault(api.delete("/nodes/n1/vmedia", params={"device_types": "tape"}), 400)


def test_json_suffix_until_1_90(api: Ironic) -> None:
    node = api.create_node(name="n1")
    assert api.ok("GET", f"/nodes/{node['uuid']}.json", version="1.90")["name"] == "n1"
    fault(api.get(f"/nodes/{node['uuid']}.json", version="1.91"), 404)


def test_service_and_unhold(api: Ironic) -> None:
    """Servicing (1.87) an active node runs Ironic's reserved steps; a step no
    interface has fails it (``service failed``, ``abort`` back to ``active``);
    ``unhold`` (1.85) applies to no state barecloud enters."""
    node = api.create_node(name="n1")
    api.to_state(node["uuid"], "active")
    steps = [{"interface": "raid", "step": "create_configuration", "args": {}}]
    fault(api.put("/nodes/n1/states/provision", version="1.86",
                  json={"target": "service", "service_steps": steps}), 406)
    assert "service_steps" in fault(api.put("/nodes/n1/states/provision",
                                            json={"target": "service"}), 400)
    assert "seconds" in fault(api.put("/nodes/n1/states/provision", json={
        "target": "service", "service_steps": [
            {"interface": "power", "step": "wait", "args": {"seconds": "x"}}]}), 400)
    api.provision("n1", "service", service_steps=[
        {"interface": "power", "step": "power_off"},
        {"interface": "power", "step": "wait", "args": {"seconds": 0.1}}])
    done = api.wait("n1", "active")
    assert done["power_state"] == "power off" and done["service_step"] == {}
    api.provision("n1", "service", service_steps=steps)
    failed = api.wait("n1", "service failed")
    assert "create_configuration" in failed["last_error"]
    assert "service_step" not in api.ok("GET", "/nodes/n1", version="1.86")
    api.provision("n1", "abort")
    api.wait("n1", "active")
    assert "unhold" in fault(api.put("/nodes/n1/states/provision",
                                     json={"target": "unhold"}), 400)
    fault(api.put("/nodes/n1/states/provision", version="1.84", json={"target": "unhold"}),
          406)


def test_node_allocation_of_an_unknown_node(api: Ironic) -> None:
    """As Ironic: an unknown node is 400, a node without an allocation 404."""
    assert "could not be found" in fault(api.get("/nodes/None/allocation"), 400)
    api.create_node(name="n1")
    assert "Allocation for node n1 was not found" in fault(api.get("/nodes/n1/allocation"),
                                                           404)
    fault(api.get("/nodes/None/allocation", version="1.51"), 404)


def test_allocation_prefers_the_node_of_its_name(api: Ironic) -> None:
    """1.79: of the candidates, the node named as the allocation is taken."""
    for name in ("m1", "m2", "m3"):
        node = api.create_node(name=name, resource_class="gold")
        api.to_state(node["uuid"], "available")
    for _ in range(3):
        alloc = api.ok("POST", "/allocations", 201, json={"resource_class": "gold",
                                                          "name": "m2"})
        done = api.allocated(alloc["uuid"])
        assert done["node_uuid"] == api.node("m2")["uuid"]
        api.ok("DELETE", f"/allocations/{alloc['uuid']}", 204)


def test_v1_root_links_the_newer_resources_from_their_versions(api: Ironic) -> None:
    root = api.ok("GET", "/")
    assert {"shards", "continue_inspection", "runbooks"} <= set(root)
    old = api.ok("GET", "/", version="1.81")
    assert not {"shards", "continue_inspection", "runbooks"} & set(old)
    assert "shards" in api.ok("GET", "/", version="1.82")
