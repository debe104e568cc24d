"""Application credentials: the secret once, its roles on its project, its end."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx

from tests.api.identity.keystone import Keystone, error, password


def app_cred_auth(cred_id: str, secret: str) -> dict[str, Any]:
    return {"auth": {"identity": {"methods": ["application_credential"],
                                  "application_credential": {"id": cred_id,
                                                             "secret": secret}}}}


def setup_member(ks: Keystone, name: str) -> tuple[str, str, str]:
    """A user that is a member of a new project: (user id, project id, its token)."""
    project = ks.ok("POST", "/projects", 201, json={"project": {"name": name}})["project"]
    user = ks.ok("POST", "/users", 201, json={"user": {"name": name, "password": "pw"}})["user"]
    member = ks.ids()["role:member"]
    ks.ok("PUT", f"/projects/{project['id']}/users/{user['id']}/roles/{member}", 204)
    token, _ = ks.issue(password({"id": user["id"]}, "pw", {"project": {"id": project["id"]}}))
    return user["id"], project["id"], token


def test_create_use_and_delete(ks: Keystone, name: str) -> None:
    user_id, project_id, token = setup_member(ks, name)
    base = f"/users/{user_id}/application_credentials"
    created = ks.ok("POST", base, 201, token=token, json={"application_credential": {
        "name": "ci", "description": "for CI"}})["application_credential"]
    secret = created["secret"]
    assert len(secret) >= 32
    assert (created["project_id"], created["user_id"], created["unrestricted"]) == (
        project_id, user_id, False)
    assert sorted(r["name"] for r in created["roles"]) == ["member", "reader"]
    shown = ks.ok("GET", f"{base}/{created['id']}", token=token)["application_credential"]
    assert "secret" not in shown and shown["name"] == "ci"
    listed = ks.ok("GET", base, token=token)["application_credentials"]
    assert [c["id"] for c in listed] == [created["id"]] and "secret" not in listed[0]
    assert ks.ok("GET", f"{base}?name=ci", token=token)["application_credentials"][0][
        "id"] == created["id"]
    error(ks.request("POST", base, token=token, json={"application_credential": {
        "name": "ci"}}), 409)

    app_token, body = ks.issue(app_cred_auth(created["id"], secret))
    token_body = body["token"]
    assert token_body["methods"] == ["application_credential"]
    assert token_body["project"]["id"] == project_id
    assert sorted(r["name"] for r in token_body["roles"]) == ["member", "reader"]
    assert token_body["application_credential"] == {"id": created["id"], "name": "ci",
                                                     "restricted": True}
    # By name, with the user's name and domain.
    ks.issue({"auth": {"identity": {"methods": ["application_credential"],
                                    "application_credential": {
                                        "name": "ci", "secret": secret,
                                        "user": {"name": name, "domain": {"id": "default"}}}}}})
    ks.issue(app_cred_auth(created["id"], "wrong-secret"), status=401)
    _, refused = ks.issue({"auth": {**app_cred_auth(created["id"], secret)["auth"],
                                    "scope": {"project": {"id": project_id}}}}, status=401)
    assert refused["error"]["message"] == "Application credentials cannot request a scope."
    # Its token cannot make more credentials, nor rescope.
    error(ks.request("POST", base, token=app_token, json={"application_credential": {
        "name": "more"}}), 403)
    ks.issue({"auth": {"identity": {"methods": ["token"], "token": {"id": app_token}}}},
             status=401)
    # Nobody else sees or deletes them (the admin does).
    demo, _ = ks.issue(password({"name": "demo", "domain": {"id": "default"}},
                                ks.svc.credentials("barecloud")["password"]))
    error(ks.request("GET", base, token=demo), 403)
    error(ks.request("DELETE", f"{base}/{created['id']}", token=demo), 403)
    assert ks.ok("GET", base)["application_credentials"][0]["id"] == created["id"]

    ks.ok("DELETE", f"{base}/{created['id']}", 204, token=token)
    error(ks.request("GET", f"{base}/{created['id']}", token=token), 404)
    ks.issue(app_cred_auth(created["id"], secret), status=401)
    rsp = httpx.get(f"{ks.svc.baremetal}/v1/nodes", headers={"X-Auth-Token": app_token})
    assert rsp.status_code == 401


def test_roles_subset_secret_and_expiry(ks: Keystone, name: str) -> None:
    user_id, _, token = setup_member(ks, name)
    base = f"/users/{user_id}/application_credentials"
    reader = ks.ok("POST", base, 201, token=token, json={"application_credential": {
        "name": "ro", "roles": [{"name": "reader"}], "secret": "my-own-secret"}})[
        "application_credential"]
    assert reader["secret"] == "my-own-secret"
    assert [r["name"] for r in reader["roles"]] == ["reader"]
    _, body = ks.issue(app_cred_auth(reader["id"], "my-own-secret"))
    assert [r["name"] for r in body["token"]["roles"]] == ["reader"]
    error(ks.request("POST", base, token=token, json={"application_credential": {
        "name": "too-much", "roles": [{"name": "admin"}]}}), 404)
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%S")
    expiring = ks.ok("POST", base, 201, token=token, json={"application_credential": {
        "name": "soon", "expires_at": soon}})["application_credential"]
    assert expiring["expires_at"].startswith(soon)
    _, body = ks.issue(app_cred_auth(expiring["id"], expiring["secret"]))
    expires = dt.datetime.strptime(body["token"]["expires_at"], "%Y-%m-%dT%H:%M:%S.%fZ")
    assert expires <= dt.datetime.strptime(soon, "%Y-%m-%dT%H:%M:%S")
    past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)).isoformat()
    error(ks.request("POST", base, token=token, json={"application_credential": {
        "name": "past", "expires_at": past}}), 400)
    # A user losing its role: the credential's tokens lose it too.
    member = ks.ids()["role:member"]
    project_id = reader["project_id"]
    ks.ok("DELETE", f"/projects/{project_id}/users/{user_id}/roles/{member}", 204)
    ks.issue(app_cred_auth(reader["id"], "my-own-secret"), status=401)
