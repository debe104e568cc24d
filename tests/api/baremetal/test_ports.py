"""Ports named as Ironic names them below 1.88 (by UUID only), and a port's node
that does not exist is a bad request, not a missing port."""

from __future__ import annotations

import uuid

from tests.api.baremetal.ironic import Ironic, fault


def test_ports_by_uuid_only_before_1_88(api: Ironic) -> None:
    node = api.create_node(name="n1")["uuid"]
    port = api.ok("POST", "/ports", 201, json={"node_uuid": node, "address": "52:54:00:0a:0b:0c"})
    for method in ("GET", "DELETE"):
        assert "Expected a UUID" in fault(api.request(method, "/ports/52:54:00:0a:0b:0c",
                                                      version="1.87"), 400)
    assert "Expected a UUID" in fault(api.patch("/ports/malformed:uuid", version="1.87", json=[
        {"op": "add", "path": "/extra/a", "value": 1}]), 400)
    assert api.ok("GET", f"/ports/{port['uuid']}")["address"] == "52:54:00:0a:0b:0c"


def test_port_names_from_1_88(api: Ironic) -> None:
    """A port's ``name`` (1.88): shown, and the port found by it; 406 before."""
    node = api.create_node(name="n1")["uuid"]
    body = {"node_uuid": node, "address": "52:54:00:0a:0b:1c", "name": "eth0-n1"}
    fault(api.post("/ports", version="1.87", json=body), 406)
    port = api.ok("POST", "/ports", 201, json=body)
    assert port["name"] == "eth0-n1"
    assert api.ok("GET", "/ports/eth0-n1")["uuid"] == port["uuid"]
    assert "name" not in api.ok("GET", f"/ports/{port['uuid']}", version="1.87")
    fault(api.get("/ports/eth9-n1"), 404)


def test_unknown_node_is_a_bad_request(api: Ironic) -> None:
    missing = str(uuid.uuid4())
    assert fault(api.post("/ports", json={"node_uuid": missing, "address": "52:54:00:0a:0b:0d"}),
                 400) == f"Node {missing} could not be found."
    node = api.create_node(name="n1")["uuid"]
    port = api.ok("POST", "/ports", 201, json={"node_uuid": node, "address": "52:54:00:0a:0b:0e"})
    fault(api.patch(f"/ports/{port['uuid']}", json=[
        {"op": "replace", "path": "/node_uuid", "value": missing}]), 400)
    assert api.ok("GET", f"/ports/{port['uuid']}")["node_uuid"] == node
