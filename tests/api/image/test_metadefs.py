"""Metadata definitions over HTTP as Glance's: namespaces and their objects,
properties, tags and resource-type associations, and their schemas."""

from __future__ import annotations

import uuid

import httpx

from tests import support
from tests.api.image.glance import Glance, error


def _name() -> str:
    return f"ns-{uuid.uuid4().hex[:10]}"


def test_namespace_lifecycle(glance: Glance) -> None:
    name = _name()
    kinds = glance.ok("GET", "/metadefs/resource_types")["resource_types"]
    assert {"name": "OS::Glance::Image"} in kinds
    created = glance.ok("POST", "/metadefs/namespaces", 201, json={
        "namespace": name, "display_name": "Test", "description": "d", "visibility": "public",
        "protected": True, "resource_type_associations": [{"name": "OS::Nova::Flavor",
                                                           "prefix": "hw:"}],
        "properties": {"hw_rng": {"title": "RNG", "type": "boolean"}},
        "objects": [{"name": "CPU", "properties": {"sockets": {"title": "S",
                                                               "type": "integer"}}}],
        "tags": [{"name": "gpu"}],
    })
    assert created["namespace"] == name and created["protected"] is True
    assert created["self"] == f"/v2/metadefs/namespaces/{name}"
    assert created["schema"] == "/v2/schemas/metadefs/namespace"
    assert created["properties"] == {"hw_rng": {"title": "RNG", "type": "boolean"}}
    assert [o["name"] for o in created["objects"]] == ["CPU"]
    assert [t["name"] for t in created["tags"]] == ["gpu"]
    assert created["resource_type_associations"][0]["prefix"] == "hw:"
    assert glance.ok("GET", f"/metadefs/namespaces/{name}") == created
    listed = glance.ok("GET", "/metadefs/namespaces",
                       params={"resource_types": "OS::Nova::Flavor"})["namespaces"]
    assert name in [n["namespace"] for n in listed]
    assert name not in [n["namespace"] for n in glance.ok(
        "GET", "/metadefs/namespaces", params={"visibility": "private"})["namespaces"]]
    assert "already exists" in error(glance.request(
        "POST", "/metadefs/namespaces", json={"namespace": name}), 409)
    error(glance.request("POST", "/metadefs/namespaces", json={"namespace": name,
                                                               "visibility": "shared"}), 400)
    error(glance.request("POST", "/metadefs/namespaces", json={}), 400)

    assert "protected" in error(glance.request("DELETE", f"/metadefs/namespaces/{name}"), 403)
    assert "protected" in error(glance.request(
        "DELETE", f"/metadefs/namespaces/{name}/tags/gpu"), 403)
    updated = glance.ok("PUT", f"/metadefs/namespaces/{name}", json={
        "namespace": name, "visibility": "private", "protected": False})
    assert updated["visibility"] == "private" and updated["protected"] is False
    assert updated["tags"] == created["tags"]  # a PUT keeps what is in it
    glance.ok("DELETE", f"/metadefs/namespaces/{name}", 204)
    assert "was not found" in error(glance.request("GET", f"/metadefs/namespaces/{name}"),
                                    404)


def test_objects_properties_tags_associations(glance: Glance) -> None:
    name = _name()
    base = f"/metadefs/namespaces/{name}"
    glance.ok("POST", "/metadefs/namespaces", 201, json={"namespace": name})

    obj = glance.ok("POST", f"{base}/objects", 201, json={"name": "o1", "description": "x"})
    assert obj["self"] == f"/v2{base}/objects/o1" and obj["required"] == []
    error(glance.request("POST", f"{base}/objects", json={"name": "o1"}), 409)
    renamed = glance.ok("PUT", f"{base}/objects/o1", json={"name": "o2"})
    assert renamed["name"] == "o2" and "description" not in renamed  # replaced whole
    error(glance.request("GET", f"{base}/objects/o1"), 404)
    assert [o["name"] for o in glance.ok("GET", f"{base}/objects")["objects"]] == ["o2"]
    glance.ok("DELETE", f"{base}/objects/o2", 204)
    assert glance.ok("GET", f"{base}/objects")["objects"] == []

    prop = {"name": "hypervisor", "title": "H", "type": "string", "enum": ["kvm", "qemu"]}
    assert glance.ok("POST", f"{base}/properties", 201, json=prop) == prop
    error(glance.request("POST", f"{base}/properties", json={"name": "p", "title": "t",
                                                             "type": "nonsense"}), 400)
    assert glance.ok("GET", f"{base}/properties/hypervisor") == prop
    assert glance.ok("GET", f"{base}/properties") == {"properties": {
        "hypervisor": {k: v for k, v in prop.items() if k != "name"}}}
    changed = glance.ok("PUT", f"{base}/properties/hypervisor", json={**prop, "title": "T2"})
    assert changed["title"] == "T2"
    glance.ok("DELETE", f"{base}/properties/hypervisor", 204)
    assert glance.ok("GET", f"{base}/properties") == {"properties": {}}

    tags = glance.ok("POST", f"{base}/tags", 201, json={"tags": [{"name": "a"}, {"name": "b"}]})
    assert [t["name"] for t in tags["tags"]] == ["a", "b"]
    error(glance.request("POST", f"{base}/tags", json={"tags": [{"name": "x"},
                                                                {"name": "X"}]}), 409)
    assert glance.ok("POST", f"{base}/tags/c", 201)["name"] == "c"
    assert "case insensitive" in error(glance.request("POST", f"{base}/tags/A"), 409)
    assert glance.ok("PUT", f"{base}/tags/c", json={"name": "d"})["name"] == "d"
    assert glance.ok("GET", f"{base}/tags/d")["name"] == "d"
    glance.ok("DELETE", f"{base}/tags/d", 204)
    assert [t["name"] for t in glance.ok("GET", f"{base}/tags")["tags"]] == ["a", "b"]
    glance.ok("DELETE", f"{base}/tags", 204)
    assert glance.ok("GET", f"{base}/tags") == {"tags": []}

    assoc = glance.ok("POST", f"{base}/resource_types", 201,
                      json={"name": "OS::Glance::Image", "prefix": "p_"})
    assert assoc["name"] == "OS::Glance::Image" and assoc["prefix"] == "p_"
    listed = glance.ok("GET", f"{base}/resource_types")["resource_type_associations"]
    assert [a["name"] for a in listed] == ["OS::Glance::Image"]
    glance.ok("DELETE", f"{base}/resource_types/OS::Glance::Image", 204)
    assert glance.ok("GET", f"{base}/resource_types") == {"resource_type_associations": []}
    error(glance.request("GET", "/metadefs/namespaces/nothing-here/objects"), 404)


def test_metadef_schemas(image_service: support.Service) -> None:
    url = f"{image_service.url}/image/v2/schemas/metadefs"
    names = {"namespace": "namespace", "namespaces": "namespaces", "object": "object",
             "objects": "objects", "property": "property", "properties": "properties",
             "tag": "tag", "tags": "tags", "resource_type": "resource_type_association",
             "resource_types": "resource_type_associations"}
    for path, name in names.items():
        r = httpx.get(f"{url}/{path}")
        assert r.status_code == 200 and r.json()["name"] == name, path
    namespace = httpx.get(f"{url}/namespace").json()
    assert namespace["properties"]["visibility"]["enum"] == ["public", "private"]
    assert httpx.get(f"{url}/namespaces").json()["properties"]["namespaces"]["items"] == (
        namespace)
    error(httpx.get(f"{url}/nothing"), 404)


def test_namespace_pages(glance: Glance) -> None:
    prefix = _name()
    for n in range(3):
        glance.ok("POST", "/metadefs/namespaces", 201, json={"namespace": f"{prefix}-{n}",
                                                            "visibility": "public"})
    params = {"sort_key": "namespace", "sort_dir": "asc", "limit": 2}
    names: list[str] = []
    page = glance.ok("GET", "/metadefs/namespaces", params=params)
    while True:
        names += [n["namespace"] for n in page["namespaces"]]
        if "next" not in page:
            break
        assert page["next"].startswith("/v2/metadefs/namespaces?")
        page = glance.ok("GET", page["next"].removeprefix("/v2"))
    mine = [n for n in names if n.startswith(prefix)]
    assert mine == [f"{prefix}-{n}" for n in range(3)] and names == sorted(names)
    newest = glance.ok("GET", "/metadefs/namespaces", params={"limit": 1})["namespaces"]
    assert [n["namespace"] for n in newest] == [f"{prefix}-2"]  # created_at desc
    assert "not found" in error(glance.request("GET", "/metadefs/namespaces",
                                               params={"marker": "nothing-here"}), 400)
    error(glance.request("GET", "/metadefs/namespaces", params={"sort_key": "owner"}), 400)
    error(glance.request("GET", "/metadefs/namespaces", params={"limit": -1}), 400)
