"""A small httpx client for barecloud's Network API, and Neutron's error body."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.support import Service


def error(response: httpx.Response, status: int, kind: str | None = None) -> str:
    """Assert ``response`` is Neutron's error for ``status`` (and ``kind``); its message."""
    assert response.status_code == status, (response.status_code, response.text)
    body = response.json()
    assert set(body) == {"NeutronError"}, body
    assert set(body["NeutronError"]) == {"type", "message", "detail"}, body
    if kind is not None:
        assert body["NeutronError"]["type"] == kind, body
    message = body["NeutronError"]["message"]
    assert isinstance(message, str) and message
    return message


class Neutron:
    def __init__(self, svc: Service, token: str | None = None) -> None:
        headers = {"X-Auth-Token": token} if token else {}
        self.svc = svc
        self.http = httpx.Client(base_url=f"{svc.url}/network/v2.0", headers=headers,
                                 timeout=60)

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.http.request(method, path, **kw)

    def ok(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        r = self.request(method, path, **kw)
        assert r.status_code == status, (method, path, r.status_code, r.text)
        return r.json() if r.content else None

    def network(self, **attrs: Any) -> dict[str, Any]:
        body = {"name": f"net-{uuid.uuid4().hex[:6]}", **attrs}
        made: dict[str, Any] = self.ok("POST", "/networks", 201,
                                       json={"network": body})["network"]
        return made

    def subnet(self, network_id: str, cidr: str = "10.0.0.0/24", **attrs: Any
               ) -> dict[str, Any]:
        version = 6 if ":" in cidr else 4
        body = {"network_id": network_id, "cidr": cidr, "ip_version": version, **attrs}
        made: dict[str, Any] = self.ok("POST", "/subnets", 201,
                                       json={"subnet": body})["subnet"]
        return made

    def port(self, network_id: str, **attrs: Any) -> dict[str, Any]:
        made: dict[str, Any] = self.ok("POST", "/ports", 201, json={
            "port": {"network_id": network_id, **attrs}})["port"]
        return made

    def ids(self, collection: str, **params: Any) -> list[str]:
        key = collection.replace("-", "_")
        return [x["id"] for x in self.ok("GET", f"/{collection}", params=params)[key]]

    def snapshot(self) -> dict[str, Any]:
        """Everything the caller sees, to check a refused request changed nothing."""
        return {c: self.ok("GET", f"/{c}")[c.replace("-", "_")]
                for c in ("networks", "subnets", "ports", "rbac-policies")}
