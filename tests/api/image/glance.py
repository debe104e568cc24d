"""A small httpx client for barecloud's Image API, and checks of Glance's error body."""

from __future__ import annotations

import hashlib
from typing import Any

import httpx

from tests.support import Service

PATCH_TYPE = "application/openstack-images-v2.1-json-patch"
OCTETS = {"Content-Type": "application/octet-stream"}


def error(response: httpx.Response, status: int) -> str:
    """Assert ``response`` is Glance's error for ``status``; return its message.

    Glance (webob) answers JSON clients with ``{"message", "code", "title"}``
    and openstacksdk reads ``message``.
    """
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"message", "code", "title"}, body
    assert body["code"].startswith(f"{status} ") and body["code"].endswith(body["title"])
    assert isinstance(body["message"], str) and body["message"]
    return str(body["message"])


class Glance:
    """Requests to ``/image/v2`` of a running barecloud."""

    def __init__(self, svc: Service) -> None:
        self.svc = svc
        self.http = httpx.Client(base_url=f"{svc.url}/image/v2", timeout=120)

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.http.request(method, path, **kw)

    def ok(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        r = self.request(method, path, **kw)
        assert r.status_code == status, (method, path, r.status_code, r.text)
        return r.json() if r.content and status != 204 else None

    def create(self, **body: Any) -> dict[str, Any]:
        body.setdefault("disk_format", "raw")
        body.setdefault("container_format", "bare")
        image: dict[str, Any] = self.ok("POST", "/images", 201, json=body)
        return image

    def upload(self, image_id: str, data: bytes) -> None:
        self.ok("PUT", f"/images/{image_id}/file", 204, content=data, headers=OCTETS)

    def image(self, image_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.ok("GET", f"/images/{image_id}")
        return found

    def patch(self, image_id: str, *ops: dict[str, Any],
              content_type: str = PATCH_TYPE) -> httpx.Response:
        return self.request("PATCH", f"/images/{image_id}", json=list(ops),
                            headers={"Content-Type": content_type})

    def listing(self, **params: Any) -> dict[str, Any]:
        found: dict[str, Any] = self.ok("GET", "/images", params=params)
        return found

    def names(self, **params: Any) -> list[str]:
        return [i["name"] for i in self.listing(**params)["images"]]

    def active(self, name: str, data: bytes, **body: Any) -> dict[str, Any]:
        image = self.create(name=name, **body)
        self.upload(image["id"], data)
        shown = self.image(image["id"])
        assert shown["status"] == "active"
        assert shown["checksum"] == hashlib.md5(data).hexdigest()
        return shown
