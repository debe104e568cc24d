"""Credentials (blobs sealed at rest, shown to their owner) and the deprecated
/policies, as Keystone's."""

from __future__ import annotations

import hashlib
import json

from tests.api.identity.keystone import Keystone, error, password


def _user_with_project(ks: Keystone, name: str) -> tuple[dict[str, str], str, str]:
    project = ks.ok("POST", "/projects", 201, json={"project": {"name": name}})["project"]
    user = ks.ok("POST", "/users", 201, json={"user": {"name": name, "password": "pw"}})["user"]
    ks.ok("PUT", f"/projects/{project['id']}/users/{user['id']}/roles/"
                 f"{ks.ids()['role:member']}", 204)
    token, _ = ks.issue(password({"id": user["id"]}, "pw", {"project": {"id": project["id"]}}))
    return user, project["id"], token


def test_ec2_credential_lifecycle(ks: Keystone, name: str) -> None:
    user, project_id, _ = _user_with_project(ks, name)
    secret = f"secret-{name}"
    blob = json.dumps({"access": f"access-{name}", "secret": secret})
    made = ks.ok("POST", "/credentials", 201, json={"credential": {
        "user_id": user["id"], "project_id": project_id, "type": "ec2", "blob": blob}})[
        "credential"]
    assert made["id"] == hashlib.sha256(f"access-{name}".encode()).hexdigest()
    assert (made["blob"], made["type"], made["user_id"], made["project_id"]) == (
        blob, "ec2", user["id"], project_id)
    assert made["links"]["self"] == f"{ks.svc.identity}/credentials/{made['id']}"
    assert ks.ok("GET", f"/credentials/{made['id']}")["credential"] == made
    assert "Duplicate" in error(ks.request("POST", "/credentials", json={"credential": {
        "user_id": user["id"], "project_id": project_id, "type": "ec2", "blob": blob}}), 409)
    listed = ks.ok("GET", f"/credentials?user_id={user['id']}")["credentials"]
    assert [c["id"] for c in listed] == [made["id"]]
    assert ks.ok("GET", f"/credentials?user_id={user['id']}&type=totp")["credentials"] == []
    new_blob = json.dumps({"access": f"access2-{name}", "secret": "s2"})
    updated = ks.ok("PATCH", f"/credentials/{made['id']}", json={"credential": {
        "blob": new_blob, "type": "ec2", "project_id": project_id}})["credential"]
    assert (updated["id"], updated["blob"]) == (made["id"], new_blob)
    ks.ok("DELETE", f"/credentials/{made['id']}", 204)
    error(ks.request("GET", f"/credentials/{made['id']}"), 404)
    assert "Could not find credential" in error(
        ks.request("DELETE", f"/credentials/{made['id']}"), 404)


def test_blobs_are_sealed_at_rest_and_never_logged(ks: Keystone, name: str) -> None:
    user, _, _ = _user_with_project(ks, name)
    secret = f"totp-seed-{name}"
    made = ks.ok("POST", "/credentials", 201, json={"credential": {
        "user_id": user["id"], "type": "totp", "blob": secret}})["credential"]
    assert len(made["id"]) == 32 and made["project_id"] is None
    # A refusal quoting the body does not repeat the blob.
    assert secret not in error(ks.request("POST", "/credentials", json={"credential": {
        "user_id": user["id"], "type": 5, "blob": secret}}), 400)
    assert secret not in ks.svc.log()
    # The row as stored, read with the database's own client.
    stored = ks.stored("SELECT blob FROM credentials WHERE id = ", made["id"])
    assert stored.startswith("sealed:") and secret not in stored


def test_bad_credentials(ks: Keystone, name: str) -> None:
    user, project_id, _ = _user_with_project(ks, name)
    for blob in ("not json", json.dumps(["a"]), json.dumps({"secret": "no access"})):
        error(ks.request("POST", "/credentials", json={"credential": {
            "user_id": user["id"], "project_id": project_id, "type": "ec2", "blob": blob}}),
              400)
    error(ks.request("POST", "/credentials", json={"credential": {
        "user_id": user["id"], "type": "x"}}), 400)  # no blob
    error(ks.request("POST", "/credentials", json={"credential": {
        "user_id": "nope", "type": "x", "blob": "b"}}), 404)
    error(ks.request("POST", "/credentials", json={"credential": {
        "user_id": user["id"], "project_id": "nope", "type": "x", "blob": "b"}}), 404)


def test_users_see_their_own_credentials_only(ks: Keystone, name: str) -> None:
    user, _, token = _user_with_project(ks, name)
    other, _, _ = _user_with_project(ks, f"{name}-o")
    mine = ks.ok("POST", "/credentials", 201, token=token, json={"credential": {
        "user_id": user["id"], "type": "totp", "blob": "mine"}})["credential"]
    theirs = ks.ok("POST", "/credentials", 201, json={"credential": {
        "user_id": other["id"], "type": "totp", "blob": "theirs"}})["credential"]
    error(ks.request("POST", "/credentials", token=token, json={"credential": {
        "user_id": other["id"], "type": "totp", "blob": "x"}}), 403)
    assert [c["id"] for c in ks.ok("GET", "/credentials", token=token)["credentials"]] == [
        mine["id"]]
    assert ks.ok("GET", f"/credentials/{mine['id']}", token=token)["credential"]["blob"] == (
        "mine")
    error(ks.request("GET", f"/credentials/{theirs['id']}", token=token), 403)
    error(ks.request("DELETE", f"/credentials/{theirs['id']}", token=token), 403)
    error(ks.request("PATCH", f"/credentials/{mine['id']}", token=token, json={
        "credential": {"user_id": other["id"]}}), 403)
    ks.ok("DELETE", f"/users/{other['id']}", 204)  # its credentials go with it
    error(ks.request("GET", f"/credentials/{theirs['id']}"), 404)
    ks.ok("DELETE", f"/credentials/{mine['id']}", 204, token=token)


def test_policies(ks: Keystone, name: str) -> None:
    made = ks.ok("POST", "/policies", 201, json={"policy": {
        "blob": '{"rule": "@"}', "type": name, "note": "kept"}})["policy"]
    assert (made["blob"], made["type"], made["note"]) == ('{"rule": "@"}', name, "kept")
    assert ks.ok("GET", f"/policies/{made['id']}")["policy"] == made
    assert [p["id"] for p in ks.ok("GET", f"/policies?type={name}")["policies"]] == [
        made["id"]]
    updated = ks.ok("PATCH", f"/policies/{made['id']}", json={"policy": {
        "type": f"{name}-2"}})["policy"]
    assert (updated["type"], updated["blob"]) == (f"{name}-2", made["blob"])
    error(ks.request("POST", "/policies", json={"policy": {"type": "no blob"}}), 400)
    ks.ok("DELETE", f"/policies/{made['id']}", 204)
    assert error(ks.request("GET", f"/policies/{made['id']}"), 404) == (
        f"Could not find policy: {made['id']}.")
    _, _, token = _user_with_project(ks, name)
    error(ks.request("GET", "/policies", token=token), 403)
    error(ks.request("POST", "/policies", token=token, json={"policy": {
        "blob": "{}", "type": "x"}}), 403)


def test_ec2_credentials_of_a_user(ks: Keystone, name: str) -> None:
    user, project_id, token = _user_with_project(ks, name)
    base = f"/users/{user['id']}/credentials/OS-EC2"
    made = ks.ok("POST", base, 201, token=token, json={"tenant_id": project_id})["credential"]
    assert (made["user_id"], made["tenant_id"], made["trust_id"]) == (user["id"], project_id,
                                                                      None)
    assert len(made["access"]) == 32 and len(made["secret"]) == 32
    assert made["links"]["self"] == f"{ks.svc.identity}{base}/{made['access']}"
    assert ks.ok("GET", f"{base}/{made['access']}", token=token)["credential"] == made
    assert ks.ok("GET", base, token=token)["credentials"] == [made]
    # The same credential, seen through /credentials.
    as_v3 = ks.ok("GET", f"/credentials/{hashlib.sha256(made['access'].encode()).hexdigest()}",
                  token=token)["credential"]
    assert as_v3["type"] == "ec2" and json.loads(as_v3["blob"])["secret"] == made["secret"]
    other, _, other_token = _user_with_project(ks, f"{name}-o")
    error(ks.request("GET", f"{base}/{made['access']}", token=other_token), 403)
    error(ks.request("GET", f"/users/{other['id']}/credentials/OS-EC2/{made['access']}"), 404)
    error(ks.request("POST", base, json={"tenant_id": "nope"}), 404)
    ks.ok("DELETE", f"{base}/{made['access']}", 204, token=token)
    error(ks.request("GET", f"{base}/{made['access']}", token=token), 404)
    assert ks.ok("GET", base)["credentials"] == []
