"""The Reservation API's input is declared: refused in Blazar's words, shown in
/openapi.json."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.reservation.conftest import Blazar, error

RESERVATION = {"resource_type": "physical:host", "min": 1, "max": 1,
               "hypervisor_properties": "", "resource_properties": ""}


def lease(**changes: Any) -> dict[str, Any]:
    return {"name": "typed", "start_date": "2030-01-02 10:00", "end_date": "2030-01-02 12:00",
            "reservations": [RESERVATION], **changes}


@pytest.mark.parametrize(("method", "path", "body", "message"), [
    ("POST", "/leases", {}, "Missing parameter name, start_date, end_date"),
    ("POST", "/leases", lease(name=["x"]), "Missing parameter name"),
    ("POST", "/leases", lease(name="n" * 81), "The lease name must be at most 80 characters."),
    ("POST", "/leases", lease(start_date=5),
     "5 is an invalid date. Required format: %Y-%m-%d %H:%M"),
    ("POST", "/leases", lease(end_date=None), "Missing parameter end_date"),
    ("POST", "/leases", lease(reservations={"min": 1}), "Missing parameter reservations"),
    ("POST", "/leases", lease(reservations=["host"]), "Each reservation must be a JSON object."),
    ("POST", "/leases", lease(reservations=[{**RESERVATION, "resource_type": "virtual:instance"}]),
     "The virtual:instance resource type is not supported"),
    ("POST", "/leases", lease(reservations=[{**RESERVATION, "min": [1]}]),
     "Malformed parameter min"),
    ("POST", "/leases", lease(reservations=[{**RESERVATION, "max": "two"}]),
     "Malformed parameter max"),
    ("POST", "/leases", lease(reservations=[{**RESERVATION, "max": None}]),
     "Missing parameter max"),
    ("POST", "/leases", lease(reservations=[{**RESERVATION, "resource_properties": {"a": 1}}]),
     "Malformed requirements {'a': 1}"),
    ("POST", "/leases", lease(reservations=[{**RESERVATION, "before_end": "reboot"}]),
     "Malformed parameter before_end"),
    ("POST", "/os-hosts", {"name": 7}, "Missing parameter name"),
    ("POST", "/os-hosts", {"name": "rsv-3", "gpu": {"model": "x"}},
     "Extra capability gpu must be a string"),
    ("POST", "/os-hosts", {"name": "rsv-3", "k" * 65: "v"}, "Extra capability key too long"),
    ("PUT", "/os-hosts/1", {"gpu": ["x"]}, "Extra capability gpu must be a string"),
    ("PATCH", "/os-hosts/properties/gpu", {"private": "yes"},
     "Missing parameter private (true or false)"),
])
def test_a_wrong_typed_body_is_a_400_in_blazars_words(blazar: Blazar, method: str, path: str,
                                                      body: Any, message: str) -> None:
    before = blazar.call("GET", "/leases").json()
    assert error(blazar.call(method, path, json=body), 400) == message
    assert blazar.call("GET", "/leases").json() == before


def test_a_lease_without_reservations_is_a_window_of_time(blazar: Blazar) -> None:
    """Blazar takes a lease with no ``reservations`` (its dates are still checked,
    in its words); blazar-tempest-plugin's leases.yaml makes, lists and deletes one."""
    window = {"name": "window", "start_date": "2030-01-03 10:00",
              "end_date": "2030-01-03 09:00"}
    assert error(blazar.call("POST", "/leases", json=window), 400) == (
        "End date must be later than start date.")
    assert error(blazar.call("POST", "/leases", json={**window, "start_date": "Bogus 13:13"}),
                 400) == "Bogus 13:13 is an invalid date. Required format: %Y-%m-%d %H:%M"
    made = blazar.call("POST", "/leases", json={**window, "end_date": "2030-01-03 12:00"})
    assert made.status_code == 201, made.text
    got = made.json()["lease"]
    assert (got["name"], got["reservations"]) == ("window", [])
    listed = blazar.call("GET", "/leases").json()["leases"]
    assert [x["id"] for x in listed if x["name"] == "window"] == [got["id"]]
    assert blazar.call("DELETE", f"/leases/{got['id']}").status_code == 204
    assert blazar.call("GET", f"/leases/{got['id']}").status_code == 404


def test_a_wrong_typed_lease_update_is_a_400(blazar: Blazar) -> None:
    assert error(blazar.call("PUT", "/leases/any", json={"reservations": {"id": "x"}}),
                 400) == "reservations must be a list"
    assert error(blazar.call("PUT", "/leases/any", json={"reservations": [{"min": 1}]}),
                 400) == "Missing parameter reservation ID"
    assert error(blazar.call("PUT", "/leases/any", json={"end_date": ["x"]}), 400) == (
        "['x'] is an invalid date. Required format: %Y-%m-%d %H:%M")


def test_query_parameters_are_declared(blazar: Blazar) -> None:
    ok = blazar.call("GET", "/os-hosts/properties?detail=yes&all=maybe")
    assert ok.status_code == 200 and isinstance(ok.json()["resource_properties"], list)
    found = blazar.call("GET", "/os-hosts/allocations?lease_id=nothing")
    assert found.status_code == 200
    assert all(a["reservations"] == [] for a in found.json()["allocations"])


def test_openapi_shows_the_declarations(blazar: Blazar) -> None:
    spec = httpx.get(f"{blazar.svc.url}/openapi.json", timeout=30).json()
    paths = spec["paths"]
    create = paths["/reservation/v1/leases"]["post"]["requestBody"]["content"]
    schema = create["application/json"]["schema"]
    assert schema["required"] == ["name", "start_date", "end_date"]
    assert schema["properties"]["reservations"]["items"]["required"] == [
        "resource_type", "min", "max"]
    update = paths["/reservation/v1/leases/{lease_id}"]["put"]["requestBody"]
    assert update["required"] is False
    allocations = paths["/reservation/v1/os-hosts/allocations"]["get"]["parameters"]
    assert {p["name"] for p in allocations if p["in"] == "query"} == {"lease_id",
                                                                       "reservation_id"}
    calendar = paths["/reservation/v1/barecloud-calendar"]["get"]["parameters"]
    assert {p["name"] for p in calendar if p["in"] == "query"} == {"start", "end"}
    operations = [op for path, item in paths.items() if path.startswith("/reservation")
                  for op in item.values()]
    assert operations and all(op.get("x-barecloud-declared") for op in operations)
