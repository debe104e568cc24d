"""os-server-groups as Nova's per microversion, members from the ``group`` hint, quotas."""

from __future__ import annotations

import uuid

from tests.api.compute.nova import Nova, fault


def test_groups_per_version_and_members(nova: Nova, rc: str) -> None:
    old = nova.ok("POST", "/os-server-groups", version="2.1", json={
        "server_group": {"name": f"g-{rc}", "policies": ["anti-affinity"]}})["server_group"]
    assert set(old) == {"id", "name", "policies", "members", "metadata"}
    assert old["policies"] == ["anti-affinity"] and old["members"] == []
    gid = old["id"]
    new = nova.ok("GET", f"/os-server-groups/{gid}")["server_group"]
    assert (new["policy"], new["rules"]) == ("anti-affinity", {})
    assert {"project_id", "user_id"} <= set(new) and "policies" not in new

    nova.node(rc)
    flavor, image = nova.flavor(rc), nova.image()
    r = nova.request("POST", "/servers", json={
        "server": {"name": "in-group", "imageRef": image, "flavorRef": flavor,
                   "networks": "none"}, "os:scheduler_hints": {"group": gid}})
    assert r.status_code == 202, r.text
    sid = r.json()["server"]["id"]
    assert nova.ok("GET", f"/os-server-groups/{gid}")["server_group"]["members"] == [sid]
    assert nova.server(sid)["server_groups"] == [gid]
    assert "server_groups" not in nova.server(sid, headers={
        "OpenStack-API-Version": "compute 2.70"})
    missing = str(uuid.uuid4())
    assert fault(nova.request("POST", "/servers", json={
        "server": {"name": "x", "imageRef": image, "flavorRef": flavor, "networks": "none"},
        "os:scheduler_hints": {"group": missing}}), 400) == \
        f"Instance group {missing} could not be found."
    listed = nova.ok("GET", "/os-server-groups")["server_groups"]
    assert gid in [g["id"] for g in listed]
    nova.request("DELETE", f"/servers/{sid}")
    nova.wait_gone(sid)
    assert nova.ok("GET", f"/os-server-groups/{gid}")["server_group"]["members"] == []

    assert nova.request("DELETE", f"/os-server-groups/{gid}").status_code == 204
    assert fault(nova.request("GET", f"/os-server-groups/{gid}"), 404) == \
        f"Instance group {gid} could not be found."
    assert fault(nova.request("DELETE", f"/os-server-groups/{gid}"), 404)


def test_bad_groups_are_400(nova: Nova) -> None:
    def create(version: str, group: dict[str, object]) -> str:
        return fault(nova.request("POST", "/os-server-groups", version=version,
                                  json={"server_group": group}), 400)

    assert "is not one of" in create("2.14", {"name": "a", "policies": ["soft-affinity"]})
    assert "is too long" in create("2.1", {"name": "a", "policies": ["affinity",
                                                                    "anti-affinity"]})
    assert "'policy' is a required property" in create("2.64", {"name": "a"})
    assert "'policies' was unexpected" in create("2.64", {"name": "a", "policy": "affinity",
                                                          "policies": ["affinity"]})
    assert create("2.64", {"name": "a", "policy": "affinity",
                           "rules": {"max_server_per_host": 2}}) == \
        "Only anti-affinity policy supports rules."
    made = nova.ok("POST", "/os-server-groups", version="2.64", json={"server_group": {
        "name": "ok", "policy": "anti-affinity", "rules": {"max_server_per_host": 2}}})
    assert made["server_group"]["rules"] == {"max_server_per_host": 2}
    nova.request("DELETE", f"/os-server-groups/{made['server_group']['id']}")
    soft = nova.ok("POST", "/os-server-groups", version="2.15", json={"server_group": {
        "name": "soft", "policies": ["soft-affinity"]}})["server_group"]
    assert soft["policies"] == ["soft-affinity"]
    nova.request("DELETE", f"/os-server-groups/{soft['id']}")


def test_group_quota(nova: Nova) -> None:
    project = nova.ok("GET", "/limits")["limits"]["absolute"]
    used = project["totalServerGroupsUsed"]
    tenant = nova.ok("POST", "/os-server-groups", version="2.13", json={"server_group": {
        "name": "q", "policies": ["affinity"]}})["server_group"]
    assert nova.ok("GET", "/limits")["limits"]["absolute"]["totalServerGroupsUsed"] == \
        used + 1
    nova.ok("PUT", f"/os-quota-sets/{tenant['project_id']}",
            json={"quota_set": {"server_groups": used + 1}})
    try:
        assert fault(nova.request("POST", "/os-server-groups", json={"server_group": {
            "name": "q2", "policy": "affinity"}}), 403) == \
            "Quota exceeded, too many server groups."
    finally:
        nova.ok("DELETE", f"/os-quota-sets/{tenant['project_id']}", 202)
        nova.request("DELETE", f"/os-server-groups/{tenant['id']}")
