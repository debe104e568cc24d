"""Domains, projects, users, roles and role assignments: CRUD as Keystone's."""

from __future__ import annotations

from tests.api.identity.keystone import Keystone, error, password


def test_domain_lifecycle(ks: Keystone, name: str) -> None:
    created = ks.ok("POST", "/domains", 201, json={"domain": {
        "name": name, "description": "lab", "tags": ["a"]}})["domain"]
    assert created["name"] == name and created["enabled"] is True
    assert created["tags"] == ["a"] and created["description"] == "lab"
    assert created["links"]["self"] == f"{ks.svc.identity}/domains/{created['id']}"
    assert ks.ok("GET", f"/domains/{created['id']}")["domain"] == created
    assert [d["id"] for d in ks.ok("GET", f"/domains?name={name}")["domains"]] == [
        created["id"]]
    error(ks.request("POST", "/domains", json={"domain": {"name": name}}), 409)
    project = ks.ok("POST", "/projects", 201, json={"project": {
        "name": "p", "domain_id": created["id"]}})["project"]
    error(ks.request("DELETE", f"/domains/{created['id']}"), 403)  # enabled
    updated = ks.ok("PATCH", f"/domains/{created['id']}",
                    json={"domain": {"enabled": False, "description": "off"}})["domain"]
    assert (updated["enabled"], updated["description"]) == (False, "off")
    ks.ok("DELETE", f"/domains/{created['id']}", 204)
    error(ks.request("GET", f"/domains/{created['id']}"), 404)
    error(ks.request("GET", f"/projects/{project['id']}"), 404)  # went with its domain
    error(ks.request("PATCH", "/domains/default", json={"domain": {"enabled": False}}), 403)


def test_project_lifecycle(ks: Keystone, name: str) -> None:
    created = ks.ok("POST", "/projects", 201, json={"project": {
        "name": name, "description": "team", "tags": ["x", "y"]}})["project"]
    assert (created["domain_id"], created["parent_id"], created["is_domain"]) == (
        "default", "default", False)
    assert created["tags"] == ["x", "y"] and created["enabled"] is True
    child = ks.ok("POST", "/projects", 201, json={"project": {
        "name": f"{name}-child", "parent_id": created["id"]}})["project"]
    assert child["parent_id"] == created["id"]
    listed = ks.ok("GET", f"/projects?parent_id={created['id']}")["projects"]
    assert [p["id"] for p in listed] == [child["id"]]
    error(ks.request("POST", "/projects", json={"project": {"name": name}}), 409)
    error(ks.request("DELETE", f"/projects/{created['id']}"), 403)  # not a leaf
    renamed = ks.ok("PATCH", f"/projects/{child['id']}", json={"project": {
        "name": f"{name}-renamed", "enabled": False}})["project"]
    assert (renamed["name"], renamed["enabled"]) == (f"{name}-renamed", False)
    assert ks.ok("GET", f"/projects?name={name}-renamed&enabled=false")["projects"][0][
        "id"] == child["id"]
    ks.ok("DELETE", f"/projects/{child['id']}", 204)
    ks.ok("DELETE", f"/projects/{created['id']}", 204)
    error(ks.request("GET", f"/projects/{created['id']}"), 404)


def test_user_lifecycle_and_projects(ks: Keystone, name: str) -> None:
    project = ks.ok("POST", "/projects", 201, json={"project": {"name": name}})["project"]
    user = ks.ok("POST", "/users", 201, json={"user": {
        "name": name, "password": "pw-1", "email": "u@example.com",
        "default_project_id": project["id"], "description": "d"}})["user"]
    assert "password" not in user and "password_hash" not in str(user)
    assert (user["email"], user["default_project_id"], user["description"]) == (
        "u@example.com", project["id"], "d")
    assert user["password_expires_at"] is None and user["domain_id"] == "default"
    assert ks.ok("GET", f"/users/{user['id']}")["user"] == user
    assert [u["id"] for u in ks.ok("GET", f"/users?name={name}")["users"]] == [user["id"]]
    error(ks.request("POST", "/users", json={"user": {"name": name}}), 409)
    assert ks.ok("GET", f"/users/{user['id']}/projects")["projects"] == []
    member = ks.ids()["role:member"]
    ks.ok("PUT", f"/projects/{project['id']}/users/{user['id']}/roles/{member}", 204)
    assert [p["id"] for p in ks.ok("GET", f"/users/{user['id']}/projects")["projects"]] == [
        project["id"]]
    # A user reads itself, not others; it lists its own projects, not all (as Keystone).
    token, _ = ks.issue(password({"id": user["id"]}, "pw-1"))
    assert ks.ok("GET", f"/users/{user['id']}", token=token)["user"]["id"] == user["id"]
    error(ks.request("GET", "/users", token=token), 403)
    error(ks.request("GET", f"/users/{ks.ids()['user:admin']}", token=token), 403)
    error(ks.request("GET", "/projects", token=token), 403)
    for own in (f"/users/{user['id']}/projects", "/auth/projects"):
        assert [p["id"] for p in ks.ok("GET", own, token=token)["projects"]] == [
            project["id"]]
    error(ks.request("POST", "/projects", token=token, json={"project": {"name": "x"}}), 403)
    updated = ks.ok("PATCH", f"/users/{user['id']}", json={"user": {
        "name": f"{name}-2", "email": "v@example.com"}})["user"]
    assert (updated["name"], updated["email"]) == (f"{name}-2", "v@example.com")
    sneaky = ks.request("PATCH", f"/users/{user['id']}", json={"user": {
        "original_password": "kept-nowhere", "secret": "nor-this"}})
    assert sneaky.status_code == 200
    assert "kept-nowhere" not in sneaky.text and "nor-this" not in sneaky.text
    ks.ok("DELETE", f"/users/{user['id']}", 204)
    error(ks.request("GET", f"/users/{user['id']}"), 404)
    ks.issue(password({"id": user["id"]}, "pw-1"), status=401)
    assert ks.ok("GET", f"/role_assignments?user.id={user['id']}")["role_assignments"] == []


def test_roles_and_implied_roles(ks: Keystone, name: str) -> None:
    names = {r["name"] for r in ks.ok("GET", "/roles")["roles"]}
    assert {"admin", "member", "reader"} <= names
    role = ks.ok("POST", "/roles", 201, json={"role": {"name": name}})["role"]
    assert role["domain_id"] is None and role["options"] == {}
    error(ks.request("POST", "/roles", json={"role": {"name": name}}), 409)
    assert ks.ok("GET", f"/roles?name={name}")["roles"] == [role]
    assert ks.ok("PATCH", f"/roles/{role['id']}", json={"role": {
        "description": "custom"}})["role"]["description"] == "custom"
    ks.ok("DELETE", f"/roles/{role['id']}", 204)
    error(ks.request("GET", f"/roles/{role['id']}"), 404)
    ids = ks.ids()
    error(ks.request("DELETE", f"/roles/{ids['role:reader']}"), 403)
    inferences = {i["prior_role"]["name"]: [r["name"] for r in i["implies"]]
                  for i in ks.ok("GET", "/role_inferences")["role_inferences"]}
    assert inferences == {"admin": ["member"], "member": ["reader"]}
    implied = ks.ok("GET", f"/roles/{ids['role:admin']}/implies")["role_inference"]
    assert [r["name"] for r in implied["implies"]] == ["member"]


def test_grants_and_role_assignments(ks: Keystone, name: str) -> None:
    ids = ks.ids()
    project = ks.ok("POST", "/projects", 201, json={"project": {"name": name}})["project"]
    user = ks.ok("POST", "/users", 201, json={"user": {"name": name}})["user"]
    member, admin_role = ids["role:member"], ids["role:admin"]
    grant = f"/projects/{project['id']}/users/{user['id']}/roles/{member}"
    assert ks.request("HEAD", grant).status_code == 404
    error(ks.request("GET", grant), 404)
    ks.ok("PUT", grant, 204)
    ks.ok("PUT", grant, 204)  # idempotent
    assert ks.request("HEAD", grant).status_code == 204
    assert [r["name"] for r in ks.ok(
        "GET", f"/projects/{project['id']}/users/{user['id']}/roles")["roles"]] == ["member"]
    system = f"/system/users/{user['id']}/roles/{admin_role}"
    ks.ok("PUT", system, 204)
    assert [r["id"] for r in ks.ok("GET", f"/system/users/{user['id']}/roles")["roles"]] == [
        admin_role]

    direct = ks.ok("GET", f"/role_assignments?user.id={user['id']}")["role_assignments"]
    assert sorted((a["role"]["id"], next(iter(a["scope"]))) for a in direct) == sorted(
        [(member, "project"), (admin_role, "system")])
    by_project = ks.ok("GET", f"/role_assignments?scope.project.id={project['id']}")
    (only,) = by_project["role_assignments"]
    assert only["links"]["assignment"] == f"{ks.svc.identity}{grant}"
    named = ks.ok("GET", f"/role_assignments?scope.project.id={project['id']}"
                         "&include_names")["role_assignments"][0]
    assert named["role"]["name"] == "member"
    assert named["user"]["name"] == name and named["user"]["domain"]["name"] == "Default"
    assert named["scope"]["project"]["name"] == name
    effective = ks.ok("GET", f"/role_assignments?user.id={user['id']}&effective"
                             "&include_names")["role_assignments"]
    got = sorted((a["role"]["name"], next(iter(a["scope"]))) for a in effective)
    assert got == [("admin", "system"), ("member", "project"), ("member", "system"),
                   ("reader", "project"), ("reader", "system")]
    implied = [a for a in effective if a["role"]["name"] == "reader"
               and "project" in a["scope"]]
    assert implied[0]["links"]["prior_role"] == f"{ks.svc.identity}/roles/{member}"
    readers = ks.ok("GET", f"/role_assignments?user.id={user['id']}&effective"
                           f"&role.id={ids['role:reader']}")["role_assignments"]
    assert len(readers) == 2
    system_only = ks.ok("GET", "/role_assignments?scope.system=all")["role_assignments"]
    assert {a["user"]["id"] for a in system_only} >= {user["id"], ids["user:admin"]}

    ks.ok("DELETE", grant, 204)
    error(ks.request("DELETE", grant), 404)
    ks.ok("DELETE", system, 204)
    assert ks.ok("GET", f"/role_assignments?user.id={user['id']}")["role_assignments"] == []
    error(ks.request("PUT", f"/projects/{project['id']}/users/{user['id']}/roles/nope"), 404)
    error(ks.request("PUT", f"/projects/nope/users/{user['id']}/roles/{member}"), 404)


def test_catalog_resources(ks: Keystone) -> None:
    services = {s["type"]: s for s in ks.ok("GET", "/services")["services"]}
    assert set(services) == {"identity", "compute", "baremetal", "image", "network",
                             "reservation"}
    assert ks.ok("GET", f"/services/{services['image']['id']}")["service"]["name"] == "glance"
    assert [s["type"] for s in ks.ok("GET", "/services?type=baremetal")["services"]] == [
        "baremetal"]
    endpoints = ks.ok("GET", "/endpoints")["endpoints"]
    assert len(endpoints) == 18  # 6 services x public, internal, admin
    public = ks.ok("GET", f"/endpoints?interface=public&service_id="
                          f"{services['compute']['id']}")["endpoints"]
    assert [e["url"] for e in public] == [f"{ks.svc.url}/compute/v2.1"]
    assert ks.ok("GET", f"/endpoints/{public[0]['id']}")["endpoint"] == public[0]
    assert [r["id"] for r in ks.ok("GET", "/regions")["regions"]] == ["RegionOne"]
    error(ks.request("GET", "/regions/Elsewhere"), 404)
    error(ks.request("GET", "/services/nope"), 404)
