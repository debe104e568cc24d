"""Deactivate/reactivate, /info, and glance-direct import (stage, then import)."""

from __future__ import annotations

import hashlib
import os
import time

from tests.api.image.glance import OCTETS, Glance, error


def test_deactivate_reactivate(glance: Glance) -> None:
    data = os.urandom(4096)
    image = glance.active("deactivated", data)
    queued = glance.create(name="never-active")
    # Glance: only an active image deactivates, only a deactivated one reactivates.
    assert "deactivate image in status 'queued'" in error(
        glance.request("POST", f"/images/{queued['id']}/actions/deactivate"), 403)
    assert "reactivate image in status 'active'" not in glance.request(
        "POST", f"/images/{image['id']}/actions/reactivate").text  # a no-op: 204
    for _ in range(2):  # the second is a no-op, as Glance's
        glance.ok("POST", f"/images/{image['id']}/actions/deactivate", 204)
        assert glance.image(image["id"])["status"] == "deactivated"
    # The admin still downloads it (others get 403: tests/services/test_policy.py).
    assert glance.request("GET", f"/images/{image['id']}/file").content == data
    assert "reactivate image in status 'queued'" in error(
        glance.request("POST", f"/images/{queued['id']}/actions/reactivate"), 403)
    glance.ok("POST", f"/images/{image['id']}/actions/reactivate", 204)
    assert glance.image(image["id"])["status"] == "active"
    error(glance.request("POST", "/images/6f0e3cbb-4bde-4a5f-8a0c-1c1f7a52a111/actions/"
                                 "deactivate"), 404)
    error(glance.request("GET", f"/images/{image['id']}/actions/deactivate"), 405)


def test_info(glance: Glance) -> None:
    assert glance.ok("GET", "/info/import") == {"import-methods": {
        "description": "Import methods available.", "type": "array",
        "value": ["glance-direct"]}}
    assert "Multi backend" in error(glance.request("GET", "/info/stores"), 404)


def _wait(glance: Glance, image_id: str, *states: str) -> dict[str, object]:
    for _ in range(600):
        shown = glance.image(image_id)
        if shown["status"] in states:
            return shown
        time.sleep(0.1)
    raise AssertionError(f"image {image_id} stayed {shown['status']}")


def test_glance_direct_import(glance: Glance) -> None:
    data = os.urandom(3 << 20)
    r = glance.request("POST", "/images", json={"name": "imported", "disk_format": "raw",
                                                "container_format": "bare"})
    assert r.headers["openstack-image-import-methods"] == "glance-direct"  # as Glance's
    image = r.json()
    body = {"method": {"name": "glance-direct"}}
    assert "staged before" in error(
        glance.request("POST", f"/images/{image['id']}/import", json=body), 409)
    error(glance.request("PUT", f"/images/{image['id']}/stage", content=b"x"), 415)
    glance.ok("PUT", f"/images/{image['id']}/stage", 204, content=data, headers=OCTETS)
    staged = glance.image(image["id"])
    assert staged["status"] == "uploading" and staged["size"] == len(data)
    error(glance.request("PUT", f"/images/{image['id']}/stage", content=data,
                         headers=OCTETS), 409)
    error(glance.request("PUT", f"/images/{image['id']}/file", content=data,
                         headers=OCTETS), 409)
    assert "not supported" in error(glance.request(
        "POST", f"/images/{image['id']}/import", json={"method": {"name": "web-download"}}),
        400)
    error(glance.request("POST", f"/images/{image['id']}/import", json={"method": {}}), 400)
    r = glance.request("POST", f"/images/{image['id']}/import", json=body)
    assert r.status_code == 202 and r.content == b""
    shown = _wait(glance, image["id"], "active", "killed")
    assert shown["status"] == "active"
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert shown["os_hash_value"] == hashlib.sha512(data).hexdigest()
    assert glance.request("GET", f"/images/{image['id']}/file").content == data
    assert not list((glance.svc.data_dir / "images" / "staging").iterdir())
    error(glance.request("POST", f"/images/{image['id']}/import", json=body), 409)

    # The import's task, as Glance's (2.12's /images/{id}/tasks, and /tasks).
    (task,) = glance.ok("GET", f"/images/{image['id']}/tasks")["tasks"]
    assert task["status"] == "success" and task["type"] == "api_image_import"
    assert task["input"]["import_req"] == body and task["result"] == {"image_id": image["id"]}
    assert task["request_id"] == r.headers["x-openstack-request-id"]
    assert task["expires_at"] is not None and task["self"] == f"/v2/tasks/{task['id']}"
    assert glance.ok("GET", f"/tasks/{task['id']}") == task
    listed = glance.ok("GET", "/tasks", params={"status": "success"})["tasks"]
    assert task["id"] in [t["id"] for t in listed] and "input" not in listed[0]
    error(glance.request("GET", "/tasks/a2b3c4d5-0000-4000-8000-000000000000"), 404)
    assert "import is not offered" in error(glance.request("POST", "/tasks", json={
        "type": "import", "input": {"import_from": "http://example.invalid/x.qcow2",
                                    "import_from_format": "qcow2",
                                    "image_properties": {}}}), 400)
    assert "Invalid type" in error(glance.request("POST", "/tasks", json={
        "type": "bogus", "input": {}}), 400)
    assert glance.ok("GET", "/schemas/task")["name"] == "task"


def test_import_of_bad_qcow2_kills_the_image(glance: Glance) -> None:
    image = glance.create(name="not-qcow2", disk_format="qcow2")
    glance.ok("PUT", f"/images/{image['id']}/stage", 204, content=os.urandom(65536),
              headers=OCTETS)
    glance.ok("POST", f"/images/{image['id']}/import", 202,
              json={"method": {"name": "glance-direct"}})
    shown = _wait(glance, image["id"], "active", "killed")
    assert shown["status"] == "killed" and shown["os_glance_failure_reason"]
    (task,) = glance.ok("GET", f"/images/{image['id']}/tasks")["tasks"]
    assert task["status"] == "failure"
    assert task["message"] == shown["os_glance_failure_reason"]
    assert not (glance.svc.data_dir / "images" / image["id"]).exists()
