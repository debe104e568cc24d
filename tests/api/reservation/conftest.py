"""One Identity-backed service for the Reservation API tests, with three machines.

The lease clock is pinned (``lease_clock_file``) at 2030-01-01 00:00, so the
tests' windows on 2030-01-02 are in the future whatever the real date.
Nodes are enrolled and made ``available`` through the Bare Metal API, as an
operator would, before they are offered for leasing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests import support

NOW = "2030-01-01T00:00:00"
NODES = ("rsv-1", "rsv-2", "rsv-3")


@dataclass
class Blazar:
    svc: support.Service
    admin: str  # tokens
    demo: str
    nodes: dict[str, str]  # name -> uuid

    def call(self, method: str, path: str, token: str | None = None, **kw: Any
             ) -> httpx.Response:
        """``path`` under /reservation/v1, as the admin unless ``token`` says."""
        headers = {"X-Auth-Token": token or self.admin, **kw.pop("headers", {})}
        return httpx.request(method, f"{self.svc.url}/reservation/v1{path}",
                             headers=headers, timeout=30, **kw)


def error(rsp: httpx.Response, status: int) -> str:
    """Blazar's error body, checked whole; returns its message."""
    assert rsp.status_code == status, rsp.text
    body = rsp.json()
    assert body == {"error_code": status, "error_message": body["error_message"],
                    "error_name": status}, body
    message: str = body["error_message"]
    return message


def _enroll(svc: support.Service, token: str, name: str) -> str:
    bm = httpx.Client(base_url=svc.baremetal + "/v1", timeout=30, headers={
        "X-Auth-Token": token, "X-OpenStack-Ironic-API-Version": "1.78"})
    with bm:
        rsp = bm.post("/nodes", json={"name": name, "driver": "fake-hardware",
                                      "resource_class": "lease"})
        assert rsp.status_code == 201, rsp.text
        uuid: str = rsp.json()["uuid"]
        for verb, state in (("manage", "manageable"), ("provide", "available")):
            rsp = bm.put(f"/nodes/{uuid}/states/provision", json={"target": verb})
            assert rsp.status_code == 202, rsp.text
            deadline = time.monotonic() + 60
            while bm.get(f"/nodes/{uuid}").json()["provision_state"] != state:
                assert time.monotonic() < deadline, f"{name} never became {state}"
                time.sleep(0.1)
    return uuid


@pytest.fixture(scope="package")
def blazar(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Blazar]:
    base = tmp_path_factory.mktemp("reservation")
    clock = base / "clock"
    clock.write_text(NOW)
    svc = support.start_service(base / "svc", auth="keystone", extra_env={
        "BARECLOUD_LEASE_CLOCK_FILE": str(clock)})
    try:
        admin = svc.token("barecloud-admin")
        nodes = {name: _enroll(svc, admin, name) for name in NODES}
        yield Blazar(svc, admin, svc.token("barecloud"), nodes)
    finally:
        svc.stop()
