"""A small httpx client speaking Ironic's dialect, and checks of its error format."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from tests.support import Service

LATEST = "1.92"
VERSION_HEADER = "X-OpenStack-Ironic-API-Version"
MIN_HEADER = "X-OpenStack-Ironic-API-Minimum-Version"
MAX_HEADER = "X-OpenStack-Ironic-API-Maximum-Version"


def fault(response: httpx.Response, status: int) -> str:
    """Assert ``response`` is Ironic's error for ``status``; return its faultstring.

    Ironic's body is ``{"error_message": "<JSON string>"}`` whose inner document
    holds faultstring, faultcode and debuginfo; ironicclient and openstacksdk
    both parse exactly that.
    """
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error_message"}, body
    assert isinstance(body["error_message"], str), body
    inner = json.loads(body["error_message"])
    assert set(inner) == {"faultstring", "faultcode", "debuginfo"}, inner
    assert inner["faultcode"] == ("Client" if status < 500 else "Server")
    assert isinstance(inner["faultstring"], str) and inner["faultstring"]
    return str(inner["faultstring"])


class Ironic:
    """Requests to ``/baremetal/v1`` of a running barecloud at a microversion."""

    def __init__(self, svc: Service, version: str | None = LATEST) -> None:
        headers = {VERSION_HEADER: version} if version else {}
        if svc.auth == "keystone":
            headers["X-Auth-Token"] = svc.token()
        self.http = httpx.Client(base_url=f"{svc.baremetal}/v1", headers=headers, timeout=30)

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, *, version: str | None = None,
                **kw: Any) -> httpx.Response:
        if version is not None:
            kw["headers"] = {**kw.get("headers", {}), VERSION_HEADER: version}
        return self.http.request(method, path, **kw)

    def get(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("POST", path, **kw)

    def put(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("PUT", path, **kw)

    def patch(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("PATCH", path, **kw)

    def delete(self, path: str, **kw: Any) -> httpx.Response:
        return self.request("DELETE", path, **kw)

    # --- shortcuts that must succeed -------------------------------------
    def ok(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        r = self.request(method, path, **kw)
        assert r.status_code == status, (method, path, r.status_code, r.text)
        return r.json() if r.content else None

    def create_node(self, **body: Any) -> dict[str, Any]:
        body.setdefault("driver", "fake-hardware")
        node: dict[str, Any] = self.ok("POST", "/nodes", 201, json=body)
        return node

    def node(self, ident: str) -> dict[str, Any]:
        node: dict[str, Any] = self.ok("GET", f"/nodes/{ident}")
        return node

    def provision(self, ident: str, target: str, **extra: Any) -> None:
        self.ok("PUT", f"/nodes/{ident}/states/provision", 202, json={"target": target, **extra})

    def wait(self, ident: str, state: str, timeout: float = 60) -> dict[str, Any]:
        """Poll until the node is in ``state`` with no work under way."""
        deadline = time.monotonic() + timeout
        while True:
            node = self.node(ident)
            if (node["provision_state"] == state and node["target_provision_state"] is None
                    and node["reservation"] is None and node["target_power_state"] is None):
                return node
            assert time.monotonic() < deadline, f"node {ident} never reached {state}: {node}"
            time.sleep(0.05)

    def allocated(self, ident: str, timeout: float = 30) -> dict[str, Any]:
        """Poll until the allocation leaves ``allocating`` (Ironic allocates in the
        background); the allocation as it then reads."""
        deadline = time.monotonic() + timeout
        while True:
            alloc: dict[str, Any] = self.ok("GET", f"/allocations/{ident}")
            if alloc["state"] != "allocating":
                return alloc
            assert time.monotonic() < deadline, f"allocation {ident} still allocating"
            time.sleep(0.05)

    def to_state(self, ident: str, state: str) -> dict[str, Any]:
        """Drive a fresh (enroll) node to manageable, available or active."""
        path = {"manageable": ["manage"], "available": ["manage", "provide"],
                "active": ["manage", "provide", "active"]}[state]
        reached = {"manage": "manageable", "provide": "available", "active": "active"}
        node: dict[str, Any] = {}
        for verb in path:
            self.provision(ident, verb)
            node = self.wait(ident, reached[verb])
        return node

    def snapshot(self) -> dict[str, Any]:
        """Everything a client can read about nodes, ports and allocations."""
        nodes = self.ok("GET", "/nodes/detail")["nodes"]
        return {
            "nodes": nodes,
            "ports": self.ok("GET", "/ports/detail")["ports"],
            "allocations": self.ok("GET", "/allocations")["allocations"],
            "history": {n["uuid"]: self.ok("GET", f"/nodes/{n['uuid']}/history",
                                           params={"detail": "true"})["history"]
                        for n in nodes},
        }
