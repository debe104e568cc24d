"""Bad requests to the Identity API: Keystone's 4xx, secrets never echoed, nothing
changed."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.api.identity.keystone import Keystone, error

SECRET = "s3cret-never-echoed"
JSON = {"Content-Type": "application/json"}


@dataclass
class Case:
    name: str
    method: str
    path: str
    status: int
    body: Any = None
    raw: bytes | None = None
    contains: str = ""


def pw(user: Any, scope: Any = None, methods: Any = None) -> dict[str, Any]:
    auth: dict[str, Any] = {"identity": {"methods": methods or ["password"],
                                         "password": {"user": user}}}
    if scope is not None:
        auth["scope"] = scope
    return {"auth": auth}


USER = {"name": "admin", "domain": {"id": "default"}, "password": SECRET}
CASES = [
    Case("token-empty-body", "POST", "/auth/tokens", 400, raw=b""),
    Case("token-malformed", "POST", "/auth/tokens", 400, raw=b"{nope", contains="Malformed"),
    Case("token-list", "POST", "/auth/tokens", 400, body=[]),
    Case("token-auth-string", "POST", "/auth/tokens", 400, body={"auth": "x"}),
    Case("token-no-identity", "POST", "/auth/tokens", 400, body={"auth": {}},
         contains="identity"),
    Case("token-methods-string", "POST", "/auth/tokens", 400,
         body={"auth": {"identity": {"methods": "password"}}}),
    Case("token-no-password", "POST", "/auth/tokens", 400,
         body={"auth": {"identity": {"methods": ["password"]}}}, contains="password"),
    Case("token-user-nameless", "POST", "/auth/tokens", 400,
         body=pw({"password": SECRET}), contains="id or name must be present"),
    Case("token-user-no-domain", "POST", "/auth/tokens", 400,
         body=pw({"name": "admin", "password": SECRET}), contains="domain"),
    Case("token-password-number", "POST", "/auth/tokens", 400,
         body=pw({"name": "admin", "domain": {"id": "default"}, "password": 987654321})),
    Case("token-name-nul", "POST", "/auth/tokens", 400,
         body=pw({"name": "ad\x00min", "domain": {"id": "default"}, "password": SECRET})),
    Case("token-scope-two", "POST", "/auth/tokens", 400,
         body=pw(USER, {"project": {"id": "x"}, "domain": {"id": "default"}})),
    Case("token-scope-project-empty", "POST", "/auth/tokens", 400,
         body=pw(USER, {"project": {}}), contains="id or name must be present"),
    Case("token-scope-system-false", "POST", "/auth/tokens", 400,
         body=pw(USER, {"system": {"all": False}})),
    Case("token-scope-number", "POST", "/auth/tokens", 400, body=pw(USER, 7)),
    Case("project-no-body", "POST", "/projects", 400, raw=b""),
    Case("project-not-object", "POST", "/projects", 400, body={"project": "x"}),
    Case("project-no-name", "POST", "/projects", 400, body={"project": {}},
         contains="'name' is a required property"),
    Case("project-long-name", "POST", "/projects", 400, body={"project": {"name": "x" * 65}}),
    Case("project-blank-name", "POST", "/projects", 400, body={"project": {"name": "  "}}),
    Case("project-name-number", "POST", "/projects", 400, body={"project": {"name": 5}}),
    Case("project-enabled-string", "POST", "/projects", 400,
         body={"project": {"name": "bad-enabled", "enabled": "yes"}}),
    Case("project-tags", "POST", "/projects", 400,
         body={"project": {"name": "bad-tags", "tags": ["a/b"]}}),
    Case("project-is-domain-in-domain", "POST", "/projects", 400,
         body={"project": {"name": "bad-dom", "is_domain": True, "domain_id": "default"}}),
    Case("project-unknown-domain", "POST", "/projects", 404,
         body={"project": {"name": "bad-domain", "domain_id": "nope"}}),
    Case("project-unknown-parent", "POST", "/projects", 404,
         body={"project": {"name": "bad-parent", "parent_id": "nope"}}),
    Case("project-move", "PATCH", "/projects/{project}", 400,
         body={"project": {"domain_id": "other"}}),
    Case("project-missing", "GET", "/projects/nope", 404, contains="Could not find project"),
    Case("project-name-nul", "GET", "/projects?name=a%00b", 400),
    Case("user-long-password", "POST", "/users", 400,
         body={"user": {"name": "long-pw", "password": SECRET * 300}}),
    Case("user-password-number", "POST", "/users", 400,
         body={"user": {"name": "num-pw", "password": 987654321}}),
    Case("user-no-name", "POST", "/users", 400, body={"user": {"password": SECRET}}),
    Case("user-unknown-project", "POST", "/users", 404,
         body={"user": {"name": "bad-default", "default_project_id": "nope"}}),
    Case("user-missing", "GET", "/users/nope", 404, contains="Could not find user: nope."),
    Case("user-password-wrong-shape", "POST", "/users/{admin}/password", 400,
         body={"user": {"password": SECRET}}),
    Case("role-no-name", "POST", "/roles", 400, body={"role": {}}),
    Case("role-domain-number", "POST", "/roles", 400,
         body={"role": {"name": "domain-role", "domain_id": 5}}),
    Case("role-missing", "DELETE", "/roles/nope", 404),
    Case("domain-no-name", "POST", "/domains", 400, body={"domain": {"enabled": True}}),
    Case("domain-missing", "PATCH", "/domains/nope", 404, body={"domain": {"name": "x"}}),
    Case("grant-unknown-user", "PUT", "/projects/{project}/users/nope/roles/{member}", 404),
    Case("assignments-two-scopes", "GET",
         "/role_assignments?scope.project.id=a&scope.domain.id=b", 400),
    Case("assignments-post", "POST", "/role_assignments", 405, body={}),
    Case("appcred-unknown-attr", "POST", "/users/{admin}/application_credentials", 400,
         body={"application_credential": {"name": "x", "colour": "red"}}),
    Case("appcred-bad-expiry", "POST", "/users/{admin}/application_credentials", 400,
         body={"application_credential": {"name": "x", "expires_at": "tomorrow"}}),
    Case("appcred-bad-roles", "POST", "/users/{admin}/application_credentials", 400,
         body={"application_credential": {"name": "x", "roles": "admin"}}),
    Case("appcred-access-rules", "POST", "/users/{admin}/application_credentials", 400,
         body={"application_credential": {"name": "x", "access_rules": [{"path": "/"}]}}),
    Case("appcred-secret-number", "POST", "/users/{admin}/application_credentials", 400,
         body={"application_credential": {"name": "x", "secret": 42}}),
    Case("appcred-for-another", "POST", "/users/{demo}/application_credentials", 403,
         body={"application_credential": {"name": "x"}}),
    Case("appcred-missing", "GET", "/users/{admin}/application_credentials/nope", 404),
    Case("unknown-path", "GET", "/trusts", 404),
]


def snapshot(ks: Keystone) -> dict[str, Any]:
    return {kind: sorted(str(item) for item in ks.ok("GET", f"/{kind}")[kind])
            for kind in ("domains", "projects", "users", "roles", "role_assignments")}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_bad_input(ks: Keystone, case: Case) -> None:
    ids = ks.ids()
    path = case.path.format(project=ids["project:demo"], admin=ids["user:admin"],
                            demo=ids["user:demo"], member=ids["role:member"])
    before = snapshot(ks)
    kwargs: dict[str, Any] = {"headers": JSON}
    if case.raw is not None:
        kwargs["content"] = case.raw
    elif case.body is not None:
        kwargs["json"] = case.body
    if path == "/auth/tokens":
        rsp = ks.http.request(case.method, path, **kwargs)
    else:
        rsp = ks.request(case.method, path, **kwargs)
    message = error(rsp, case.status)
    assert case.contains in message
    assert SECRET not in rsp.text and "987654321" not in rsp.text
    assert snapshot(ks) == before
