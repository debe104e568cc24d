"""The Network declarations and Neutron's words for what they refuse."""

from __future__ import annotations

from typing import Any

import pytest

from barecloud.errors import BarecloudError
from barecloud.services.network import schemas
from barecloud.services.validation import Checker, Schema, query_document

NET = "00000000-0000-0000-0000-000000000000"


def refusal(schema: Schema, document: Any, where: str = "body") -> tuple[str, str]:
    with pytest.raises(BarecloudError) as refused:
        Checker(schema, schemas.wording).check(document, where)
    return type(refused.value).__name__, refused.value.message


@pytest.mark.parametrize(("schema", "body", "kind", "message"), [
    (schemas.CREATE_NETWORK, {"network": {"name": 7}}, "HTTPBadRequest",
     "Invalid input for name. Reason: '7' is not a valid string."),
    (schemas.CREATE_NETWORK, {"network": {"admin_state_up": "maybe"}}, "InvalidInput",
     "Invalid input for operation: 'maybe' cannot be converted to boolean."),
    (schemas.CREATE_NETWORK, {"network": {"colour": "red", "size": 1}}, "HTTPBadRequest",
     "Unrecognized attribute(s) 'colour, size'"),
    (schemas.CREATE_NETWORK, [], "HTTPBadRequest", "Unable to find 'network' in request body"),
    (schemas.CREATE_NETWORK, {"networks": {"a": 1}}, "HTTPBadRequest", "Resources required"),
    (schemas.CREATE_NETWORK, {"networks": ["x"]}, "HTTPBadRequest",
     "Invalid input for networks. Reason: 'x' is not an object."),
    (schemas.CREATE_NETWORK, {"network": {"mtu": 1500.5}}, "HTTPBadRequest",
     "Invalid input for mtu. Reason: '1500.5' is not an integer."),
    (schemas.UPDATE_NETWORK, {"network": {"status": "DOWN"}}, "HTTPBadRequest",
     "Cannot update read-only attribute status"),
    (schemas.CREATE_PORT, {"port": {"name": "p"}}, "HTTPBadRequest",
     "Failed to parse request. Required attribute 'network_id' not specified"),
    (schemas.CREATE_PORT, {"port": {"network_id": NET, "mac_address": "zz"}},
     "HTTPBadRequest", "Invalid input for mac_address. Reason: 'zz' is not a valid MAC "
     "address."),
    (schemas.CREATE_SUBNET, {"subnet": {"network_id": NET, "ip_version": 5}},
     "HTTPBadRequest", "Invalid input for ip_version. Reason: 5 is not in [4, 6]."),
    (schemas.UPDATE_QUOTA, {"quota": {"network": -5}}, "HTTPBadRequest",
     "Invalid input for network. Reason: '-5' is too small - must be at least '-1'."),
])
def test_bodies(schema: Schema, body: Any, kind: str, message: str) -> None:
    assert refusal(schema, body) == (kind, message)


def test_what_neutron_converts_is_accepted() -> None:
    checker = Checker(schemas.CREATE_NETWORK, schemas.wording)
    for body in ({"network": {"admin_state_up": "TRUE", "shared": 0, "mtu": "1500"}},
                 {"networks": [{"name": "a"}, {"port_security_enabled": "off"}]}):
        assert checker.check(body) == body


def test_query_strings() -> None:
    def query(schema: Schema, *pairs: tuple[str, str]) -> tuple[str, str]:
        return refusal(schema, query_document(pairs, schema), "query")

    assert query(schemas.LIST_NETWORKS_QUERY, ("limit", "ten")) == (
        "HTTPBadRequest", "Limit must be an integer 0 or greater and not 'ten'")
    assert query(schemas.LIST_PORTS_QUERY, ("page_reverse", "maybe")) == (
        "InvalidInput", "Invalid input for operation: 'maybe' cannot be converted to boolean.")
    assert query(schemas.TOP_TALKERS_QUERY, ("limit", "2.5")) == (
        "HTTPBadRequest",
        "Invalid input for limit. Reason: '2.5' is not an integer.")
