"""An admin's aggregates (/os-aggregates): Nova's create, hosts, metadata and refusals,
beside the read-only ones derived from the hosts."""

from __future__ import annotations

import uuid

from tests.api.compute.nova import Nova, fault


def test_an_admins_aggregate_of_compute_hosts(nova: Nova, rc: str) -> None:
    host = nova.node(rc)["name"]
    name = f"agg-{rc}"
    made = nova.ok("POST", "/os-aggregates", version="2.41",
                   json={"aggregate": {"name": name}})["aggregate"]
    assert "hosts" not in made and made["uuid"] and made["availability_zone"] is None
    agg = f"/os-aggregates/{made['id']}"
    assert fault(nova.request("POST", "/os-aggregates", json={"aggregate": {"name": name}}),
                 409) == f"Aggregate {name} already exists."
    added = nova.ok("POST", f"{agg}/action", json={"add_host": {"host": host}})["aggregate"]
    assert added["hosts"] == [host]
    assert fault(nova.request("POST", f"{agg}/action", json={"add_host": {"host": host}}),
                 409) == f"Aggregate {made['id']} already has host {host}."
    assert fault(nova.request("POST", f"{agg}/action", json={
        "add_host": {"host": "nowhere"}}), 404) == "Compute host nowhere could not be found."
    assert fault(nova.request("DELETE", agg), 400)  # not empty
    meta = nova.ok("POST", f"{agg}/action", json={"set_metadata": {"metadata": {
        "ssd": "true"}}})["aggregate"]["metadata"]
    assert meta == {"ssd": "true"}
    assert nova.ok("POST", f"{agg}/action", json={"set_metadata": {"metadata": {
        "ssd": None}}})["aggregate"]["metadata"] == {}
    assert nova.ok("GET", agg)["aggregate"]["hosts"] == [host]
    assert made["id"] in [a["id"] for a in nova.ok("GET", "/os-aggregates")["aggregates"]]
    assert fault(nova.request("POST", f"{agg}/action", json={
        "remove_host": {"host": "nowhere"}}), 404) == \
        f"Cannot remove host nowhere in aggregate {made['id']}"
    nova.ok("POST", f"{agg}/action", json={"remove_host": {"host": host}})
    renamed = nova.ok("PUT", agg, json={"aggregate": {"name": f"{name}-2"}})["aggregate"]
    assert renamed["name"] == f"{name}-2"
    assert nova.request("DELETE", agg).status_code == 200
    assert fault(nova.request("GET", agg), 404)
    assert fault(nova.request("DELETE", agg), 404)


def test_refusals(nova: Nova) -> None:
    for body in ({"aggregate": {"name": ""}}, {"aggregate": {"name": "a" * 256}},
                 {"aggregate": {}}, {"aggregate": {"name": "x", "other": 1}}):
        assert fault(nova.request("POST", "/os-aggregates", json=body), 400), body
    # A zone is the hosts' own here: an aggregate does not set it.
    assert "zone" in fault(nova.request("POST", "/os-aggregates", json={
        "aggregate": {"name": f"z-{uuid.uuid4().hex[:6]}", "availability_zone": "az"}}), 400)
    assert fault(nova.request("DELETE", "/os-aggregates/abc"), 400)
    assert fault(nova.request("DELETE", "/os-aggregates/2147000000"), 404)
    assert fault(nova.request("GET", f"/os-aggregates/{2**70}"), 404)
