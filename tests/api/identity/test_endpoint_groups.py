"""OS-EP-FILTER endpoint groups and their project associations, as Keystone's."""

from __future__ import annotations

from tests.api.identity.keystone import Keystone, error

BASE = "/OS-EP-FILTER/endpoint_groups"


def test_endpoint_group_lifecycle(ks: Keystone, name: str) -> None:
    service = ks.ok("POST", "/services", 201, json={"service": {"name": name,
                                                                "type": name}})["service"]
    made = ks.ok("POST", BASE, 201, json={"endpoint_group": {
        "name": name, "description": "d", "filters": {"service_id": service["id"]}}})[
        "endpoint_group"]
    assert (made["name"], made["description"], made["filters"]) == (
        name, "d", {"service_id": service["id"]})
    assert made["links"]["self"] == f"{ks.svc.identity}{BASE}/{made['id']}"
    assert made in ks.ok("GET", BASE)["endpoint_groups"]
    assert ks.ok("GET", f"{BASE}?name={name}")["endpoint_groups"] == [made]
    assert ks.ok("GET", f"{BASE}/{made['id']}")["endpoint_group"] == made
    assert ks.request("HEAD", f"{BASE}/{made['id']}").status_code == 200
    updated = ks.ok("PATCH", f"{BASE}/{made['id']}", json={"endpoint_group": {
        "name": f"{name}-2", "filters": {"interface": "public"}}})["endpoint_group"]
    assert (updated["name"], updated["description"], updated["filters"]) == (
        f"{name}-2", "d", {"interface": "public"})

    project = ks.ok("POST", "/projects", 201, json={"project": {"name": name}})["project"]
    link = f"{BASE}/{made['id']}/projects/{project['id']}"
    assert ks.request("HEAD", link).status_code == 404
    ks.ok("PUT", link, 204)
    assert ks.request("HEAD", link).status_code == 200
    assert ks.ok("GET", link)["project"]["id"] == project["id"]
    assert [p["id"] for p in ks.ok("GET", f"{BASE}/{made['id']}/projects")["projects"]] == [
        project["id"]]
    assert [g["id"] for g in ks.ok(
        "GET", f"/OS-EP-FILTER/projects/{project['id']}/endpoint_groups")[
        "endpoint_groups"]] == [made["id"]]
    ks.ok("DELETE", link, 204)
    error(ks.request("DELETE", link), 404)

    ks.ok("DELETE", f"{BASE}/{made['id']}", 204)
    error(ks.request("GET", f"{BASE}/{made['id']}"), 404)
    assert ks.request("HEAD", f"{BASE}/{made['id']}").status_code == 404


def test_bad_endpoint_groups(ks: Keystone, name: str) -> None:
    for body in ({"endpoint_group": {"name": name}},
                 {"endpoint_group": {"filters": {"interface": "public"}}},
                 {"endpoint_group": {"name": name, "filters": {"colour": "red"}}},
                 {"endpoint_group": {"name": name, "filters": {"interface": "nope"}}},
                 {"endpoint_group": {"name": name, "filters": {}}}):
        error(ks.request("POST", BASE, json=body), 400)
    assert ks.ok("GET", f"{BASE}?name={name}")["endpoint_groups"] == []
    error(ks.request("PUT", f"{BASE}/nope/projects/{ks.ids()['project:demo']}"), 404)
    demo = ks.svc.token("barecloud")
    error(ks.request("POST", BASE, token=demo, json={"endpoint_group": {
        "name": name, "filters": {"interface": "public"}}}), 403)
