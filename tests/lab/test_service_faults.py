"""A real ``barecloud serve`` against a real lab: BMC faults, power sync, drift, maintenance.

Everything goes through the Bare Metal API (httpx, microversion 1.78) and the
lab's own BMCs (IPMI 2.0 on UDP, Redfish on HTTP), half the machines enrolled
with the ``ipmi`` driver and half with ``redfish``:

- verify reads what the hardware says, and power requests reach the machine;
- every fault the lab can inject (``unreachable``, ``bad-credentials``,
  ``slow`` below and above the timeout, ``ignore-power``) ends the power
  action with a ``last_error`` that says what happened and where, leaves no
  lock behind, never shows the BMC password, and the same action succeeds
  once the fault is cleared;
- power sync records a change made behind barecloud's back, or undoes it
  under the ``enforce`` policy, and never "enforces" a state the operator
  has just changed (a sweep slower than the power action must not undo it);
- a BMC that keeps failing sends its node to maintenance with the fault
  ``power failure``, and the node comes back by itself when the BMC answers.

Three services share one lab, each driving machines of its own.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import support
from tests.lab.conftest import Lab, make_lab

pytestmark = pytest.mark.slow

# The BMC password: unlike the lab's default "password" it is no English word,
# so finding it anywhere (node JSON, history, the service's log) is a leak.
SECRET = "Qz7-lab-Bmc-5ecret"
TIMEOUT = 2  # ipmi_timeout / redfish_timeout: one BMC call, log-in included
POWER_TIMEOUT = 2  # seconds a power action waits for the machine to report the state
SLOW_BELOW = 0.2  # a slow BMC whose calls still fit in TIMEOUT (IPMI log-in: 5 exchanges)
SLOW_ABOVE = TIMEOUT + 0.5
MACHINES = 13
HEADERS = {"X-OpenStack-Ironic-API-Version": "1.78"}

# Who drives which machine (each service its own).
VERIFY = {"ipmi": "lab-00001", "redfish": "lab-00002"}
FAULTS = {"ipmi": "lab-00003", "redfish": "lab-00004"}
DRIFT = {"ipmi": "lab-00005", "redfish": "lab-00006"}
FAILING = {("ipmi", "unreachable"): "lab-00007", ("redfish", "unreachable"): "lab-00008",
           ("ipmi", "bad-credentials"): "lab-00012",
           ("redfish", "bad-credentials"): "lab-00013"}
BLOCKER = "lab-00009"  # a slow BMC that power sync (one worker) asks first
ENFORCED = {"ipmi": "lab-00010", "redfish": "lab-00011"}


# --- the lab and the services ---------------------------------------------------------

@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = make_lab(tmp_path_factory.mktemp("faults-lab") / "lab", MACHINES)
    try:
        lab.up(MACHINES, "--bmc-password", SECRET, "--disk-gb", "1")
        yield lab
    finally:
        lab.cli("down", check=False)
        lab.kill()
        shutil.rmtree(lab.path, ignore_errors=True)


@dataclass
class Cloud:
    """A running barecloud, its Bare Metal API, and the lab it drives."""

    svc: support.Service
    http: httpx.Client
    lab: Lab

    def node(self, name: str) -> dict[str, Any]:
        rsp = self.http.get(f"/nodes/{name}")
        assert rsp.status_code == 200, rsp.text
        node: dict[str, Any] = rsp.json()
        return node

    def history(self, name: str) -> list[dict[str, Any]]:
        rsp = self.http.get(f"/nodes/{name}/history", params={"detail": "true"})
        assert rsp.status_code == 200, rsp.text
        return list(rsp.json()["history"])

    def events(self, name: str, since: int = 0) -> list[str]:
        return [h["event"] for h in self.history(name)[since:]]

    def enroll(self, name: str, driver: str, **extra: Any) -> dict[str, Any]:
        """The machine as a node (what ``lab enroll`` does, but one driver per machine)."""
        machine = self.lab.machine(name)
        if driver == "ipmi":
            info: dict[str, Any] = {
                "ipmi_address": "127.0.0.1", "ipmi_port": machine["ipmi_port"],
                "ipmi_username": "admin", "ipmi_password": SECRET,
                "ipmi_timeout": TIMEOUT, "ipmi_power_timeout": POWER_TIMEOUT,
            }
        else:
            info = {
                "redfish_address": self.lab.redfish,
                "redfish_system_id": f"/redfish/v1/Systems/{name}",
                "redfish_username": "admin", "redfish_password": SECRET,
                "redfish_timeout": TIMEOUT, "redfish_power_timeout": POWER_TIMEOUT,
            }
        info.update(extra)
        rsp = self.http.post("/nodes", json={
            "name": name, "uuid": machine["uuid"], "driver": driver, "driver_info": info,
            "resource_class": "baremetal",
        })
        assert rsp.status_code == 201, rsp.text
        for mac in machine["macs"]:
            port = self.http.post("/ports", json={"address": mac, "node_uuid": machine["uuid"]})
            assert port.status_code == 201, port.text
        node: dict[str, Any] = rsp.json()
        return node

    def wait(self, name: str, done: Callable[[dict[str, Any]], bool], what: str,
             timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            node = self.node(name)
            if done(node):
                return node
            if time.monotonic() > deadline:
                raise AssertionError(f"{name}: not {what} after {timeout:g} s: {node}\n"
                                     f"{self.events(name)[-8:]}")
            time.sleep(0.05)

    def manage(self, *names: str) -> None:
        for name in names:
            rsp = self.http.put(f"/nodes/{name}/states/provision", json={"target": "manage"})
            assert rsp.status_code == 202, rsp.text
        for name in names:
            node = self.wait(name, idle("manageable"), "manageable")
            assert node["last_error"] is None, node

    def power(self, name: str, target: str) -> tuple[dict[str, Any], float]:
        """Ask for a power state; the node when the action is over, and how long it took."""
        started = time.monotonic()
        rsp = self.http.put(f"/nodes/{name}/states/power", json={"target": target})
        assert rsp.status_code == 202, rsp.text
        node = self.wait(name, lambda n: n["target_power_state"] is None
                         and n["reservation"] is None, f"done with {target}")
        return node, time.monotonic() - started

    def assert_no_secret(self, name: str) -> None:
        node = self.node(name)
        assert node["driver_info"].get("ipmi_password", "******") == "******"
        assert node["driver_info"].get("redfish_password", "******") == "******"
        for text in (json.dumps(node), json.dumps(self.history(name)), self.svc.log()):
            assert SECRET not in text


def idle(state: str) -> Callable[[dict[str, Any]], bool]:
    return lambda n: (n["provision_state"] == state and n["target_provision_state"] is None
                      and n["reservation"] is None)


def cloud_of(tmp: Path, lab: Lab, env: dict[str, str]) -> Iterator[Cloud]:
    svc = support.start_service(tmp / "svc", extra_env={
        "BARECLOUD_POWER_SYNC_INTERVAL": "1", "BARECLOUD_DEADLINE_CHECK_INTERVAL": "1",
        **env,
    })
    try:
        with httpx.Client(base_url=f"{svc.baremetal}/v1", headers=HEADERS,
                          timeout=30) as http:
            yield Cloud(svc, http, lab)
    finally:
        svc.stop()


@pytest.fixture(scope="module")
def faults_cloud(tmp_path_factory: pytest.TempPathFactory, lab: Lab) -> Iterator[Cloud]:
    """Power sync runs every second (as the faults hit), but never gives up on a node."""
    yield from cloud_of(tmp_path_factory.mktemp("faults"), lab,
                        {"BARECLOUD_POWER_SYNC_MAX_FAILURES": "1000"})


@pytest.fixture(scope="module")
def sync_cloud(tmp_path_factory: pytest.TempPathFactory, lab: Lab) -> Iterator[Cloud]:
    """Power sync every second, the "record" policy, maintenance after 2 failed sweeps."""
    yield from cloud_of(tmp_path_factory.mktemp("sync"), lab,
                        {"BARECLOUD_POWER_SYNC_MAX_FAILURES": "2",
                         "BARECLOUD_POWER_STATE_CHANGE_POLICY": "record"})


@pytest.fixture(scope="module")
def enforce_cloud(tmp_path_factory: pytest.TempPathFactory, lab: Lab) -> Iterator[Cloud]:
    """The "enforce" policy, with one sync worker: BMCs are asked one after the other."""
    for cloud in cloud_of(tmp_path_factory.mktemp("enforce"), lab, {
        "BARECLOUD_POWER_SYNC_MAX_FAILURES": "2", "BARECLOUD_POWER_SYNC_WORKERS": "1",
        "BARECLOUD_POWER_STATE_CHANGE_POLICY": "enforce",
    }):
        # The blocker first, so that power sync asks it before the others.
        cloud.enroll(BLOCKER, "redfish", redfish_timeout=SLOW_ABOVE + 1)
        for driver, name in ENFORCED.items():
            cloud.enroll(name, driver)
        cloud.manage(BLOCKER, *ENFORCED.values())
        yield cloud


@pytest.fixture(scope="module")
def fault_nodes(faults_cloud: Cloud) -> dict[str, str]:
    for driver, name in FAULTS.items():
        faults_cloud.enroll(name, driver)
    faults_cloud.manage(*FAULTS.values())
    return FAULTS


# --- behind barecloud's back ------------------------------------------------------------

def ipmitool(lab: Lab, name: str, *command: str) -> str:
    """``ipmitool`` against the machine's own BMC, as a person at a console would."""
    if shutil.which("ipmitool") is None:
        pytest.skip("ipmitool is not installed")
    proc = subprocess.run(
        ["ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", str(lab.port(name)),
         "-U", "admin", "-E", *command],
        env={**os.environ, "IPMI_PASSWORD": SECRET}, capture_output=True, text=True,
        timeout=30,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def redfish_reset(lab: Lab, name: str, reset_type: str) -> None:
    rsp = httpx.post(f"{lab.redfish}/redfish/v1/Systems/{name}/Actions/ComputerSystem.Reset",
                     json={"ResetType": reset_type}, auth=("admin", SECRET), timeout=10)
    assert rsp.status_code == 204, rsp.text


def console(lab: Lab, name: str) -> str:
    return (lab.path / "machines" / name / "console.log").read_text()


def machine_on(lab: Lab, name: str) -> bool:
    return bool(lab.machine(name)["power_on"])


def wait_machine(lab: Lab, name: str, on: bool, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while machine_on(lab, name) != on:
        assert time.monotonic() < deadline, f"{name} is not {'on' if on else 'off'}"
        time.sleep(0.05)


# --- verify and power ---------------------------------------------------------------------

def test_verify_reads_the_machine_and_power_requests_reach_it(
    faults_cloud: Cloud, lab: Lab
) -> None:
    cloud = faults_cloud
    redfish_reset(lab, VERIFY["redfish"], "On")  # on before barecloud ever saw it
    for driver, name in VERIFY.items():
        node = cloud.enroll(name, driver)
        assert node["power_state"] is None and node["driver"] == driver
    cloud.manage(*VERIFY.values())
    assert cloud.node(VERIFY["ipmi"])["power_state"] == "power off"
    assert cloud.node(VERIFY["redfish"])["power_state"] == "power on"

    for target in ("power on", "power off", "power on"):
        for name in VERIFY.values():
            node, _ = cloud.power(name, target)
            assert node["power_state"] == target and node["last_error"] is None
            assert machine_on(lab, name) == (target == "power on")
    out = lab.cli("status", "--machines", "--json")
    status, _ = json.JSONDecoder().raw_decode(out[out.index("{"):])
    power = {m["name"]: m["power"] for m in status["machine_list"]}
    assert power[VERIFY["ipmi"]] == power[VERIFY["redfish"]] == "on"
    for name in VERIFY.values():
        events = cloud.events(name)
        assert "manage: enroll -> verifying" in events
        assert "power state set to power on" in events
        cloud.assert_no_secret(name)


# --- every fault, with both drivers ----------------------------------------------------

def _where(lab: Lab, name: str, driver: str) -> str:
    """How a node's errors name its BMC (Redfish: the service, often with the system)."""
    if driver == "ipmi":
        return f"127.0.0.1:{lab.port(name)}"
    return lab.redfish


def _timed_out(error: str) -> bool:
    return re.search(rf"(timed out|no answer within {TIMEOUT} ?s)", error) is not None


@pytest.mark.parametrize("kind", ["unreachable", "bad-credentials", "slow-below",
                                  "slow-above", "ignore-power"])
@pytest.mark.parametrize("driver", ["ipmi", "redfish"])
def test_a_fault_ends_the_action_cleanly_and_clearing_it_lets_it_through(
    driver: str, kind: str, faults_cloud: Cloud, fault_nodes: dict[str, str], lab: Lab
) -> None:
    cloud, name = faults_cloud, fault_nodes[driver]
    before = cloud.node(name)
    assert before["maintenance"] is False and before["reservation"] is None
    was_on = before["power_state"] == "power on"
    assert machine_on(lab, name) == was_on
    target = "power off" if was_on else "power on"
    where = _where(lab, name, driver)

    fault = "slow" if kind.startswith("slow-") else kind
    args = [fault] if fault != "slow" else [
        "slow", "--seconds", str(SLOW_BELOW if kind == "slow-below" else SLOW_ABOVE)]
    lab.cli("fault", name, *args)
    try:
        node, took = cloud.power(name, target)
    finally:
        if kind == "slow-above":
            # IPMI commands sent before the timeout still reach the machine, late.
            time.sleep(SLOW_ABOVE)
        lab.cli("fault", name, fault, "--off")

    # Whatever happened: no lock, no pending target, no password.
    assert node["reservation"] is None and node["target_power_state"] is None
    assert node["provision_state"] == "manageable" and node["maintenance"] is False
    cloud.assert_no_secret(name)
    error = node["last_error"]
    if kind == "slow-below":
        assert error is None, error
        assert node["power_state"] == target
        assert machine_on(lab, name) == (not was_on)
        # Each call answered late: the command and at least one status poll.
        assert took >= 2 * SLOW_BELOW, took
    else:
        assert error, node
        assert where in error, error
        if kind == "unreachable":
            assert _timed_out(error), error
            if driver == "redfish":
                assert f"/redfish/v1/Systems/{name}" in error
            assert took >= TIMEOUT
        elif kind == "bad-credentials":
            assert re.search(r"authentication to \S+ failed", error), error
            assert "admin" in error and "password" in error
            assert took < TIMEOUT  # refused at once, not waited for
        elif kind == "slow-above":
            assert _timed_out(error), error
        else:  # ignore-power: acknowledged, then the state never came
            want = "on" if target == "power on" else "off"
            assert re.search(rf"did not (report power|become) {want} within "
                             rf"{POWER_TIMEOUT} s", error, re.IGNORECASE), error
            assert f"power action {target!r}" in error, error
            assert took >= POWER_TIMEOUT
        if kind != "slow-above":
            assert node["power_state"] == before["power_state"]
            assert machine_on(lab, name) == was_on
        assert any(error in e for e in cloud.events(name)[-3:])

        # The fault is gone: the same request goes through.
        node, _ = cloud.power(name, target)
        assert node["last_error"] is None, node
        assert node["power_state"] == target
        assert machine_on(lab, name) == (not was_on)
    assert cloud.node(name)["reservation"] is None


# --- power sync: drift, enforcement, maintenance ------------------------------------------

def test_a_change_behind_barecloud_s_back_is_recorded(sync_cloud: Cloud, lab: Lab) -> None:
    cloud = sync_cloud
    for driver, name in DRIFT.items():
        cloud.enroll(name, driver)
    cloud.manage(*DRIFT.values())
    assert all(cloud.node(n)["power_state"] == "power off" for n in DRIFT.values())
    seen = {n: len(cloud.history(n)) for n in DRIFT.values()}

    assert "Up/On" in ipmitool(lab, DRIFT["ipmi"], "chassis", "power", "on")
    redfish_reset(lab, DRIFT["redfish"], "On")
    for name in DRIFT.values():
        node = cloud.wait(name, lambda n: n["power_state"] == "power on", "powered on",
                          timeout=15)
        assert node["last_error"] is None and node["maintenance"] is False
        drift = [h for h in cloud.history(name)[seen[name]:] if "outside" in h["event"]]
        assert [h["event"] for h in drift] == [
            "Power state changed from power off to power on outside barecloud"]
        assert drift[0]["event_type"] == "power"

    # "record" changes nothing on the machine, and says nothing more once converged.
    time.sleep(2.5)
    for name in DRIFT.values():
        assert machine_on(lab, name)
        assert cloud.node(name)["power_state"] == "power on"
        assert sum("outside" in e for e in cloud.events(name, seen[name])) == 1
        # What barecloud asks for next is what happens.
        node, _ = cloud.power(name, "power off")
        assert node["power_state"] == "power off" and not machine_on(lab, name)


def test_enforce_powers_the_machine_back(enforce_cloud: Cloud, lab: Lab) -> None:
    cloud = enforce_cloud
    for name in ENFORCED.values():
        node, _ = cloud.power(name, "power on")
        assert node["power_state"] == "power on" and machine_on(lab, name)
    seen = {n: len(cloud.history(n)) for n in ENFORCED.values()}

    consoles = {n: console(lab, n) for n in ENFORCED.values()}
    assert "Down/Off" in ipmitool(lab, ENFORCED["ipmi"], "chassis", "power", "off")
    redfish_reset(lab, ENFORCED["redfish"], "ForceOff")
    # The machines went off (power sync, every second, may already have
    # restored them under load: the console keeps what happened).
    for driver, name in ENFORCED.items():
        assert f"power off (via {driver})" in console(lab, name)[len(consoles[name]):]
    for name in ENFORCED.values():
        wait_machine(lab, name, True)
        node = cloud.wait(name, lambda n: n["power_state"] == "power on"
                          and n["reservation"] is None, "enforced")
        assert node["last_error"] is None and node["maintenance"] is False
        # The sweep writes its notes once every probe of it is done (a slow
        # BMC among them delays them), after it let go of the node.
        restored = ("Power state changed to power off outside barecloud; restored to power on "
                    "(power state change policy: enforce)")
        deadline = time.monotonic() + 15
        while restored not in (events := cloud.events(name, seen[name])):
            assert time.monotonic() < deadline, events
            time.sleep(0.1)

    # What the operator asks for becomes the state enforced.
    node, _ = cloud.power(ENFORCED["ipmi"], "power off")
    assert node["power_state"] == "power off"
    assert "Up/On" in ipmitool(lab, ENFORCED["ipmi"], "chassis", "power", "on")
    wait_machine(lab, ENFORCED["ipmi"], False)
    assert cloud.node(ENFORCED["ipmi"])["power_state"] == "power off"


def test_enforce_never_undoes_a_power_action_done_during_a_sweep(
    enforce_cloud: Cloud, lab: Lab
) -> None:
    """A sweep reads the nodes, then asks a slow BMC for seconds before reaching this
    one: meanwhile the operator changed its power state.  What the sweep read is
    stale, and must not be "enforced" over the operator's request."""
    cloud, name = enforce_cloud, ENFORCED["redfish"]
    seen = len(cloud.history(name))
    lab.cli("fault", BLOCKER, "slow", "--seconds", str(SLOW_ABOVE))
    try:
        # A sweep lasts about 1 s (the interval) + SLOW_ABOVE; three requests, a
        # sweep and a bit apart, land at different points of it.
        for target in ("power off", "power on", "power off"):
            node, _ = cloud.power(name, target)
            assert node["power_state"] == target and node["last_error"] is None
            time.sleep(SLOW_ABOVE + 1.6)
            assert machine_on(lab, name) == (target == "power on"), cloud.events(name, seen)
            assert cloud.node(name)["power_state"] == target
    finally:
        lab.cli("fault", BLOCKER, "slow", "--off")
    events = cloud.events(name, seen)
    assert not [e for e in events if "outside barecloud" in e], events
    assert cloud.node(BLOCKER)["last_error"] is None


def test_a_bmc_that_keeps_failing_sends_its_node_to_maintenance_and_back(
    sync_cloud: Cloud, lab: Lab
) -> None:
    cloud = sync_cloud
    for (driver, _), name in FAILING.items():
        cloud.enroll(name, driver)
    cloud.manage(*FAILING.values())
    for (_, kind), name in FAILING.items():
        lab.cli("fault", name, kind)
    try:
        for (driver, kind), name in FAILING.items():
            node = cloud.wait(name, lambda n: n["maintenance"], "in maintenance", timeout=30)
            assert node["fault"] == "power failure"
            assert node["power_state"] is None and node["reservation"] is None
            reason = node["maintenance_reason"]
            assert reason and "max retries (2) exceeded" in reason, reason
            assert _where(lab, name, driver) in reason
            if kind == "unreachable":
                assert _timed_out(reason), reason
            else:
                assert re.search(r"authentication to \S+ failed", reason), reason
            assert node["last_error"] == reason
            last = [h for h in cloud.history(name) if h["event"] == reason]
            assert last and last[0]["severity"] == "ERROR"
            cloud.assert_no_secret(name)
        seen = {n: len(cloud.history(n)) for n in FAILING.values()}
    finally:
        for (_, kind), name in FAILING.items():
            lab.cli("fault", name, kind, "--off")

    for name in FAILING.values():
        node = cloud.wait(name, lambda n: not n["maintenance"], "out of maintenance",
                          timeout=30)
        assert node["fault"] is None and node["maintenance_reason"] is None
        assert node["last_error"] is None
        assert node["power_state"] == "power off"
        events = cloud.events(name, seen[name])
        assert "BMC answers again: leaving maintenance (power failure)" in events
        assert not [e for e in events if "outside barecloud" in e], events
        # And it works as before.
        node, _ = cloud.power(name, "power on")
        assert node["power_state"] == "power on" and machine_on(lab, name)
