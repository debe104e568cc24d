"""Leasing lab machines end to end, through unmodified clients only.

``barecloud serve --lab 4`` with a lease clock the test writes (a file: "now"
for leases is the time in it).  The admin puts three of the four lab
machines in the reservable pool (``openstack reservation host create``), two
of them with ``gpu=true``; the fourth stays on demand.  Then, with
``openstack reservation ...`` (python-blazarclient) and ``openstack server
create --hint reservation=<id>``:

- the demo project leases the two gpu machines 09:00-12:00; before 09:00 its
  reservation is refused by ``server create`` (the lease is not active);
- another project ("rival") is refused the gpu machines over an overlapping
  window, with the reason, and gets the third machine instead;
- at 09:00 the lease is ACTIVE: the demo's two servers deploy on exactly the
  two gpu machines; the rival can neither use the demo's reservation nor get
  a pooled machine without one (its on-demand servers go to the fourth
  machine only, then "No valid host" although a pooled machine is idle);
- the lease may be extended only within two hours of its end;
- a leased machine breaks (maintenance): a free matching machine replaces it,
  the lease is not degraded, the broken one no longer holds the reservation;
- past its end the lease terminates: the demo's servers are deleted and the
  machines cleaned back to ``available``; the rival's on-demand server stays.
  One machine is protected (it cannot be undeployed), so the lease is seen
  waiting in TERMINATING until the operator lifts the protection.

Three real deploys in all (agent over HTTP); the module takes about a minute.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from tests import preloaded, support

OPENSTACK = Path(sys.executable).parent / "openstack"
PASSWORD = "leasing-test-password"
GPU = 'resource_properties=["=", "$gpu", "true"]'
FLAVOR, IMAGE = "bm.baremetal", "barecloud-demo"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not OPENSTACK.exists(), reason="openstack CLI not installed"),
]

T = TypeVar("T")


def _document(out: str) -> Any:
    """The JSON document of a command's output (``create`` prints a line before it)."""
    starts = [i for i in (out.find("{"), out.find("[")) if i >= 0]
    assert starts, out
    return json.loads(out[min(starts):])


def _objects(value: Any) -> list[dict[str, Any]]:
    """A list column: blazarclient prints it as JSON objects, one after the other."""
    if isinstance(value, list):
        return value
    if not value:
        return []
    decoder, text, out, i = json.JSONDecoder(), str(value).strip(), [], 0
    while i < len(text):
        obj, i = decoder.raw_decode(text, i)
        out.append(obj)
        while i < len(text) and text[i].isspace():
            i += 1
    return out


class Cloud:
    """The ``openstack`` CLI as one cloud of a clouds.yaml."""

    def __init__(self, clouds: Path, name: str) -> None:
        self.name = name
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        self.env.update({"OS_CLIENT_CONFIG_FILE": str(clouds), "PYTHONWARNINGS": "ignore"})

    def _run(self, args: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
        return preloaded.run([str(OPENSTACK), "--os-cloud", self.name, *args], env=self.env,
                             capture_output=True, text=True, timeout=300, check=False)

    @staticmethod
    def _stderr(proc: subprocess.CompletedProcess[str]) -> str:
        return proc.stderr.strip()

    def ok(self, *args: str) -> str:
        proc = self._run(args)
        assert proc.returncode == 0, (
            f"openstack --os-cloud {self.name} {' '.join(args)}:\n{self._stderr(proc)}")
        return proc.stdout

    def json(self, *args: str) -> Any:
        return _document(self.ok(*args, "-f", "json"))

    def fails(self, *args: str) -> str:
        """The error the command printed; it must fail."""
        proc = self._run(args)
        assert proc.returncode != 0, (
            f"openstack --os-cloud {self.name} {' '.join(args)} succeeded:\n{proc.stdout}")
        return self._stderr(proc)

    def lease(self, name: str) -> dict[str, Any]:
        shown: dict[str, Any] = self.json("reservation", "lease", "show", name)
        shown["reservations"] = _objects(shown["reservations"])
        shown["events"] = _objects(shown["events"])
        return shown


@dataclass
class World:
    svc: support.Service
    clock: Path
    admin: Cloud
    demo: Cloud
    rival: Cloud
    pool: list[str]  # the three pooled machines (node names)
    spare: str  # the machine left on demand

    def at(self, when: str) -> None:
        """Move the lease clock (written whole, then renamed: never read half-written)."""
        tmp = self.clock.with_suffix(".tmp")
        tmp.write_text(f"2027-03-01T{when}:00\n")
        tmp.replace(self.clock)

    def nodes(self) -> dict[str, dict[str, Any]]:
        return {n["name"]: n for n in self.admin.json("baremetal", "node", "list")}


def _until(what: str, probe: Callable[[], T], done: Callable[[T], bool],
           timeout: float = 120, interval: float = 0.5) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if done(value):
            return value
        assert time.monotonic() < deadline, f"{what} never happened; last seen: {value}"
        time.sleep(interval)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    base = tmp_path_factory.mktemp("leasing")
    clock = base / "clock"
    clock.write_text("2027-03-01T08:00:00\n")
    svc = support.start_service(base / "svc", lab=4, auth="keystone", timeout=300, extra_env={
        "BARECLOUD_LEASE_CLOCK_FILE": str(clock), "BARECLOUD_LEASE_INTERVAL": "0.3",
        "BARECLOUD_LEASE_EXTENSION_WINDOW": "7200"})
    try:
        admin = Cloud(svc.clouds_yaml, "barecloud-admin")
        admin.ok("project", "create", "--domain", "default", "rival")
        admin.ok("user", "create", "--domain", "default", "--project", "rival",
                 "--password", PASSWORD, "rival-user")
        admin.ok("role", "add", "--project", "rival", "--user", "rival-user", "member")
        clouds = yaml.safe_load(svc.clouds_yaml.read_text())
        template = clouds["clouds"]["barecloud"]
        clouds["clouds"]["rival"] = {**template, "auth": {
            **template["auth"], "username": "rival-user", "password": PASSWORD,
            "project_name": "rival"}}
        rival_clouds = base / "rival-clouds.yaml"
        rival_clouds.write_text(yaml.safe_dump(clouds))
        rival_clouds.chmod(0o600)
        names = sorted(n["name"] for n in admin.json("baremetal", "node", "list"))
        assert len(names) == 4, names
        yield World(svc, clock, admin, Cloud(svc.clouds_yaml, "barecloud"),
                    Cloud(rival_clouds, "rival"), names[:3], names[3])
    finally:
        svc.stop()


def test_lease_lifecycle_with_unmodified_clients(world: World) -> None:
    admin, demo, rival = world.admin, world.demo, world.rival
    gpu1, gpu2, plain = world.pool

    # --- 1. the admin offers three machines, two of them with a gpu -----------------
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        created = list(pool.map(lambda n: admin.json("reservation", "host", "create", n),
                                world.pool))
    host = {h["hypervisor_hostname"]: str(h["id"]) for h in created}
    assert set(host) == set(world.pool) and all(h.isdigit() for h in host.values()), created
    assert {h["node_uuid"] for h in created} == {
        world.nodes()[n]["uuid"] for n in world.pool}
    for name in (gpu1, gpu2):
        admin.ok("reservation", "host", "set", "--extra", "gpu=true", host[name])
    listed = {h["hypervisor_hostname"] for h in admin.json("reservation", "host", "list")}
    assert listed == set(world.pool)  # the spare machine is not in the pool
    assert admin.json("reservation", "host", "show", host[gpu1])["gpu"] == "true"
    assert "gpu" not in admin.json("reservation", "host", "show", host[plain])
    ids = {name: int(h) for name, h in host.items()}

    # --- 2. the demo project leases both gpu machines for 09:00-12:00 ------------------
    made = demo.json("reservation", "lease", "create", "--reservation",
                     f"resource_type=physical:host,min=2,max=2,{GPU}",
                     "--start-date", "2027-03-01 09:00", "--end-date", "2027-03-01 12:00",
                     "lease1")
    assert made["status"] == "PENDING", made
    lease1 = demo.lease("lease1")
    assert lease1["id"] == made["id"] and lease1["status"] == "PENDING", lease1
    [resv] = lease1["reservations"]
    rid = resv["id"]
    assert sorted(resv["hosts"]) == sorted([ids[gpu1], ids[gpu2]]), resv
    err = demo.fails("server", "create", "--flavor", FLAVOR, "--image", IMAGE,
                     "--hint", f"reservation={rid}", "too-early")
    assert "400" in err, err
    assert f"Lease {lease1['id']} is not active (PENDING)" in err, err
    assert "usable from 2027-03-01T09:00" in err, err
    assert demo.json("server", "list") == []  # refused at create: no server in ERROR

    # --- 3. another project: the gpu machines are taken; the plain one is not -------
    err = rival.fails("reservation", "lease", "create", "--reservation",
                      f"resource_type=physical:host,min=1,max=1,{GPU}",
                      "--start-date", "2027-03-01 10:00", "--end-date", "2027-03-01 11:00",
                      "rival-gpu")
    assert "Not enough hosts available" in err, err
    assert ("2 host(s) match the properties and 0 of them are free from 2027-03-01 10:00 to "
            "2027-03-01 11:00; the reservation needs at least 1") in err, err
    assert rival.json("reservation", "lease", "list") == []  # nothing half-written
    plain_lease = rival.json("reservation", "lease", "create", "--reservation",
                             "resource_type=physical:host,min=1,max=1",
                             "--start-date", "2027-03-01 09:00",
                             "--end-date", "2027-03-01 10:00", "rival-plain")
    assert plain_lease["status"] == "PENDING", plain_lease
    [plain_resv] = _objects(plain_lease["reservations"])
    assert plain_resv["hosts"] == [ids[plain]], plain_resv
    # Neither project sees the other's lease.
    assert [x["name"] for x in demo.json("reservation", "lease", "list")] == ["lease1"]
    assert [x["name"] for x in rival.json("reservation", "lease", "list")] == ["rival-plain"]

    # --- 4. 09:00: the lease starts; servers go on its machines only ----------------
    world.at("09:00")
    lease1 = _until("lease1 ACTIVE", lambda: demo.lease("lease1"),
                    lambda x: x["status"] == "ACTIVE")
    assert lease1["reservations"][0]["status"] == "active", lease1
    assert {e["event_type"]: e["status"] for e in lease1["events"]}["start_lease"] == "DONE"
    _until("rival-plain ACTIVE", lambda: rival.lease("rival-plain"),
           lambda x: x["status"] == "ACTIVE")
    err = rival.fails("server", "create", "--flavor", FLAVOR, "--image", IMAGE,
                      "--hint", f"reservation={rid}", "not-mine")
    assert "400" in err and f"Reservation {rid} not found." in err, err

    def deploy_demo() -> str:
        return demo.ok("server", "create", "--flavor", FLAVOR, "--image", IMAGE,
                       "--hint", f"reservation={rid}", "--min", "2", "--max", "2",
                       "--wait", "leased")

    def deploy_rival() -> str:
        return rival.ok("server", "create", "--flavor", FLAVOR, "--image", IMAGE, "--wait",
                        "on-demand")

    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        jobs = [pool.submit(deploy_demo), pool.submit(deploy_rival)]
        for job in jobs:
            job.result()
    # --wait follows the first server only.
    leased = _until("both leased servers ACTIVE", lambda: demo.json("server", "list"),
                    lambda xs: len(xs) == 2 and all(x["Status"] in ("ACTIVE", "ERROR")
                                                    for x in xs), timeout=180, interval=1)
    assert {x["Status"] for x in leased} == {"ACTIVE"}, leased
    [on_demand] = rival.json("server", "list")
    assert on_demand["Status"] == "ACTIVE", on_demand
    placed = {n["instance_uuid"]: name for name, n in world.nodes().items()
              if n["instance_uuid"]}
    assert sorted(placed[x["ID"]] for x in leased) == sorted([gpu1, gpu2]), placed
    assert placed[on_demand["ID"]] == world.spare, placed
    # Without a reservation no pooled machine is given, though the plain one is idle.
    assert world.nodes()[plain]["provision_state"] == "available"
    rival.ok("server", "create", "--flavor", FLAVOR, "--image", IMAGE, "no-room")
    refused = _until("no-room scheduled", lambda: rival.json("server", "show", "no-room"),
                     lambda x: x["status"] != "BUILD", timeout=180)
    assert refused["status"] == "ERROR", refused
    assert "No valid host" in json.dumps(refused.get("fault")), refused
    assert world.nodes()[plain]["instance_uuid"] is None

    # --- 5. extensions: only within two hours of the end -----------------------------
    err = demo.fails("reservation", "lease", "set", "--end-date", "2027-03-01 14:00", "lease1")
    assert ("The lease can be extended only within 2 hour(s) of its end: from 2027-03-01 "
            "10:00 on (it ends 2027-03-01 12:00).") in err, err
    assert demo.lease("lease1")["end_date"] == "2027-03-01T12:00:00.000000"
    world.at("10:30")
    demo.ok("reservation", "lease", "set", "--prolong-for", "1h", "lease1")
    lease1 = demo.lease("lease1")
    assert lease1["end_date"] == "2027-03-01T13:00:00.000000", lease1
    events = {e["event_type"]: e for e in lease1["events"]}
    assert events["end_lease"]["time"] == "2027-03-01T13:00:00.000000", events
    assert lease1["status"] == "ACTIVE", lease1
    # The rival's lease ended at 10:00; with no server on it, it terminates at once.
    ended = _until("rival-plain TERMINATED", lambda: rival.lease("rival-plain"),
                   lambda x: x["status"] == "TERMINATED")
    assert ended["reservations"][0]["status"] == "deleted", ended

    # --- 6. a leased machine breaks: a free matching machine replaces it ------------
    admin.ok("reservation", "host", "set", "--extra", "gpu=true", host[plain])
    broken = placed[leased[0]["ID"]]
    kept = gpu2 if broken == gpu1 else gpu1
    admin.ok("baremetal", "node", "maintenance", "set", "--reason", "disk failure", broken)
    lease1 = _until("the broken machine replaced", lambda: demo.lease("lease1"),
                    lambda x: x["reservations"][0]["resources_changed"] is True)
    [resv] = lease1["reservations"]
    assert sorted(resv["hosts"]) == sorted([ids[kept], ids[plain]]), resv
    assert resv["missing_resources"] is False, resv
    assert lease1["degraded"] is False and lease1["status"] == "ACTIVE", lease1
    allocations = {a["resource_id"]: [r["id"] for r in _objects(a["reservations"])]
                   for a in admin.json("reservation", "allocation", "list", "host")}
    assert rid not in allocations[host[broken]], allocations
    assert rid in allocations[host[plain]] and rid in allocations[host[kept]], allocations
    # The operator repairs it (its server still runs there until the lease ends).
    admin.ok("baremetal", "node", "maintenance", "unset", broken)

    # --- 7. past the end: servers deleted, machines cleaned ---------------------------
    def history(node: str) -> dict[str, str]:
        return {h["uuid"]: h["event"]
                for h in admin.json("baremetal", "node", "history", "list", node)}

    before = {n: history(n) for n in (gpu1, gpu2)}
    # A protected node cannot be undeployed: its server outlives the lease's end for
    # as long as the operator keeps it so, and the lease waits for it.
    held = next(x["ID"] for x in leased if placed[x["ID"]] == kept)
    admin.ok("baremetal", "node", "set", "--protected", "--protected-reason", "forensics",
             kept)
    world.at("13:05")
    lease1 = _until("lease1 waiting for the held server", lambda: demo.lease("lease1"),
                    lambda x: x["status"] == "TERMINATING" and
                    "waiting for 1 server(s) to be deleted" in str(x["status_reason"]))
    assert [x["ID"] for x in demo.json("server", "list")] == [held]
    assert world.nodes()[broken]["instance_uuid"] is None
    admin.ok("baremetal", "node", "unset", "--protected", kept)  # the reason goes with it
    lease1 = _until("lease1 TERMINATED", lambda: demo.lease("lease1"),
                    lambda x: x["status"] == "TERMINATED", timeout=180)
    assert {e["status"] for e in lease1["events"]} == {"DONE"}, lease1["events"]
    assert lease1["reservations"][0]["status"] == "deleted", lease1
    assert demo.json("server", "list") == []
    assert {x["Name"]: x["Status"] for x in rival.json("server", "list")} == {
        "on-demand": "ACTIVE", "no-room": "ERROR"}  # not the lease's servers
    allocations = {a["resource_id"]: _objects(a["reservations"])
                   for a in admin.json("reservation", "allocation", "list", "host")}
    assert all(not r for r in allocations.values()), allocations
    nodes = _until("the leased machines cleaned", world.nodes,
                   lambda ns: all(ns[n]["provision_state"] == "available"
                                  and ns[n]["instance_uuid"] is None for n in (gpu1, gpu2)),
                   timeout=180, interval=1)
    assert nodes[plain]["provision_state"] == "available", nodes
    for name in (gpu1, gpu2):  # each went through undeploy and cleaning since the end
        new = [e for u, e in history(name).items() if u not in before[name]]
        for state in ("deleting", "cleaning", "available"):
            assert any(e.endswith(f"-> {state}") for e in new), (name, state, new)

    # Repaired (out of maintenance), the machine that broke serves leases again: all
    # three gpu machines together.
    again = demo.json("reservation", "lease", "create", "--start-date", "2027-03-01 14:00",
                      "--end-date", "2027-03-01 15:00", "--reservation",
                      'resource_type=physical:host,min=3,max=3,'
                      'resource_properties=["=", "$gpu", "true"]', "again")
    assert sorted(_objects(again["reservations"])[0]["hosts"]) == sorted(
        ids[n] for n in (gpu1, gpu2, plain)), again
