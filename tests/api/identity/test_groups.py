"""Groups: CRUD, members, and their role assignments reaching members' tokens and
/role_assignments, as Keystone's."""

from __future__ import annotations

from tests.api.identity.keystone import Keystone, error, password


def test_group_lifecycle(ks: Keystone, name: str) -> None:
    created = ks.ok("POST", "/groups", 201, json={"group": {
        "name": name, "description": "ops"}})["group"]
    assert (created["name"], created["description"], created["domain_id"]) == (
        name, "ops", "default")
    assert created["links"]["self"] == f"{ks.svc.identity}/groups/{created['id']}"
    assert ks.ok("GET", f"/groups/{created['id']}")["group"] == created
    assert [g["id"] for g in ks.ok("GET", f"/groups?name={name}")["groups"]] == [
        created["id"]]
    assert "Duplicate" in error(ks.request("POST", "/groups", json={"group": {
        "name": name}}), 409)
    updated = ks.ok("PATCH", f"/groups/{created['id']}", json={"group": {
        "id": created["id"], "name": f"{name}-2", "description": "new"}})["group"]
    assert (updated["name"], updated["description"]) == (f"{name}-2", "new")
    error(ks.request("PATCH", f"/groups/{created['id']}", json={"group": {
        "domain_id": "other"}}), 400)
    error(ks.request("POST", "/groups", json={"group": {"description": "no name"}}), 400)
    error(ks.request("POST", "/groups", json={"group": {"name": "x", "domain_id": "nope"}}),
          404)
    ks.ok("DELETE", f"/groups/{created['id']}", 204)
    assert error(ks.request("GET", f"/groups/{created['id']}"), 404) == (
        f"Could not find group: {created['id']}.")


def test_members(ks: Keystone, name: str) -> None:
    group = ks.ok("POST", "/groups", 201, json={"group": {"name": name}})["group"]
    other = ks.ok("POST", "/groups", 201, json={"group": {"name": f"{name}-b"}})["group"]
    users = [ks.ok("POST", "/users", 201, json={"user": {"name": f"{name}-{i}"}})["user"]
             for i in range(3)]
    for u in users:
        ks.ok("PUT", f"/groups/{group['id']}/users/{u['id']}", 204)
    ks.ok("PUT", f"/groups/{group['id']}/users/{users[0]['id']}", 204)  # idempotent
    ks.ok("PUT", f"/groups/{other['id']}/users/{users[0]['id']}", 204)
    listed = ks.ok("GET", f"/groups/{group['id']}/users")["users"]
    assert sorted(u["id"] for u in listed) == sorted(u["id"] for u in users)
    assert {g["id"] for g in ks.ok("GET", f"/users/{users[0]['id']}/groups")["groups"]} == {
        group["id"], other["id"]}
    member = f"/groups/{group['id']}/users/{users[1]['id']}"
    assert ks.request("HEAD", member).status_code == 204
    ks.ok("DELETE", member, 204)
    assert ks.request("HEAD", member).status_code == 404
    error(ks.request("DELETE", member), 404)
    error(ks.request("PUT", f"/groups/{group['id']}/users/nope"), 404)
    error(ks.request("PUT", f"/groups/nope/users/{users[0]['id']}"), 404)
    ks.ok("DELETE", f"/users/{users[2]['id']}", 204)  # its memberships go with it
    assert [u["id"] for u in ks.ok("GET", f"/groups/{group['id']}/users")["users"]] == [
        users[0]["id"]]
    ks.ok("DELETE", f"/groups/{other['id']}", 204)
    assert [g["id"] for g in ks.ok("GET", f"/users/{users[0]['id']}/groups")["groups"]] == [
        group["id"]]


def test_group_roles_reach_tokens_and_assignments(ks: Keystone, name: str) -> None:
    ids = ks.ids()
    member_role, reader_role = ids["role:member"], ids["role:reader"]
    project = ks.ok("POST", "/projects", 201, json={"project": {"name": name}})["project"]
    group = ks.ok("POST", "/groups", 201, json={"group": {"name": name}})["group"]
    user = ks.ok("POST", "/users", 201, json={"user": {"name": name, "password": "pw"}})["user"]
    scope = {"project": {"id": project["id"]}}
    ks.issue(password({"id": user["id"]}, "pw", scope), 401)  # no role there yet

    grant = f"/projects/{project['id']}/groups/{group['id']}/roles/{member_role}"
    assert ks.request("HEAD", grant).status_code == 404
    ks.ok("PUT", grant, 204)
    assert ks.request("HEAD", grant).status_code == 204
    assert [r["name"] for r in ks.ok(
        "GET", f"/projects/{project['id']}/groups/{group['id']}/roles")["roles"]] == ["member"]
    ks.issue(password({"id": user["id"]}, "pw", scope), 401)  # not a member yet
    ks.ok("PUT", f"/groups/{group['id']}/users/{user['id']}", 204)
    token, body = ks.issue(password({"id": user["id"]}, "pw", scope))
    assert {r["name"] for r in body["token"]["roles"]} == {"member", "reader"}
    assert [p["id"] for p in ks.ok("GET", "/auth/projects", token=token)["projects"]] == [
        project["id"]]
    assert [p["id"] for p in ks.ok("GET", f"/users/{user['id']}/projects")["projects"]] == [
        project["id"]]

    listed = ks.ok("GET", f"/role_assignments?group.id={group['id']}")["role_assignments"]
    assert [(a["group"]["id"], a["role"]["id"], a["scope"]) for a in listed] == [
        (group["id"], member_role, {"project": {"id": project["id"]}})]
    assert listed[0]["links"]["assignment"] == f"{ks.svc.identity}{grant}"
    assert "user" not in listed[0]
    assert ks.ok("GET", f"/role_assignments?user.id={user['id']}")["role_assignments"] == []
    effective = ks.ok("GET", f"/role_assignments?user.id={user['id']}&effective")[
        "role_assignments"]
    assert sorted(a["role"]["id"] for a in effective) == sorted([member_role, reader_role])
    direct = next(a for a in effective if a["role"]["id"] == member_role)
    assert direct["user"] == {"id": user["id"]} and "group" not in direct
    assert direct["links"]["assignment"] == f"{ks.svc.identity}{grant}"
    assert direct["links"]["membership"] == (
        f"{ks.svc.identity}/groups/{group['id']}/users/{user['id']}")
    named = ks.ok("GET", f"/role_assignments?group.id={group['id']}&include_names")[
        "role_assignments"][0]
    assert named["group"]["name"] == name and named["group"]["domain"]["id"] == "default"
    error(ks.request("GET", f"/role_assignments?group.id={group['id']}&effective"), 400)
    error(ks.request("GET", f"/role_assignments?group.id={group['id']}"
                            f"&user.id={user['id']}"), 400)

    domain_grant = f"/domains/default/groups/{group['id']}/roles/{reader_role}"
    ks.ok("PUT", domain_grant, 204)
    _, on_domain = ks.issue(password({"id": user["id"]}, "pw", {"domain": {"id": "default"}}))
    assert [r["name"] for r in on_domain["token"]["roles"]] == ["reader"]

    # Leaving the group ends what the group gave, tokens issued before included.
    ks.ok("DELETE", f"/groups/{group['id']}/users/{user['id']}", 204)
    error(ks.request("GET", "/auth/projects", token=token), 401)
    ks.ok("PUT", f"/groups/{group['id']}/users/{user['id']}", 204)
    ks.ok("DELETE", grant, 204)
    error(ks.request("DELETE", grant), 404)
    ks.issue(password({"id": user["id"]}, "pw", scope), 401)
    ks.ok("DELETE", f"/groups/{group['id']}", 204)
    assert ks.ok("GET", f"/role_assignments?group.id={group['id']}")["role_assignments"] == []

def test_a_user_lists_its_own_groups_only(ks: Keystone, name: str) -> None:
    group = ks.ok("POST", "/groups", 201, json={"group": {"name": name}})["group"]
    project = ks.ok("POST", "/projects", 201, json={"project": {"name": name}})["project"]
    user = ks.ok("POST", "/users", 201, json={"user": {"name": name, "password": "pw"}})["user"]
    ks.ok("PUT", f"/groups/{group['id']}/users/{user['id']}", 204)
    ks.ok("PUT", f"/projects/{project['id']}/users/{user['id']}/roles/"
                 f"{ks.ids()['role:member']}", 204)
    token, _ = ks.issue(password({"id": user["id"]}, "pw", {"project": {"id": project["id"]}}))
    assert [g["id"] for g in ks.ok("GET", f"/users/{user['id']}/groups", token=token)[
        "groups"]] == [group["id"]]
    error(ks.request("GET", "/groups", token=token), 403)
    error(ks.request("POST", "/groups", token=token, json={"group": {"name": "x"}}), 403)
    error(ks.request("PUT", f"/groups/{group['id']}/users/{user['id']}", token=token), 403)
