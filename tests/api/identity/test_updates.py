"""Updates that repeat what a resource is, and what a project's member reads of its domain."""

from __future__ import annotations

from tests.api.identity.keystone import Keystone, error, password


def test_user_patch_may_repeat_its_id_and_domain(ks: Keystone, name: str) -> None:
    user = ks.ok("POST", "/users", 201, json={"user": {"name": name}})["user"]
    updated = ks.ok("PATCH", f"/users/{user['id']}", json={"user": {
        "id": user["id"], "domain_id": "default", "description": "same id"}})["user"]
    assert (updated["id"], updated["description"]) == (user["id"], "same id")
    assert "changed" in error(ks.request("PATCH", f"/users/{user['id']}", json={"user": {
        "id": "0" * 32}}), 400)
    domain = ks.ok("POST", "/domains", 201, json={"domain": {"name": name}})["domain"]
    error(ks.request("PATCH", f"/users/{user['id']}", json={"user": {
        "domain_id": domain["id"]}}), 400)
    assert ks.ok("GET", f"/users/{user['id']}")["user"]["domain_id"] == "default"


def test_project_patch_may_repeat_what_it_is(ks: Keystone, name: str) -> None:
    project = ks.ok("POST", "/projects", 201, json={"project": {"name": name}})["project"]
    same = {k: project[k] for k in ("id", "domain_id", "parent_id", "is_domain")}
    updated = ks.ok("PATCH", f"/projects/{project['id']}", json={"project": {
        **same, "description": "again"}})["project"]
    assert updated["description"] == "again"
    error(ks.request("PATCH", f"/projects/{project['id']}", json={"project": {
        "is_domain": True}}), 400)


def test_project_member_reads_its_domain_only(ks: Keystone, name: str) -> None:
    domain = ks.ok("POST", "/domains", 201, json={"domain": {"name": name}})["domain"]
    project = ks.ok("POST", "/projects", 201, json={"project": {
        "name": name, "domain_id": domain["id"]}})["project"]
    user = ks.ok("POST", "/users", 201, json={"user": {
        "name": name, "password": "pw", "domain_id": domain["id"]}})["user"]
    member = ks.ids()["role:member"]
    ks.ok("PUT", f"/projects/{project['id']}/users/{user['id']}/roles/{member}", 204)
    token, _ = ks.issue(password({"id": user["id"]}, "pw", {"project": {"id": project["id"]}}))
    assert ks.ok("GET", f"/domains/{domain['id']}", token=token)["domain"]["id"] == domain["id"]
    error(ks.request("GET", "/domains/default", token=token), 403)
    error(ks.request("GET", "/domains", token=token), 403)
