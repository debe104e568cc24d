"""POST/GET/HEAD/DELETE /v3/auth/tokens and the /v3/auth/* listings."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from tests.api.identity.keystone import Keystone, error, password

DEFAULT = {"id": "default"}


def _time(raw: str) -> dt.datetime:
    assert raw.endswith("Z") and len(raw) == len("2020-01-01T00:00:00.000000Z"), raw
    return dt.datetime.strptime(raw, "%Y-%m-%dT%H:%M:%S.%fZ")


def admin(ks: Keystone, scope: Any = None) -> dict[str, Any]:
    creds = ks.svc.credentials("barecloud-admin")
    return password({"name": "admin", "domain": DEFAULT}, creds["password"], scope)


def demo(ks: Keystone, scope: Any = None) -> dict[str, Any]:
    creds = ks.svc.credentials("barecloud")
    return password({"name": "demo", "domain": DEFAULT}, creds["password"], scope)


def make_user(ks: Keystone, name: str, project_id: str, role: str = "member",
              secret: str = "s3cret-pass") -> str:
    user = ks.ok("POST", "/users", 201, json={"user": {"name": name, "password": secret}})["user"]
    role_id = ks.ids()[f"role:{role}"]
    ks.ok("PUT", f"/projects/{project_id}/users/{user['id']}/roles/{role_id}", 204)
    return str(user["id"])


def test_password_scoped_to_a_project_by_name(ks: Keystone) -> None:
    token_id, body = ks.issue(admin(ks, {"project": {"name": "admin", "domain": DEFAULT}}))
    token = body["token"]
    assert token_id.startswith("gAAAAA") and token_id not in str(body)
    assert token["methods"] == ["password"]
    assert token["user"]["name"] == "admin"
    assert token["user"]["domain"] == {"id": "default", "name": "Default"}
    assert token["user"]["password_expires_at"] is None
    assert token["project"]["name"] == "admin"
    assert token["project"]["domain"] == {"id": "default", "name": "Default"}
    assert token["is_domain"] is False
    assert sorted(r["name"] for r in token["roles"]) == ["admin", "member", "reader"]
    assert len(token["audit_ids"]) == 1 and len(token["audit_ids"][0]) == 22
    lifetime = _time(token["expires_at"]) - _time(token["issued_at"])
    assert abs(lifetime.total_seconds() - 3600) < 2
    catalog = {entry["type"]: entry for entry in token["catalog"]}
    assert set(catalog) == {"identity", "compute", "baremetal", "image", "network",
                            "reservation"}
    base = ks.svc.url
    paths = {"identity": "/identity", "compute": "/compute/v2.1", "baremetal": "/baremetal",
             "image": "/image", "network": "/network", "reservation": "/reservation/v1"}
    for kind, entry in catalog.items():
        assert sorted(e["interface"] for e in entry["endpoints"]) == [
            "admin", "internal", "public"]
        assert {e["url"] for e in entry["endpoints"]} == {base + paths[kind]}
        assert {e["region_id"] for e in entry["endpoints"]} == {"RegionOne"}


def test_password_by_user_id_and_project_id(ks: Keystone) -> None:
    ids = ks.ids()
    secret = ks.svc.credentials()["password"]
    _, body = ks.issue(password({"id": ids["user:admin"]}, secret,
                                {"project": {"id": ids["project:demo"]}}), status=401)
    assert body["error"]["code"] == 401  # admin has no role on demo
    _, body = ks.issue(password({"id": ids["user:admin"]}, secret,
                                {"project": {"id": ids["project:admin"]}}))
    assert body["token"]["project"]["id"] == ids["project:admin"]
    _, body = ks.issue(password({"name": "admin", "domain": {"name": "Default"}}, secret,
                                {"project": {"name": "admin", "domain": {"name": "Default"}}}))
    assert body["token"]["user"]["id"] == ids["user:admin"]


def test_nocatalog(ks: Keystone) -> None:
    rsp = ks.http.post("/auth/tokens?nocatalog", json=admin(ks))
    assert rsp.status_code == 201
    assert "catalog" not in rsp.json()["token"] and rsp.json()["token"]["roles"]


def test_system_scope(ks: Keystone) -> None:
    _, body = ks.issue(admin(ks, {"system": {"all": True}}))
    assert body["token"]["system"] == {"all": True}
    assert "project" not in body["token"] and "domain" not in body["token"]
    assert sorted(r["name"] for r in body["token"]["roles"]) == ["admin", "member", "reader"]
    _, refused = ks.issue(demo(ks, {"system": {"all": True}}), status=401)
    assert refused["error"]["title"] == "Unauthorized"


def test_domain_scope(ks: Keystone) -> None:
    ids = ks.ids()
    grant = f"/domains/default/users/{ids['user:demo']}/roles/{ids['role:reader']}"
    ks.issue(demo(ks, {"domain": {"id": "default"}}), status=401)
    ks.ok("PUT", grant, 204)
    try:
        token_id, body = ks.issue(demo(ks, {"domain": {"name": "Default"}}))
        assert body["token"]["domain"] == {"id": "default", "name": "Default"}
        assert [r["name"] for r in body["token"]["roles"]] == ["reader"]
        assert ks.ok("GET", "/auth/domains", token=token_id)["domains"][0]["id"] == "default"
    finally:
        ks.ok("DELETE", grant, 204)
    # The role it relied on is gone: so is the token.
    error(ks.request("GET", "/auth/projects", token=token_id), 401)


def test_unscoped_and_default_project(ks: Keystone) -> None:
    token_id, body = ks.issue(demo(ks, "unscoped"))
    token = body["token"]
    assert not {"project", "domain", "system", "roles", "catalog"} & set(token)
    error(ks.request("GET", "/auth/catalog", token=token_id), 403)
    projects = ks.ok("GET", "/auth/projects", token=token_id)["projects"]
    assert [p["name"] for p in projects] == ["demo"]
    # No scope asked: the user's default project, where it has a role.
    _, body = ks.issue(demo(ks))
    assert body["token"]["project"]["name"] == "demo"
    assert sorted(r["name"] for r in body["token"]["roles"]) == ["member", "reader"]


def test_failures_are_one_401(ks: Keystone) -> None:
    wrong = password({"name": "admin", "domain": DEFAULT}, "not-the-password")
    unknown = password({"name": "nobody", "domain": DEFAULT}, "whatever")
    other_domain = password({"name": "admin", "domain": {"id": "nope"}},
                            ks.svc.credentials()["password"])
    messages = set()
    for body in (wrong, unknown, other_domain):
        rsp = ks.http.post("/auth/tokens", json=body)
        messages.add(error(rsp, 401))
        assert rsp.headers["WWW-Authenticate"] == f'Keystone uri="{ks.svc.url}/identity"'
        assert "X-Subject-Token" not in rsp.headers
    assert messages == {"The request you have made requires authentication."}
    rsp = ks.http.post("/auth/tokens", json={"auth": {"identity": {
        "methods": ["totp"], "totp": {}}}})
    assert error(rsp, 401) == "Attempted to authenticate with an unsupported method."


def test_validate_and_check(ks: Keystone) -> None:
    token_id, issued = ks.issue(demo(ks))
    rsp = ks.request("GET", "/auth/tokens", headers={"X-Subject-Token": token_id})
    assert rsp.status_code == 200 and rsp.headers["X-Subject-Token"] == token_id
    assert rsp.json()["token"]["user"] == issued["token"]["user"]
    assert rsp.json()["token"]["audit_ids"] == issued["token"]["audit_ids"]
    assert rsp.json()["token"]["expires_at"] == issued["token"]["expires_at"]
    rsp = ks.request("GET", "/auth/tokens?nocatalog", headers={"X-Subject-Token": token_id})
    assert "catalog" not in rsp.json()["token"]
    head = ks.request("HEAD", "/auth/tokens", headers={"X-Subject-Token": token_id})
    assert head.status_code == 200 and head.content == b""
    bad = ks.request("GET", "/auth/tokens", headers={"X-Subject-Token": token_id[:-4] + "AAAA"})
    assert error(bad, 404) == "Failed to validate token"
    error(ks.request("GET", "/auth/tokens"), 404)
    # Without a token of one's own: 401.
    rsp = ks.request("GET", "/auth/tokens", token="", headers={"X-Subject-Token": token_id})
    error(rsp, 401)
    # demo may validate its own token, not the admin's.
    own = ks.request("GET", "/auth/tokens", token=token_id,
                     headers={"X-Subject-Token": token_id})
    assert own.status_code == 200
    error(ks.request("GET", "/auth/tokens", token=token_id,
                     headers={"X-Subject-Token": ks.token}), 403)


def test_revoke_and_its_chain(ks: Keystone) -> None:
    first, _ = ks.issue(demo(ks, "unscoped"))
    rescoped, body = ks.issue({"auth": {
        "identity": {"methods": ["token"], "token": {"id": first}},
        "scope": {"project": {"name": "demo", "domain": DEFAULT}}}})
    token = body["token"]
    original = ks.ok("GET", "/auth/tokens", headers={"X-Subject-Token": first})["token"]
    assert token["methods"] == ["token", "password"]
    assert token["expires_at"] == original["expires_at"]
    assert token["audit_ids"][1] == original["audit_ids"][0]
    assert token["project"]["name"] == "demo"

    nodes = f"{ks.svc.baremetal}/v1/nodes"
    assert httpx.get(nodes, headers={"X-Auth-Token": rescoped}).status_code == 200
    ks.ok("DELETE", "/auth/tokens", 204, token=first, headers={"X-Subject-Token": first})
    for gone in (first, rescoped):
        error(ks.request("GET", "/auth/tokens", headers={"X-Subject-Token": gone}), 404)
        rsp = httpx.get(nodes, headers={"X-Auth-Token": gone})
        assert rsp.status_code == 401 and "error_message" in rsp.json()
    error(ks.request("DELETE", "/auth/tokens", headers={"X-Subject-Token": first}), 404)


def test_demo_cannot_revoke_anothers_token(ks: Keystone) -> None:
    demo_token, _ = ks.issue(demo(ks))
    error(ks.request("DELETE", "/auth/tokens", token=demo_token,
                     headers={"X-Subject-Token": ks.token}), 403)
    ks.ok("GET", "/auth/tokens", headers={"X-Subject-Token": ks.token})


def test_password_change_ends_tokens(ks: Keystone, name: str) -> None:
    project = ks.ok("POST", "/projects", 201, json={"project": {"name": name}})["project"]
    user_id = make_user(ks, name, project["id"], secret="first-password")
    scope = {"project": {"id": project["id"]}}
    old, _ = ks.issue(password({"id": user_id}, "first-password", scope))
    ks.ok("POST", f"/users/{user_id}/password", 204, token=old, json={"user": {
        "original_password": "first-password", "password": "second-password"}})
    error(ks.request("GET", "/auth/projects", token=old), 401)
    ks.issue(password({"id": user_id}, "first-password", scope), status=401)
    new, _ = ks.issue(password({"id": user_id}, "second-password", scope))
    # A wrong original password changes nothing.
    rsp = ks.request("POST", f"/users/{user_id}/password", token=new, json={"user": {
        "original_password": "wrong", "password": "third-password"}})
    error(rsp, 401)
    ks.issue(password({"id": user_id}, "second-password", scope))
    # An admin's reset (PATCH) also ends the user's tokens.
    ks.ok("PATCH", f"/users/{user_id}", json={"user": {"password": "reset-by-admin"}})
    error(ks.request("GET", "/auth/projects", token=new), 401)
    ks.issue(password({"id": user_id}, "reset-by-admin", scope))


def test_disabled_user_and_removed_role_end_tokens(ks: Keystone, name: str) -> None:
    project = ks.ok("POST", "/projects", 201, json={"project": {"name": name}})["project"]
    user_id = make_user(ks, name, project["id"])
    scope = {"project": {"id": project["id"]}}
    token, _ = ks.issue(password({"id": user_id}, "s3cret-pass", scope))
    assert ks.request("GET", "/auth/projects", token=token).status_code == 200
    ks.ok("PATCH", f"/users/{user_id}", json={"user": {"enabled": False}})
    error(ks.request("GET", "/auth/projects", token=token), 401)
    ks.issue(password({"id": user_id}, "s3cret-pass", scope), status=401)
    ks.ok("PATCH", f"/users/{user_id}", json={"user": {"enabled": True}})

    token, _ = ks.issue(password({"id": user_id}, "s3cret-pass", scope))
    member = ks.ids()["role:member"]
    ks.ok("DELETE", f"/projects/{project['id']}/users/{user_id}/roles/{member}", 204)
    error(ks.request("GET", "/auth/projects", token=token), 401)
    ks.issue(password({"id": user_id}, "s3cret-pass", scope), status=401)


def test_auth_listings(ks: Keystone) -> None:
    catalog = ks.ok("GET", "/auth/catalog")
    assert {e["type"] for e in catalog["catalog"]} == {"identity", "compute", "baremetal",
                                                       "image", "network", "reservation"}
    assert catalog["links"]["self"] == f"{ks.svc.identity}/auth/catalog"
    assert [p["name"] for p in ks.ok("GET", "/auth/projects")["projects"]] == ["admin"]
    assert ks.ok("GET", "/auth/system")["system"] == [{"all": True}]
    assert ks.ok("GET", "/auth/domains")["domains"] == []
    demo_token, _ = ks.issue(demo(ks))
    assert ks.ok("GET", "/auth/system", token=demo_token)["system"] == []


def test_revoking_a_rescoped_token_keeps_the_one_it_came_from(ks: Keystone) -> None:
    # tempest's test_rescope_token, as Keystone answers it.
    first, _ = ks.issue(demo(ks, "unscoped"))
    scope = {"project": {"name": "demo", "domain": DEFAULT}}
    rescoped, _ = ks.issue({"auth": {"identity": {"methods": ["token"], "token": {"id": first}},
                                     "scope": scope}})
    ks.ok("DELETE", "/auth/tokens", 204, headers={"X-Subject-Token": rescoped})
    error(ks.request("GET", "/auth/tokens", headers={"X-Subject-Token": rescoped}), 404)
    ks.ok("GET", "/auth/tokens", headers={"X-Subject-Token": first})
    again, _ = ks.issue({"auth": {"identity": {"methods": ["token"], "token": {"id": first}},
                                  "scope": scope}})
    ks.ok("DELETE", "/auth/tokens?cascade=true", 204, headers={"X-Subject-Token": again})
    error(ks.request("GET", "/auth/tokens", headers={"X-Subject-Token": first}), 404)


def test_an_admin_changes_a_password_knowing_the_original(ks: Keystone, name: str) -> None:
    project = ks.ok("POST", "/projects", 201, json={"project": {"name": name}})["project"]
    user_id = make_user(ks, name, project["id"], secret="first-password")
    error(ks.request("POST", f"/users/{user_id}/password", json={"user": {
        "original_password": "wrong", "password": "second-password"}}), 401)
    ks.ok("POST", f"/users/{user_id}/password", 204, json={"user": {
        "original_password": "first-password", "password": "second-password"}})
    ks.issue(password({"id": user_id}, "second-password"))
