"""The Image API's input is declared: refused in Glance's words, shown in /openapi.json."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests import support
from tests.api.image.glance import PATCH_TYPE, Glance, error

SCHEMA = "Provided object does not match schema 'image': "


@pytest.mark.parametrize(("method", "path", "body", "message"), [
    ("POST", "/images", {"name": "n", "min_disk": "5"}, SCHEMA + "'5' is not of type 'integer'"),
    ("POST", "/images", {"name": ["n"]}, SCHEMA + "['n'] is not of type 'null', 'string'"),
    ("POST", "/images", {"tags": {"a": 1}}, SCHEMA + "{'a': 1} is not of type 'array'"),
    ("POST", "/images", {"os_distro": {"x": 1}}, SCHEMA + "{'x': 1} is not of type 'string'"),
    ("POST", "/images", {"min_ram": -1},
     SCHEMA + "-1 is out of range: min_ram must be between 0 and 2147483647"),
    ("POST", "/images", "image", SCHEMA + "the body is not a JSON object"),
    ("POST", "/images/{id}/members", {"member": ["p"]},
     "Invalid member: ['p'] (a project id of up to 255 characters is expected)"),
    ("POST", "/images/{id}/members", [], "Member to be added not specified"),
    ("PUT", "/images/{id}/members/p", {"status": 5}, "Invalid status: 5"),
    ("PUT", "/images/{id}/members/p", {"status": None}, "Status not specified"),
])
def test_a_wrong_typed_body_is_a_400_in_glances_words(glance: Glance, method: str, path: str,
                                                      body: Any, message: str) -> None:
    image = glance.create(name="typed", visibility="shared")
    r = glance.request(method, path.format(id=image["id"]), json=body)
    assert error(r, 400) == message


@pytest.mark.parametrize(("ops", "message"), [
    ({"op": "add"}, "Request body must be a JSON array of operation objects."),
    ([["add"]], "Operations must be JSON objects."),
    ([{"op": 5, "path": "/name"}],
     "Invalid operation: `5`. It must be one of the following: add, remove, replace."),
    ([{"op": "add", "path": ["name"], "value": "x"}], "Pointer `['name']` is not a string."),
    ([{"op": "add", "path": "/min_ram", "value": {"lots": 1}}],
     SCHEMA + "{'lots': 1} is not of type 'integer'"),
])
def test_a_wrong_typed_patch_is_a_400_in_glances_words(glance: Glance, ops: Any,
                                                       message: str) -> None:
    image = glance.create(name="patched")
    r = glance.request("PATCH", f"/images/{image['id']}", json=ops,
                       headers={"Content-Type": PATCH_TYPE})
    assert error(r, 400) == message
    assert glance.image(image["id"]) == image


@pytest.mark.parametrize(("query", "message"), [
    ("limit=ten", "limit param must be an integer"),
    ("limit=-3", "limit param must be positive"),
    ("member_status=maybe", "Invalid status: maybe"),
    ("visibility=everyone", "Invalid visibility value: everyone"),
    ("protected=True", "Invalid value 'True' for 'protected' filter. "
                       "Valid values are 'true' or 'false'."),
    ("os_hidden=Maybe", "Invalid value 'maybe' for 'os_hidden' filter. "
                        "Valid values are 'true' or 'false'."),
    ("size_max=big", "Unable to filter using the specified range."),
])
def test_a_bad_query_parameter_is_a_400_in_glances_words(glance: Glance, query: str,
                                                         message: str) -> None:
    assert error(glance.request("GET", f"/images?{query}"), 400) == message


def test_openapi_shows_the_declarations(image_service: support.Service) -> None:
    spec = httpx.get(f"{image_service.url}/openapi.json", timeout=30).json()
    images = spec["paths"]["/image/v2/images"]
    create = images["post"]["requestBody"]
    assert create["required"] is True
    schema = create["content"]["application/json"]["schema"]
    assert schema["title"] == "image" and schema["additionalProperties"] == {"type": "string"}
    assert schema["properties"]["disk_format"]["enum"] == [None, "raw", "qcow2"]
    listed = {p["name"]: p for p in images["get"]["parameters"] if p["in"] == "query"}
    assert {"limit", "marker", "sort", "sort_key", "sort_dir", "visibility", "member_status",
            "tag", "os_hidden", "protected", "size_min", "size_max"} <= set(listed)
    assert listed["limit"]["schema"] == {"type": "integer", "minimum": 0}
    patch = spec["paths"]["/image/v2/images/{image_id}"]["patch"]["requestBody"]["content"]
    assert patch[PATCH_TYPE]["schema"]["type"] == "array"
    upload = spec["paths"]["/image/v2/images/{image_id}/file"]["put"]["requestBody"]
    assert upload["content"]["application/octet-stream"]["schema"] == {
        "type": "string", "format": "binary"}
    members = spec["paths"]["/image/v2/images/{image_id}/members"]["post"]["requestBody"]
    assert members["content"]["application/json"]["schema"]["required"] == ["member"]
    operations = [op for path, item in spec["paths"].items() if path.startswith("/image/")
                  for op in item.values()]
    assert operations and all(op.get("x-barecloud-declared") for op in operations)
