"""Ironic's port groups (/v1/portgroups, API 1.23): a node's bonded NICs, the ports
that join one by ``portgroup_uuid`` (on one physical network), and the lists of
a group's ports and a node's groups (1.24)."""

from __future__ import annotations

import uuid

from tests.api.baremetal.ironic import Ironic, fault


def test_portgroup_crud(api: Ironic) -> None:
    node = api.create_node(name="n1")["uuid"]
    made = api.ok("POST", "/portgroups", 201, json={
        "node_uuid": node, "address": "52:54:00:00:00:01", "name": "bond0",
        "extra": {"k": "v"}})
    gid = made["uuid"]
    assert made["mode"] == "active-backup" and made["standalone_ports_supported"] is True
    assert made["node_uuid"] == node and made["properties"] == {} and made["internal_info"] == {}
    assert made["links"][0]["href"].endswith(f"/v1/portgroups/{gid}")
    assert api.ok("GET", f"/portgroups/{gid}") == made
    assert api.ok("GET", "/portgroups/bond0") == made
    listed = api.ok("GET", "/portgroups")["portgroups"]
    assert listed == [{"uuid": gid, "address": "52:54:00:00:00:01", "name": "bond0",
                       "links": made["links"]}]
    assert api.ok("GET", "/portgroups/detail")["portgroups"] == [made]
    assert api.ok("GET", f"/nodes/{node}/portgroups")["portgroups"] == listed
    bare = api.ok("POST", "/portgroups", 201, json={"node_uuid": node})
    assert bare["address"] is None and bare["name"] is None

    patched = api.ok("PATCH", f"/portgroups/{gid}", json=[
        {"op": "replace", "path": "/address", "value": "52:54:00:00:00:02"},
        {"op": "add", "path": "/properties/miimon", "value": "100"},
        {"op": "remove", "path": "/extra/k"}])
    assert patched["address"] == "52:54:00:00:00:02" and patched["extra"] == {}
    assert patched["properties"] == {"miimon": "100"}

    assert "already exists" in fault(api.post("/portgroups", json={
        "node_uuid": node, "address": "52:54:00:00:00:02"}), 409)
    assert "could not be found" in fault(api.post("/portgroups", json={
        "node_uuid": str(uuid.uuid4())}), 400)
    fault(api.post("/portgroups", version="1.25", json={"node_uuid": node, "mode": "802.3ad"}),
          406)
    fault(api.get("/portgroups", version="1.22"), 404)
    fault(api.get(f"/nodes/{node}/portgroups", version="1.23"), 404)
    api.ok("DELETE", f"/portgroups/{gid}", 204)
    fault(api.get(f"/portgroups/{gid}"), 404)


def test_ports_in_a_portgroup(api: Ironic) -> None:
    node = api.create_node(name="n1")["uuid"]
    other = api.create_node(name="n2")["uuid"]
    gid = api.ok("POST", "/portgroups", 201, json={"node_uuid": node,
                                                   "address": "52:54:00:00:00:01"})["uuid"]
    # A member may have the group's MAC (a bond takes one of its NICs' addresses).
    p1 = api.ok("POST", "/ports", 201, json={"node_uuid": node, "address": "52:54:00:00:00:01",
                                             "portgroup_uuid": gid,
                                             "physical_network": "physnet1"})
    assert p1["portgroup_uuid"] == gid
    assert "physical network" in fault(api.post("/ports", json={
        "node_uuid": node, "address": "52:54:00:00:00:02", "portgroup_uuid": gid,
        "physical_network": "physnet2"}), 409)
    assert "different node" in fault(api.post("/ports", json={
        "node_uuid": other, "address": "52:54:00:00:00:03", "portgroup_uuid": gid}), 400)
    p2 = api.ok("POST", "/ports", 201, json={"node_uuid": node, "address": "52:54:00:00:00:04",
                                             "physical_network": "physnet1"})
    joined = api.ok("PATCH", f"/ports/{p2['uuid']}", json=[
        {"op": "replace", "path": "/portgroup_uuid", "value": gid}])
    assert joined["portgroup_uuid"] == gid
    members = api.ok("GET", f"/portgroups/{gid}/ports")["ports"]
    assert sorted(p["uuid"] for p in members) == sorted([p1["uuid"], p2["uuid"]])
    assert len(api.ok("GET", "/ports", params={"portgroup": gid})["ports"]) == 2
    fault(api.get("/ports", version="1.23", params={"portgroup": gid}), 406)

    assert "contains ports" in fault(api.delete(f"/portgroups/{gid}"), 400)
    left = api.ok("PATCH", f"/ports/{p2['uuid']}", json=[
        {"op": "remove", "path": "/portgroup_uuid"}])
    assert left["portgroup_uuid"] is None
    api.ok("DELETE", f"/ports/{p1['uuid']}", 204)
    api.ok("DELETE", f"/portgroups/{gid}", 204)
    api.ok("DELETE", f"/nodes/{node}", 204)
