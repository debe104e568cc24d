"""Implied roles an admin adds (/roles/{prior}/implies/{implied}), reaching tokens and
effective role assignments, as Keystone's."""

from __future__ import annotations

from tests.api.identity.keystone import Keystone, error, password


def test_implication_lifecycle(ks: Keystone, name: str) -> None:
    ids = ks.ids()
    prior = ks.ok("POST", "/roles", 201, json={"role": {"name": f"{name}-p"}})["role"]
    implied = ks.ok("POST", "/roles", 201, json={"role": {"name": f"{name}-i"}})["role"]
    rule = f"/roles/{prior['id']}/implies/{implied['id']}"
    assert ks.request("HEAD", rule).status_code == 404
    error(ks.request("GET", rule), 404)
    made = ks.ok("PUT", rule, 201)
    assert made["role_inference"]["prior_role"]["id"] == prior["id"]
    assert made["role_inference"]["implies"]["id"] == implied["id"]
    assert ks.ok("PUT", rule, 201) == made  # idempotent
    assert ks.ok("GET", rule) == made
    assert ks.request("HEAD", rule).status_code == 204
    listed = ks.ok("GET", f"/roles/{prior['id']}/implies")["role_inference"]
    assert [r["id"] for r in listed["implies"]] == [implied["id"]]
    everything = {(r["prior_role"]["name"], i["name"])
                  for r in ks.ok("GET", "/role_inferences")["role_inferences"]
                  for i in r["implies"]}
    assert {(f"{name}-p", f"{name}-i"), ("admin", "member"), ("member", "reader")} <= everything
    error(ks.request("PUT", f"/roles/{prior['id']}/implies/{ids['role:admin']}"), 400)
    error(ks.request("PUT", f"/roles/{implied['id']}/implies/{prior['id']}"), 400)  # a cycle
    error(ks.request("PUT", f"/roles/{prior['id']}/implies/nope"), 404)
    error(ks.request("DELETE", f"/roles/{ids['role:admin']}/implies/{ids['role:member']}"),
          403)
    ks.ok("DELETE", rule, 204)
    error(ks.request("DELETE", rule), 404)
    assert ks.request("HEAD", rule).status_code == 404


def test_implied_roles_reach_tokens_and_assignments(ks: Keystone, name: str) -> None:
    prior = ks.ok("POST", "/roles", 201, json={"role": {"name": f"{name}-p"}})["role"]
    implied = ks.ok("POST", "/roles", 201, json={"role": {"name": f"{name}-i"}})["role"]
    ks.ok("PUT", f"/roles/{prior['id']}/implies/{implied['id']}", 201)
    project = ks.ok("POST", "/projects", 201, json={"project": {"name": name}})["project"]
    user = ks.ok("POST", "/users", 201, json={"user": {"name": name, "password": "pw"}})["user"]
    ks.ok("PUT", f"/projects/{project['id']}/users/{user['id']}/roles/{prior['id']}", 204)
    scope = {"project": {"id": project["id"]}}
    token, body = ks.issue(password({"id": user["id"]}, "pw", scope))
    assert {r["name"] for r in body["token"]["roles"]} == {f"{name}-p", f"{name}-i"}
    effective = ks.ok("GET", f"/role_assignments?user.id={user['id']}&effective")[
        "role_assignments"]
    by_role = {a["role"]["id"]: a for a in effective}
    assert set(by_role) == {prior["id"], implied["id"]}
    assert by_role[implied["id"]]["links"]["prior_role"] == (
        f"{ks.svc.identity}/roles/{prior['id']}")
    # Removing the rule takes the implied role from tokens issued before.
    ks.ok("DELETE", f"/roles/{prior['id']}/implies/{implied['id']}", 204)
    again = ks.request("GET", "/auth/tokens", headers={"X-Subject-Token": token})
    assert [r["name"] for r in again.json()["token"]["roles"]] == [f"{name}-p"]
