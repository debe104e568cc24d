"""Turns in a real service: long-polls give theirs back while they wait, writes go on.

With one slot, a host agent's long-poll that kept its turn while it waited
would hold every write (and every transaction of the process) back for the
gate's max_wait, and /metrics would count each such turn as an overrun.
"""

from __future__ import annotations

import concurrent.futures
import re
import uuid
from collections.abc import Iterator

import httpx
import pytest

from tests import support
from tests.conftest import service_on

AGENT = "/compute/barecloud-host-agent/v1"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def one_slot(request: pytest.FixtureRequest,
             tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Service]:
    yield from service_on(tmp_path_factory.mktemp("admission"), request.param,
                          extra_env={"BARECLOUD_ADMISSION_SLOTS": "1",
                                     # A write slowed by a loaded machine is not a stuck
                                     # turn: only a long-poll's whole wait (12 s) is.
                                     "BARECLOUD_ADMISSION_MAX_WAIT": "6"})


def _metric(svc: support.Service, name: str) -> float:
    text = httpx.get(f"{svc.url}/metrics", timeout=30).text
    found = re.search(rf"^{name} (\S+)$", text, re.M)
    assert found, f"{name} not in /metrics"
    return float(found.group(1))


def test_long_polls_waiting_hold_no_turn(one_slot: support.Service) -> None:
    nova = httpx.Client(base_url=f"{one_slot.url}/compute/v2.1", timeout=60)
    overrun_before = _metric(one_slot, "barecloud_admission_overrun_total")
    agents = []
    for _ in range(3):
        made = nova.post("/barecloud-hypervisors", json={"hypervisor": {
            "hostname": f"hv-{uuid.uuid4().hex[:8]}"}})
        assert made.status_code == 201, made.text
        agent = httpx.Client(base_url=f"{one_slot.url}{AGENT}", timeout=60, headers={
            "Authorization": f"Bearer {made.json()['hypervisor']['credential']}"})
        assert agent.post("/report", json={
            "hypervisor_type": "QEMU", "hypervisor_version": 7002000, "host_ip": "192.0.2.9",
            "capacity": {"vcpus": 2, "memory_mb": 2048, "disk_gb": 10},
            "applied_generation": 0, "vms": []}).status_code == 200
        agents.append(agent)
    generations = [a.get("/desired", params={"wait": 0}).json()["generation"]
                   for a in agents]
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        polls = [pool.submit(a.get, "/desired", params={"since": g, "wait": 12})
                 for a, g in zip(agents, generations, strict=True)]
        waiting = _metric(one_slot, "barecloud_admission_waiting")
        for _ in range(6):  # writes while the three long-polls wait
            made = nova.post("/flavors", json={"flavor": {
                "name": f"f-{uuid.uuid4().hex[:8]}", "ram": 512, "vcpus": 1, "disk": 1}})
            assert made.status_code == 200, made.text
        answers = [p.result() for p in polls]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert waiting == 0
    assert _metric(one_slot, "barecloud_admission_overrun_total") == overrun_before
    assert _metric(one_slot, "barecloud_admission_turns_held") == 0
    for agent in agents:
        agent.close()
    nova.close()
