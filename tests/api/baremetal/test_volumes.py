"""Ironic's volume connectors and targets (/v1/volume, API 1.32): records of a
node, changed only while it is powered off, deleted with it."""

from __future__ import annotations

import time
import uuid

from tests.api.baremetal.ironic import Ironic, fault


def _power(api: Ironic, node: str, target: str) -> None:
    api.ok("PUT", f"/nodes/{node}/states/power", 202, json={"target": target})
    deadline = time.monotonic() + 30
    while api.node(node)["power_state"] != target:
        assert time.monotonic() < deadline, f"node {node} never reached {target}"
        time.sleep(0.05)


def test_connector_crud(api: Ironic) -> None:
    node = api.create_node(name="n1")["uuid"]
    made = api.ok("POST", "/volume/connectors", 201, json={
        "node_uuid": node, "type": "iqn", "connector_id": "iqn.2026-12.org:n1",
        "extra": {"k": "v"}})
    cid = made["uuid"]
    assert made["node_uuid"] == node and made["type"] == "iqn" and made["extra"] == {"k": "v"}
    assert made["links"][0]["href"].endswith(f"/v1/volume/connectors/{cid}")
    assert api.ok("GET", f"/volume/connectors/{cid}") == made
    listed = api.ok("GET", "/volume/connectors")["connectors"]
    assert listed == [{"uuid": cid, "type": "iqn", "connector_id": "iqn.2026-12.org:n1",
                       "node_uuid": node, "links": made["links"]}]
    assert api.ok("GET", "/volume/connectors", params={"detail": "true"})["connectors"] == [made]
    assert api.ok("GET", f"/nodes/{node}/volume/connectors")["connectors"] == listed
    assert "connectors" in api.ok("GET", f"/nodes/{node}/volume")
    assert "targets" in api.ok("GET", "/volume")

    assert "already exists" in fault(api.post("/volume/connectors", json={
        "node_uuid": node, "type": "iqn", "connector_id": "iqn.2026-12.org:n1"}), 409)
    assert "could not be found" in fault(api.post("/volume/connectors", json={
        "node_uuid": str(uuid.uuid4()), "type": "iqn", "connector_id": "x"}), 400)
    fault(api.post("/volume/connectors", json={"node_uuid": node, "type": "floppy",
                                               "connector_id": "x"}), 400)

    # A node that is not powered off keeps its records as they are (Ironic's conductor).
    _power(api, node, "power on")
    msg = fault(api.patch(f"/volume/connectors/{cid}", json=[
        {"op": "replace", "path": "/connector_id", "value": "iqn.new"}]), 400)
    assert msg.startswith('The requested action "volume connector update" can not be '
                          f'performed on node "{node}"')
    assert "volume connector deletion" in fault(api.delete(f"/volume/connectors/{cid}"), 400)
    _power(api, node, "power off")
    patched = api.ok("PATCH", f"/volume/connectors/{cid}", json=[
        {"op": "replace", "path": "/connector_id", "value": "iqn.new"},
        {"op": "remove", "path": "/extra"}])
    assert patched["connector_id"] == "iqn.new" and patched["extra"] == {}
    fault(api.patch(f"/volume/connectors/{cid}", json=[{"op": "remove", "path": "/type"}]), 400)
    assert "Expected a UUID" in fault(api.get("/volume/connectors/not-a-uuid"), 400)
    api.ok("DELETE", f"/volume/connectors/{cid}", 204)
    fault(api.get(f"/volume/connectors/{cid}"), 404)


def test_target_crud_and_node_delete(api: Ironic) -> None:
    node = api.create_node(name="n1")["uuid"]
    made = api.ok("POST", "/volume/targets", 201, json={
        "node_uuid": node, "volume_type": "iscsi", "volume_id": "vol-1", "boot_index": 0,
        "properties": {"auth_password": "s3cret", "target_lun": 0}})
    tid = made["uuid"]
    assert made["properties"] == {"auth_password": "******", "target_lun": 0}
    assert made["extra"] == {} and made["boot_index"] == 0
    assert "boot index '0'" in fault(api.post("/volume/targets", json={
        "node_uuid": node, "volume_type": "iscsi", "volume_id": "vol-2", "boot_index": 0}), 409)
    second = api.ok("POST", "/volume/targets", 201, json={
        "node_uuid": node, "volume_type": "iscsi", "volume_id": "vol-2", "boot_index": 1})
    page = api.ok("GET", "/volume/targets", params={"limit": 1})
    assert [t["uuid"] for t in page["targets"]] == [tid] and f"marker={tid}" in page["next"]
    assert [t["uuid"] for t in api.ok("GET", "/volume/targets", params={
        "node": node, "marker": tid})["targets"]] == [second["uuid"]]

    _power(api, node, "power off")
    patched = api.ok("PATCH", f"/volume/targets/{tid}", json=[
        {"op": "add", "path": "/extra/a", "value": 1}])
    assert patched["extra"] == {"a": 1}
    api.ok("DELETE", f"/nodes/{node}", 204)
    assert api.ok("GET", "/volume/targets")["targets"] == []


def test_before_1_32(api: Ironic) -> None:
    node = api.create_node(name="n1")["uuid"]
    fault(api.get("/volume/connectors", version="1.31"), 404)
    fault(api.post("/volume/connectors", version="1.31", json={
        "node_uuid": node, "type": "iqn", "connector_id": "x"}), 404)
    fault(api.get(f"/nodes/{node}/volume", version="1.31"), 404)
