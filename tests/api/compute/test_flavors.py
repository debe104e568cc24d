"""Flavors, extra specs and flavor access over HTTP, with Nova's answers to bad input."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.api.compute.nova import Nova, fault


def _name() -> str:
    return f"f-{uuid.uuid4().hex[:8]}"


def test_create_show_list_delete(nova: Nova) -> None:
    name = _name()
    r = nova.request("POST", "/flavors", json={"flavor": {
        "name": name, "ram": 2048, "vcpus": 2, "disk": 20, "id": name,
        "OS-FLV-EXT-DATA:ephemeral": 0, "swap": 0, "rxtx_factor": 1.5,
        "os-flavor-access:is_public": True, "description": "two cores"}})
    assert r.status_code == 200, r.text  # Nova answers a flavor create with 200
    f = r.json()["flavor"]
    assert (f["id"], f["name"], f["ram"], f["vcpus"], f["disk"]) == (name, name, 2048, 2, 20)
    assert f["swap"] == 0 and f["rxtx_factor"] == 1.5 and f["description"] == "two cores"
    assert f["os-flavor-access:is_public"] is True and f["OS-FLV-DISABLED:disabled"] is False
    assert f["extra_specs"] == {}
    assert f["links"][0]["href"].endswith(f"/compute/v2.1/flavors/{name}")
    # Older clients see older shapes.
    old = nova.ok("GET", f"/flavors/{name}", version="2.54")["flavor"]
    assert "description" not in old and "extra_specs" not in old and old["swap"] == ""
    assert nova.ok("GET", f"/flavors/{name}", version="2.75")["flavor"]["swap"] == 0
    assert name in [x["id"] for x in nova.ok("GET", "/flavors")["flavors"]]
    summary = next(x for x in nova.ok("GET", "/flavors")["flavors"] if x["id"] == name)
    assert set(summary) == {"id", "name", "links", "description"}
    detail = next(x for x in nova.ok("GET", "/flavors/detail")["flavors"] if x["id"] == name)
    assert detail["ram"] == 2048
    # Duplicates.
    assert fault(nova.request("POST", "/flavors", json={"flavor": {
        "name": name, "ram": 1, "vcpus": 1, "disk": 0}}), 409) == \
        f"Flavor with name {name} already exists."
    assert fault(nova.request("POST", "/flavors", json={"flavor": {
        "name": _name(), "ram": 1, "vcpus": 1, "disk": 0, "id": name}}), 409) == \
        f"Flavor with ID {name} already exists."
    # Description update (2.55).
    updated = nova.ok("PUT", f"/flavors/{name}", json={"flavor": {"description": "new"}})
    assert updated["flavor"]["description"] == "new"
    assert nova.request("DELETE", f"/flavors/{name}").status_code == 202
    assert fault(nova.request("GET", f"/flavors/{name}"), 404) == \
        f"Flavor {name} could not be found."


def test_generated_id_and_filters_and_pages(nova: Nova) -> None:
    small = nova.ok("POST", "/flavors", json={"flavor": {
        "name": _name(), "ram": 64, "vcpus": 1, "disk": 1}})["flavor"]
    big = nova.ok("POST", "/flavors", json={"flavor": {
        "name": _name(), "ram": 999999, "vcpus": 1, "disk": 500}})["flavor"]
    assert len(small["id"]) == 36  # a UUID when none was given
    by_ram = [f["id"] for f in nova.ok("GET", "/flavors", params={"minRam": 999999})["flavors"]]
    assert by_ram == [big["id"]]
    by_disk = [f["id"] for f in nova.ok("GET", "/flavors",
                                        params={"minDisk": 500})["flavors"]]
    assert by_disk == [big["id"]]
    everything = [f["id"] for f in nova.ok("GET", "/flavors")["flavors"]]
    page = nova.ok("GET", "/flavors", params={"limit": 1})
    assert [f["id"] for f in page["flavors"]] == everything[:1]
    assert "marker=" in page["flavors_links"][0]["href"]
    after = nova.ok("GET", "/flavors", params={"marker": everything[0]})["flavors"]
    assert [f["id"] for f in after] == everything[1:]
    assert fault(nova.request("GET", "/flavors", params={"marker": "nope"}), 400) == \
        "marker [nope] not found"


def test_extra_specs(nova: Nova) -> None:
    fid = nova.ok("POST", "/flavors", json={"flavor": {
        "name": _name(), "ram": 1, "vcpus": 1, "disk": 0}})["flavor"]["id"]
    specs = {"resources:CUSTOM_BAREMETAL": "1", "resources:VCPU": 0,
             "trait:CUSTOM_RAID": "required", "capabilities:boot_mode": "uefi"}
    done = nova.ok("POST", f"/flavors/{fid}/os-extra_specs", json={"extra_specs": specs})
    assert done["extra_specs"]["resources:VCPU"] == "0"
    assert nova.ok("GET", f"/flavors/{fid}/os-extra_specs")["extra_specs"] == {
        "resources:CUSTOM_BAREMETAL": "1", "resources:VCPU": "0",
        "trait:CUSTOM_RAID": "required", "capabilities:boot_mode": "uefi"}
    assert nova.ok("GET", f"/flavors/{fid}/os-extra_specs/trait:CUSTOM_RAID") == {
        "trait:CUSTOM_RAID": "required"}
    assert nova.ok("PUT", f"/flavors/{fid}/os-extra_specs/trait:CUSTOM_RAID",
                   json={"trait:CUSTOM_RAID": "forbidden"}) == {"trait:CUSTOM_RAID": "forbidden"}
    assert nova.ok("GET", f"/flavors/{fid}")["flavor"]["extra_specs"][
        "trait:CUSTOM_RAID"] == "forbidden"
    assert nova.request("DELETE", f"/flavors/{fid}/os-extra_specs/trait:CUSTOM_RAID"
                        ).status_code == 200
    assert fault(nova.request("GET", f"/flavors/{fid}/os-extra_specs/trait:CUSTOM_RAID"),
                 404) == f"Flavor {fid} has no extra specs with key trait:CUSTOM_RAID."
    assert fault(nova.request("DELETE", f"/flavors/{fid}/os-extra_specs/nope"), 404)
    # Bad specs change nothing, not even the good ones sent with them.
    for bad, words in [
        ({"resources:baremetal": "1"}, "resource class must be"),
        ({"resources:CUSTOM_X": "one"}, "not a non-negative integer"),
        ({"trait:CUSTOM_X": "yes"}, "'required' or 'forbidden'"),
        ({"trait:lower": "required"}, "not a valid trait name"),
        ({"bad key!": "1"}, "does not match"),
        ({"k": {"nested": 1}}, "is not of type"),
    ]:
        r = nova.request("POST", f"/flavors/{fid}/os-extra_specs",
                         json={"extra_specs": {"hw:ok": "1", **bad}})
        assert words in fault(r, 400), (bad, r.text)
    assert "hw:ok" not in nova.ok("GET", f"/flavors/{fid}/os-extra_specs")["extra_specs"]
    r = nova.request("PUT", f"/flavors/{fid}/os-extra_specs/a", json={"b": "1"})
    assert fault(r, 400) == "Request body and URI mismatch"
    r = nova.request("PUT", f"/flavors/{fid}/os-extra_specs/a", json={"a": "1", "b": "2"})
    assert fault(r, 400) == "Request body contains too many items"


def test_private_flavor_access(nova: Nova) -> None:
    fid = nova.ok("POST", "/flavors", json={"flavor": {
        "name": _name(), "ram": 1, "vcpus": 1, "disk": 0,
        "os-flavor-access:is_public": False}})["flavor"]["id"]
    public = [f["id"] for f in nova.ok("GET", "/flavors")["flavors"]]
    assert fid not in public  # is_public defaults to true, even for admins
    assert fid in [f["id"] for f in nova.ok("GET", "/flavors",
                                            params={"is_public": "false"})["flavors"]]
    assert fid in [f["id"] for f in nova.ok("GET", "/flavors",
                                            params={"is_public": "none"})["flavors"]]
    assert nova.ok("GET", f"/flavors/{fid}/os-flavor-access") == {"flavor_access": []}
    added = nova.ok("POST", f"/flavors/{fid}/action",
                    json={"addTenantAccess": {"tenant": "proj-a"}})
    assert added == {"flavor_access": [{"flavor_id": fid, "tenant_id": "proj-a"}]}
    r = nova.request("POST", f"/flavors/{fid}/action",
                     json={"addTenantAccess": {"tenant": "proj-a"}})
    assert "already exists" in fault(r, 409)
    removed = nova.ok("POST", f"/flavors/{fid}/action",
                      json={"removeTenantAccess": {"tenant": "proj-a"}})
    assert removed == {"flavor_access": []}
    r = nova.request("POST", f"/flavors/{fid}/action",
                     json={"removeTenantAccess": {"tenant": "proj-a"}})
    assert "Flavor access not found" in fault(r, 404)
    r = nova.request("POST", f"/flavors/{fid}/action", json={"dance": {}})
    assert fault(r, 400) == "There is no such action: dance"
    pub = nova.ok("POST", "/flavors", json={"flavor": {
        "name": _name(), "ram": 1, "vcpus": 1, "disk": 0}})["flavor"]["id"]
    assert fault(nova.request("GET", f"/flavors/{pub}/os-flavor-access"), 404) == \
        "Access list not available for public flavors."
    r = nova.request("POST", f"/flavors/{pub}/action",
                     json={"addTenantAccess": {"tenant": "proj-a"}})
    assert fault(r, 409) == "Can not add access to a public flavor."


@pytest.mark.parametrize(("body", "words"), [
    ({}, "'flavor' is a required property"),
    ({"flavor": []}, "is not of type 'object'"),
    ({"flavor": {"ram": 1, "vcpus": 1, "disk": 0}}, "'name' is a required property"),
    ({"flavor": {"name": "", "ram": 1, "vcpus": 1, "disk": 0}}, "is too short"),
    ({"flavor": {"name": " x", "ram": 1, "vcpus": 1, "disk": 0}}, "does not match"),
    ({"flavor": {"name": "x", "vcpus": 1, "disk": 0}}, "'ram' is a required property"),
    ({"flavor": {"name": "x", "ram": 0, "vcpus": 1, "disk": 0}}, "less than the minimum"),
    ({"flavor": {"name": "x", "ram": "a lot", "vcpus": 1, "disk": 0}}, "is not of type"),
    ({"flavor": {"name": "x", "ram": 1, "vcpus": 0, "disk": 0}}, "less than the minimum"),
    ({"flavor": {"name": "x", "ram": 1, "vcpus": 1}}, "'disk' is a required property"),
    ({"flavor": {"name": "x", "ram": 1, "vcpus": 1, "disk": -1}}, "less than the minimum"),
    ({"flavor": {"name": "x", "ram": 1, "vcpus": 1, "disk": 0, "rxtx_factor": 0}},
     "minimum of 0"),
    ({"flavor": {"name": "x", "ram": 1, "vcpus": 1, "disk": 0, "id": "a/b"}},
     "does not match"),
    ({"flavor": {"name": "x", "ram": 1, "vcpus": 1, "disk": 0, "colour": "red"}},
     "Additional properties are not allowed ('colour' was unexpected)"),
    ({"flavor": {"name": "x", "ram": 1, "vcpus": 1, "disk": 0,
                 "os-flavor-access:is_public": "maybe"}}, "is not one of"),
])
def test_bad_create_is_400_and_creates_nothing(nova: Nova, body: dict[str, Any],
                                               words: str) -> None:
    before = len(nova.ok("GET", "/flavors", params={"is_public": "none"})["flavors"])
    assert words in fault(nova.request("POST", "/flavors", json=body), 400)
    after = len(nova.ok("GET", "/flavors", params={"is_public": "none"})["flavors"])
    assert after == before


def test_malformed_json_is_a_nova_400(nova: Nova) -> None:
    r = nova.request("POST", "/flavors", content=b"{not json",
                     headers={"Content-Type": "application/json"})
    assert "Malformed JSON" in fault(r, 400)
    assert "empty" in fault(nova.request("POST", "/flavors"), 400)
