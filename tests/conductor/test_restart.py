"""A conductor killed mid-deploy: on restart the node fails cleanly and recovers.

The real ``barecloud serve`` is started, SIGKILLed while a (slow, fake) deploy
runs, and started again on the same data directory with the same conductor
name, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import support

HEADERS = {"X-OpenStack-Ironic-API-Version": "latest"}
NAME = "restart-conductor"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> Iterator[str | None]:
    if request.param == "sqlite":
        yield None  # the default: SQLite in the data directory
    else:
        yield request.getfixturevalue("pg_url")


def _node(c: httpx.Client, n: str) -> dict[str, Any]:
    r = c.get(f"/v1/nodes/{n}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def _wait(c: httpx.Client, n: str, state: str, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        node = _node(c, n)
        if node["provision_state"] == state and node["reservation"] is None:
            return node
        if time.monotonic() > deadline:
            history = c.get(f"/v1/nodes/{n}/history").json()
            raise AssertionError(
                f"node not {state!r} after {timeout} s: {node['provision_state']!r}, "
                f"last_error={node['last_error']!r}\n{history}")
        time.sleep(0.05)


def _provision(c: httpx.Client, n: str, target: str) -> None:
    r = c.put(f"/v1/nodes/{n}/states/provision", json={"target": target})
    assert r.status_code == 202, r.text


def _patch(c: httpx.Client, n: str, ops: list[dict[str, Any]]) -> None:
    r = c.patch(f"/v1/nodes/{n}", json=ops)
    assert r.status_code == 200, r.text


def test_killed_mid_deploy_fails_the_node_and_it_recovers(
    tmp_path: Path, database_url: str | None
) -> None:
    data = tmp_path / "svc"
    port = support.free_port()
    env = {"BARECLOUD_CONDUCTOR_NAME": NAME, "BARECLOUD_WORK_POLL_INTERVAL": "0.2"}
    svc = support.start_service(data, database_url=database_url, extra_env=env, port=port)
    try:
        with httpx.Client(base_url=svc.baremetal, headers=HEADERS, timeout=10) as c:
            r = c.post("/v1/nodes", json={"driver": "fake-hardware", "name": "victim"})
            assert r.status_code == 201, r.text
            n = r.json()["uuid"]
            assert r.json()["provision_state"] == "enroll"
            _provision(c, n, "manage")
            _wait(c, n, "manageable")
            _provision(c, n, "provide")
            _wait(c, n, "available")
            # Every fake operation now takes a second: the deploy takes ~9 s.
            _patch(c, n, [{"op": "add", "path": "/driver_info/fake_delay", "value": 1.0}])
            _provision(c, n, "active")
            node = _node(c, n)
            assert node["provision_state"] == "deploying"
            assert node["reservation"] == NAME
            time.sleep(1.5)  # a step or two in
            node = _node(c, n)
            assert node["provision_state"] == "deploying", node["last_error"]
        svc.kill()
        assert svc.proc.returncode is not None and svc.proc.returncode < 0  # SIGKILL
    finally:
        svc.kill()

    svc = support.start_service(data, database_url=database_url, extra_env=env, port=port)
    try:
        with httpx.Client(base_url=svc.baremetal, headers=HEADERS, timeout=10) as c:
            # Recovery happens before the API answers: no waiting needed.
            node = _node(c, n)
            assert node["provision_state"] == "deploy failed"
            assert node["target_provision_state"] is None
            assert node["reservation"] is None
            assert node["last_error"] is not None
            assert f"Conductor {NAME} restarted" in node["last_error"]
            assert "deploying" in node["last_error"]
            events = [e["event"] for e in c.get(f"/v1/nodes/{n}/history").json()["history"]]
            assert any("deploying -> deploy failed" in e and "restarted" in e for e in events)

            # It can be worked on again: tear down, then deploy for real.
            _patch(c, n, [{"op": "remove", "path": "/driver_info/fake_delay"}])
            _provision(c, n, "deleted")
            node = _wait(c, n, "available")
            assert node["last_error"] is None
            _provision(c, n, "active")
            node = _wait(c, n, "active")
            assert node["power_state"] == "power on"
            assert node["last_error"] is None
        assert "Traceback" not in svc.log()
    finally:
        svc.stop()
    assert svc.proc.returncode == 0, svc.log()
