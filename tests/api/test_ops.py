"""/healthz, /readyz and /metrics on a real service, with no token, on both databases.

The metrics are checked against what the APIs say (node states, the batch's
report, the lease), so a wrong GROUP BY or a raw path in a label fails here.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests import support
from tests.conftest import service_on

BM = {"X-OpenStack-Ironic-API-Version": "1.78"}
Samples = list[tuple[str, dict[str, str], float]]


def scrape(url: str, **kw: Any) -> Samples:
    rsp = httpx.get(f"{url}/metrics", timeout=30, **kw)
    assert rsp.status_code == 200, rsp.text
    assert rsp.headers["content-type"].startswith("text/plain")
    return [(s.name, dict(s.labels), s.value)
            for family in text_string_to_metric_families(rsp.text) for s in family.samples]


def values(samples: Samples, name: str, **labels: str) -> list[float]:
    return [v for n, lab, v in samples if n == name and labels.items() <= lab.items()]


def wait_ready(url: str, status: int, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        rsp = httpx.get(f"{url}/readyz", timeout=10)
        if rsp.status_code == status:
            body: dict[str, Any] = rsp.json()
            return body
        assert time.monotonic() < deadline, (rsp.status_code, rsp.text)
        time.sleep(0.2)


# --- probes without a token ------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def keystone_svc(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[support.Service]:
    yield from service_on(tmp_path, request.param, auth="keystone")


def test_probes_and_metrics_answer_without_a_token(keystone_svc: support.Service) -> None:
    url = keystone_svc.url
    live = httpx.get(f"{url}/healthz", timeout=10)
    assert (live.status_code, live.json()) == (200, {"status": "ok"})
    assert wait_ready(url, 200) == {"status": "ok",
                                    "checks": {"database": "ok", "conductor": "ok"}}
    samples = scrape(url)
    assert values(samples, "barecloud_conductors_alive") == [1.0]
    # The APIs still want a token.
    assert httpx.get(f"{keystone_svc.baremetal}/v1/nodes", headers=BM).status_code == 401


def test_metrics_can_require_an_admin(tmp_path: Path) -> None:
    svc = support.start_service(tmp_path / "svc", auth="keystone",
                                extra_env={"BARECLOUD_METRICS_REQUIRE_AUTH": "true"})
    try:
        assert httpx.get(f"{svc.url}/metrics").status_code == 401
        member = httpx.get(f"{svc.url}/metrics", headers={"X-Auth-Token": svc.token("barecloud")})
        assert member.status_code == 403, member.text
        assert "admins" in member.text
        assert values(scrape(svc.url, headers={"X-Auth-Token": svc.token()}),
                      "barecloud_conductors_alive") == [1.0]
        assert httpx.get(f"{svc.url}/healthz").status_code == 200
    finally:
        svc.stop()


# --- readiness fails for the right reason --------------------------------------------

def _api_only(tmp_path: Path, database_url: str) -> tuple[subprocess.Popen[bytes], str]:
    """``barecloud api``: the APIs with no conductor anywhere."""
    port = support.free_port()
    env = {**os.environ, "BARECLOUD_DATA_DIR": str(tmp_path), "BARECLOUD_PORT": str(port),
           "BARECLOUD_HOST": "127.0.0.1", "BARECLOUD_AUTH_STRATEGY": "keystone",
           "BARECLOUD_DATABASE_URL": database_url}
    log = (tmp_path / "api.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "barecloud", "api"], env=env, stdout=log,
                            stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        assert proc.poll() is None, (tmp_path / "api.log").read_text()
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, (tmp_path / "api.log").read_text()
        time.sleep(0.1)


def test_readyz_fails_without_a_conductor_and_without_the_database(
        tmp_path: Path, request: pytest.FixtureRequest) -> None:
    # PostgreSQL only: `barecloud api` refuses SQLite (one process's database).
    request.getfixturevalue("pg_server")
    url_, name = support.pg_create_database()
    proc, url = _api_only(tmp_path, url_)
    try:
        body = wait_ready(url, 503, timeout=5)
        assert body["status"] == "unavailable"
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["conductor"] == (
            "no conductor sent a heartbeat in the last 60 s"), body
        support.pg_drop_database(name)
        started = time.monotonic()
        body = wait_ready(url, 503)
        while body["checks"]["database"] == "ok":
            assert time.monotonic() - started < 10, body
            body = wait_ready(url, 503)
        assert body["checks"]["database"].startswith("unreachable ("), body
        assert "postgres" not in str(body)  # no DSN in the answer
        assert time.monotonic() - started < 10
        assert httpx.get(f"{url}/healthz").status_code == 200  # alive all the same
    finally:
        proc.terminate()
        proc.wait(timeout=20)
        support.pg_drop_database(name)  # IF EXISTS


def test_readyz_fails_when_the_conductor_stops_beating(tmp_path: Path) -> None:
    svc = support.start_service(tmp_path / "svc", extra_env={
        "BARECLOUD_CONDUCTOR_HEARTBEAT_INTERVAL": "3600",
        "BARECLOUD_CONDUCTOR_HEARTBEAT_TIMEOUT": "2"})
    try:
        body = wait_ready(svc.url, 503, timeout=10)
        assert body["checks"] == {
            "database": "ok", "conductor": "no conductor sent a heartbeat in the last 2 s"}
        assert values(scrape(svc.url), "barecloud_conductors_alive") == [0.0]
    finally:
        svc.stop()


# --- what /metrics counts ----------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def svc(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[support.Service]:
    yield from service_on(tmp_path, request.param, extra_env={
        "BARECLOUD_POWER_SYNC_INTERVAL": "0.5", "BARECLOUD_POWER_SYNC_MAX_FAILURES": "1000"})


def _wait(bm: httpx.Client, uuid: str, state: str, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        node: dict[str, Any] = bm.get(f"/nodes/{uuid}").json()
        if node["provision_state"] == state and node["reservation"] is None:
            return node
        assert time.monotonic() < deadline, node
        time.sleep(0.05)


def _node(bm: httpx.Client, state: str, **driver_info: str) -> str:
    rsp = bm.post("/nodes", json={"driver": "fake-hardware", "driver_info": driver_info})
    assert rsp.status_code == 201, rsp.text
    uuid: str = rsp.json()["uuid"]
    for verb, reached in (("manage", "manageable"), ("provide", "available"),
                          ("active", "active")):
        if state == "enroll":
            break
        assert bm.put(f"/nodes/{uuid}/states/provision",
                      json={"target": verb}).status_code == 202
        _wait(bm, uuid, reached)
        if reached == state:
            break
    return uuid


def test_metrics_count_the_fleet_and_time_the_work(svc: support.Service) -> None:
    bm = httpx.Client(base_url=f"{svc.baremetal}/v1", headers=BM, timeout=30)
    with bm:
        for state in ("enroll", "enroll", "manageable", "available", "active"):
            _node(bm, state)
        maint = _node(bm, "available")
        assert bm.put(f"/nodes/{maint}/maintenance", json={"reason": "x"}).status_code == 202
        # A deploy that fails in the conductor's "write image" step.
        broken = _node(bm, "available", fake_fail="deploy")
        assert bm.put(f"/nodes/{broken}/states/provision",
                      json={"target": "active"}).status_code == 202
        _wait(bm, broken, "deploy failed")
        # A BMC that stops answering: every sweep counts it.
        silent = _node(bm, "available")
        assert bm.patch(f"/nodes/{silent}", json=[
            {"op": "add", "path": "/driver_info/fake_fail", "value": "power"}]
        ).status_code == 200
        # A batch of two, written over http (the fake deploy writes at once).
        members = [_node(bm, "available") for _ in range(2)]
        rsp = bm.post("/barecloud-deploy-batches", json={
            "nodes": members, "delivery": "http",
            "image_source": "http://192.0.2.10/images/one.raw",
            "instance_info": {"image_os_hash_value": "ab" * 64}})
        assert rsp.status_code == 202, rsp.text
        for m in members:
            _wait(bm, m, "active")
        ref = rsp.json()["uuid"]
        deadline = time.monotonic() + 30
        while (report := bm.get(f"/barecloud-deploy-batches/{ref}").json())["state"] != "done":
            assert time.monotonic() < deadline, report
            time.sleep(0.1)
        # A lease on one machine, far in the future.
        leased = _node(bm, "available")
        host = httpx.post(f"{svc.url}/reservation/v1/os-hosts", json={"name": leased},
                          timeout=30)
        assert host.status_code == 201, host.text
        lease = httpx.post(f"{svc.url}/reservation/v1/leases", timeout=30, json={
            "name": "later", "start_date": "2099-01-02 00:00", "end_date": "2099-01-02 12:00",
            "reservations": [{"resource_type": "physical:host", "min": 1, "max": 1,
                              "hypervisor_properties": "", "resource_properties": ""}],
            "events": []})
        assert lease.status_code == 201, lease.text
        for _ in range(3):
            bm.get(f"/nodes/{members[0]}")
            bm.get(f"/nodes/{members[1]}")
        # Let two sweeps pass with the silent BMC.
        time.sleep(1.5)
        nodes = bm.get("/nodes/detail").json()["nodes"]
        samples = scrape(svc.url)

    # Nodes: exactly what the Bare Metal API lists, by its three labels.
    expected: dict[tuple[str, str, str], int] = {}
    for n in nodes:
        key = (n["provision_state"], n["power_state"] or "none", str(n["maintenance"]).lower())
        expected[key] = expected.get(key, 0) + 1
    got = {(lab["provision_state"], lab["power_state"], lab["maintenance"]): v
           for name, lab, v in samples if name == "barecloud_nodes"}
    assert got == expected
    assert sum(v for (p, _, _), v in got.items() if p == "enroll") == 2
    assert sum(v for (_, _, m), v in got.items() if m == "true") == 1
    assert sum(v for (p, _, _), v in got.items() if p == "active") == 3

    # The conductor's steps: durations of the deploys, and the step that failed.
    written = values(samples, "barecloud_workflow_step_duration_seconds_count",
                     workflow="deploy", step="write image")
    assert written and written[0] >= 3  # the active node and the batch's two
    assert values(samples, "barecloud_workflow_step_failures_total",
                  workflow="deploy", step="write image") == [1.0]

    # Power sync: sweeps timed, the silent BMC counted once per sweep.
    assert values(samples, "barecloud_power_sync_duration_seconds_count")[0] >= 2
    assert values(samples, "barecloud_power_sync_bmc_failures_total")[0] >= 2
    assert values(samples, "barecloud_power_sync_failures_total") == [0.0]

    # The batch: one done, two members OK over http.
    assert (report["ok"], report["ko"]) == (2, 0), report
    assert values(samples, "barecloud_deploy_batches", state="done") == [1.0]
    assert values(samples, "barecloud_deploy_batch_members", state="ok", delivery="http") \
        == [2.0]
    assert values(samples, "barecloud_deploy_batch_bytes_total", delivery="http") == [0.0]

    # Leases by the status Blazar shows.
    assert values(samples, "barecloud_leases", status=lease.json()["lease"]["status"]) == [1.0]

    # API latency by route template: one series for every node's GET, no UUID in a label.
    route = values(samples, "barecloud_api_request_duration_seconds_count", service="baremetal",
                   method="GET", route="/baremetal/v1/nodes/{ident}", status="200")
    assert route and route[0] >= 6
    labels = " ".join(str(lab) for name, lab, _ in samples if name.startswith("barecloud_api"))
    assert all(m not in labels for m in members)


def test_a_conductor_alone_serves_its_own_metrics(tmp_path: Path, pg_url: str) -> None:
    """``barecloud conductor`` has no API: its sweeps and steps get their own port."""
    port = support.free_port()
    env = {**os.environ, "BARECLOUD_DATA_DIR": str(tmp_path), "BARECLOUD_DATABASE_URL": pg_url,
           "BARECLOUD_HOST": "127.0.0.1", "BARECLOUD_CONDUCTOR_METRICS_PORT": str(port),
           "BARECLOUD_POWER_SYNC_INTERVAL": "0.2"}
    log = (tmp_path / "conductor.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "barecloud", "conductor", "--name", "c1"],
                            env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "conductor.log").read_text()
            try:
                samples = scrape(f"http://127.0.0.1:{port}")
                if values(samples, "barecloud_power_sync_duration_seconds_count")[0] >= 1:
                    break
            except (httpx.HTTPError, AssertionError, IndexError):
                pass
            assert time.monotonic() < deadline, (tmp_path / "conductor.log").read_text()
            time.sleep(0.2)
        # Process-local only: the fleet is counted by the API processes.
        assert not values(samples, "barecloud_nodes")
    finally:
        proc.terminate()
        assert proc.wait(timeout=20) == 0, (tmp_path / "conductor.log").read_text()
