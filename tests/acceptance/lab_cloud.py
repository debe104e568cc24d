"""A barecloud service, its Bare Metal API and the loopback lab it drives, for tests
that deploy real images onto lab machines."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests import support
from tests.lab.conftest import Lab

HEADERS = {"X-OpenStack-Ironic-API-Version": "1.78"}


@dataclass
class Cloud:
    svc: support.Service
    bm: httpx.Client
    lab: Lab

    def node(self, name: str) -> dict[str, Any]:
        rsp = self.bm.get(f"/nodes/{name}")
        assert rsp.status_code == 200, rsp.text
        return dict(rsp.json())

    def events(self, name: str) -> list[str]:
        rsp = self.bm.get(f"/nodes/{name}/history", params={"detail": "true"})
        return [h["event"] for h in rsp.json()["history"]]

    def provision(self, name: str, target: str, **extra: Any) -> None:
        rsp = self.bm.put(f"/nodes/{name}/states/provision", json={"target": target, **extra})
        assert rsp.status_code == 202, rsp.text

    def settle(self, name: str, state: str, timeout: float = 120) -> dict[str, Any]:
        """Wait until the node rests; it must rest in ``state``."""
        deadline = time.monotonic() + timeout
        while True:
            node = self.node(name)
            if node["target_provision_state"] is None and node["reservation"] is None:
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"{name} still busy after {timeout} s: {node}\n"
                                     f"{self.events(name)[-10:]}\n{self.console(name)[-3000:]}")
            time.sleep(0.2)
        assert node["provision_state"] == state, (
            node["provision_state"], node["last_error"], self.events(name)[-10:],
            self.console(name)[-3000:])
        return node

    def console(self, name: str) -> str:
        return (self.lab.path / "machines" / name / "console.log").read_text(errors="replace")

    def disk(self, name: str) -> Path:
        return self.lab.path / "machines" / name / "disk.img"

    def upload(self, path: Path, disk_format: str) -> str:
        with httpx.Client(base_url=f"{self.svc.url}/image/v2", timeout=120) as image:
            rsp = image.post("/images", json={"name": path.name, "disk_format": disk_format,
                                              "container_format": "bare"})
            assert rsp.status_code == 201, rsp.text
            image_id = str(rsp.json()["id"])
            with path.open("rb") as f:
                rsp = image.put(f"/images/{image_id}/file", content=f,
                                headers={"Content-Type": "application/octet-stream"})
            assert rsp.status_code == 204, rsp.text
            assert image.get(f"/images/{image_id}").json()["status"] == "active"
        return image_id

    def deploy(self, name: str, image_id: str, **extra: Any) -> None:
        rsp = self.bm.patch(f"/nodes/{name}", json=[
            {"op": "add", "path": "/instance_info/image_source", "value": image_id}])
        assert rsp.status_code == 200, rsp.text
        self.provision(name, "active", **extra)
