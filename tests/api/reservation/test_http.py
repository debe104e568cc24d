"""The Reservation API's HTTP surface, below any client: discovery, catalog,
headers, microversions, and Blazar's error body for each kind of refusal."""

from __future__ import annotations

import httpx

from tests.api.reservation.conftest import Blazar, error

UNKNOWN = "6ee55c78-ac52-41a6-99af-2d2d73bcc466"


def test_versions_and_catalog(blazar: Blazar) -> None:
    url = blazar.svc.url
    for path in ("/reservation", "/reservation/"):
        rsp = httpx.get(url + path, timeout=10)  # no token: discovery is public
        assert rsp.status_code == 300, rsp.text
        assert rsp.json() == {"versions": [{
            "id": "v1.0", "status": "CURRENT", "min_version": "1.0", "max_version": "1.0",
            "links": [{"href": f"{url}/reservation/v1", "rel": "self"}]}]}
    v1 = httpx.get(f"{url}/reservation/v1", timeout=10)
    assert v1.status_code == 200 and v1.json()["version"]["id"] == "v1.0"
    assert httpx.get(url + "/", timeout=10).json()["services"]["reservation"] == (
        f"{url}/reservation")

    catalog = httpx.get(f"{blazar.svc.identity}/auth/catalog", timeout=10,
                        headers={"X-Auth-Token": blazar.demo}).json()["catalog"]
    [svc] = [s for s in catalog if s["type"] == "reservation"]
    assert svc["name"] == "blazar"
    assert {e["url"] for e in svc["endpoints"]} == {f"{url}/reservation/v1"}


def test_headers_and_microversions(blazar: Blazar) -> None:
    rsp = blazar.call("GET", "/leases")
    assert rsp.status_code == 200 and isinstance(rsp.json()["leases"], list)
    assert rsp.headers["OpenStack-API-Version"] == "reservation 1.0"
    assert rsp.headers["Vary"] == "OpenStack-API-Version"
    # Blazar's routes all take a .json suffix.
    assert blazar.call("GET", "/leases.json").json() == rsp.json()
    for asked in ("1.0", "latest", None):
        headers = {"OpenStack-API-Version": f"reservation {asked}"} if asked else {}
        assert blazar.call("GET", "/os-hosts", headers=headers).status_code == 200
    # Another service's version is none of the Reservation API's business.
    assert blazar.call("GET", "/os-hosts", headers={
        "OpenStack-API-Version": "compute 2.96"}).status_code == 200
    bad = blazar.call("GET", "/leases", headers={"OpenStack-API-Version": "reservation 1"})
    assert (bad.status_code, bad.json()) == (400, {
        "error_code": 400, "error_name": "BAD_REQUEST", "error_message":
        "API Version String 1 is of invalid format. Must be of format MajorNum.MinorNum."})
    new = blazar.call("GET", "/leases", headers={"OpenStack-API-Version": "reservation 1.1"})
    assert (new.status_code, new.json()) == (406, {
        "error_code": 406, "error_name": "NOT_ACCEPTABLE", "error_message":
        "Version 1.1 is not supported by the API. Minimum is 1.0 and maximum is 1.0."})
    assert new.headers["OpenStack-API-Version"] == "reservation 1.0"


def test_refusals_in_blazars_body(blazar: Blazar) -> None:
    error(blazar.call("GET", "/leases", token="bogus"), 401)
    no_token = httpx.get(f"{blazar.svc.url}/reservation/v1/leases", timeout=10)
    error(no_token, 401)
    assert no_token.headers["WWW-Authenticate"].startswith("Keystone uri=")
    error(blazar.call("GET", "/no-such-thing"), 404)
    error(blazar.call("PATCH", "/leases"), 405)
    assert error(blazar.call("GET", f"/leases/{UNKNOWN}"), 404) == (
        f"Object with {{'lease_id': '{UNKNOWN}'}} not found")
    assert error(blazar.call("DELETE", f"/leases/{UNKNOWN}.json"), 404) == (
        f"Object with {{'lease_id': '{UNKNOWN}'}} not found")
    assert "not found" in error(blazar.call("GET", "/os-hosts/999"), 404)
    assert "JSON" in error(blazar.call("POST", "/leases", content=b"{oops"), 400)
    assert "object" in error(blazar.call("POST", "/os-hosts", json=["rsv-1"]), 400)
    empty = blazar.call("PUT", "/os-hosts/1")
    assert (empty.status_code, empty.json()) == (400, {
        "error_code": 400, "error_message": "No data to update",
        "error_name": "INTERNAL_SERVER_ERROR"})
    bad_date = blazar.call("POST", "/leases", token=blazar.demo, json={
        "name": "bad-date", "start_date": "tomorrow", "end_date": "2030-01-02 12:00",
        "reservations": [{"resource_type": "physical:host", "min": 1, "max": 1,
                          "hypervisor_properties": "", "resource_properties": ""}],
        "events": [], "before_end_date": None})
    assert error(bad_date, 400) == (
        "tomorrow is an invalid date. Required format: %Y-%m-%d %H:%M")
    # Hosts are the operator's: a member may not offer one.
    error(blazar.call("POST", "/os-hosts", token=blazar.demo, json={"name": "rsv-3"}), 403)
