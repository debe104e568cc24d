"""Bare Metal declarations: Ironic's words for what they refuse, and what they normalise."""

from __future__ import annotations

from typing import Any

import pytest

from barecloud.errors import InvalidParameter
from barecloud.services.baremetal import checks, schemas
from barecloud.services.validation import query_document


@pytest.mark.parametrize(("body", "message"), [
    ({"driver": "x", "bogus": 1}, "Unknown attribute for argument node: bogus"),
    ([{"driver": "x"}], "Invalid node: expected a JSON object."),
    ({"name": "n"}, "Invalid node: 'driver' is a required property"),
    ({"driver": "x", "name": 7}, "name must be a string or null, not integer."),
    ({"driver": "x", "name": "11111111-2222-3333-4444-555555555555"},
     "Expected a logical name (RFC 3986 unreserved characters, not a UUID) but received "
     "'11111111-2222-3333-4444-555555555555'"),
    ({"driver": "x", "uuid": "nope"}, "Expected a UUID but received nope."),
    ({"driver": "x", "retired": "maybe"}, "Invalid value for retired: 'maybe' is not a boolean"),
    ({"driver": "x", "driver_info": "secret"}, "driver_info must be a JSON object, not string."),
])
def test_a_node_is_refused_in_ironics_words(body: Any, message: str) -> None:
    with pytest.raises(InvalidParameter) as refused:
        checks.node(body)
    assert refused.value.message == message


def test_a_node_is_normalised_as_ironic_stores_it() -> None:
    node = checks.node({"driver": "x", "retired": " Yes", "protected": "off",
                        "automated_clean": "0", "conductor_group": "Rack-1",
                        "uuid": "AAAAAAAA-2222-3333-4444-555555555555"})
    assert (node["retired"], node["protected"], node["automated_clean"]) == (True, False, False)
    assert node["uuid"] == "aaaaaaaa-2222-3333-4444-555555555555"
    assert node["conductor_group"] == "rack-1" and node["name"] is None
    node["extra"]["changed"] = True  # a default is the node's own, not shared
    assert checks.node({"driver": "x"})["extra"] == {} == schemas.NODE_DEFAULTS["extra"]


def test_ports_patches_and_traits() -> None:
    port = checks.port({"node_uuid": "n", "address": "52-54-00-AA-00-01", "pxe_enabled": "no"})
    assert (port["address"], port["pxe_enabled"], port["is_smartnic"]) == (
        "52:54:00:aa:00:01", False, False)
    with pytest.raises(InvalidParameter, match="Expected a MAC address but received 52:54"):
        checks.port({"node_uuid": "n", "address": "52:54:00:zz:00:01"})
    with pytest.raises(InvalidParameter, match="local_link_connection"):
        checks.port({"node_uuid": "n", "address": "52:54:00:aa:00:01",
                     "local_link_connection": {"switch_id": "s"}})
    assert checks.port({"node_uuid": "n", "address": "52:54:00:aa:00:01",
                        "local_link_connection": {"network_type": "unmanaged"}})
    with pytest.raises(InvalidParameter, match="JSON patch must be a non-empty list"):
        checks.patch([])
    with pytest.raises(InvalidParameter, match="'value' is a required property"):
        checks.patch([{"op": "add", "path": "/extra/a"}])
    with pytest.raises(InvalidParameter, match="Invalid trait 'lower'"):
        checks.trait("lower")


def test_query_strings_in_ironics_words() -> None:
    query = checks.checker(schemas.LIST_NODES_QUERY)

    def check(*pairs: tuple[str, str]) -> Any:
        return query.check(query_document(pairs, schemas.LIST_NODES_QUERY), "query")

    assert check(("limit", "5"), ("maintenance", "On")) == {"limit": 5, "maintenance": True}
    with pytest.raises(InvalidParameter, match=r"^Limit must be positive: 0$"):
        check(("limit", "0"))
    with pytest.raises(InvalidParameter, match=r"^limit must be an integer, not 'ten'\.$"):
        check(("limit", "ten"))
