"""Bare Metal input is declared once: refused in Ironic's words, shown in /openapi.json.

The declarations are services/baremetal/schemas.py; a wrong-typed field of any
body an operation declares is a 400 in Ironic's error format, never a 5xx.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from barecloud.services.baremetal import schemas
from tests import support
from tests.api.baremetal.ironic import Ironic, fault

WRONG = {"object": ["not", "an", "object"], "array": {"not": "a list"}}
# A value of each JSON type, to send where the declaration allows another.
VALUES = (("integer", 12345), ("string", "many"), ("array", [1]), ("object", {"a": 1}))


@pytest.fixture(scope="module")
def openapi(module_service: support.Service) -> dict[str, Any]:
    spec: dict[str, Any] = httpx.get(f"{module_service.url}/openapi.json", timeout=30).json()
    return spec


@pytest.fixture(scope="module")
def api(module_service: support.Service) -> Iterator[Ironic]:
    client = Ironic(module_service)
    try:
        yield client
    finally:
        client.close()


def test_a_bad_body_is_refused_in_ironics_words(api: Ironic) -> None:
    before = api.ok("GET", "/nodes")
    assert fault(api.post("/nodes", json={"driver": 5}), 400) == \
        "driver must be a string, not integer."
    assert fault(api.post("/nodes", json={"driver": "fake-hardware", "colour": "red"}),
                 400) == "Unknown attribute for argument node: colour"
    assert fault(api.post("/nodes", json={"driver": "fake-hardware", "protected": "perhaps"}),
                 400) == "Invalid value for protected: 'perhaps' is not a boolean"
    assert api.ok("GET", "/nodes") == before
    # Ironic's boolean spellings are booleans.
    node = api.create_node(name="spelled", protected="no", retired="Yes")
    assert (node["protected"], node["retired"]) == (False, True)


def test_a_bad_query_parameter_is_refused_in_ironics_words(api: Ironic) -> None:
    assert fault(api.get("/nodes", params={"limit": "ten"}), 400) == \
        "limit must be an integer, not 'ten'."
    assert fault(api.get("/nodes", params={"associated": "maybe"}), 400) == \
        "associated must be a boolean, not 'maybe'."
    assert fault(api.get("/ports", params={"address": "nope"}), 400) == \
        "Expected a MAC address but received nope."
    # Unknown parameters are ignored, as before; declared ones read as their types.
    assert api.ok("GET", "/nodes", params={"colour": "red", "maintenance": "off"}) is not None


def test_openapi_shows_bodies_and_query_parameters(openapi: dict[str, Any]) -> None:
    paths = openapi["paths"]
    create = paths["/baremetal/v1/nodes"]["post"]
    body = create["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["driver"] and body["additionalProperties"] is False
    assert set(body["properties"]) == set(schemas.CREATE_NODE["properties"])
    listing = {p["name"]: p for p in paths["/baremetal/v1/nodes"]["get"]["parameters"]
               if p["in"] == "query"}
    assert listing["limit"]["schema"] == {"type": "integer", "minimum": 1}
    assert listing["maintenance"]["schema"] == {"type": "boolean"}
    patch = paths["/baremetal/v1/ports/{ident}"]["patch"]["requestBody"]
    assert patch["content"]["application/json"]["schema"]["type"] == "array"
    maintenance = paths["/baremetal/v1/nodes/{ident}/maintenance"]["put"]["requestBody"]
    assert maintenance["required"] is False
    for path, item in paths.items():
        if path.startswith("/baremetal"):
            for method, op in item.items():
                assert op.get("x-barecloud-declared"), (method, path)


def _bodies(openapi: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in openapi["paths"].items():
        if not path.startswith("/baremetal"):
            continue
        for method, op in item.items():
            if "requestBody" in op:
                yield method.upper(), path, op["requestBody"]["content"]["application/json"][
                    "schema"]


def test_a_wrong_typed_field_is_a_400_for_every_operation(
        api: Ironic, openapi: dict[str, Any]) -> None:
    node = api.create_node(name="typed")
    port = api.ok("POST", "/ports", 201, json={"node_uuid": node["uuid"],
                                               "address": "52:54:00:ee:00:01"})
    ids = {"ident": node["uuid"], "command_id": str(uuid.uuid4()), "kind": "connectors"}
    tried = 0
    for method, path, schema in _bodies(openapi):
        where = path.removeprefix("/baremetal/v1").format(**ids)
        if where.startswith("/ports/"):
            where = f"/ports/{port['uuid']}"
        bodies: list[Any] = [WRONG[schema["type"]]]
        for name, prop in schema.get("properties", {}).items():
            kinds = prop.get("type", [])
            kinds = [kinds] if isinstance(kinds, str) else kinds
            wrong = next((v for k, v in VALUES if k not in kinds and
                          not (k == "integer" and "number" in kinds)), None)
            if kinds and wrong is not None:
                bodies.append({name: wrong})
        for body in bodies:
            r = api.request(method, where, json=body)
            assert r.status_code == 400, (method, where, body, r.status_code, r.text)
            fault(r, 400)
            tried += 1
    assert tried > 50
    assert api.node(node["uuid"])["provision_state"] == "enroll"
