"""A small httpx client for barecloud's Compute API, fake nodes to serve it, Nova's faults."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.support import Service

LATEST = "2.96"
BM = {"X-OpenStack-Ironic-API-Version": "1.78"}
FAULT_NAMES = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
               409: "conflictingRequest", 413: "overLimit", 406: "computeFault",
               501: "notImplemented"}


def fault(response: httpx.Response, status: int) -> str:
    """Assert ``response`` is Nova's fault for ``status``; return its message."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    name = FAULT_NAMES.get(status, "computeFault")
    assert set(body) == {name}, body
    assert body[name]["code"] == status, body
    message = body[name]["message"]
    assert isinstance(message, str) and message
    return message


class Nova:
    """Requests to ``/compute/v2.1`` at a microversion, and the fakes around them."""

    def __init__(self, svc: Service, version: str | None = LATEST) -> None:
        self.svc = svc
        headers = {"OpenStack-API-Version": f"compute {version}"} if version else {}
        self.http = httpx.Client(base_url=f"{svc.url}/compute/v2.1", headers=headers,
                                 timeout=60)
        self.bm = httpx.Client(base_url=f"{svc.url}/baremetal/v1", headers=BM, timeout=60)
        self.glance = httpx.Client(base_url=f"{svc.url}/image/v2", timeout=60)

    def close(self) -> None:
        for client in (self.http, self.bm, self.glance):
            client.close()

    def request(self, method: str, path: str, *, version: str | None = None,
                **kw: Any) -> httpx.Response:
        if version is not None:
            kw["headers"] = {**kw.get("headers", {}),
                             "OpenStack-API-Version": f"compute {version}"}
        return self.http.request(method, path, **kw)

    def ok(self, method: str, path: str, status: int = 200, **kw: Any) -> Any:
        r = self.request(method, path, **kw)
        assert r.status_code == status, (method, path, r.status_code, r.text)
        return r.json() if r.content else None

    # --- servers ---------------------------------------------------------
    def create(self, name: str, image: str, flavor: str, **extra: Any) -> dict[str, Any]:
        body = {"server": {"name": name, "imageRef": image, "flavorRef": flavor,
                           "networks": "none", **extra}}
        created: dict[str, Any] = self.ok("POST", "/servers", 202, json=body)
        return created

    def server(self, server_id: str, **kw: Any) -> dict[str, Any]:
        found: dict[str, Any] = self.ok("GET", f"/servers/{server_id}", **kw)["server"]
        return found

    def wait(self, server_id: str, check: Callable[[dict[str, Any]], bool],
             timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            s = self.server(server_id)
            if check(s):
                return s
            if time.monotonic() > deadline:
                raise AssertionError(f"server {server_id} stuck: {s['status']} "
                                     f"{s['OS-EXT-STS:task_state']} {s.get('fault')}")
            time.sleep(0.1)

    def wait_status(self, server_id: str, status: str, timeout: float = 60) -> dict[str, Any]:
        return self.wait(server_id, lambda s: s["status"] == status
                         and s["OS-EXT-STS:task_state"] is None, timeout)

    def wait_gone(self, server_id: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.request("GET", f"/servers/{server_id}").status_code != 404:
            assert time.monotonic() < deadline, f"server {server_id} was not deleted"
            time.sleep(0.1)

    def action(self, server_id: str, body: dict[str, Any]) -> httpx.Response:
        return self.request("POST", f"/servers/{server_id}/action", json=body)

    # --- flavors, images, nodes --------------------------------------------
    def flavor(self, resource_class: str, **specs: str) -> str:
        """A flavor asking for one node of ``resource_class``; returns its id."""
        name = f"bm-{uuid.uuid4().hex[:8]}"
        f = self.ok("POST", "/flavors", json={"flavor": {
            "name": name, "ram": 1024, "vcpus": 1, "disk": 1}})["flavor"]
        rc = "CUSTOM_" + resource_class.upper().replace("-", "_").replace(".", "_")
        self.ok("POST", f"/flavors/{f['id']}/os-extra_specs", json={"extra_specs": {
            f"resources:{rc}": "1", "resources:VCPU": "0", "resources:MEMORY_MB": "0",
            "resources:DISK_GB": "0", **specs}})
        return str(f["id"])

    def image(self, data: bytes = b"\x01" * 4096) -> str:
        r = self.glance.post("/images", json={"name": "img", "disk_format": "raw",
                                              "container_format": "bare",
                                              "visibility": "public"})
        assert r.status_code == 201, r.text
        image_id = str(r.json()["id"])
        r = self.glance.put(f"/images/{image_id}/file", content=data,
                            headers={"Content-Type": "application/octet-stream"})
        assert r.status_code == 204, r.text
        return image_id

    def node(self, resource_class: str, *, mac: str | None = None,
             driver_info: dict[str, Any] | None = None,
             properties: dict[str, Any] | None = None, traits: tuple[str, ...] = (),
             name: str | None = None) -> dict[str, Any]:
        """A fake-hardware node, made available through the Bare Metal API."""
        body = {"driver": "fake-hardware", "resource_class": resource_class,
                "name": name or f"node-{uuid.uuid4().hex[:8]}",
                "driver_info": driver_info or {}, "properties": properties or {}}
        r = self.bm.post("/nodes", json=body)
        assert r.status_code == 201, r.text
        node: dict[str, Any] = r.json()
        if mac:
            r = self.bm.post("/ports", json={"address": mac, "node_uuid": node["uuid"]})
            assert r.status_code == 201, r.text
        if traits:
            r = self.bm.put(f"/nodes/{node['uuid']}/traits", json={"traits": list(traits)})
            assert r.status_code == 204, r.text
        for verb, state in (("manage", "manageable"), ("provide", "available")):
            r = self.bm.put(f"/nodes/{node['uuid']}/states/provision", json={"target": verb})
            assert r.status_code == 202, r.text
            self.wait_node(node["uuid"], lambda n, s=state: n["provision_state"] == s)
        return self.node_of(node["uuid"])

    def node_of(self, node_id: str) -> dict[str, Any]:
        r = self.bm.get(f"/nodes/{node_id}")
        assert r.status_code == 200, r.text
        found: dict[str, Any] = r.json()
        return found

    def wait_node(self, node_id: str, check: Callable[[dict[str, Any]], bool],
                  timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            n = self.node_of(node_id)
            if check(n):
                return n
            assert time.monotonic() < deadline, (n["provision_state"], n["last_error"])
            time.sleep(0.1)


def console_file(tmp: Path, lines: int) -> Path:
    path = tmp / f"console-{uuid.uuid4().hex[:6]}.log"
    path.write_text("".join(f"line {i}\n" for i in range(1, lines + 1)))
    return path


def tenant_network(nova: Nova, cidr: str) -> dict[str, Any]:
    """A network of the test's own with one IPv4 subnet, without port security (the
    test's switch filters nothing)."""
    neutron = f"{nova.svc.url}/network/v2.0"
    r = nova.http.post(f"{neutron}/networks", json={"network": {
        "name": f"net-{uuid.uuid4().hex[:6]}", "port_security_enabled": False}})
    assert r.status_code == 201, r.text
    network: dict[str, Any] = r.json()["network"]
    r = nova.http.post(f"{neutron}/subnets", json={"subnet": {
        "network_id": network["id"], "ip_version": 4, "cidr": cidr}})
    assert r.status_code == 201, r.text
    return network


def server_on(nova: Nova, rc: str, network: dict[str, Any], mac: str) -> str:
    """An ACTIVE server on ``network``, through a node's NIC cabled to a switch port."""
    node = nova.node(rc)
    r = nova.bm.post("/ports", json={
        "node_uuid": node["uuid"], "address": mac,
        "local_link_connection": {"switch_id": "52:54:00:00:00:01",
                                  "port_id": f"Eth{mac[-5:]}", "switch_info": "tor-1"}})
    assert r.status_code == 201, r.text
    sid: str = nova.create("on-net", nova.image(), nova.flavor(rc),
                           networks=[{"uuid": network["id"]}])["server"]["id"]
    nova.wait_status(sid, "ACTIVE")
    return sid
