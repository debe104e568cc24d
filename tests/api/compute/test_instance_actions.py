"""os-instance-actions: each request that changes a server is recorded under the id its
answer's x-compute-request-id gave, and listed as Nova lists them, per microversion."""

from __future__ import annotations

from tests.api.compute.nova import Nova, fault


def test_actions_are_recorded_and_listed(nova: Nova, rc: str) -> None:
    nova.node(rc)
    r = nova.request("POST", "/servers", json={"server": {
        "name": "acts", "imageRef": nova.image(), "flavorRef": nova.flavor(rc),
        "networks": "none"}})
    assert r.status_code == 202, r.text
    sid, created = r.json()["server"]["id"], r.headers["x-compute-request-id"]
    nova.wait_status(sid, "ACTIVE")
    r = nova.action(sid, {"reboot": {"type": "HARD"}})
    rebooted = r.headers["x-compute-request-id"]
    nova.wait_status(sid, "ACTIVE")
    refused = nova.action(sid, {"os-start": None})  # already running: 409, not recorded
    assert refused.status_code == 409

    base = f"/servers/{sid}/os-instance-actions"
    listed = nova.ok("GET", base, version="2.1")["instanceActions"]
    assert [(a["action"], a["request_id"]) for a in listed] == \
        [("reboot", rebooted), ("create", created)]
    assert set(listed[0]) == {"action", "instance_uuid", "request_id", "user_id",
                              "project_id", "start_time", "message"}
    assert listed[0]["instance_uuid"] == sid and listed[0]["message"] is None
    assert "updated_at" in nova.ok("GET", base)["instanceActions"][0]  # 2.58

    one = nova.ok("GET", f"{base}/{created}")["instanceAction"]
    assert one["action"] == "create" and one["events"] == []
    assert fault(nova.request("GET", f"{base}/req-nope"), 404) == "Action req-nope not found"

    page = nova.ok("GET", base, params={"limit": 1})
    assert [a["action"] for a in page["instanceActions"]] == ["reboot"]
    assert "marker=" + rebooted in page["links"][0]["href"]
    rest = nova.ok("GET", base, params={"limit": 1, "marker": rebooted})["instanceActions"]
    assert [a["action"] for a in rest] == ["create"]
    assert "could not be found" in fault(nova.request(
        "GET", base, params={"marker": "req-nope"}), 400)
    assert "must be less than or equal" in fault(nova.request("GET", base, params={
        "changes-since": "2030-01-01T00:00:00Z", "changes-before": "2020-01-01T00:00:00Z"}),
        400)
    assert nova.ok("GET", base, params={"changes-since": "2099-01-01T00:00:00Z"}) == \
        {"instanceActions": []}

    # From 2.21 a deleted server's actions are still there; before, it is gone.
    deleted = nova.request("DELETE", f"/servers/{sid}").headers["x-compute-request-id"]
    nova.wait_gone(sid)
    after = nova.ok("GET", base, version="2.21")["instanceActions"]
    assert (after[0]["action"], after[0]["request_id"]) == ("delete", deleted)
    assert sorted(a["action"] for a in after) == ["create", "delete", "reboot"]
    assert fault(nova.request("GET", base, version="2.20"), 404)
    assert fault(nova.request("GET", "/servers/00000000-0000-0000-0000-000000000000"
                                     "/os-instance-actions"), 404)
