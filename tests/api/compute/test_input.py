"""Input declared once: bad bodies and query strings get Nova's 400, wrong types are
never a 500, and /openapi.json shows what each operation takes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.compute.nova import Nova, fault

SERVER = "00000000-0000-0000-0000-000000000000"


def test_a_bad_body_is_novas_400(nova: Nova) -> None:
    r = nova.request("POST", "/flavors", json={"flavor": {
        "name": 12, "ram": 1, "vcpus": 1, "disk": 0}})
    assert fault(r, 400) == ("Invalid input for field/attribute name. Value: 12. "
                             "12 is not of type 'string'")
    r = nova.request("POST", "/os-keypairs", json={"keypair": ["k"]})
    assert fault(r, 400) == ("Invalid input for field/attribute keypair. Value: ['k']. "
                             "['k'] is not of type 'object'")


def test_a_bad_query_parameter_is_novas_400(nova: Nova) -> None:
    r = nova.request("GET", "/servers", params={"sort_dir": "up"})
    assert fault(r, 400) == ("Invalid input for query parameters sort_dir. Value: up. "
                             "'up' is not one of ['asc', 'desc']")
    assert fault(nova.request("GET", "/flavors", params={"limit": "ten"}), 400) == \
        "limit param must be an integer"
    assert fault(nova.request("GET", "/os-hypervisors", params={"limit": "-3"}), 400) == \
        "limit param must be positive"
    # Nova ignores query parameters it does not know.
    assert nova.request("GET", "/servers", params={"colour": "red"}).status_code == 200


def test_a_declaration_follows_the_microversion(nova: Nova) -> None:
    body = {"flavor": {"name": "old", "ram": 1, "vcpus": 1, "disk": 0, "description": "d"}}
    r = nova.request("POST", "/flavors", version="2.54", json=body)
    assert "('description' was unexpected)" in fault(r, 400)
    r = nova.request("POST", "/os-keypairs", version="2.1",
                     json={"keypair": {"name": "k", "type": "ssh"}})
    assert "('type' was unexpected)" in fault(r, 400)
    # changes-before is 2.66's: before it, it is not read at all, as Nova's.
    assert nova.request("GET", "/servers", version="2.65",
                        params={"changes-before": "never"}).status_code == 200
    r = nova.request("GET", "/servers", params={"changes-before": "never"})
    assert "is not a 'date-time'" in fault(r, 400)


WRONG_TYPES: list[tuple[str, str, Any]] = [
    ("POST", "/servers", {"server": []}),
    ("POST", "/servers", {"server": {"name": "x", "imageRef": 1, "flavorRef": "1",
                                     "networks": "none"}}),
    ("POST", "/servers", {"server": {"name": "x", "flavorRef": [], "networks": "none"}}),
    ("POST", "/servers", {"server": {"name": "x", "flavorRef": "1", "networks": "none",
                                     "block_device_mapping_v2": 5}}),
    ("POST", "/servers", {"server": {"name": "x", "flavorRef": "1", "networks": "none",
                                     "metadata": []}}),
    ("POST", "/servers", {"server": {"name": "x", "flavorRef": "1", "networks": "none"},
                          "os:scheduler_hints": "near"}),
    ("PUT", f"/servers/{SERVER}", {"server": {"name": 5}}),
    ("POST", f"/servers/{SERVER}/action", {"reboot": "HARD"}),
    ("POST", f"/servers/{SERVER}/action", {"rebuild": {"imageRef": 5}}),
    ("POST", f"/servers/{SERVER}/action", {"os-getConsoleOutput": {"length": []}}),
    ("POST", f"/servers/{SERVER}/action", ["reboot"]),
    ("POST", "/flavors", {"flavor": {"name": "x", "ram": [], "vcpus": 1, "disk": 0}}),
    ("POST", "/flavors", {"flavor": {"name": "x", "ram": 1, "vcpus": 1, "disk": 0,
                                     "rxtx_factor": "fast"}}),
    ("PUT", "/flavors/x", {"flavor": {"description": 5}}),
    ("POST", "/flavors/x/os-extra_specs", {"extra_specs": ["a"]}),
    ("PUT", "/flavors/x/os-extra_specs/a", {"a": []}),
    ("POST", "/flavors/x/action", {"addTenantAccess": {"tenant": 5}}),
    ("POST", "/flavors/x/action", {"addTenantAccess": "p"}),
    ("POST", "/os-keypairs", {"keypair": {"name": "k", "public_key": 5}}),
    ("PUT", "/os-quota-sets/p", {"quota_set": []}),
    ("PUT", "/os-quota-sets/p", {"quota_set": {"cores": {"n": 1}}}),
]


@pytest.mark.parametrize(("method", "path", "body"), WRONG_TYPES)
def test_a_wrong_type_is_a_400_never_a_500(nova: Nova, method: str, path: str,
                                           body: Any) -> None:
    assert fault(nova.request(method, path, json=body), 400)


def _openapi(nova: Nova) -> dict[str, Any]:
    found: dict[str, Any] = httpx.get(f"{nova.svc.url}/openapi.json", timeout=30).json()
    return found


def test_openapi_shows_bodies_and_query_parameters(nova: Nova) -> None:
    paths = _openapi(nova)["paths"]
    create = paths["/compute/v2.1/servers"]["post"]
    server = create["requestBody"]["content"]["application/json"]["schema"]
    assert server["required"] == ["server"]
    assert {"name", "imageRef", "flavorRef", "networks", "description", "hostname",
            "personality"} <= set(server["properties"]["server"]["properties"])
    listed = {p["name"]: p for p in paths["/compute/v2.1/servers"]["get"]["parameters"]
              if p["in"] == "query"}
    assert listed["limit"]["schema"] == {"type": "integer", "minimum": 0}
    assert {"changes-since", "changes-before", "sort_key", "all_tenants"} <= set(listed)
    flavors = {p["name"] for p in paths["/compute/v2.1/flavors"]["get"]["parameters"]
               if p["in"] == "query"}
    assert {"is_public", "minRam", "minDisk", "limit", "marker"} <= flavors
    quotas = paths["/compute/v2.1/os-quota-sets/{project_id}"]["put"]["requestBody"]
    assert "cores" in quotas["content"]["application/json"]["schema"]["properties"][
        "quota_set"]["properties"]
    for path, operations in paths.items():
        if path.startswith("/compute"):
            for method, operation in operations.items():
                assert operation.get("x-barecloud-declared"), (method, path)
