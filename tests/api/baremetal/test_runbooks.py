"""Ironic's runbooks (/v1/runbooks, API 1.92), and running one in a clean request."""

from __future__ import annotations

import httpx

from tests import support
from tests.api.baremetal.ironic import LATEST, VERSION_HEADER, Ironic, fault

STEPS = [{"interface": "bios", "step": "apply_configuration", "args": {}, "order": 1}]


def test_runbook_crud(api: Ironic) -> None:
    made = api.ok("POST", "/runbooks", 201, json={"name": "CUSTOM_RB1", "steps": STEPS})
    assert made["steps"] == STEPS and made["extra"] == {} and made["public"] is False
    assert made["owner"] is None and made["disable_ramdisk"] is False
    assert made["links"][0]["href"].endswith(f"/v1/runbooks/{made['uuid']}")
    assert api.ok("GET", "/runbooks/CUSTOM_RB1") == made
    assert api.ok("GET", "/runbooks")["runbooks"] == [
        {"uuid": made["uuid"], "name": "CUSTOM_RB1", "links": made["links"]}]
    assert api.ok("GET", "/runbooks/detail")["runbooks"] == [made]
    more = [{"interface": "deploy", "step": "erase_devices", "args": {"password": "x"},
             "order": "2"}]
    changed = api.ok("PATCH", f"/runbooks/{made['uuid']}", json=[
        {"op": "replace", "path": "/name", "value": "CUSTOM_RB2"},
        {"op": "add", "path": "/steps/1", "value": more[0]}])
    assert changed["name"] == "CUSTOM_RB2"
    assert changed["steps"][1] == {**more[0], "order": 2, "args": {"password": "******"}}
    api.ok("DELETE", "/runbooks/CUSTOM_RB2", 204)
    fault(api.get("/runbooks/CUSTOM_RB2"), 404)


def test_runbook_errors(api: Ironic) -> None:
    body = {"name": "CUSTOM_RB1", "steps": STEPS}
    fault(api.get("/runbooks", version="1.91"), 404)
    fault(api.post("/runbooks", version="1.91", json=body), 405)
    api.ok("POST", "/runbooks", 201, json=body)
    assert "already exists" in fault(api.post("/runbooks", json=body), 409)
    for bad in ({"name": "not a trait", "steps": STEPS}, {"name": "CUSTOM_X"},
                {"name": "CUSTOM_X", "steps": {"key": "value"}},
                {"name": "CUSTOM_X", "steps": [{"invalid_key": "value"}]},
                {"name": "CUSTOM_X", "steps": STEPS, "uuid": "nope"},
                {"name": "CUSTOM_X", "steps": STEPS * 2},
                {"name": "CUSTOM_X", "steps": STEPS, "public": True, "owner": "p1"}):
        fault(api.post("/runbooks", json=bad), 400)
    for op in ({"op": "remove", "path": "/steps/0"}, {"op": "remove", "path": "/steps"},
               {"op": "remove", "path": "/name"},
               {"op": "replace", "path": "/name", "value": ""}):
        fault(api.patch("/runbooks/CUSTOM_RB1", json=[op]), 400)


def test_clean_with_a_runbook(api: Ironic) -> None:
    """A runbook runs on a node with its trait (as the clean's steps); combining it
    with explicit steps, or on a node without the trait, is 400."""
    api.ok("POST", "/runbooks", 201, json={"name": "CUSTOM_RB1", "steps": STEPS})
    node = api.create_node(name="n1")
    api.to_state(node["uuid"], "manageable")
    assert "mutually exclusive" in fault(api.put(
        "/nodes/n1/states/provision", json={"target": "clean", "runbook": "CUSTOM_RB1",
                                            "clean_steps": STEPS}), 400)
    assert "CUSTOM_RB1" in fault(api.put(
        "/nodes/n1/states/provision", json={"target": "clean", "runbook": "CUSTOM_RB1"}), 400)
    fault(api.put("/nodes/n1/states/provision", version="1.91",
                  json={"target": "clean", "runbook": "CUSTOM_RB1"}), 406)
    api.ok("PUT", "/nodes/n1/traits/CUSTOM_RB1", 204)
    api.provision("n1", "clean", runbook="CUSTOM_RB1")
    api.wait("n1", "manageable")


def test_who_sees_and_writes_runbooks(keystone_service: support.Service) -> None:
    """Admins write; a project member reads public runbooks and its project's own,
    never another's (404), and writes none (403)."""
    admin = Ironic(keystone_service)
    member = httpx.Client(base_url=f"{keystone_service.baremetal}/v1", timeout=30, headers={
        VERSION_HEADER: LATEST, "X-Auth-Token": keystone_service.token("barecloud")})
    try:
        mine = member.get("/runbooks").json()  # what the member's project already sees
        public = admin.ok("POST", "/runbooks", 201, json={"name": "CUSTOM_PUB", "steps": STEPS,
                                                          "public": True})
        private = admin.ok("POST", "/runbooks", 201, json={"name": "CUSTOM_PRIV",
                                                           "steps": STEPS, "owner": "other"})
        seen = {r["name"] for r in member.get("/runbooks").json()["runbooks"]}
        assert seen == {r["name"] for r in mine["runbooks"]} | {"CUSTOM_PUB"}
        assert member.get(f"/runbooks/{public['uuid']}").status_code == 200
        fault(member.get(f"/runbooks/{private['uuid']}"), 404)
        fault(member.post("/runbooks", json={"name": "CUSTOM_M", "steps": STEPS}), 403)
        fault(member.delete(f"/runbooks/{public['uuid']}"), 403)
    finally:
        member.close()
        admin.close()
