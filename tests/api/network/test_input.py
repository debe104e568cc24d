"""Input declared once: the Network API refuses what its declarations do not allow, in
Neutron's words, and /openapi.json shows those declarations."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.network.neutron import Neutron, error


def test_a_bad_body_is_refused_in_neutrons_words(neutron: Neutron) -> None:
    def refused(body: Any, kind: str = "HTTPBadRequest", path: str = "/networks",
                method: str = "POST") -> str:
        return error(neutron.request(method, path, json=body), 400, kind)

    assert refused({"network": {"name": 7}}) == \
        "Invalid input for name. Reason: '7' is not a valid string."
    assert refused({"network": {"mtu": 20}}) == \
        "Invalid input for mtu. Reason: '20' is too small - must be at least '68'."
    assert refused({"network": {"admin_state_up": "maybe"}}, "InvalidInput") == \
        "Invalid input for operation: 'maybe' cannot be converted to boolean."
    assert refused({"network": {"colour": "red", "size": 1}}) == \
        "Unrecognized attribute(s) 'colour, size'"
    assert refused({"net": {}}) == "Unable to find 'network' in request body"
    assert refused({"networks": []}) == "Resources required"
    assert refused({"port": {"name": "p"}}, path="/ports") == \
        "Failed to parse request. Required attribute 'network_id' not specified"
    assert refused({"port": {"network_id": "nope"}}, path="/ports") == \
        "Invalid input for network_id. Reason: 'nope' is not a valid UUID."
    net = neutron.network()
    assert refused({"network": {"status": "DOWN"}}, path=f"/networks/{net['id']}",
                   method="PUT") == "Cannot update read-only attribute status"
    assert neutron.ok("PUT", f"/networks/{net['id']}", json={"network": {
        "admin_state_up": "false"}})["network"]["admin_state_up"] is False
    neutron.request("DELETE", f"/networks/{net['id']}")


NET = "00000000-0000-0000-0000-000000000000"


@pytest.mark.parametrize(("path", "body"), [
    ("/networks", []),
    ("/networks", {"network": []}),
    ("/networks", {"networks": {"name": "x"}}),
    ("/networks", {"networks": ["x"]}),
    ("/networks", {"network": {"availability_zone_hints": "nova"}}),
    ("/networks", {"network": {"provider:segmentation_id": [5]}}),
    ("/networks", {"network": {"name": "a\x00b"}}),
    ("/subnets", {"subnet": {"network_id": NET, "ip_version": 4, "cidr": ["10.0.0.0/24"]}}),
    ("/subnets", {"subnet": {"network_id": NET, "ip_version": 4, "cidr": "10.0.0.0/24",
                             "allocation_pools": "all"}}),
    ("/subnets", {"subnet": {"network_id": NET, "ip_version": 4, "cidr": "10.0.0.0/24",
                             "host_routes": [{"destination": 1}]}}),
    ("/subnets", {"subnet": {"network_id": NET, "ip_version": 4, "cidr": "10.0.0.0/24",
                             "dns_nameservers": {"a": 1}}}),
    ("/ports", {"port": {"network_id": NET, "fixed_ips": {"ip_address": "10.0.0.2"}}}),
    ("/ports", {"port": {"network_id": NET, "binding:profile": ["x"]}}),
    ("/ports", {"port": {"network_id": NET, "device_id": {"a": 1}}}),
    ("/rbac-policies", {"rbac_policy": {"object_type": "network", "object_id": 5,
                                        "action": "access_as_shared", "target_tenant": "p"}}),
])
def test_a_wrong_typed_body_is_a_400_not_a_500(neutron: Neutron, path: str, body: Any) -> None:
    error(neutron.request("POST", path, json=body), 400)


def test_wrong_typed_updates_are_400s(neutron: Neutron) -> None:
    error(neutron.request("PUT", "/quotas/p1", json={"quota": []}), 400, "HTTPBadRequest")
    error(neutron.request("PUT", "/quotas/p1", json={"quota": {"port": "many"}}), 400)
    error(neutron.request("PUT", f"/rbac-policies/{NET}", json={
        "rbac_policy": {"target_tenant": 5}}), 400)


def test_a_bad_query_parameter_is_refused_in_neutrons_words(neutron: Neutron) -> None:
    assert error(neutron.request("GET", "/networks", params={"limit": "ten"}), 400,
                 "HTTPBadRequest") == "Limit must be an integer 0 or greater and not 'ten'"
    assert error(neutron.request("GET", "/networks", params={"page_reverse": "maybe"}),
                 400, "InvalidInput") == \
        "Invalid input for operation: 'maybe' cannot be converted to boolean."
    assert error(neutron.request("GET", "/barecloud-top-talkers", params={"limit": "abc"}),
                 400) == "Invalid input for limit. Reason: 'abc' is not a number."
    assert error(neutron.request("GET", "/barecloud-top-talkers", params={"limit": "2.5"}),
                 400) == "Invalid input for limit. Reason: '2.5' is not an integer."
    assert error(neutron.request("GET", "/barecloud-top-talkers", params={"by": "vlan"}),
                 400) == "by must be port or flow, not 'vlan'."
    assert error(neutron.request("GET", "/barecloud-top-talkers",
                                 params={"by": "flow", "minutes": "0"}), 400) == \
        "minutes must be more than 0 and at most 1440."


def test_openapi_shows_the_declarations(neutron: Neutron) -> None:
    api = httpx.get(f"{neutron.svc.url}/openapi.json", timeout=30).json()
    networks = api["paths"]["/network/v2.0/networks"]
    schema = networks["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert set(schema["properties"]) == {"network", "networks"}
    assert "mtu" in schema["properties"]["network"]["properties"]
    query = {p["name"]: p["schema"] for p in networks["get"]["parameters"]
             if p["in"] == "query"}
    assert query["limit"] == {"type": "integer", "minimum": 0}
    assert {"marker", "fields", "sort_key", "name", "shared"} <= set(query)
    quota = api["paths"]["/network/v2.0/quotas/{project_id}"]["put"]
    assert "quota" in quota["requestBody"]["content"]["application/json"]["schema"][
        "properties"]
    talkers = api["paths"]["/network/v2.0/barecloud-top-talkers"]["get"]
    assert {p["name"] for p in talkers["parameters"]} == {"switch", "sort", "minutes", "limit",
                                                         "by", "port"}
    for path, item in api["paths"].items():
        if path.startswith("/network"):
            for method, operation in item.items():
                assert operation.get("x-barecloud-declared"), (method, path)
