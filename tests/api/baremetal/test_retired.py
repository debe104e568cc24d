"""``retired`` and ``protected`` as Ironic's conductor rules them (1.61, 1.48)."""

from __future__ import annotations

from typing import Any

from tests.api.baremetal.ironic import Ironic, fault


def _patch(api: Ironic, node: str, **values: Any) -> Any:
    return api.patch(f"/nodes/{node}", json=[
        {"op": "add", "path": f"/{k}", "value": v} for k, v in values.items()])


def test_retired_follows_ironic_rules(api: Ironic) -> None:
    node = api.create_node()["uuid"]
    api.to_state(node, "available")
    msg = fault(_patch(api, node, retired=True, retired_reason="old"), 409)
    assert msg == (f"Node {node} can not have 'retired' set in provision state 'available', "
                   "the current state is 'available'")
    assert (api.node(node)["retired"], api.node(node)["retired_reason"]) == (False, None)

    api.provision(node, "manage")
    api.wait(node, "manageable")
    done = _patch(api, node, retired=True, retired_reason="old")
    assert done.status_code == 200, done.text
    assert (done.json()["retired"], done.json()["retired_reason"]) == (True, "old")
    msg = fault(api.put(f"/nodes/{node}/states/provision", json={"target": "provide"}), 400)
    assert "because it is retired" in msg
    assert api.node(node)["provision_state"] == "manageable"

    # Unretiring drops the reason; a reason alone is refused.
    undone = api.ok("PATCH", f"/nodes/{node}", json=[
        {"op": "replace", "path": "/retired", "value": False}])
    assert (undone["retired"], undone["retired_reason"]) == (False, None)
    msg = fault(_patch(api, node, retired_reason="why"), 400)
    assert msg == "The retired_reason field can only be set when retired is True"


def test_retired_active_node_is_cleaned_to_manageable(api: Ironic) -> None:
    node = api.create_node()["uuid"]
    api.to_state(node, "active")
    assert _patch(api, node, retired=True).status_code == 200
    api.provision(node, "deleted")
    torn = api.wait(node, "manageable")
    assert torn["retired"] is True and torn["instance_uuid"] is None


def test_protected_needs_active_or_rescue(api: Ironic) -> None:
    node = api.create_node()["uuid"]
    msg = fault(_patch(api, node, protected=True), 409)
    assert "can only be made protected in provision states 'active' or 'rescue'" in msg
    api.to_state(node, "active")
    made = api.ok("PATCH", f"/nodes/{node}", json=[
        {"op": "add", "path": "/protected", "value": True},
        {"op": "add", "path": "/protected_reason", "value": "prod"}])
    assert (made["protected"], made["protected_reason"]) == (True, "prod")
    # Ironic's NodeProtected is an HTTPForbidden.
    assert "is protected" in fault(api.put(f"/nodes/{node}/states/provision",
                                           json={"target": "deleted"}), 403)
    assert "is protected" in fault(api.delete(f"/nodes/{node}"), 403)
    off = api.ok("PATCH", f"/nodes/{node}", json=[
        {"op": "replace", "path": "/protected", "value": False}])
    assert (off["protected"], off["protected_reason"]) == (False, None)
