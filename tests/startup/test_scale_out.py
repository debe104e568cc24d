"""One API process and two conductors over PostgreSQL share the work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import yaml

from tests.support import free_port

BM = {"X-OpenStack-Ironic-API-Version": "1.78"}
pytestmark = pytest.mark.slow


class Procs:
    def __init__(self, tmp: Path, db_url: str) -> None:
        self.tmp = tmp
        self.env = dict(os.environ)
        self.env.update({
            "BARECLOUD_DATABASE_URL": db_url,
            "BARECLOUD_DATA_DIR": str(tmp),
            "BARECLOUD_CONDUCTOR_HEARTBEAT_INTERVAL": "0.5",
            "BARECLOUD_CONDUCTOR_HEARTBEAT_TIMEOUT": "3",
            "BARECLOUD_WORK_POLL_INTERVAL": "5",
        })
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def token(self) -> str | None:
        """The bootstrap admin's token, once the API process wrote clouds.yaml."""
        clouds = self.tmp / "clouds.yaml"
        if not clouds.exists():
            return None
        auth = yaml.safe_load(clouds.read_text())["clouds"]["barecloud-admin"]["auth"]
        rsp = httpx.post(f"{auth['auth_url']}/v3/auth/tokens", json={"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": auth["username"], "domain": {"id": "default"},
                "password": auth["password"]}}},
            "scope": {"project": {"name": "admin", "domain": {"id": "default"}}}}})
        return rsp.headers["X-Subject-Token"] if rsp.status_code == 201 else None

    def start(self, name: str, *args: str) -> None:
        log = (self.tmp / f"{name}.log").open("wb")
        self.procs[name] = subprocess.Popen(
            [sys.executable, "-m", "barecloud", *args], env=self.env, stdout=log,
            stderr=subprocess.STDOUT,
        )

    def stop_all(self) -> None:
        for p in self.procs.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs.values():
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture
def cluster(tmp_path: Path, pg_url: str) -> Iterator[tuple[Procs, str, dict[str, str]]]:
    procs = Procs(tmp_path, pg_url)
    port = free_port()
    procs.env["BARECLOUD_PORT"] = str(port)
    try:
        procs.start("conductor-a", "conductor", "--name", "conductor-a")
        procs.start("conductor-b", "conductor", "--name", "conductor-b")
        procs.start("api", "api")
        url = f"http://127.0.0.1:{port}/baremetal/v1"
        headers = dict(BM)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if "X-Auth-Token" not in headers:
                    token = procs.token()
                    if token:
                        headers["X-Auth-Token"] = token
                conductors = httpx.get(f"{url}/conductors", headers=headers).json()[
                    "conductors"]
                if len(conductors) == 2:
                    break
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            time.sleep(0.2)
        else:
            raise AssertionError("cluster did not come up: " + "\n".join(
                (tmp_path / f"{n}.log").read_text() for n in procs.procs))
        yield procs, url, headers
    finally:
        procs.stop_all()


def wait_states(c: httpx.Client, names: list[str], wanted: set[str], timeout: float = 90) -> \
        dict[str, dict[str, object]]:
    deadline = time.monotonic() + timeout
    while True:
        nodes = {n: c.get(f"/nodes/{n}").json() for n in names}
        if all(v["provision_state"] in wanted and v["reservation"] is None
               for v in nodes.values()):
            return nodes
        if time.monotonic() > deadline:
            raise AssertionError({n: (v["provision_state"], v["last_error"])
                                  for n, v in nodes.items()})
        time.sleep(0.3)


def test_conductors_share_nodes_and_take_over_a_dead_one(
    cluster: tuple[Procs, str, dict[str, str]],
) -> None:
    procs, url, headers = cluster
    names = [f"so-{i}" for i in range(12)]
    with httpx.Client(base_url=url, headers=headers, timeout=30) as c:
        for name in names:
            c.post("/nodes", json={"name": name, "driver": "fake-hardware"}).raise_for_status()
            c.put(f"/nodes/{name}/states/provision", json={"target": "manage"}
                  ).raise_for_status()
        started = time.monotonic()
        wait_states(c, names, {"manageable"})
        # The conductors poll only every 5 s: NOTIFY is what woke them.
        assert time.monotonic() - started < 4
        for name in names:
            c.put(f"/nodes/{name}/states/provision", json={"target": "provide"}
                  ).raise_for_status()
        wait_states(c, names, {"available"})

        owners = {n: c.get(f"/nodes/{n}").json()["conductor"] for n in names}
        assert set(owners.values()) == {"conductor-a", "conductor-b"}, owners
        workers = set()
        for n in names:
            for h in c.get(f"/nodes/{n}/history", params={"detail": "true"}).json()["history"]:
                if h["conductor"]:
                    workers.add(h["conductor"])
        assert workers == {"conductor-a", "conductor-b"}

        # Slow deploys, then conductor-a dies mid-way: b takes its nodes over.
        for name in names:
            c.patch(f"/nodes/{name}", json=[
                {"op": "add", "path": "/driver_info/fake_delay", "value": 1.0}
            ]).raise_for_status()
            c.put(f"/nodes/{name}/states/provision", json={"target": "active"}
                  ).raise_for_status()
        time.sleep(1.5)
        procs.procs["conductor-a"].kill()
        procs.procs["conductor-a"].wait(timeout=10)
        final = wait_states(c, names, {"active", "deploy failed"}, timeout=120)
        failed = {n for n, v in final.items() if v["provision_state"] == "deploy failed"}
        assert failed == {n for n, o in owners.items() if o == "conductor-a"}
        for n in failed:
            assert "conductor-a stopped answering" in str(final[n]["last_error"])
        assert {n for n, v in final.items() if v["provision_state"] == "active"} == {
            n for n, o in owners.items() if o == "conductor-b"
        }
        # The survivor now owns everything, and a failed node recovers.
        conductors = c.get("/conductors").json()["conductors"]
        assert [x["hostname"] for x in conductors] == ["conductor-b"]
        victim = sorted(failed)[0]
        c.put(f"/nodes/{victim}/states/provision", json={"target": "active"}
              ).raise_for_status()
        wait_states(c, [victim], {"active"})


def _available(c: httpx.Client, names: list[str], delay: float) -> dict[str, str]:
    """Fake nodes, ``available``, each fake operation taking ``delay`` s; their owners."""
    for name in names:
        c.post("/nodes", json={"name": name, "driver": "fake-hardware"}).raise_for_status()
        c.put(f"/nodes/{name}/states/provision", json={"target": "manage"}).raise_for_status()
    wait_states(c, names, {"manageable"})
    for name in names:
        c.put(f"/nodes/{name}/states/provision", json={"target": "provide"}).raise_for_status()
    wait_states(c, names, {"available"})
    for name in names:
        c.patch(f"/nodes/{name}", json=[
            {"op": "add", "path": "/driver_info/fake_delay", "value": delay}
        ]).raise_for_status()
    return {n: c.get(f"/nodes/{n}").json()["conductor"] for n in names}


def _written_by(c: httpx.Client, names: list[str], conductor: str) -> int:
    return sum(
        1 for n in names
        for h in c.get(f"/nodes/{n}/history", params={"detail": "true"}).json()["history"]
        if h["conductor"] == conductor)


def test_a_conductor_stopped_mid_deploy_hands_its_nodes_over(
    cluster: tuple[Procs, str, dict[str, str]],
) -> None:
    procs, url, headers = cluster
    names = [f"term-{i}" for i in range(10)]
    with httpx.Client(base_url=url, headers=headers, timeout=30) as c:
        owners = _available(c, names, 0.5)
        mine = [n for n, o in owners.items() if o == "conductor-a"]
        assert mine and len(mine) < len(names), owners
        for name in names:
            c.put(f"/nodes/{name}/states/provision", json={"target": "active"}
                  ).raise_for_status()
        time.sleep(1.5)
        procs.procs["conductor-a"].send_signal(signal.SIGTERM)
        assert procs.procs["conductor-a"].wait(timeout=20) == 0
        # Nothing is left locked by the stopped conductor: conductor-b resumed its work.
        held = [n for n in names if c.get(f"/nodes/{n}").json()["reservation"] == "conductor-a"]
        assert held == []
        final = wait_states(c, names, {"active"}, timeout=120)
        assert all(v["last_error"] is None for v in final.values()), final
        events = [h["event"] for n in mine for h in c.get(f"/nodes/{n}/history").json()[
            "history"]]
        assert any("Conductor conductor-a was stopped: conductor-b resumes" in e
                   for e in events), events
        # New actions are accepted at once, and done by the survivor.
        rsp = c.put(f"/nodes/{mine[0]}/states/provision", json={"target": "deleted"})
        assert rsp.status_code == 202, rsp.text
        wait_states(c, [mine[0]], {"available"}, timeout=60)


def test_a_paused_conductor_steps_down_and_touches_nothing(
    cluster: tuple[Procs, str, dict[str, str]],
) -> None:
    """SIGSTOP past the heartbeat timeout: conductor-b fails the paused conductor's
    nodes, the operator undeploys them; after SIGCONT the old workflows do not
    resume and the paused conductor writes nothing to those nodes, then comes back."""
    procs, url, headers = cluster
    names = [f"stop-{i}" for i in range(10)]
    with httpx.Client(base_url=url, headers=headers, timeout=30) as c:
        owners = _available(c, names, 1.0)
        mine = [n for n, o in owners.items() if o == "conductor-a"]
        assert mine, owners
        for name in names:
            c.put(f"/nodes/{name}/states/provision", json={"target": "active"}
                  ).raise_for_status()
        time.sleep(2.5)  # a step or two in
        paused = procs.procs["conductor-a"]
        paused.send_signal(signal.SIGSTOP)
        try:
            failed = wait_states(c, mine, {"deploy failed"}, timeout=60)
            assert all("conductor-a stopped answering" in str(v["last_error"])
                       for v in failed.values()), failed
            for n in mine:
                rsp = c.put(f"/nodes/{n}/states/provision", json={"target": "deleted"})
                assert rsp.status_code == 202, rsp.text
            before = _written_by(c, mine, "conductor-a")
        finally:
            paused.send_signal(signal.SIGCONT)
        final = wait_states(c, names, {"active", "available"}, timeout=120)
        assert {n for n, v in final.items() if v["provision_state"] == "available"} == set(
            mine), final
        time.sleep(3)  # the old workflows' next steps would be done by now
        assert _written_by(c, mine, "conductor-a") == before
        for n in mine:
            assert c.get(f"/nodes/{n}").json()["provision_state"] == "available"
        # It stepped down and registered again: it is a conductor once more.
        deadline = time.monotonic() + 30
        while sorted(x["hostname"] for x in c.get("/conductors").json()["conductors"]) != [
                "conductor-a", "conductor-b"]:
            assert time.monotonic() < deadline, (procs.tmp / "conductor-a.log").read_text()
            time.sleep(0.3)
        assert "stepping down" in (procs.tmp / "conductor-a.log").read_text()


def test_a_second_conductor_under_a_live_name_is_refused(
    cluster: tuple[Procs, str, dict[str, str]],
) -> None:
    procs, _, _ = cluster
    dup = subprocess.run(
        [sys.executable, "-m", "barecloud", "conductor", "--name", "conductor-b"],
        env=procs.env, capture_output=True, text=True, timeout=60)
    assert dup.returncode == 2, dup.stdout + dup.stderr
    assert "conductor-b" in dup.stderr and "last heartbeat" in dup.stderr, dup.stderr
    assert "Traceback" not in dup.stderr


def test_an_api_process_is_a_member_and_a_peer_releases_its_locks(
    cluster: tuple[Procs, str, dict[str, str]],
) -> None:
    """`barecloud api` registers as a member of role "api" (not a conductor); a lock
    it held around BMC I/O when it was killed is released by a conductor."""
    import asyncio

    from sqlalchemy import select, update

    from barecloud.db.models import Conductor, Node
    from barecloud.db.session import Database

    procs, url, headers = cluster
    with httpx.Client(base_url=url, headers=headers, timeout=30) as c:
        _available(c, ["api-held"], 0.0)
        hosts = [x["hostname"] for x in c.get("/conductors").json()["conductors"]]
        assert sorted(hosts) == ["conductor-a", "conductor-b"]
    api = f"api-{os.uname().nodename}-{procs.procs['api'].pid}"

    async def run() -> tuple[str | None, str | None]:
        db = Database(procs.env["BARECLOUD_DATABASE_URL"])
        try:
            async with db.session() as s:
                role = await s.scalar(select(Conductor.role).where(Conductor.hostname == api))
                assert role == "api"
                await s.execute(update(Node).where(Node.name == "api-held").values(
                    reservation=api))
            procs.procs["api"].kill()
            procs.procs["api"].wait(timeout=10)
            deadline = time.monotonic() + 30
            while True:
                async with db.session() as s:
                    node = await s.scalar(select(Node).where(Node.name == "api-held"))
                    assert node is not None
                if node.reservation is None or time.monotonic() > deadline:
                    return node.reservation, node.provision_state
                await asyncio.sleep(0.3)
        finally:
            await db.dispose()

    assert asyncio.run(run()) == (None, "available")


def test_two_api_processes_never_put_a_vm_host_past_its_ratio(tmp_path: Path,
                                                               pg_url: str) -> None:
    """Two API processes on one PostgreSQL database place VMs at once (each runs
    the reconciler that places them): one host of 2 vCPUs at a ratio of 2 takes
    exactly 4 one-vCPU VMs of 10 created through both (the default quota); its agent (a real host
    agent process, fake driver) runs them."""
    from tests.acceptance import vm_hosts  # the module's other tests need no VM parts

    procs = Procs(tmp_path, pg_url)
    ports = [free_port(), free_port()]
    procs.env["BARECLOUD_CPU_ALLOCATION_RATIO"] = "2.0"
    try:
        procs.start("conductor", "conductor", "--name", "conductor-a")
        for name, port in zip(("api-a", "api-b"), ports, strict=True):
            procs.start(name, "api", "--port", str(port))
        token = None
        deadline = time.monotonic() + 60
        while token is None:
            assert time.monotonic() < deadline, (tmp_path / "api-a.log").read_text()
            time.sleep(0.3)
            try:
                token = procs.token()
                for port in ports:
                    httpx.get(f"http://127.0.0.1:{port}/healthz").raise_for_status()
            except httpx.HTTPError:
                token = None
        nova = [httpx.Client(base_url=f"http://127.0.0.1:{p}/compute/v2.1", timeout=60,
                             headers={"X-Auth-Token": token,
                                      "OpenStack-API-Version": "compute 2.87"})
                for p in ports]
        made = nova[0].post("/barecloud-hypervisors", json={"hypervisor": {
            "hostname": "hv-race"}}).json()["hypervisor"]
        glance = httpx.Client(base_url=f"http://127.0.0.1:{ports[1]}/image/v2",
                              headers={"X-Auth-Token": token}, timeout=60)
        image = glance.post("/images", json={"name": "t", "disk_format": "raw",
                                             "container_format": "bare"}).json()["id"]
        glance.put(f"/images/{image}/file", content=b"\0" * 4096,
                   headers={"Content-Type": "application/octet-stream"}).raise_for_status()
        flavor = nova[0].post("/flavors", json={"flavor": {
            "name": "vm.race", "ram": 128, "vcpus": 1, "disk": 1}}).json()["flavor"]["id"]
        with vm_hosts.host_agent(f"http://127.0.0.1:{ports[0]}", tmp_path, made["credential"],
                                 "--driver", "fake",
                                 "--fake-vcpus", "2", "--fake-memory-mb", "8192",
                                 "--fake-disk-gb", "40"):
            while nova[1].get(f"/barecloud-hypervisors/{made['id']}").json()[
                    "hypervisor"]["state"] != "up":
                assert time.monotonic() < deadline + 60
                time.sleep(0.2)
            with ThreadPoolExecutor(10) as pool:
                ids = list(pool.map(lambda i: nova[i % 2].post("/servers", json={"server": {
                    "name": f"race-{i}", "imageRef": image, "flavorRef": flavor,
                    "networks": "none"}}).json()["server"]["id"], range(10)))
            final: dict[str, str] = {}
            deadline = time.monotonic() + 90
            while len(final) < len(ids):
                assert time.monotonic() < deadline, final
                for i in set(ids) - set(final):
                    status = nova[0].get(f"/servers/{i}").json()["server"]["status"]
                    if status in ("ACTIVE", "ERROR"):
                        final[i] = status
                time.sleep(0.3)
            assert sorted(final.values()).count("ACTIVE") == 4, final
            host = nova[1].get(f"/os-hypervisors/{made['id']}").json()["hypervisor"]
            assert (host["vcpus_used"], host["vcpus"]) == (4, 2)
            for i in ids:
                nova[1].delete(f"/servers/{i}")
            deadline = time.monotonic() + 60
            while any(nova[0].get(f"/servers/{i}").status_code != 404 for i in ids):
                assert time.monotonic() < deadline
                time.sleep(0.5)
    finally:
        procs.stop_all()
