"""Nodes over HTTP as Ironic's clients see them: versions, fields, lists, secrets."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import httpx

from tests import support
from tests.api.baremetal.ironic import (
    LATEST,
    MAX_HEADER,
    MIN_HEADER,
    VERSION_HEADER,
    Ironic,
    fault,
)

# --- version discovery and negotiation ----------------------------------------


def test_version_discovery_documents(service: support.Service) -> None:
    for path in ("/baremetal", "/baremetal/"):
        r = httpx.get(service.url + path)
        assert r.status_code == 200
        assert r.headers[MIN_HEADER] == "1.1" and r.headers[MAX_HEADER] == LATEST
        doc = r.json()
        assert doc["name"] == "OpenStack Ironic API"
        assert doc["default_version"] == doc["versions"][0]
        v1 = doc["default_version"]
        assert v1["id"] == "v1" and v1["status"] == "CURRENT"
        assert v1["min_version"] == "1.1" and v1["version"] == LATEST
        assert v1["links"] == [{"href": f"{service.url}/baremetal/v1/", "rel": "self"}]
    for path in ("/baremetal/v1", "/baremetal/v1/"):
        r = httpx.get(service.url + path)
        assert r.status_code == 200
        assert r.headers[MIN_HEADER] == "1.1" and r.headers[MAX_HEADER] == LATEST
        doc = r.json()
        assert doc["id"] == "v1"
        assert doc["version"]["version"] == LATEST and doc["version"]["min_version"] == "1.1"
        assert {"base": "application/json",
                "type": "application/vnd.openstack.ironic.v1+json"} in doc["media_types"]
        for resource in ("nodes", "ports", "drivers", "allocations"):
            assert doc[resource][0] == {"href": f"{service.url}/baremetal/v1/{resource}/",
                                        "rel": "self"}
    # Links follow the address the client used.
    r = httpx.get(f"{service.url}/baremetal", headers={"Host": "bm.example.org:6385"})
    assert r.json()["versions"][0]["links"][0]["href"] == "http://bm.example.org:6385/baremetal/v1/"


def test_version_headers_on_every_answer(service: support.Service) -> None:
    base = f"{service.url}/baremetal/v1"
    responses = [
        httpx.get(f"{base}/nodes"),
        httpx.get(f"{base}/nodes", headers={VERSION_HEADER: "latest"}),
        httpx.get(f"{base}/nodes/nope", headers={VERSION_HEADER: "1.50"}),
        httpx.post(f"{base}/nodes", content=b"{", headers={VERSION_HEADER: "1.78"}),
        httpx.get(f"{base}/nodes", headers={VERSION_HEADER: "1.99"}),
        httpx.get(f"{base}/nodes", headers={VERSION_HEADER: "abc"}),
        httpx.get(f"{base}/drivers"),
        httpx.get(f"{base}/no-such-collection"),
        httpx.delete(f"{base}/nodes"),
    ]
    assert [r.status_code for r in responses] == [200, 200, 404, 400, 406, 400, 200, 404, 405]
    for r in responses:
        assert r.headers[MIN_HEADER] == "1.1", r.request.url
        assert r.headers[MAX_HEADER] == LATEST, r.request.url
    # The version actually used is echoed back in both spellings.
    assert responses[0].headers[VERSION_HEADER] == "1.1"  # no header: the minimum
    assert responses[1].headers[VERSION_HEADER] == LATEST
    assert responses[1].headers["OpenStack-API-Version"] == f"baremetal {LATEST}"
    assert responses[2].headers[VERSION_HEADER] == "1.50"


def test_standard_version_header(service: support.Service) -> None:
    """``OpenStack-API-Version: baremetal X.Y`` works as well as Ironic's own header."""
    url = f"{service.url}/baremetal/v1/nodes"
    r = httpx.get(url, headers={"OpenStack-API-Version": "baremetal 1.60"})
    assert r.status_code == 200
    assert r.headers["OpenStack-API-Version"] == "baremetal 1.60"
    assert r.headers[VERSION_HEADER] == "1.60"
    r = httpx.get(url, headers={"OpenStack-API-Version": "baremetal 1.99"})
    message = fault(r, 406)
    assert "1.99" in message and "[1.1, 1.92]" in message
    # Another service's version is not ours: the minimum applies.
    r = httpx.get(url, headers={"OpenStack-API-Version": "compute 2.90"})
    assert r.status_code == 200 and r.headers[VERSION_HEADER] == "1.1"


def test_fields_follow_the_microversion(api: Ironic) -> None:
    node = api.create_node(name="versioned", resource_class="gold")
    uuid = node["uuid"]
    api.ok("PUT", f"/nodes/{uuid}/traits/CUSTOM_GPU", 204)

    old = api.ok("GET", f"/nodes/{uuid}", version="1.1")
    assert "name" not in old and "traits" not in old and "resource_class" not in old
    assert "driver_internal_info" not in old and "owner" not in old
    assert old["uuid"] == uuid and old["driver"] == "fake-hardware"

    at5 = api.ok("GET", f"/nodes/{uuid}", version="1.5")
    assert at5["name"] == "versioned" and "resource_class" not in at5

    at36 = api.ok("GET", f"/nodes/{uuid}", version="1.36")
    assert at36["resource_class"] == "gold" and "traits" not in at36

    at37 = api.ok("GET", f"/nodes/{uuid}", version="1.37")
    assert at37["traits"] == ["CUSTOM_GPU"]
    assert "rescue_interface" not in at37  # 1.38

    latest = api.node(uuid)
    for name in ("traits", "rescue_interface", "owner", "lessee", "network_data",
                 "boot_mode", "retired", "allocation_uuid", "description", "conductor"):
        assert name in latest, name
    assert latest["conductor"] == f"test-conductor-{urlsplit(str(api.http.base_url)).port}"

    # The list shows the same subset.
    listed = api.ok("GET", "/nodes/detail", version="1.36")["nodes"]
    assert [n["uuid"] for n in listed] == [uuid] and "traits" not in listed[0]
    brief = api.ok("GET", "/nodes", version="1.1")["nodes"][0]
    assert set(brief) == {"uuid", "instance_uuid", "maintenance", "power_state",
                          "provision_state", "links"}
    brief = api.ok("GET", "/nodes")["nodes"][0]
    assert set(brief) == {"uuid", "instance_uuid", "maintenance", "power_state",
                          "provision_state", "name", "links"}


def test_initial_state_depends_on_the_version(api: Ironic) -> None:
    """Before 1.11 a new node starts available; from 1.11 it starts in enroll."""
    pre = api.ok("POST", "/nodes", 201, json={"driver": "fake-hardware"}, version="1.10")
    assert pre["provision_state"] == "available"
    post = api.ok("POST", "/nodes", 201, json={"driver": "fake-hardware"}, version="1.11")
    assert post["provision_state"] == "enroll"
    # Before 1.2, "available" was spelled as no state at all.
    assert api.ok("GET", f"/nodes/{pre['uuid']}", version="1.1")["provision_state"] is None
    assert api.node(pre["uuid"])["provision_state"] == "available"
    # name=None is accepted at any version, as Ironic does.
    old = api.ok("POST", "/nodes", 201, json={"driver": "fake-hardware", "name": None},
                 version="1.1")
    assert "name" not in old
    assert api.node(old["uuid"])["name"] is None
    assert old["provision_state"] is None  # available, spelled the 1.1 way


def test_fields_parameter(api: Ironic) -> None:
    node = api.create_node(name="picky", owner="team-a")
    shown = api.ok("GET", f"/nodes/{node['uuid']}", params={"fields": "uuid,owner"})
    assert set(shown) == {"uuid", "owner", "links"} and shown["owner"] == "team-a"
    listed = api.ok("GET", "/nodes", params={"fields": "name,resource_class"})["nodes"]
    assert listed == [{"name": "picky", "resource_class": None, "links": listed[0]["links"]}]


# --- create, show, update, delete --------------------------------------------


def test_node_crud(api: Ironic) -> None:
    r = api.post("/nodes", json={"driver": "fake-hardware", "name": "crud-1",
                                 "properties": {"cpus": 8}, "extra": {"rack": "r1"}})
    assert r.status_code == 201
    node = r.json()
    uuid = node["uuid"]
    assert r.headers["Location"].endswith(f"/baremetal/v1/nodes/{uuid}")
    assert node["provision_state"] == "enroll" and node["power_state"] is None
    assert node["links"][0]["href"].endswith(f"/v1/nodes/{uuid}")
    assert api.node("crud-1")["uuid"] == uuid  # by name
    assert api.node(uuid.upper())["uuid"] == uuid  # UUIDs are case-insensitive

    patched = api.ok("PATCH", "/nodes/crud-1", json=[
        {"op": "replace", "path": "/name", "value": "crud-2"},
        {"op": "add", "path": "/properties/memory_mb", "value": 4096},
        {"op": "remove", "path": "/extra/rack"},
        {"op": "add", "path": "/retired", "value": "True"},  # as `node set --retired` sends
        {"op": "add", "path": "/retired_reason", "value": "old"},
    ])
    assert patched["name"] == "crud-2"
    assert patched["properties"] == {"cpus": 8, "memory_mb": 4096}
    assert patched["extra"] == {}
    assert patched["retired"] is True and patched["retired_reason"] == "old"
    assert api.node(uuid) == patched
    fault(api.get("/nodes/crud-1"), 404)

    events = api.ok("GET", f"/nodes/{uuid}/history", params={"detail": "true"})["history"]
    assert events[0]["event"] == "create: -> enroll"
    assert any("updated" in e["event"] and "name" in e["event"] for e in events)

    assert api.delete(f"/nodes/{uuid}").status_code == 204
    assert "could not be found" in fault(api.get(f"/nodes/{uuid}"), 404)
    assert api.ok("GET", "/nodes")["nodes"] == []


def test_maintenance_by_patch_and_by_verb(api: Ironic) -> None:
    uuid = api.create_node(name="maint")["uuid"]
    node = api.ok("PATCH", f"/nodes/{uuid}", json=[
        {"op": "replace", "path": "/maintenance", "value": True},
        {"op": "add", "path": "/maintenance_reason", "value": "fan"}])
    assert node["maintenance"] is True and node["maintenance_reason"] == "fan"
    # The reason can be changed while in maintenance.
    node = api.ok("PATCH", f"/nodes/{uuid}", json=[
        {"op": "replace", "path": "/maintenance_reason", "value": "fan and disk"}])
    assert node["maintenance_reason"] == "fan and disk"
    # Ironic's boolean strings: "false" means false (not a truthy string).
    node = api.ok("PATCH", f"/nodes/{uuid}", json=[
        {"op": "replace", "path": "/maintenance", "value": "false"}])
    assert node["maintenance"] is False and node["maintenance_reason"] is None

    api.ok("PUT", f"/nodes/{uuid}/maintenance", 202, json={"reason": "psu"})
    node = api.node(uuid)
    assert node["maintenance"] is True and node["maintenance_reason"] == "psu"
    assert api.ok("GET", "/nodes", params={"maintenance": "true"})["nodes"][0]["uuid"] == uuid
    assert api.ok("GET", "/nodes", params={"maintenance": "false"})["nodes"] == []
    api.ok("DELETE", f"/nodes/{uuid}/maintenance", 202)
    node = api.node(uuid)
    assert node["maintenance"] is False and node["maintenance_reason"] is None


def test_traits(api: Ironic) -> None:
    uuid = api.create_node()["uuid"]
    api.ok("PUT", f"/nodes/{uuid}/traits", 204, json={"traits": ["CUSTOM_B", "CUSTOM_A"]})
    api.ok("PUT", f"/nodes/{uuid}/traits/HW_CPU_X86_AVX2", 204)
    api.ok("PUT", f"/nodes/{uuid}/traits/CUSTOM_A", 204)  # idempotent
    traits = api.ok("GET", f"/nodes/{uuid}/traits")["traits"]
    assert sorted(traits) == ["CUSTOM_A", "CUSTOM_B", "HW_CPU_X86_AVX2"]
    api.ok("DELETE", f"/nodes/{uuid}/traits/CUSTOM_B", 204)
    assert sorted(api.node(uuid)["traits"]) == ["CUSTOM_A", "HW_CPU_X86_AVX2"]
    api.ok("DELETE", f"/nodes/{uuid}/traits", 204)
    assert api.node(uuid)["traits"] == []


# --- lists ----------------------------------------------------------------------


def test_pagination_follows_next_links_with_filters(api: Ironic) -> None:
    owner = "team a&b=c"  # needs escaping in the next link
    made = {api.create_node(name=f"page-{i:02d}", owner=owner if i % 2 else None)["uuid"]
            for i in range(23)}
    mine = {api.node(u)["uuid"] for u in made if api.node(u)["owner"] == owner}
    assert len(mine) == 11

    seen: list[str] = []
    query = httpx.QueryParams({"owner": owner, "limit": 4, "fields": "uuid,owner"})
    url: str | None = f"/nodes?{query}"
    pages = 0
    while url:
        body = api.ok("GET", url)
        pages += 1
        assert all(n["owner"] == owner for n in body["nodes"])
        seen += [n["uuid"] for n in body["nodes"]]
        url = body.get("next")
        if url:
            sent = parse_qs(urlsplit(url).query)
            assert sent["owner"] == [owner] and sent["limit"] == ["4"]
            assert sent["marker"] == [seen[-1]]
    assert pages == 3
    assert len(seen) == len(set(seen)) and set(seen) == mine

    # Sorted by name, descending, in pages of 5: every node exactly once, in order.
    names: list[str] = []
    marker = None
    while True:
        params = {"sort_key": "name", "sort_dir": "desc", "limit": 5}
        if marker:
            params["marker"] = marker
        page = api.ok("GET", "/nodes", params=params)["nodes"]
        names += [n["name"] for n in page]
        if len(page) < 5:
            break
        marker = page[-1]["uuid"]
    assert names == sorted((f"page-{i:02d}" for i in range(23)), reverse=True)


def test_filters(api: Ironic) -> None:
    api.create_node(name="f-a", resource_class="gold", owner="p1", lessee="l1",
                    description="rack 7 top")
    b = api.create_node(name="f-b", resource_class="silver", owner="p2")
    c = api.ok("POST", "/nodes", 201, json={"driver": "fake-hardware", "name": "f-c"},
               version="1.10")  # available
    api.ok("PUT", f"/nodes/{b['uuid']}/maintenance", 202, json={"reason": "x"})

    def names(**params: str) -> list[str]:
        nodes = api.ok("GET", "/nodes", params=params)["nodes"]
        return sorted(n["name"] for n in nodes)

    assert names(resource_class="gold") == ["f-a"]
    assert names(owner="p2") == ["f-b"]
    assert names(lessee="l1") == ["f-a"]
    assert names(provision_state="enroll") == ["f-a", "f-b"]
    assert names(provision_state="available") == ["f-c"]
    assert names(maintenance="true") == ["f-b"]
    assert names(maintenance="false") == ["f-a", "f-c"]
    assert names(driver="fake-hardware") == ["f-a", "f-b", "f-c"]
    assert names(driver="ipmi") == []
    assert names(description_contains="rack 7") == ["f-a"]
    assert names(associated="false") == ["f-a", "f-b", "f-c"]
    assert names(resource_class="gold", owner="p2") == []
    assert c["provision_state"] == "available"


# --- secrets ------------------------------------------------------------------


def test_secrets_never_leave_the_service(api: Ironic, service: support.Service) -> None:
    """Secret driver_info values (declared by the driver, or named like one) are
    masked as ``******`` in every answer, errors included."""
    secrets = ["Declared-Secret-1", "Undeclared-Secret-2", "Patched-Secret-3"]
    answers: list[httpx.Response] = []

    def call(method: str, path: str, **kw: object) -> httpx.Response:
        r = api.request(method, path, **kw)  # type: ignore[arg-type]
        answers.append(r)
        return r

    r = call("POST", "/nodes", json={
        "driver": "fake-hardware", "name": "secretive",
        "driver_info": {"fake_password": secrets[0], "ipmi_password": secrets[1],
                        "ipmi_username": "admin"}})
    assert r.status_code == 201
    uuid = r.json()["uuid"]
    assert r.json()["driver_info"] == {"fake_password": "******", "ipmi_password": "******",
                                       "ipmi_username": "admin"}
    r = call("PATCH", f"/nodes/{uuid}", json=[
        {"op": "add", "path": "/driver_info/redfish_password", "value": secrets[2]}])
    assert r.status_code == 200 and r.json()["driver_info"]["redfish_password"] == "******"
    call("POST", "/ports", json={"node_uuid": uuid, "address": "52:54:00:5e:c0:01"})
    for verb, state in (("manage", "manageable"), ("provide", "available"),
                        ("active", "active")):
        call("PUT", f"/nodes/{uuid}/states/provision", json={"target": verb})
        api.wait(uuid, state)
    for path in (f"/nodes/{uuid}", "/nodes/secretive", "/nodes/detail", f"/nodes/{uuid}/states",
                 f"/nodes/{uuid}/validate", f"/nodes/{uuid}/ports/detail", "/ports/detail",
                 f"/nodes/{uuid}/history?detail=true", f"/nodes/{uuid}/traits",
                 "/nodes?fields=uuid,driver_info", f"/nodes/{uuid}?fields=driver_info",
                 "/drivers/fake-hardware/properties", f"/nodes/{uuid}/management/boot_device"):
        r = call("GET", path)
        assert r.status_code == 200, (path, r.text)
    for event in call("GET", f"/nodes/{uuid}/history").json()["history"]:
        call("GET", f"/nodes/{uuid}/history/{event['uuid']}")
    # Old clients see driver_info too, masked the same way.
    call("GET", f"/nodes/{uuid}", version="1.1")
    # Bad patches must not echo what they carry or what they touch.
    refused = [
        [{"op": "frobnicate", "path": "/driver_info/ipmi_password", "value": secrets[1]}],
        [{"op": "test", "path": "/driver_info/fake_password", "value": secrets[0]}],
        [{"op": "copy", "from": "/driver_info/ipmi_password", "path": "/extra/copy"}],
        [{"op": "move", "from": "/driver_info/ipmi_password", "path": "/driver_info/plain"}],
        [{"op": "add", "path": f"/driver_info/fake_password/{secrets[0]}", "value": 1}],
        [{"op": "add", "path": "/driver_info/ipmi_password/0/x", "value": 1}],
        [{"op": "replace", "path": "/driver_info", "value": secrets[1]}],
    ]
    for ops in refused:
        fault(call("PATCH", f"/nodes/{uuid}", json=ops), 400)
    fault(call("POST", "/nodes", json={"driver": "fake-hardware",
                                       "driver_info": {"ipmi_password": secrets[0]},
                                       "colour": "red"}), 400)
    assert api.node(uuid)["extra"] == {}
    assert "plain" not in api.node(uuid)["driver_info"]

    assert len(answers) > 25
    for r in answers:
        text = r.text + json.dumps(dict(r.headers))
        for secret in secrets:
            assert secret not in text, (r.request.method, r.request.url, text)
    # Masked, but kept: the conductor used them (the fake driver only reads them).
    assert api.node(uuid)["driver_info"]["fake_password"] == "******"
    log = service.log()
    for secret in secrets:
        assert secret not in log
