"""A site's optional Image API features: locations (Glance's http store, with
``show_multiple_locations``), web-download import, and the image cache; each off
by default (the plain service of conftest.py shows that), on here as an operator
sets them, with a web server of this test's own as the outside world."""

from __future__ import annotations

import functools
import hashlib
import http.server
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import support
from tests.api.image.glance import OCTETS, Glance, error
from tests.conftest import service_on

PAYLOAD = os.urandom(300_000)


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A web server with ``payload.raw``; its base URL."""
    root = tmp_path_factory.mktemp("web")
    (root / "payload.raw").write_bytes(PAYLOAD)
    (root / "big.raw").write_bytes(bytes(5 << 20))  # over the site's image_size_cap
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_Quiet, directory=str(root)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def site(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
         web: str) -> Iterator[support.Service]:
    port = int(web.rsplit(":", 1)[1])
    env = {"BARECLOUD_IMAGE_SHOW_MULTIPLE_LOCATIONS": "true",
           "BARECLOUD_IMAGE_IMPORT_METHODS": json.dumps(["glance-direct", "web-download"]),
           "BARECLOUD_IMAGE_IMPORT_ALLOWED_PORTS": json.dumps([80, 443, port]),
           "BARECLOUD_IMAGE_CACHE": "true", "BARECLOUD_IMAGE_SIZE_CAP": str(4 << 20)}
    yield from service_on(tmp_path_factory.mktemp("image-site"), request.param,
                          extra_env=env)


@pytest.fixture
def g(site: support.Service) -> Iterator[Glance]:
    client = Glance(site)
    try:
        yield client
    finally:
        client.close()


def _wait(check: Any, what: str) -> Any:
    for _ in range(300):
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"never {what}")


def test_off_by_default(glance: Glance) -> None:
    image = glance.create(name="plain")
    assert "locations" not in image
    assert "invisible" in error(glance.patch(image["id"], {
        "op": "add", "path": "/locations/-",
        "value": {"url": "http://example.com/x", "metadata": {}}}), 403)
    assert "not supported at this site" in error(glance.request("GET", "/cache"), 404)
    assert "not supported" in error(glance.request(
        "POST", f"/images/{image['id']}/import",
        json={"method": {"name": "web-download", "uri": "http://example.com/x"}}), 400)


def test_locations(g: Glance, web: str) -> None:
    url = f"{web}/payload.raw"
    image = g.create(name="located")
    assert image["locations"] == []
    assert g.ok("GET", f"/images/{image['id']}/file", 204) is None
    # A URL that answers no size, or another scheme, is not a location (Glance's 400).
    for bad in (f"{web}/missing.raw", "gopher://info.cern.ch", "file:///etc/hosts"):
        assert error(g.patch(image["id"], {"op": "add", "path": "/locations/-",
                                           "value": {"url": bad, "metadata": {}}}),
                     400) == "Invalid location"
    error(g.patch(image["id"], {"op": "add", "path": "/locations/-",
                                "value": {"url": url}}), 400)  # no metadata
    r = g.patch(image["id"], {"op": "add", "path": "/locations/-",
                              "value": {"url": url, "metadata": {"foo": "bar"}}})
    assert r.status_code == 200, r.text
    shown = g.image(image["id"])
    # Straight to active, its size from the URL, no hashes computed (as Glance's).
    assert (shown["status"], shown["size"], shown["os_hash_value"]) == (
        "active", len(PAYLOAD), None)
    assert shown["locations"] == [{"url": url, "metadata": {"foo": "bar"}}]
    assert g.request("GET", f"/images/{image['id']}/file").content == PAYLOAD
    assert "already exists" in error(g.patch(image["id"], {
        "op": "add", "path": "/locations/-",
        "value": {"url": url, "metadata": {"foo": "bar"}}}), 400)
    second = {"url": f"{url}#new", "metadata": {"speed": "88mph"}}
    g.ok("PATCH", f"/images/{image['id']}", json=[
        {"op": "add", "path": "/locations/-", "value": second}],
        headers={"Content-Type": "application/openstack-images-v2.1-json-patch"})
    locs = g.image(image["id"])["locations"]
    assert [x["url"] for x in locs] == [url, f"{url}#new"]
    # Replacing: the same URLs with other metadata, yes; fewer or others, no.
    locs[0]["metadata"]["date"] = "2015-10-15"
    assert g.patch(image["id"], {"op": "replace", "path": "/locations",
                                 "value": locs}).status_code == 200
    assert g.image(image["id"])["locations"][0]["metadata"]["date"] == "2015-10-15"
    assert "Original locations" in error(g.patch(image["id"], {
        "op": "replace", "path": "/locations", "value": locs[:1]}), 400)
    assert "Original locations" in error(g.patch(image["id"], {
        "op": "replace", "path": "/locations",
        "value": [locs[0], {"url": f"{url}#new3", "metadata": {}}]}), 400)
    assert "Invalid position" in error(g.patch(image["id"], {
        "op": "remove", "path": "/locations/7"}), 400)
    assert "Invalid JSON pointer" in error(g.patch(image["id"], {
        "op": "replace", "path": "/locations/0", "value": locs[0]}), 400)
    g.patch(image["id"], {"op": "remove", "path": "/locations/0"})
    assert [x["url"] for x in g.image(image["id"])["locations"]] == [f"{url}#new"]
    assert "last location" in error(g.patch(image["id"], {
        "op": "remove", "path": "/locations/0"}), 403)
    killed = g.create(name="not-active")
    g.upload(killed["id"], b"x" * 10)
    g.ok("POST", f"/images/{killed['id']}/actions/deactivate", 204)
    assert "status is deactivated" in error(g.patch(killed["id"], {
        "op": "add", "path": "/locations/-", "value": {"url": url, "metadata": {}}}), 409)


def test_location_of_uploaded_data(g: Glance, site: support.Service, web: str) -> None:
    data = PAYLOAD  # what the location serves too: an image's locations hold one image
    image = g.active("uploaded", data)
    [own] = image["locations"]
    assert own["url"].startswith("file://") and own["metadata"] == {}
    stored = Path(own["url"].removeprefix("file://"))
    assert stored.read_bytes() == data
    g.patch(image["id"], {"op": "add", "path": "/locations/-",
                          "value": {"url": f"{web}/payload.raw", "metadata": {}}})
    # Removing the store's own location removes its file; the data is then the URL's.
    g.patch(image["id"], {"op": "remove", "path": "/locations/0"})
    assert not stored.exists()
    assert g.image(image["id"])["locations"] == [{"url": f"{web}/payload.raw",
                                                  "metadata": {}}]
    assert g.request("GET", f"/images/{image['id']}/file").content == PAYLOAD


def test_location_validation_data(g: Glance, web: str) -> None:
    url = f"{web}/payload.raw"
    image = g.create(name="hashed")
    wanted = {"checksum": "1" * 32, "os_hash_algo": "sha512", "os_hash_value": "de" * 64}
    assert "os_hash_algo must be sha512" in error(g.patch(image["id"], {
        "op": "add", "path": "/locations/-", "value": {
            "url": url, "metadata": {},
            "validation_data": {**wanted, "os_hash_algo": "sha256",
                                "os_hash_value": "ab" * 32}}}), 409)
    error(g.patch(image["id"], {"op": "add", "path": "/locations/-", "value": {
        "url": url, "metadata": {}, "validation_data": {"os_hash_value": "ab"}}}), 400)
    g.patch(image["id"], {"op": "add", "path": "/locations/-", "value": {
        "url": url, "metadata": {}, "validation_data": wanted}})
    shown = g.image(image["id"])
    assert {k: shown[k] for k in wanted} == wanted and shown["status"] == "active"
    assert all("validation_data" not in x for x in shown["locations"])
    # The same values again are fine; others conflict, and change nothing.
    g.patch(image["id"], {"op": "add", "path": "/locations/-", "value": {
        "url": f"{url}#2", "metadata": {}, "validation_data": wanted}})
    assert "already set with a different value" in error(g.patch(image["id"], {
        "op": "add", "path": "/locations/-", "value": {
            "url": f"{url}#3", "metadata": {},
            "validation_data": {**wanted, "checksum": "2" * 32}}}), 409)
    assert len(g.image(image["id"])["locations"]) == 2


def test_web_download(g: Glance, web: str) -> None:
    assert g.ok("GET", "/info/import")["import-methods"]["value"] == [
        "glance-direct", "web-download"]
    image = g.create(name="downloaded")
    body = {"method": {"name": "web-download", "uri": f"{web}/payload.raw"}}
    # Glance's filter: the port (and scheme, and hosts) the site allows.
    for uri in ("http://127.0.0.1:1/x", "ftp://127.0.0.1/x", None):
        assert "does not pass filtering" in error(g.request(
            "POST", f"/images/{image['id']}/import",
            json={"method": {"name": "web-download", "uri": uri}}), 400)
    g.ok("POST", f"/images/{image['id']}/import", 202, json=body)
    shown = _wait(lambda: (s := g.image(image["id"]))["status"] == "active" and s,
                  "imported")
    assert shown["checksum"] == hashlib.md5(PAYLOAD).hexdigest()
    assert shown["size"] == len(PAYLOAD)
    assert "'queued' state" in error(g.request(
        "POST", f"/images/{image['id']}/import", json=body), 409)
    [task] = g.ok("GET", f"/images/{image['id']}/tasks")["tasks"]
    assert task["status"] == "success" and task["input"]["import_req"] == body
    # A download that fails leaves the image queued, its task failed (as Glance's).
    failing = g.create(name="not-downloaded")
    g.ok("POST", f"/images/{failing['id']}/import", 202, json={
        "method": {"name": "web-download", "uri": f"{web}/missing.raw"}})
    [task] = _wait(lambda: [t for t in g.ok("GET", f"/images/{failing['id']}/tasks")["tasks"]
                            if t["status"] == "failure"], "failed")
    assert "404" in task["message"]
    assert g.image(failing["id"])["status"] == "queued"
    # What an upload may not be, a download may not either (image_size_cap).
    big = g.create(name="too-big")
    g.ok("POST", f"/images/{big['id']}/import", 202, json={
        "method": {"name": "web-download", "uri": f"{web}/big.raw"}})
    [task] = _wait(lambda: [t for t in g.ok("GET", f"/images/{big['id']}/tasks")["tasks"]
                            if t["status"] == "failure"], "refused")
    assert "too large" in task["message"] and g.image(big["id"])["status"] == "queued"


def test_image_cache(g: Glance, site: support.Service) -> None:
    data = os.urandom(7000)
    image = g.active("cached", data)
    assert image["id"] not in str(g.ok("GET", "/cache"))
    assert error(g.request("PUT", "/cache/not-an-image"), 404) == "Image not-an-image not found."
    queued = g.create(name="queued")
    assert "status active" in error(g.request("PUT", f"/cache/{queued['id']}"), 400)
    g.ok("PUT", f"/cache/{image['id']}", 202)

    def cached() -> Any:
        return [c for c in g.ok("GET", "/cache")["cached_images"]
                if c["image_id"] == image["id"]]

    [entry] = _wait(cached, "cached")
    assert (entry["size"], entry["hits"], entry["last_accessed"]) == (len(data), 0, None)
    assert isinstance(entry["last_modified"], float)
    copy = site.data_dir / "image-cache" / image["id"]
    assert copy.read_bytes() == data
    assert g.request("GET", f"/images/{image['id']}/file").content == data
    [entry] = cached()
    assert entry["hits"] == 1 and entry["last_accessed"] >= entry["last_modified"]
    assert "must be 'cache', 'queue'" in error(g.request(
        "DELETE", "/cache", headers={"x-image-cache-clear-target": "invalid"}), 400)
    g.ok("DELETE", "/cache", 204, headers={"x-image-cache-clear-target": "queue"})
    assert cached()  # the cache itself is kept
    g.ok("DELETE", f"/cache/{image['id']}", 204)
    assert not cached() and not copy.exists()
    g.ok("PUT", f"/cache/{image['id']}", 202)
    _wait(cached, "cached again")
    g.ok("DELETE", f"/images/{image['id']}", 204)  # the image's deletion empties it
    assert not cached() and not copy.exists()
    g.ok("DELETE", "/cache", 204)
    assert g.ok("GET", "/cache") == {"cached_images": [], "queued_images": []}


def test_upload_still_streams(g: Glance) -> None:
    """The store's own data is served as before when locations are shown."""
    data = os.urandom(2 << 20)
    image = g.create(name="streamed")
    g.ok("PUT", f"/images/{image['id']}/file", 204, content=data, headers=OCTETS)
    r = g.request("GET", f"/images/{image['id']}/file", headers={"Range": "bytes=10-19"})
    assert r.status_code == 206 and r.content == data[10:20]


def test_location_api(g: Glance, web: str) -> None:
    """Glance 2.17's ``POST /images/{id}/locations``: a task records the location and
    hashes its data; validation data that does not match leaves the image queued."""
    url = f"{web}/payload.raw"
    image = g.create(name="location-api")
    path = f"/images/{image['id']}/locations"
    sha256 = hashlib.sha256(PAYLOAD).hexdigest()
    for bad in ({"os_hash_algo": "sha512", "os_hash_value": "ab" * 8},  # wrong size
                {"os_hash_value": sha256},  # no algorithm
                {"os_hash_algo": "sha123", "os_hash_value": sha256},
                {"os_hash_algo": "sha512", "os_hash_value": sha256},
                {"os_hash_algo": "sha256", "os_hash_value": "zz" * 32}):
        error(g.request("POST", path, json={"url": url, "validation_data": bad}), 400)
    assert "does not pass filtering" in error(g.request(
        "POST", path, json={"url": "http://127.0.0.1:1/x"}), 400)
    assert "http store" in error(g.request("POST", path, json={"url": "file:///etc/hosts"}),
                                 403)
    g.ok("POST", path, 202, json={"url": url, "validation_data": {
        "os_hash_algo": "sha256", "os_hash_value": sha256}})

    def tasks(image_id: str, status: str) -> Any:
        found = g.ok("GET", f"/images/{image_id}/tasks")["tasks"]
        return found if found and all(t["status"] == status for t in found) else None

    [task] = _wait(lambda: tasks(image["id"], "success"), "hashed")
    assert task["type"] == "location_import" and task["input"]["loc_url"] == url
    shown = g.image(image["id"])
    assert (shown["status"], shown["os_hash_algo"], shown["os_hash_value"],
            shown["checksum"], shown["size"]) == (
        "active", "sha256", sha256, hashlib.md5(PAYLOAD).hexdigest(), len(PAYLOAD))
    assert shown["locations"] == [{"url": url, "metadata": {}}]
    assert "status is active" in error(g.request("POST", path, json={"url": url}), 409)
    error(g.request("GET", path), 403)  # the service's alone
    wrong = g.create(name="location-api-wrong")
    g.ok("POST", f"/images/{wrong['id']}/locations", 202, json={
        "url": url, "validation_data": {"os_hash_algo": "sha512",
                                        "os_hash_value": "be" * 64}})
    [task] = _wait(lambda: tasks(wrong["id"], "failure"), "failed")
    assert "not matched" in task["message"]
    shown = g.image(wrong["id"])
    assert (shown["status"], shown["os_hash_algo"], shown["checksum"]) == (
        "queued", None, None)
    plain = g.create(name="location-api-plain")
    g.ok("POST", f"/images/{plain['id']}/locations", 202, json={"url": url})
    _wait(lambda: tasks(plain["id"], "success"), "hashed")
    shown = g.image(plain["id"])
    assert (shown["status"], shown["os_hash_algo"], shown["os_hash_value"]) == (
        "active", "sha512", hashlib.sha512(PAYLOAD).hexdigest())


def test_versions_with_cache(site: support.Service) -> None:
    versions = httpx.get(f"{site.url}/image/versions", timeout=30).json()["versions"]
    assert [v["id"] for v in versions] == [
        "v2.17", "v2.16", "v2.15", "v2.14", "v2.9", *(f"v2.{n}" for n in range(7, -1, -1))]
    assert versions[0]["status"] == "CURRENT"
