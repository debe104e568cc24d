"""Every bad request gets the right 4xx in Glance's error format and changes nothing.

Each case runs against the same small world (a queued image, an active one,
a protected one, a killed one, a shared one with a member) and compares
everything a client can read — every image, member list and file — and the
files in the store before and after.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from tests import support
from tests.api.image.glance import OCTETS, PATCH_TYPE, Glance, error

MISSING = "0d9f8a52-5a0e-4c53-8f5e-1f7a9b3c2d10"


@dataclass
class World:
    glance: Glance
    ids: dict[str, str]


@pytest.fixture(scope="module")
def world(image_service: support.Service) -> Iterator[World]:
    glance = Glance(image_service)
    queued = glance.create(name="queued", os_distro="debian", tags=["t1"])
    active = glance.active("active", b"active bytes", visibility="public")
    protected = glance.active("protected", b"protected bytes", protected=True)
    killed = glance.create(name="killed", disk_format="qcow2")
    glance.request("PUT", f"/images/{killed['id']}/file", content=b"not qcow2", headers=OCTETS)
    shared = glance.create(name="shared", visibility="shared")
    glance.ok("POST", f"/images/{shared['id']}/members", json={"member": "project-b"})
    bare = glance.ok("POST", "/images", 201, json={"name": "no-formats"})
    try:
        yield World(glance, {"queued": queued["id"], "active": active["id"],
                             "protected": protected["id"], "killed": killed["id"],
                             "shared": shared["id"], "bare": bare["id"]})
    finally:
        glance.close()


def snapshot(world: World) -> dict[str, Any]:
    g = world.glance
    listed = g.listing(visibility="all", limit=1000, sort="name:asc")["images"]
    listed += g.listing(visibility="all", os_hidden="true", limit=1000)["images"]
    out: dict[str, Any] = {"images": listed}
    for image in listed:
        if image["visibility"] == "shared":
            out[f"members/{image['id']}"] = g.ok("GET", f"/images/{image['id']}/members")
        data = g.request("GET", f"/images/{image['id']}/file")
        out[f"file/{image['id']}"] = (data.status_code, hashlib.sha256(data.content).hexdigest())
    store = g.svc.data_dir / "images"
    out["store"] = sorted(p.name for p in store.iterdir()) if store.exists() else []
    return out


@dataclass
class Case:
    id: str
    method: str
    path: str
    status: int
    fragment: str
    kw: dict[str, Any] = field(default_factory=dict)


def body(value: Any) -> dict[str, Any]:
    return {"json": value}


def patch(*ops: Any, content_type: str = PATCH_TYPE) -> dict[str, Any]:
    return {"json": list(ops), "headers": {"Content-Type": content_type}}


def replace(path: str, value: Any) -> dict[str, Any]:
    return {"op": "replace", "path": path, "value": value}


def create(**extra: Any) -> dict[str, Any]:
    return body({"name": "never-made", "disk_format": "raw", "container_format": "bare",
                 **extra})


CASES = [
    # --- create -----------------------------------------------------------------------
    Case("create-empty-body", "POST", "/images", 400, "Body expected",
         {"content": b"", "headers": {"Content-Type": "application/json"}}),
    Case("create-malformed", "POST", "/images", 400, "Malformed JSON", {"content": b"{bad"}),
    Case("create-list", "POST", "/images", 400, "not a JSON object", body(["x"])),
    Case("create-disk-format", "POST", "/images", 400, "'vmdk' is not one of",
         create(disk_format="vmdk")),
    Case("create-container-format", "POST", "/images", 400, "'ovf' is not one of",
         create(container_format="ovf")),
    Case("create-visibility", "POST", "/images", 400, "'everyone' is not one of",
         create(visibility="everyone")),
    Case("create-min-ram-negative", "POST", "/images", 400, "out of range", create(min_ram=-1)),
    Case("create-min-disk-huge", "POST", "/images", 400, "out of range",
         create(min_disk=2**31)),
    Case("create-min-disk-string", "POST", "/images", 400, "is not of type 'integer'",
         create(min_disk="5")),
    Case("create-min-ram-bool", "POST", "/images", 400, "is not of type 'integer'",
         create(min_ram=True)),
    Case("create-protected-string", "POST", "/images", 400, "is not of type 'boolean'",
         create(protected="yes")),
    Case("create-long-name", "POST", "/images", 400, "too long", create(name="n" * 256)),
    Case("create-tags-string", "POST", "/images", 400, "is not of type 'array'",
         create(tags="a")),
    Case("create-tags-number", "POST", "/images", 400, "is not of type 'string'",
         create(tags=[1])),
    Case("create-long-tag", "POST", "/images", 400, "too long", create(tags=["t" * 256])),
    Case("create-bad-id", "POST", "/images", 400, "does not match", create(id="not-a-uuid")),
    Case("create-extra-not-string", "POST", "/images", 400, "is not of type 'string'",
         create(os_version=12)),
    Case("create-long-key", "POST", "/images", 400, "greater than 255", create(**{"k" * 256: "v"})),
    Case("create-status", "POST", "/images", 403, "'status' is read-only",
         create(status="active")),
    Case("create-size", "POST", "/images", 403, "'size' is read-only", create(size=5)),
    Case("create-checksum", "POST", "/images", 403, "'checksum' is read-only",
         create(checksum="abc")),
    Case("create-self", "POST", "/images", 403, "'self' is read-only", create(self="/x")),
    Case("create-file", "POST", "/images", 403, "'file' is read-only", create(file="/x")),
    Case("create-locations", "POST", "/images", 403, "'locations' is read-only",
         create(locations=[])),
    Case("create-reserved-ns", "POST", "/images", 403, "'os_glance_x' is reserved",
         create(os_glance_x="y")),
    Case("create-reserved", "POST", "/images", 403, "'deleted' is reserved",
         create(deleted="y")),
    Case("create-nul-name", "POST", "/images", 400, "NUL", create(name="a\u0000b")),
    Case("create-nul-property", "POST", "/images", 400, "NUL", create(os_distro="a\u0000")),
    Case("create-nul-key", "POST", "/images", 400, "NUL", create(**{"a\u0000": "b"})),
    Case("create-too-many-tags", "POST", "/images", 413, "tags",
         create(tags=[f"t{i}" for i in range(129)])),
    Case("create-too-many-properties", "POST", "/images", 413, "properties",
         create(**{f"p{i}": "v" for i in range(129)})),
    # --- show / delete ----------------------------------------------------------------
    Case("show-missing", "GET", f"/images/{MISSING}", 404, "No image found"),
    Case("show-not-uuid", "GET", "/images/nope", 404, "No image found"),
    Case("delete-protected", "DELETE", "/images/{protected}", 403, "is protected"),
    Case("delete-missing", "DELETE", f"/images/{MISSING}", 404, "No image found"),
    Case("post-to-image", "POST", "/images/{queued}", 405, "not allowed", body({})),
    # --- update -----------------------------------------------------------------------
    Case("patch-json-type", "PATCH", "/images/{queued}", 415, "media type application/json",
         patch(replace("/name", "x"), content_type="application/json")),
    Case("patch-no-type", "PATCH", "/images/{queued}", 415, "media type None",
         {"content": b"[]"}),
    Case("patch-not-list", "PATCH", "/images/{queued}", 400, "JSON array",
         {"json": {"op": "replace"}, "headers": {"Content-Type": PATCH_TYPE}}),
    Case("patch-not-object", "PATCH", "/images/{queued}", 400, "must be JSON objects",
         patch("replace")),
    Case("patch-no-op", "PATCH", "/images/{queued}", 400, "Unable to find `op`",
         patch({"path": "/name", "value": "x"})),
    Case("patch-bad-op", "PATCH", "/images/{queued}", 400, "Invalid operation: `move`",
         patch({"op": "move", "path": "/name", "from": "/os_distro"})),
    Case("patch-no-path", "PATCH", "/images/{queued}", 400, "Unable to find 'path'",
         patch({"op": "replace", "value": "x"})),
    Case("patch-no-value", "PATCH", "/images/{queued}", 400, 'requires a member named "value"',
         patch({"op": "replace", "path": "/name"})),
    Case("patch-relative-path", "PATCH", "/images/{queued}", 400, 'does not start with "/"',
         patch(replace("name", "x"))),
    Case("patch-deep-path", "PATCH", "/images/{queued}", 400, "Invalid JSON pointer",
         patch(replace("/os_distro/x", "y"))),
    Case("patch-root-path", "PATCH", "/images/{queued}", 400, "valid token",
         patch(replace("/", "y"))),
    Case("patch-status", "PATCH", "/images/{queued}", 403, "'status' is read-only",
         patch(replace("/status", "active"))),
    Case("patch-id", "PATCH", "/images/{queued}", 403, "'id' is read-only",
         patch(replace("/id", MISSING))),
    Case("patch-hash", "PATCH", "/images/{active}", 403, "'os_hash_value' is read-only",
         patch(replace("/os_hash_value", "00"))),
    Case("patch-reserved", "PATCH", "/images/{queued}", 403, "is reserved",
         patch({"op": "add", "path": "/os_glance_failure_reason", "value": "x"})),
    Case("patch-locations", "PATCH", "/images/{active}", 403, "locations",
         patch({"op": "add", "path": "/locations/-", "value": {"url": "file:///etc/passwd",
                                                               "metadata": {}}})),
    Case("patch-replace-missing", "PATCH", "/images/{queued}", 409, "does not exist",
         patch(replace("/os_version", "12"))),
    Case("patch-remove-missing", "PATCH", "/images/{queued}", 409, "does not exist",
         patch({"op": "remove", "path": "/os_version"})),
    Case("patch-remove-base", "PATCH", "/images/{queued}", 403, "may not be removed",
         patch({"op": "remove", "path": "/name"})),
    Case("patch-format-of-active", "PATCH", "/images/{active}", 403, "queued image",
         patch(replace("/disk_format", "qcow2"))),
    Case("patch-bad-visibility", "PATCH", "/images/{queued}", 400, "is not one of",
         patch(replace("/visibility", "everyone"))),
    Case("patch-bad-min-ram", "PATCH", "/images/{queued}", 400, "integer",
         patch(replace("/min_ram", "lots"))),
    Case("patch-extra-not-string", "PATCH", "/images/{queued}", 400, "'string'",
         patch({"op": "add", "path": "/os_version", "value": 12})),
    Case("patch-second-op-fails", "PATCH", "/images/{queued}", 409, "does not exist",
         patch(replace("/name", "changed"), replace("/tags", ["changed"]),
               {"op": "remove", "path": "/nothing"})),
    Case("patch-missing-image", "PATCH", f"/images/{MISSING}", 404, "No image found",
         patch(replace("/name", "x"))),
    # --- data -------------------------------------------------------------------------
    Case("upload-json", "PUT", "/images/{queued}/file", 415, "Invalid content type",
         {"content": b"data", "headers": {"Content-Type": "application/json"}}),
    Case("upload-no-type", "PUT", "/images/{queued}/file", 415, "Invalid content type",
         {"content": b"data"}),
    Case("upload-active", "PUT", "/images/{active}/file", 409, "from active to saving",
         {"content": b"data", "headers": OCTETS}),
    Case("upload-killed", "PUT", "/images/{killed}/file", 409, "from killed to saving",
         {"content": b"data", "headers": OCTETS}),
    Case("upload-no-formats", "PUT", "/images/{bare}/file", 400, "must be set prior",
         {"content": b"data", "headers": OCTETS}),
    Case("upload-missing", "PUT", f"/images/{MISSING}/file", 404, "No image found",
         {"content": b"data", "headers": OCTETS}),
    Case("download-missing", "GET", f"/images/{MISSING}/file", 404, "No image found"),
    Case("delete-file", "DELETE", "/images/{active}/file", 405, "not allowed"),
    # --- tags -------------------------------------------------------------------------
    Case("tag-too-long", "PUT", "/images/{queued}/tags/" + "t" * 256, 400, "too long"),
    Case("tag-delete-missing", "DELETE", "/images/{queued}/tags/absent", 404, "not found"),
    Case("tag-missing-image", "PUT", f"/images/{MISSING}/tags/x", 404, "No image found"),
    # --- members ----------------------------------------------------------------------
    Case("member-not-shared", "POST", "/images/{active}/members", 403, "Only shared",
         body({"member": "p"})),
    Case("member-list-not-shared", "GET", "/images/{active}/members", 403, "Only shared"),
    Case("member-no-member", "POST", "/images/{shared}/members", 400, "not specified",
         body({})),
    Case("member-not-string", "POST", "/images/{shared}/members", 400, "Invalid member",
         body({"member": 5})),
    Case("member-nul", "POST", "/images/{shared}/members", 400, "Invalid member",
         body({"member": "a\u0000"})),
    Case("member-nul-path", "GET", "/images/{shared}/members/a%00", 404, "not a member"),
    Case("tag-nul", "PUT", "/images/{queued}/tags/a%00", 400, "NUL"),
    Case("patch-nul", "PATCH", "/images/{queued}", 400, "NUL",
         patch(replace("/name", "a\u0000"))),
    Case("member-duplicate", "POST", "/images/{shared}/members", 409, "already exists",
         body({"member": "project-b"})),
    Case("member-show-missing", "GET", "/images/{shared}/members/nobody", 404,
         "not a member"),
    Case("member-bad-status", "PUT", "/images/{shared}/members/project-b", 400,
         "Invalid status", body({"status": "maybe"})),
    Case("member-no-status", "PUT", "/images/{shared}/members/project-b", 400,
         "Status not specified", body({})),
    Case("member-delete-missing", "DELETE", "/images/{shared}/members/nobody", 404,
         "not a member"),
    # --- list -------------------------------------------------------------------------
    Case("list-limit-text", "GET", "/images?limit=ten", 400, "must be an integer"),
    Case("list-limit-negative", "GET", "/images?limit=-1", 400, "must be positive"),
    Case("list-sort-key", "GET", "/images?sort_key=owner", 400, "Invalid sort key"),
    Case("list-sort-dir", "GET", "/images?sort_dir=up", 400, "Invalid sort direction"),
    Case("list-sort-new-dir", "GET", "/images?sort=name:up", 400, "Invalid sort direction"),
    Case("list-sort-mixed", "GET", "/images?sort=name&sort_key=size", 400, "cannot be combined"),
    Case("list-sort-counts", "GET", "/images?sort_key=name&sort_key=size&sort_key=id"
         "&sort_dir=asc&sort_dir=desc", 400, "does not match"),
    Case("list-marker", "GET", f"/images?marker={MISSING}", 400, "No image found"),
    Case("list-visibility", "GET", "/images?visibility=everyone", 400, "Invalid visibility"),
    Case("list-member-status", "GET", "/images?member_status=maybe", 400, "Invalid status"),
    Case("list-size-min", "GET", "/images?size_min=big", 400, "specified range"),
    Case("list-protected", "GET", "/images?protected=yes", 400, "'protected' filter"),
    Case("list-os-hidden", "GET", "/images?os_hidden=maybe", 400, "'os_hidden' filter"),
    Case("list-created-at", "GET", "/images?created_at=gt:yesterday", 400, "ISO 8601"),
    Case("list-name-operator", "GET", "/images?name=gt:a", 400, "unknown operator 'gt'"),
    Case("list-nul", "GET", "/images?name=a%00", 400, "NUL"),
    Case("list-integer-column", "GET", "/images?min_ram=lots", 400, "not an integer"),
    Case("list-integer-overflow", "GET", f"/images?min_ram={2**63}", 400, "not an integer"),
    Case("list-size-overflow", "GET", f"/images?size_max={2**64}", 400, "specified range"),
    Case("list-changes-since", "GET", "/images?changes-since=2020-01-01", 400,
         "no longer available"),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_request_changes_nothing(world: World, case: Case) -> None:
    before = snapshot(world)
    path = case.path.format(**world.ids)
    response = world.glance.request(case.method, path, **case.kw)
    message = error(response, case.status)
    if case.status == 415 and case.method == "PATCH":
        assert response.headers["accept-patch"] == (
            "application/openstack-images-v2.0-json-patch, "
            "application/openstack-images-v2.1-json-patch")
    if case.status == 405:
        assert response.headers["allow"]
    assert case.fragment in message, message
    assert snapshot(world) == before


def test_boot_route_errors_are_plain_json(world: World) -> None:
    url = world.glance.svc.url
    # Without a signed URL every image answers the same 401 (tests/api/boot/test_images.py).
    for image_id in (MISSING, world.ids["queued"], world.ids["killed"], world.ids["active"]):
        r = httpx.get(f"{url}/boot/images/{image_id}")
        assert r.status_code == 401 and set(r.json()) == {"error"}
        assert "needs node, expires and signature" in r.json()["error"]
