"""Input declared once: the Identity API refuses what its declarations do not allow, in
Keystone's words and without repeating a secret, and /openapi.json shows them."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.identity.keystone import Keystone, error

SECRET = "s3cret-never-echoed"


def test_a_bad_body_is_refused_in_keystones_words(ks: Keystone) -> None:
    assert error(ks.request("POST", "/projects", json={"project": {"name": 5}}), 400) == \
        "Invalid input for field 'project/name': 5 is not of type 'string'"
    assert error(ks.request("POST", "/projects", json={"project": {}}), 400) == \
        "Invalid input for field 'project': 'name' is a required property"
    assert error(ks.request("POST", "/domains", json=[]), 400) == \
        "[] is not of type 'object'"
    refused = ks.request("POST", "/users", json={"user": {"name": "u", "password": SECRET * 300}})
    assert error(refused, 400).startswith("Invalid input for field 'user/password': ******")
    assert SECRET not in refused.text
    refused = ks.http.post("/auth/tokens", json={"auth": {"identity": {
        "methods": ["password"], "password": {"user": {
            "name": "admin", "domain": {"id": "default"}, "password": [SECRET]}}}}})
    assert "auth/identity/password/user/password" in error(refused, 400)
    assert SECRET not in refused.text


@pytest.mark.parametrize(("path", "body"), [
    ("/projects", {"project": []}),
    ("/projects", {"project": {"name": "p", "tags": "a"}}),
    ("/projects", {"project": {"name": "p", "parent_id": ["x"]}}),
    ("/projects", {"project": {"name": "p", "enabled": "yes"}}),
    ("/domains", {"domain": {"name": "d", "description": 5}}),
    ("/users", {"user": {"name": "u", "enabled": 1}}),
    ("/users", {"user": {"name": "u", "default_project_id": {"id": "x"}}}),
    ("/roles", {"role": {"name": ["r"]}}),
    ("/users/{admin}/password", {"user": {"password": 5, "original_password": "x"}}),
    ("/users/{admin}/application_credentials",
     {"application_credential": {"name": "c", "roles": [{"id": 5}]}}),
    ("/users/{admin}/application_credentials",
     {"application_credential": {"name": "c", "expires_at": 2030}}),
    ("/auth/tokens", {"auth": {"identity": {"methods": ["password"], "password": []}}}),
    ("/auth/tokens", {"auth": {"identity": {"methods": [1]}}}),
    ("/auth/tokens", {"auth": {"identity": {"methods": ["token"], "token": {"id": 5}}}}),
    ("/auth/tokens", {"auth": {"identity": {"methods": ["password"]},
                               "scope": {"project": "p"}}}),
])
def test_a_wrong_typed_body_is_a_400_not_a_500(ks: Keystone, path: str, body: Any) -> None:
    path = path.format(admin=ks.ids()["user:admin"])
    rsp = ks.http.post(path, json=body) if path == "/auth/tokens" else \
        ks.request("POST", path, json=body)
    error(rsp, 400)


def test_wrong_typed_updates_are_400s(ks: Keystone, name: str) -> None:
    made = ks.ok("POST", "/projects", 201, json={"project": {"name": name}})["project"]
    for body in ({"project": {"name": 7}}, {"project": {"tags": [1]}},
                 {"project": {"description": ["d"]}}, {"project": "x"}):
        error(ks.request("PATCH", f"/projects/{made['id']}", json=body), 400)
    ks.ok("DELETE", f"/projects/{made['id']}", 204)


def test_a_bad_query_parameter_is_refused_in_keystones_words(ks: Keystone) -> None:
    assert error(ks.request("GET", "/projects", params={"name": "a\x00b"}), 400).startswith(
        "Invalid input for field 'name': 'a\\x00b' does not match")
    assert error(ks.request("GET", "/role_assignments", params={"user.id": "\x00"}),
                 400).startswith("Invalid input for field 'user.id'")
    assert ks.ok("GET", "/projects", params={"colour": "blue"})["projects"]  # ignored


def test_openapi_shows_the_declarations(ks: Keystone) -> None:
    api = httpx.get(f"{ks.svc.url}/openapi.json", timeout=30).json()
    projects = api["paths"]["/identity/v3/projects"]
    schema = projects["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["project"]
    assert schema["properties"]["project"]["required"] == ["name"]
    assert {p["name"] for p in projects["get"]["parameters"]} == {
        "name", "domain_id", "enabled", "parent_id", "is_domain", "tags", "tags-any",
        "not-tags", "not-tags-any"}
    tokens = api["paths"]["/identity/v3/auth/tokens"]["post"]
    assert tokens["requestBody"]["content"]["application/json"]["schema"]["required"] == \
        ["auth"]
    for path, item in api["paths"].items():
        if path.startswith("/identity"):
            for method, operation in item.items():
                assert operation.get("x-barecloud-declared"), (method, path)
