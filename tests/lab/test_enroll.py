"""Enrollment: what the lab POSTs to the Bare Metal API, and a real barecloud taking it."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import support
from tests.lab.conftest import PASSWORD, Lab


class StubIronic(ThreadingHTTPServer):
    """Answers like Ironic's node and port endpoints, and records what it was sent."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.nodes: list[dict[str, Any]] = [{"uuid": "u-1", "name": "lab-00001"}]
        self.ports: list[dict[str, Any]] = []
        self.headers_seen: list[dict[str, str]] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: StubIronic

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self.server.headers_seen.append(dict(self.headers))
        kind = self.path.split("?")[0].rsplit("/", 1)[1]
        self._answer(200, {kind: getattr(self.server, kind)})

    def do_POST(self) -> None:
        self.server.headers_seen.append(dict(self.headers))
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        kind = self.path.rsplit("/", 1)[1]
        getattr(self.server, kind).append(body)
        self._answer(201, body)


@pytest.fixture
def stub() -> Iterator[StubIronic]:
    server = StubIronic()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


def test_enroll_payloads_for_ipmi_and_redfish(new_lab: Lab, stub: StubIronic) -> None:
    lab = new_lab
    lab.up(3, "--nics", "2", "--cpus", "8", "--memory-mb", "16384", "--disk-gb", "40")
    out = lab.cli("enroll", f"{stub.url}/baremetal", "--driver", "ipmi")
    assert "enrolled 2 node(s) with driver ipmi and 6 port(s), 1 already there" in out
    assert all(h["X-OpenStack-Ironic-API-Version"] == "1.78" for h in stub.headers_seen)
    node = next(n for n in stub.nodes if n["name"] == "lab-00002")
    machine = lab.machine("lab-00002")
    assert node == {
        "name": "lab-00002",
        "uuid": machine["uuid"],
        "driver": "ipmi",
        "driver_info": {"ipmi_address": "127.0.0.1", "ipmi_port": lab.ipmi_base + 1,
                        "ipmi_username": "admin", "ipmi_password": PASSWORD,
                        "console_log": str((lab.path / "machines" / "lab-00002" /
                                            "console.log").resolve())},
        "resource_class": "baremetal",
        "properties": {"cpus": 8, "memory_mb": 16384, "local_gb": 40, "cpu_arch": "x86_64",
                       "capabilities": "boot_mode:uefi"},
    }  # fmt: skip
    ports = {p["address"]: p["node_uuid"] for p in stub.ports}
    assert ports[machine["macs"][1]] == machine["uuid"]
    assert ports["52:54:00:10:00:01"] == "u-1"  # the existing node's missing ports are added

    stub.nodes = [{"uuid": "u-1", "name": "lab-00001"}]
    stub.ports = [{"address": "52:54:00:10:00:01"}, {"address": "52:54:00:11:00:01"}]
    lab.cli("enroll", stub.url, "--driver", "redfish")
    node = next(n for n in stub.nodes if n["name"] == "lab-00003")
    assert node["driver_info"] == {
        "redfish_address": lab.redfish,
        "redfish_system_id": "/redfish/v1/Systems/lab-00003",
        "redfish_username": "admin",
        "redfish_password": PASSWORD,
        "console_log": str((lab.path / "machines" / "lab-00003" / "console.log").resolve()),
    }
    system = httpx.get(f"{lab.redfish}/redfish/v1/Systems/lab-00003", auth=("admin", PASSWORD))
    assert system.json()["UUID"] == node["uuid"]
    assert "unknown driver" in lab.cli("enroll", stub.url, "--driver", "agent", check=False)
    assert "cannot reach" in lab.cli("enroll", "http://127.0.0.1:9", check=False)


def _wait(client: httpx.Client, node: str, field: str, value: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = client.get(f"/baremetal/v1/nodes/{node}").json()
        if got[field] == value:
            return
        time.sleep(0.1)
    raise AssertionError(f"{node}: {field} is {got[field]!r}, not {value!r}: {got['last_error']}")


@pytest.mark.slow
@pytest.mark.parametrize("driver", ["fake-hardware", "ipmi", "redfish"])
def test_a_real_barecloud_enrolls_the_lab_and_drives_it(
    driver: str, new_lab: Lab, tmp_path: Path
) -> None:
    svc = support.start_service(tmp_path / "svc")
    try:
        headers = {"X-OpenStack-Ironic-API-Version": "1.78"}
        with httpx.Client(base_url=svc.url, headers=headers, timeout=30) as client:
            drivers = {d["name"] for d in client.get("/baremetal/v1/drivers").json()["drivers"]}
            if driver not in drivers:
                pytest.skip(f"barecloud has no {driver} driver yet")
            lab = new_lab
            lab.up(2, "--enroll", svc.url, "--driver", driver)
            nodes = {n["name"]: n for n in client.get("/baremetal/v1/nodes").json()["nodes"]}
            assert set(nodes) == {"lab-00001", "lab-00002"}
            assert nodes["lab-00001"]["uuid"] == lab.machine("lab-00001")["uuid"]
            ports = client.get("/baremetal/v1/ports?detail=true").json()["ports"]
            assert {p["address"] for p in ports} == {"52:54:00:10:00:01", "52:54:00:10:00:02"}
            again = lab.cli("enroll", svc.url, "--driver", driver)
            assert "enrolled 0 node(s)" in again and "2 already there" in again
            if driver == "fake-hardware":
                return
            # The service reaches the machine through the lab's BMC.
            put = client.put("/baremetal/v1/nodes/lab-00001/states/provision",
                             json={"target": "manage"})  # fmt: skip
            assert put.status_code == 202, put.text
            _wait(client, "lab-00001", "provision_state", "manageable")
            put = client.put("/baremetal/v1/nodes/lab-00001/states/power",
                             json={"target": "power on"})  # fmt: skip
            assert put.status_code == 202, put.text
            _wait(client, "lab-00001", "power_state", "power on")
            assert lab.machine("lab-00001")["power_on"] is True
            assert f"power on, booting from pxe (via {driver}" in lab.cli("console", "lab-00001")
    finally:
        svc.stop()
