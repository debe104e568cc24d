"""The Image API over HTTP as Glance's v2: images, data, tags, patches, lists, members."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests import support
from tests.api.boot.machine import machine_url
from tests.api.image.glance import OCTETS, Glance, error

UUID = "8a7ab2b1-a6a1-4e3b-9f1f-0c6a4d2e9b11"


def test_create_show_and_defaults(glance: Glance) -> None:
    r = glance.request("POST", "/images", json={
        "id": UUID, "name": "full", "disk_format": "qcow2", "container_format": "bare",
        "visibility": "private", "min_disk": 3, "min_ram": 512, "protected": False,
        "tags": ["b", "a", "b"], "os_distro": "debian", "hw_firmware_type": "uefi",
    })
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"{glance.svc.url}/image/v2/images/{UUID}"
    created = r.json()
    assert created == glance.image(UUID)
    expected = {
        "id": UUID, "name": "full", "disk_format": "qcow2", "container_format": "bare",
        "visibility": "private", "min_disk": 3, "min_ram": 512, "protected": False,
        "os_hidden": False, "status": "queued", "size": None, "virtual_size": None,
        "checksum": None, "os_hash_algo": None, "os_hash_value": None,
        "tags": ["a", "b"], "os_distro": "debian", "hw_firmware_type": "uefi",
        "self": f"/v2/images/{UUID}", "file": f"/v2/images/{UUID}/file",
        "schema": "/v2/schemas/image",
    }
    assert {k: created[k] for k in expected} == expected
    assert set(created) == set(expected) | {"owner", "created_at", "updated_at"}
    assert created["created_at"] == created["updated_at"]
    assert created["created_at"].endswith("Z") and len(created["created_at"]) == 20
    assert isinstance(created["owner"], str) and created["owner"]

    minimal = glance.ok("POST", "/images", 201, json={})
    assert minimal["visibility"] == "shared" and minimal["name"] is None
    assert minimal["disk_format"] is None and minimal["status"] == "queued"
    assert minimal["min_ram"] == 0 and minimal["tags"] == []


def test_upload_and_download_raw(glance: Glance) -> None:
    image = glance.create(name="raw-data")
    r = glance.request("GET", f"/images/{image['id']}/file")
    assert r.status_code == 204 and r.content == b""

    data = os.urandom(2 * (1 << 20) + 17)
    glance.upload(image["id"], data)
    shown = glance.image(image["id"])
    assert shown["status"] == "active"
    assert shown["size"] == shown["virtual_size"] == len(data)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert (shown["os_hash_algo"], shown["os_hash_value"]) == (
        "sha512", hashlib.sha512(data).hexdigest())
    assert shown["updated_at"] >= shown["created_at"]

    r = glance.request("GET", f"/images/{image['id']}/file")
    assert r.status_code == 200 and r.content == data
    assert r.headers["content-md5"] == hashlib.md5(data).hexdigest()
    assert r.headers["content-length"] == str(len(data))
    assert r.headers["content-type"] == "application/octet-stream"

    r = glance.request("GET", f"/images/{image['id']}/file", headers={"Range": "bytes=100-199"})
    assert r.status_code == 206 and r.content == data[100:200]
    assert r.headers["content-range"] == f"bytes 100-199/{len(data)}"
    r = glance.request("GET", f"/images/{image['id']}/file", headers={"Range": "bytes=-10"})
    assert r.status_code == 206 and r.content == data[-10:]
    r = glance.request("GET", f"/images/{image['id']}/file",
                       headers={"Range": f"bytes={len(data)}-"})
    assert r.status_code == 416

    r = glance.request("PUT", f"/images/{image['id']}/file", content=b"again", headers=OCTETS)
    assert "from active to saving" in error(r, 409)
    assert glance.request("GET", f"/images/{image['id']}/file").content == data


def test_qcow2_upload_is_served_raw_to_machines(glance: Glance, tmp_path: Path) -> None:
    source = os.urandom(1 << 20) + bytes(2 << 20) + os.urandom(4096)
    (tmp_path / "src.raw").write_bytes(source)
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", tmp_path / "src.raw",
                    tmp_path / "disk.qcow2"], check=True)
    qcow2 = (tmp_path / "disk.qcow2").read_bytes()
    shown = glance.active("qcow2-data", qcow2, disk_format="qcow2")
    assert shown["size"] == len(qcow2) and shown["virtual_size"] == len(source)
    assert shown["os_hash_value"] == hashlib.sha512(qcow2).hexdigest()
    assert glance.request("GET", f"/images/{shown['id']}/file").content == qcow2
    raw = httpx.get(machine_url(glance.svc, shown["id"]))
    assert raw.status_code == 200 and raw.content == source
    assert raw.headers["x-image-sha512"] == hashlib.sha512(source).hexdigest()


def test_killed_upload_is_shown_with_its_reason(glance: Glance) -> None:
    image = glance.create(name="not-qcow2", disk_format="qcow2")
    r = glance.request("PUT", f"/images/{image['id']}/file", content=os.urandom(70000),
                       headers=OCTETS)
    assert "not qcow2" in error(r, 400)
    shown = glance.image(image["id"])
    assert shown["status"] == "killed"
    assert "not qcow2" in shown["os_glance_failure_reason"]
    assert glance.request("GET", f"/images/{image['id']}/file").status_code == 204
    r = glance.request("PUT", f"/images/{image['id']}/file", content=b"x", headers=OCTETS)
    assert "from killed to saving" in error(r, 409)
    glance.ok("DELETE", f"/images/{image['id']}", 204)


def test_list_filters(glance: Glance, tag: str) -> None:
    a = glance.active("f-a", b"a" * 1000, tags=[tag, "x86"], visibility="public",
                      os_distro="debian")
    b = glance.active("f-b", b"b" * 5000, tags=[tag], visibility="private", protected=True)
    c = glance.create(name="f-c", tags=[tag, "x86"], visibility="community",
                      disk_format="qcow2", os_distro="ubuntu")
    d = glance.create(name="f-d", tags=[tag], os_hidden=True)

    def names(**params: Any) -> list[str]:
        return sorted(glance.names(tag=tag, **params))

    assert names() == ["f-a", "f-b", "f-c"]  # the hidden one is not listed by default
    assert names(os_hidden="true") == ["f-d"]
    assert names(os_hidden="True") == ["f-d"]  # openstacksdk's spelling
    assert names(name="f-a") == ["f-a"]
    assert names(name="in:f-a,f-c") == ["f-a", "f-c"]
    assert names(id=f"in:{a['id']},{d['id']}") == ["f-a"]
    assert names(status="active") == ["f-a", "f-b"]
    assert names(status="queued") == ["f-c"]
    assert names(visibility="public") == ["f-a"]
    assert names(visibility="private") == ["f-b"]
    assert names(visibility="community") == ["f-c"]
    assert names(visibility="all") == ["f-a", "f-b", "f-c"]
    assert names(disk_format="qcow2") == ["f-c"]
    assert names(container_format="bare") == ["f-a", "f-b", "f-c"]
    assert names(owner=a["owner"]) == ["f-a", "f-b", "f-c"]
    assert names(owner="someone-else") == []
    assert names(protected="true") == ["f-b"]
    assert names(protected="false") == ["f-a", "f-c"]
    assert names(size_min=1000) == ["f-a", "f-b"]
    assert names(size_min=1001) == ["f-b"]
    assert names(size_max=4999) == ["f-a"]
    assert names(size=1000) == ["f-a"]
    assert names(min_ram=0) == ["f-a", "f-b", "f-c"]
    assert names(checksum=hashlib.md5(b"b" * 5000).hexdigest()) == ["f-b"]
    assert names(size_min=1000, size_max=5000) == ["f-a", "f-b"]
    assert names(os_distro="debian") == ["f-a"]
    assert names(os_distro="nope") == []
    assert sorted(glance.names(tag=[tag, "x86"])) == ["f-a", "f-c"]
    assert names(created_at=f"gte:{a['created_at']}") == ["f-a", "f-b", "f-c"]
    assert names(created_at="lt:2000-01-01T00:00:00Z") == []
    assert names(member_status="all") == ["f-a", "f-b", "f-c"]
    assert b["id"] and c["id"]


def test_filter_by_any_property_name(glance: Glance, tag: str) -> None:
    """Names that JSON paths quote badly (quotes, backslashes, non-ASCII) still match."""
    odd = {'a"b': "1", "x\\y": "2", "é": "3", "a.b": "4", "a[0]": "5"}
    glance.create(name="odd", tags=[tag], **odd)
    glance.create(name="plain", tags=[tag], **{k: "other" for k in odd})
    for key, value in odd.items():
        assert glance.names(tag=tag, **{key: value}) == ["odd"], key
    assert glance.names(tag=tag, **{"a.b": "nope"}) == []


def test_sort_and_pagination(glance: Glance, tag: str) -> None:
    sizes = {"p1": 30, "p2": None, "p3": 10, "p4": 20, "p5": None, "p6": 10}
    for name, size in sizes.items():
        if size is None:
            glance.create(name=name, tags=[tag])
        else:
            glance.active(name, b"s" * size, tags=[tag])

    newest_first = glance.names(tag=tag)
    assert newest_first == ["p6", "p5", "p4", "p3", "p2", "p1"]  # created_at desc
    assert glance.names(tag=tag, sort_key="name", sort_dir="asc") == sorted(sizes)
    assert glance.names(tag=tag, sort="name:desc") == sorted(sizes, reverse=True)
    by_size = glance.names(tag=tag, sort="size:asc,name:desc")
    assert by_size == ["p5", "p2", "p6", "p3", "p4", "p1"]  # no size sorts first

    for sort in ("size:asc,name:desc", "size:desc,name:asc", "name:asc", "created_at"):
        seen: list[str] = []
        page = glance.listing(tag=tag, sort=sort, limit=2)
        assert page["schema"] == "/v2/schemas/images"
        assert page["first"].startswith("/v2/images?") and "limit=2" in page["first"]
        while True:
            seen += [i["name"] for i in page["images"]]
            if "next" not in page:
                break
            assert page["next"].startswith("/v2/images?") and "marker=" in page["next"]
            page = glance.ok("GET", page["next"].removeprefix("/v2"))
        assert seen == glance.names(tag=tag, sort=sort), sort

    page = glance.listing(tag=tag, limit=6)
    assert len(page["images"]) == 6 and "next" in page  # a full page may be followed
    assert glance.ok("GET", page["next"].removeprefix("/v2"))["images"] == []
    assert "next" not in glance.listing(tag=tag, limit=7)
    assert glance.listing(tag=tag, limit=0)["images"] == []


def test_patch_operations(glance: Glance) -> None:
    image = glance.create(name="patchy", os_distro="debian", tags=["one"])
    iid = image["id"]
    r = glance.patch(iid, {"op": "replace", "path": "/name", "value": "patched"},
                     {"op": "add", "path": "/min_ram", "value": 1024},
                     {"op": "add", "path": "/os_version", "value": "12"},
                     {"op": "replace", "path": "/os_distro", "value": "ubuntu"},
                     {"op": "replace", "path": "/tags", "value": ["two", "three"]},
                     {"op": "replace", "path": "/visibility", "value": "public"},
                     {"op": "replace", "path": "/disk_format", "value": "qcow2"},
                     {"op": "replace", "path": "/protected", "value": True})
    assert r.status_code == 200, r.text
    patched = r.json()
    assert patched == glance.image(iid)
    assert (patched["name"], patched["min_ram"], patched["os_version"], patched["os_distro"],
            patched["tags"], patched["visibility"], patched["disk_format"],
            patched["protected"]) == ("patched", 1024, "12", "ubuntu", ["three", "two"],
                                      "public", "qcow2", True)

    r = glance.patch(iid, {"op": "remove", "path": "/os_version"},
                     {"op": "add", "path": "/os_distro", "value": "fedora"},  # add replaces
                     {"op": "replace", "path": "/name", "value": None},
                     {"op": "replace", "path": "/protected", "value": False})
    patched = r.json()
    assert "os_version" not in patched and patched["os_distro"] == "fedora"
    assert patched["name"] is None and patched["protected"] is False

    # The v2.0 media type (JSON schema draft 4): "add" of an existing property is a conflict.
    r = glance.patch(iid, {"add": "/os_distro", "value": "x"},
                     content_type="application/openstack-images-v2.0-json-patch")
    assert "already present" in error(r, 409)
    r = glance.patch(iid, {"add": "/hw_rng_model", "value": "virtio"},
                     content_type="application/openstack-images-v2.0-json-patch")
    assert r.status_code == 200 and r.json()["hw_rng_model"] == "virtio"


def test_delete_protected_then_unprotected(glance: Glance) -> None:
    image = glance.active("to-delete", b"bytes", protected=True)
    data_file = glance.svc.data_dir / "images" / image["id"]
    assert data_file.read_bytes() == b"bytes"
    assert "is protected" in error(glance.request("DELETE", f"/images/{image['id']}"), 403)
    assert glance.image(image["id"])["status"] == "active"
    glance.patch(image["id"], {"op": "replace", "path": "/protected", "value": False})
    glance.ok("DELETE", f"/images/{image['id']}", 204)
    assert "No image found" in error(glance.request("GET", f"/images/{image['id']}"), 404)
    assert not data_file.exists()
    error(glance.request("DELETE", f"/images/{image['id']}"), 404)


def test_tags(glance: Glance, tag: str) -> None:
    image = glance.create(name="tagged", tags=["keep"])
    iid = image["id"]
    glance.ok("PUT", f"/images/{iid}/tags/{tag}", 204)
    glance.ok("PUT", f"/images/{iid}/tags/{tag}", 204)  # idempotent
    glance.ok("PUT", f"/images/{iid}/tags/with space", 204)
    assert glance.image(iid)["tags"] == ["keep", tag, "with space"]
    assert glance.names(tag=tag) == ["tagged"]
    glance.ok("DELETE", f"/images/{iid}/tags/keep", 204)
    assert glance.image(iid)["tags"] == [tag, "with space"]
    error(glance.request("DELETE", f"/images/{iid}/tags/keep"), 404)


def test_members(glance: Glance) -> None:
    image = glance.create(name="shared-one", visibility="shared")
    base = f"/images/{image['id']}/members"
    assert glance.ok("GET", base) == {"members": [], "schema": "/v2/schemas/members"}
    member = glance.ok("POST", base, json={"member": "project-b"})
    assert {k: member[k] for k in ("image_id", "member_id", "status", "schema")} == {
        "image_id": image["id"], "member_id": "project-b", "status": "pending",
        "schema": "/v2/schemas/member"}
    assert member["created_at"] == member["updated_at"]
    glance.ok("POST", base, json={"member": "project-c"})
    assert [m["member_id"] for m in glance.ok("GET", base)["members"]] == [
        "project-b", "project-c"]
    assert "already exists" in error(glance.request("POST", base,
                                                    json={"member": "project-b"}), 409)

    updated = glance.ok("PUT", f"{base}/project-b", json={"status": "accepted"})
    assert updated["status"] == "accepted"
    assert glance.ok("GET", f"{base}/project-b")["status"] == "accepted"
    glance.ok("DELETE", f"{base}/project-c", 204)
    assert [m["member_id"] for m in glance.ok("GET", base)["members"]] == ["project-b"]
    error(glance.request("GET", f"{base}/project-c"), 404)

    private = glance.create(name="private-one", visibility="private")
    r = glance.request("POST", f"/images/{private['id']}/members", json={"member": "x"})
    assert "Only shared images have members" in error(r, 403)


def test_versions_schemas_and_index(image_service: support.Service) -> None:
    url = image_service.url
    root = httpx.get(f"{url}/image")
    assert root.status_code == 300
    versions = root.json()["versions"]
    # Glance's list without multiple stores or a cache: 2.17 current, 2.15 and 2.9 among
    # the older ones (tests/api/image/test_locations.py: with a cache).
    assert versions[2] == {"id": "v2.17", "status": "CURRENT",
                           "links": [{"rel": "self", "href": f"{url}/image/v2/"}]}
    assert [v["id"] for v in versions] == [
        "v2.15", "v2.9", "v2.17", *(f"v2.{n}" for n in range(7, -1, -1))]
    assert [v["status"] for v in versions].count("CURRENT") == 1
    explicit = httpx.get(f"{url}/image/versions")
    assert explicit.status_code == 200 and explicit.json() == root.json()
    for path in ("/image/", "/image/images", "/image/v9/images"):
        r = httpx.get(f"{url}{path}")
        assert r.status_code == 300 and r.json() == root.json(), path
    for path in ("/image/v2", "/image/v2/", "/image/v2/nothing-here"):
        error(httpx.get(f"{url}{path}"), 404)
    assert httpx.get(f"{url}/").json()["services"]["image"] == f"{url}/image"

    schema = httpx.get(f"{url}/image/v2/schemas/image").json()
    assert schema["name"] == "image"
    assert schema["additionalProperties"] == {"type": "string"}
    assert schema["properties"]["disk_format"]["enum"] == [None, "raw", "qcow2"]
    assert schema["properties"]["visibility"]["enum"] == [
        "public", "private", "shared", "community"]
    collection = httpx.get(f"{url}/image/v2/schemas/images").json()
    assert collection["properties"]["images"]["items"] == schema
    assert {link["rel"] for link in collection["links"]} == {"first", "next", "describedby"}
    member = httpx.get(f"{url}/image/v2/schemas/member").json()
    assert member["properties"]["status"]["enum"] == ["pending", "accepted", "rejected"]
    members = httpx.get(f"{url}/image/v2/schemas/members").json()
    assert members["properties"]["members"]["items"] == member


def test_boot_images_route(glance: Glance) -> None:
    data = os.urandom(3 << 20)
    image = glance.active("bootable", data)
    url = machine_url(glance.svc, image["id"])  # tests/api/boot/test_images.py: the rest
    r = httpx.get(url)
    assert r.status_code == 200 and r.content == data
    assert r.headers["content-length"] == str(len(data))
    r = httpx.get(url, headers={"Range": "bytes=1048576-"})
    assert r.status_code == 206 and r.content == data[1 << 20:]
    r = httpx.head(url)
    assert r.status_code == 200 and r.headers["content-length"] == str(len(data))
    assert r.content == b""

    # Unsigned, an active, a missing and a queued image answer alike: nothing is told.
    queued = glance.create(name="not-yet")
    for ident in (image["id"], f"{UUID[:-4]}0000", queued["id"]):
        r = httpx.get(f"{glance.svc.url}/boot/images/{ident}")
        assert r.status_code == 401 and "needs node, expires and signature" in r.json()["error"]
