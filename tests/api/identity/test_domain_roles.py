"""Domain-specific roles (names unique per domain, never effective themselves) and
domains seen as projects (``is_domain``), as Keystone's."""

from __future__ import annotations

from tests.api.identity.keystone import Keystone, error, password


def _domain(ks: Keystone, name: str) -> str:
    return str(ks.ok("POST", "/domains", 201, json={"domain": {"name": name}})["domain"]["id"])


def test_domain_roles(ks: Keystone, name: str) -> None:
    one, two = _domain(ks, f"{name}-1"), _domain(ks, f"{name}-2")
    role = ks.ok("POST", "/roles", 201, json={"role": {"name": name, "domain_id": one}})["role"]
    assert role["domain_id"] == one
    # The same name in another domain and globally; not twice in one domain.
    other = ks.ok("POST", "/roles", 201, json={"role": {"name": name, "domain_id": two}})[
        "role"]
    glob = ks.ok("POST", "/roles", 201, json={"role": {"name": name}})["role"]
    error(ks.request("POST", "/roles", json={"role": {"name": name, "domain_id": one}}), 409)
    error(ks.request("POST", "/roles", json={"role": {"name": name}}), 409)
    error(ks.request("POST", "/roles", json={"role": {"name": "x", "domain_id": "nope"}}), 404)
    assert ks.ok("GET", f"/roles?domain_id={one}")["roles"] == [role]
    assert ks.ok("GET", f"/roles?name={name}")["roles"] == [glob]  # global ones only
    error(ks.request("PATCH", f"/roles/{role['id']}", json={"role": {"domain_id": two}}), 400)

    # A domain role may imply another domain's or a global one; a global one none.
    ks.ok("PUT", f"/roles/{role['id']}/implies/{other['id']}", 201)
    member = ks.ids()["role:member"]
    ks.ok("PUT", f"/roles/{role['id']}/implies/{member}", 201)
    error(ks.request("PUT", f"/roles/{glob['id']}/implies/{role['id']}"), 403)

    # A grant of it gives only what it implies: not in effective lists nor tokens.
    project = ks.ok("POST", "/projects", 201, json={"project": {"name": name}})["project"]
    user = ks.ok("POST", "/users", 201, json={"user": {"name": name, "password": "pw"}})["user"]
    ks.ok("PUT", f"/projects/{project['id']}/users/{user['id']}/roles/{role['id']}", 204)
    effective = ks.ok("GET", f"/role_assignments?effective&user.id={user['id']}")[
        "role_assignments"]
    assert {a["role"]["id"] for a in effective} == {member, ks.ids()["role:reader"]}
    _, token = ks.issue(password({"id": user["id"]}, "pw", {"project": {"id": project["id"]}}))
    assert sorted(r["name"] for r in token["token"]["roles"]) == ["member", "reader"]

    # Deleting the domain deletes its roles.
    ks.ok("PATCH", f"/domains/{two}", json={"domain": {"enabled": False}})
    ks.ok("DELETE", f"/domains/{two}", 204)
    error(ks.request("GET", f"/roles/{other['id']}"), 404)
    ks.ok("DELETE", f"/roles/{role['id']}", 204)
    assert ks.ok("GET", f"/roles?domain_id={one}")["roles"] == []


def test_projects_acting_as_domains(ks: Keystone, name: str) -> None:
    made = ks.ok("POST", "/projects", 201, json={"project": {
        "name": name, "is_domain": True, "description": "d"}})["project"]
    assert (made["is_domain"], made["domain_id"], made["parent_id"]) == (True, None, None)
    assert ks.ok("GET", f"/domains/{made['id']}")["domain"]["name"] == name
    assert ks.ok("GET", f"/projects/{made['id']}")["project"] == made
    assert made in ks.ok("GET", "/projects?is_domain=true")["projects"]
    assert made["id"] not in {p["id"] for p in ks.ok("GET", "/projects")["projects"]}
    # A project in it names it as its domain.
    inner = ks.ok("POST", "/projects", 201, json={"project": {
        "name": name, "domain_id": made["id"]}})["project"]
    assert inner["domain_id"] == made["id"]
    error(ks.request("PATCH", f"/projects/{made['id']}", json={"project": {
        "is_domain": False}}), 400)
    error(ks.request("DELETE", f"/projects/{made['id']}"), 403)  # enabled
    assert ks.ok("PATCH", f"/projects/{made['id']}", json={"project": {
        "enabled": False}})["project"]["enabled"] is False
    ks.ok("DELETE", f"/projects/{made['id']}", 204)
    error(ks.request("GET", f"/domains/{made['id']}"), 404)
    error(ks.request("GET", f"/projects/{inner['id']}"), 404)
    # Not both a domain and inside one; not for members.
    error(ks.request("POST", "/projects", json={"project": {
        "name": f"{name}-x", "is_domain": True, "parent_id": inner["id"]}}), 400)
    error(ks.request("POST", "/projects", token=ks.svc.token("barecloud"), json={
        "project": {"name": f"{name}-y", "is_domain": True}}), 403)
    assert ks.ok("GET", f"/domains?name={name}-x")["domains"] == []
