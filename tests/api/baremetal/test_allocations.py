"""Allocations as Ironic's: its schema's nulls, asynchronous allocation, and the
microversions of ``node`` (1.58) and ``owner`` (1.60)."""

from __future__ import annotations

from tests.api.baremetal.ironic import Ironic, fault


def test_nulls_are_accepted_and_allocation_is_asynchronous(api: Ironic) -> None:
    node = api.create_node(resource_class="async-rc")
    api.to_state(node["uuid"], "available")
    created = api.ok("POST", "/allocations", 201, json={
        "resource_class": "async-rc", "candidate_nodes": None, "traits": None,
        "extra": None, "name": None, "owner": None})
    # Ironic answers at once, before a conductor has looked for a node.
    assert created["state"] == "allocating" and created["node_uuid"] is None
    assert created["traits"] == [] and created["candidate_nodes"] == []
    done = api.allocated(created["uuid"])
    assert done["state"] == "active" and done["node_uuid"] == node["uuid"]
    assert done["last_error"] is None
    taken = api.node(node["uuid"])
    assert taken["allocation_uuid"] == created["uuid"]
    assert taken["instance_uuid"] == created["uuid"]


def test_failed_allocation_says_why_in_last_error(api: Ironic) -> None:
    free = api.create_node(resource_class="few")
    api.to_state(free["uuid"], "available")
    none = api.ok("POST", "/allocations", 201, json={"resource_class": "nothing-here"})
    assert none["state"] == "allocating"
    none = api.allocated(none["uuid"])
    assert none["state"] == "error" and none["node_uuid"] is None
    assert none["last_error"] == (f"Failed to process allocation {none['uuid']}: no available "
                                  "nodes match the resource class nothing-here.")
    traits = api.allocated(api.ok("POST", "/allocations", 201, json={
        "resource_class": "few", "traits": ["CUSTOM_MISSING"]})["uuid"])
    assert traits["state"] == "error"
    assert "no suitable nodes have the requested traits CUSTOM_MISSING" in traits["last_error"]
    picked = api.allocated(api.ok("POST", "/allocations", 201, json={
        "resource_class": "few", "candidate_nodes": [free["name"] or free["uuid"]]})["uuid"])
    assert picked["state"] == "active" and picked["candidate_nodes"] == [free["uuid"]]


def test_unknown_candidate_is_a_bad_request(api: Ironic) -> None:
    r = api.post("/allocations", json={"resource_class": "x", "candidate_nodes": ["nope"]})
    assert "nope" in fault(r, 400)
    assert api.ok("GET", "/allocations")["allocations"] == []


def test_backfill_and_owner_follow_their_microversions(api: Ironic) -> None:
    node = api.create_node(resource_class="bf")
    api.to_state(node["uuid"], "active")
    r = api.post("/allocations", json={"node": node["uuid"]}, version="1.57")
    assert "in this API version" in fault(r, 400)
    r = api.post("/allocations", json={"resource_class": "bf", "owner": "p"}, version="1.59")
    fault(r, 406)
    assert api.ok("GET", "/allocations")["allocations"] == []
    # A backfill is recorded at once (Ironic does it synchronously).
    back = api.ok("POST", "/allocations", 201, json={"node": node["uuid"]}, version="1.58")
    assert back["state"] == "active" and back["node_uuid"] == node["uuid"]
    assert "owner" not in back
    assert "owner" in api.ok("GET", f"/allocations/{back['uuid']}")
    fault(api.get("/allocations", params={"fields": "uuid,owner"}, version="1.59"), 406)
