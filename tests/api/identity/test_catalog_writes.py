"""Regions, services and endpoints written as Keystone's, reaching tokens' catalogs,
while barecloud's own entries stay as the settings make them."""

from __future__ import annotations

from typing import Any

from tests.api.identity.keystone import Keystone, error, password


def _catalog(ks: Keystone) -> list[dict[str, Any]]:
    rsp = ks.request("GET", "/auth/tokens", headers={"X-Subject-Token": ks.token})
    assert rsp.status_code == 200, rsp.text
    catalog: list[dict[str, Any]] = rsp.json()["token"]["catalog"]
    return catalog


def test_regions(ks: Keystone, name: str) -> None:
    made = ks.ok("POST", "/regions", 201, json={"region": {
        "id": name, "description": "lab", "site": "b"}})["region"]
    assert made == {"id": name, "description": "lab", "parent_region_id": None, "site": "b",
                    "links": {"self": f"{ks.svc.identity}/regions/{name}"}}
    generated = ks.ok("POST", "/regions", 201, json={"region": {}})["region"]
    assert len(generated["id"]) == 32 and generated["description"] == ""
    child = ks.ok("PUT", f"/regions/{name}-child", 201, json={"region": {
        "parent_region_id": name}})["region"]
    assert child["id"] == f"{name}-child"
    assert [r["id"] for r in ks.ok("GET", f"/regions?parent_region_id={name}")["regions"]] == [
        child["id"]]
    assert {r["id"] for r in ks.ok("GET", "/regions")["regions"]} >= {
        "RegionOne", name, child["id"], generated["id"]}
    assert ks.ok("GET", f"/regions/{name}")["region"] == made
    assert "Duplicate ID" in error(ks.request("POST", "/regions", json={"region": {
        "id": name}}), 409)
    error(ks.request("POST", "/regions", json={"region": {"id": "RegionOne"}}), 409)
    error(ks.request("PUT", f"/regions/{name}-x", json={"region": {"id": "other"}}), 400)
    error(ks.request("POST", "/regions", json={"region": {"parent_region_id": "nope"}}), 404)
    assert "circular" in error(ks.request("PATCH", f"/regions/{name}", json={"region": {
        "parent_region_id": child["id"]}}), 400)
    updated = ks.ok("PATCH", f"/regions/{name}", json={"region": {
        "description": "moved", "parent_region_id": "RegionOne"}})["region"]
    assert (updated["description"], updated["parent_region_id"]) == ("moved", "RegionOne")
    error(ks.request("PATCH", "/regions/RegionOne", json={"region": {"description": "x"}}),
          403)
    error(ks.request("DELETE", "/regions/RegionOne"), 403)
    ks.ok("DELETE", f"/regions/{name}", 204)  # its child goes with it
    error(ks.request("GET", f"/regions/{child['id']}"), 404)
    ks.ok("DELETE", f"/regions/{generated['id']}", 204)
    error(ks.request("DELETE", f"/regions/{generated['id']}"), 404)


def test_services_and_endpoints_reach_tokens(ks: Keystone, name: str) -> None:
    before = _catalog(ks)
    own = {s["type"]: s for s in ks.ok("GET", "/services")["services"]}
    svc = ks.ok("POST", "/services", 201, json={"service": {
        "type": f"{name}-type", "name": name, "description": "extra"}})["service"]
    assert (svc["type"], svc["name"], svc["description"], svc["enabled"]) == (
        f"{name}-type", name, "extra", True)
    assert ks.ok("GET", f"/services/{svc['id']}")["service"] == svc
    assert [s["id"] for s in ks.ok("GET", f"/services?type={name}-type")["services"]] == [
        svc["id"]]
    assert [s["id"] for s in ks.ok("GET", f"/services?name={name}")["services"]] == [svc["id"]]
    region = ks.ok("POST", "/regions", 201, json={"region": {"id": name}})["region"]
    ep = ks.ok("POST", "/endpoints", 201, json={"endpoint": {
        "service_id": svc["id"], "interface": "public", "region_id": region["id"],
        "url": "http://example.test:9000/v1/$(project_id)s"}})["endpoint"]
    assert (ep["region"], ep["region_id"], ep["enabled"]) == (name, name, True)
    assert ks.ok("GET", f"/endpoints/{ep['id']}")["endpoint"] == ep
    assert [e["id"] for e in ks.ok("GET", f"/endpoints?service_id={svc['id']}")[
        "endpoints"]] == [ep["id"]]
    assert [e["id"] for e in ks.ok("GET", f"/endpoints?region_id={name}")["endpoints"]] == [
        ep["id"]]
    hidden = ks.ok("POST", "/endpoints", 201, json={"endpoint": {
        "service_id": svc["id"], "interface": "admin", "url": "http://hidden.test/",
        "enabled": False}})["endpoint"]

    catalog = _catalog(ks)
    mine = next(s for s in catalog if s["id"] == svc["id"])
    assert (mine["type"], mine["name"]) == (f"{name}-type", name)
    project_id = ks.ok("GET", "/auth/tokens", headers={"X-Subject-Token": ks.token})[
        "token"]["project"]["id"]
    assert mine["endpoints"] == [{"id": ep["id"], "interface": "public", "region": name,
                                  "region_id": name,
                                  "url": f"http://example.test:9000/v1/{project_id}"}]
    # barecloud's own services are all there, unchanged.
    assert [s for s in catalog if s["id"] != svc["id"]] == before
    assert {s["type"] for s in ks.ok("GET", "/services")["services"]} == {
        *own, f"{name}-type"}

    # A system-scoped token has no project: the endpoint needing one is left out.
    system = ks.svc.token(scope={"system": {"all": True}})
    rsp = ks.request("GET", "/auth/tokens", headers={"X-Subject-Token": system})
    assert next(s for s in rsp.json()["token"]["catalog"] if s["id"] == svc["id"])[
        "endpoints"] == []

    disabled = ks.ok("PATCH", f"/services/{svc['id']}", json={"service": {
        "enabled": False}})["service"]
    assert disabled["enabled"] is False and disabled["name"] == name
    assert svc["id"] not in {s["id"] for s in _catalog(ks)}
    moved = ks.ok("PATCH", f"/endpoints/{ep['id']}", json={"endpoint": {
        "interface": "internal", "region": f"{name}-new"}})["endpoint"]
    assert (moved["interface"], moved["region_id"]) == ("internal", f"{name}-new")
    assert ks.ok("GET", f"/regions/{name}-new")["region"]["id"] == f"{name}-new"  # made
    error(ks.request("DELETE", f"/regions/{name}-new"), 403)  # an endpoint is there
    ks.ok("DELETE", f"/services/{svc['id']}", 204)  # its endpoints go with it
    error(ks.request("GET", f"/endpoints/{ep['id']}"), 404)
    error(ks.request("GET", f"/endpoints/{hidden['id']}"), 404)
    ks.ok("DELETE", f"/regions/{name}-new", 204)


def test_own_entries_cannot_be_changed(ks: Keystone, name: str) -> None:
    own = ks.ok("GET", "/services?type=compute")["services"][0]
    own_ep = ks.ok("GET", f"/endpoints?service_id={own['id']}")["endpoints"][0]
    error(ks.request("PATCH", f"/services/{own['id']}", json={"service": {
        "enabled": False}}), 403)
    error(ks.request("DELETE", f"/services/{own['id']}"), 403)
    error(ks.request("PATCH", f"/endpoints/{own_ep['id']}", json={"endpoint": {
        "url": "http://elsewhere/"}}), 403)
    error(ks.request("DELETE", f"/endpoints/{own_ep['id']}"), 403)
    # Another endpoint of barecloud's compute may be added, and removed.
    extra = ks.ok("POST", "/endpoints", 201, json={"endpoint": {
        "service_id": own["id"], "interface": "public", "region_id": "RegionOne",
        "url": "http://compute.example.test/v2.1"}})["endpoint"]
    compute = next(s for s in _catalog(ks) if s["id"] == own["id"])
    assert [e["url"] for e in compute["endpoints"] if e["interface"] == "public"] == [
        f"{ks.svc.url}/compute/v2.1", "http://compute.example.test/v2.1"]
    ks.ok("DELETE", f"/endpoints/{extra['id']}", 204)
    assert ks.ok("GET", f"/services/{own['id']}")["service"] == own


def test_bad_catalog_input(ks: Keystone, name: str) -> None:
    svc = ks.ok("POST", "/services", 201, json={"service": {"type": name}})["service"]
    assert svc["name"] == ""
    for body in ({"service_id": svc["id"], "interface": "public"},
                 {"service_id": svc["id"], "interface": "sideways", "url": "http://x/"},
                 {"service_id": svc["id"], "interface": "public", "url": "no-scheme"},
                 {"service_id": "nope", "interface": "public", "url": "http://x/"},
                 {"service_id": svc["id"], "interface": "public", "url": "http://x/",
                  "region_id": "nope"}):
        error(ks.request("POST", "/endpoints", json={"endpoint": body}), 400)
    error(ks.request("POST", "/services", json={"service": {"name": "no type"}}), 400)
    error(ks.request("GET", "/services/nope"), 404)
    error(ks.request("PATCH", "/endpoints/nope", json={"endpoint": {"url": "http://x/"}}), 404)
    error(ks.request("DELETE", "/regions/nope"), 404)
    ks.ok("DELETE", f"/services/{svc['id']}", 204)


def test_only_admins_write_the_catalog(ks: Keystone, name: str) -> None:
    project = ks.ok("POST", "/projects", 201, json={"project": {"name": name}})["project"]
    user = ks.ok("POST", "/users", 201, json={"user": {"name": name, "password": "pw"}})["user"]
    ks.ok("PUT", f"/projects/{project['id']}/users/{user['id']}/roles/"
                 f"{ks.ids()['role:member']}", 204)
    token, body = ks.issue(password({"id": user["id"]}, "pw", {"project": {"id": project["id"]}}))
    assert {s["type"] for s in body["token"]["catalog"]} >= {"compute", "identity"}
    error(ks.request("POST", "/services", token=token, json={"service": {"type": "x"}}), 403)
    error(ks.request("POST", "/regions", token=token, json={"region": {}}), 403)
    assert ks.ok("GET", "/regions", token=token)["regions"]
