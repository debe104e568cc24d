"""A barecloud cluster of real processes for fault injection (issue 16's proof).

One fresh PostgreSQL database, one shared data directory (the sealing key,
clouds.yaml), a loopback lab of IPMI BMCs (the machines' shared truth: power,
boot device, disk, and a log of every power read), N ``barecloud conductor``
and M ``barecloud api`` processes with short liveness timeouts, and one
``barecloud.lab.fake_agents`` process playing the ramdisk agents.

Why lab BMCs rather than ``fake-hardware``: a fake machine lives in the
memory of each conductor process, so three conductors see three different
machines, nothing records how often the cluster read a BMC, and a machine's
"disk" dies with the conductor.  A lab machine is one machine whatever
conductor drives it, and its shard counts the power reads.

Processes are started, signalled and stopped by their PID only.  The
harness runs the migrations once before any process starts, so the
processes do not race at their start (that race is issue 16's too, for
SQLite, but it is not what this run is about).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from tests import support

BM = {"X-OpenStack-Ironic-API-Version": "1.78"}


@dataclass
class Config:
    """One run.  Times in seconds; ``minutes`` is the length of the faulty phase."""

    nodes: int = 200
    minutes: float = 3.0
    conductors: int = 3
    apis: int = 2
    seed: int = 16
    nemesis: bool = True
    # Liveness: a conductor is dead after heartbeat_timeout without a heartbeat.
    heartbeat_interval: float = 1.0
    heartbeat_timeout: float = 6.0
    deadline_check_interval: float = 2.0
    power_sync_interval: float = 15.0
    callback_timeout: float = 60.0
    db_pool_size: int = 10
    # The fake agents: seconds an image write takes, share of writes that fail.
    write_seconds: float = 2.0
    fail_rate: float = 0.05
    # Nodes the workload never touches after they are available: their BMCs
    # are read only by the power sync, which is what the poll check measures.
    quiet_share: float = 0.2
    workers: int = 6
    # The nemesis: a fault every fault_gap seconds (uniform in the range);
    # a pause lasts pause seconds (range), longer than heartbeat_timeout.
    fault_gap: tuple[float, float] = (4.0, 12.0)
    pause: tuple[float, float] = (8.0, 15.0)
    down: tuple[float, float] = (2.0, 8.0)
    settle_timeout: float = 240.0
    keep: bool = False

    @property
    def takeover_deadline(self) -> float:
        """How long a dead member's lock may last: it must be declared dead
        (timeout), a live conductor must notice (its heartbeat/deadline loop),
        and release the node; plus slack for a loaded two-core machine."""
        return (self.heartbeat_timeout + 2 * self.heartbeat_interval
                + self.deadline_check_interval + 10.0)

    @property
    def transient_limit(self) -> float:
        """The longest a node may stay in one transient state: a wait's
        deadline, plus the takeover, plus a step's BMC time-outs."""
        return self.callback_timeout + self.takeover_deadline + 60.0


@dataclass
class Proc:
    name: str
    kind: str  # "conductor" | "api" | "agents"
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    paused: bool = False
    url: str = ""
    starts: int = 0

    @property
    def pid(self) -> int | None:
        return self.popen.pid if self.popen is not None else None

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self) -> None:
        with self.log.open("ab") as out:
            out.write(f"\n=== start {self.starts + 1} at {time.time():.3f}\n".encode())
            out.flush()
            self.popen = subprocess.Popen(self.argv, env=self.env, stdout=out,
                                          stderr=subprocess.STDOUT, start_new_session=True)
        self.paused = False
        self.starts += 1

    def signal(self, sig: int) -> None:
        if self.alive() and self.popen is not None:
            self.popen.send_signal(sig)

    def wait_exit(self, timeout: float) -> bool:
        if self.popen is None:
            return True
        try:
            self.popen.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False

    def stop(self, timeout: float = 20.0) -> None:
        """SIGCONT, SIGTERM, then SIGKILL: ours only, by PID."""
        if not self.alive():
            return
        self.signal(signal.SIGCONT)
        self.signal(signal.SIGTERM)
        if not self.wait_exit(timeout):
            self.signal(signal.SIGKILL)
            self.wait_exit(10)


@dataclass
class Cluster:
    cfg: Config
    root: Path
    db_url: str = ""
    db_name: str = ""
    lab_dir: Path = Path()
    procs: dict[str, Proc] = field(default_factory=dict)
    lab_up: bool = False
    machines: list[dict[str, Any]] = field(default_factory=list)
    shard_urls: list[str] = field(default_factory=list)
    lab_token: str = ""
    refused: list[str] = field(default_factory=list)

    # --- set-up -------------------------------------------------------------

    def env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(support.REPO / "src"), *filter(None, [env.get("PYTHONPATH")])])
        c = self.cfg
        env.update({
            "BARECLOUD_DATABASE_URL": self.db_url,
            "BARECLOUD_DATA_DIR": str(self.root / "data"),
            "BARECLOUD_HOST": "127.0.0.1",
            "BARECLOUD_AUTH_STRATEGY": "noauth",
            "BARECLOUD_CONDUCTOR_HEARTBEAT_INTERVAL": str(c.heartbeat_interval),
            "BARECLOUD_CONDUCTOR_HEARTBEAT_TIMEOUT": str(c.heartbeat_timeout),
            "BARECLOUD_DEADLINE_CHECK_INTERVAL": str(c.deadline_check_interval),
            "BARECLOUD_POWER_SYNC_INTERVAL": str(c.power_sync_interval),
            "BARECLOUD_DEPLOY_CALLBACK_TIMEOUT": str(c.callback_timeout),
            "BARECLOUD_CLEAN_CALLBACK_TIMEOUT": str(c.callback_timeout),
            "BARECLOUD_INSPECT_WAIT_TIMEOUT": str(c.callback_timeout),
            "BARECLOUD_DB_POOL_SIZE": str(c.db_pool_size),
            "BARECLOUD_WORK_POLL_INTERVAL": "1",
        })
        return env

    def start(self) -> None:
        """Database, lab, migrations, then every process; returns once all answer."""
        (self.root / "data").mkdir(parents=True, exist_ok=True)
        why = support.pg_available()
        if why:
            raise RuntimeError(why)
        self.db_url, self.db_name = support.pg_create_database()
        self._lab()
        env = self.env()
        subprocess.run([sys.executable, "-m", "barecloud", "db", "upgrade"], env=env,
                       check=True, capture_output=True)
        for i in range(self.cfg.apis):
            port = support.free_port()
            e = dict(env, BARECLOUD_PORT=str(port))
            p = Proc(f"api-{i + 1}", "api", [sys.executable, "-m", "barecloud", "api"], e,
                     self.root / f"api-{i + 1}.log", url=f"http://127.0.0.1:{port}")
            self.procs[p.name] = p
        for i in range(self.cfg.conductors):
            name = f"conductor-{i + 1}"
            self.procs[name] = Proc(
                name, "conductor",
                [sys.executable, "-m", "barecloud", "conductor", "--name", name], env,
                self.root / f"{name}.log")
        agents_argv = [sys.executable, "-m", "barecloud.lab.fake_agents",
                       "--lab-dir", str(self.lab_dir),
                       "--ledger", str(self.ledger_path), "--stats", str(self.agent_stats_path),
                       "--write-seconds", str(self.cfg.write_seconds),
                       "--fail-rate", str(self.cfg.fail_rate)]
        for api in self.apis:
            agents_argv += ["--api", api.url]
        self.procs["agents"] = Proc("agents", "agents", agents_argv, env,
                                    self.root / "agents.log")
        for p in self.procs.values():
            p.start()
        self.wait_ready(timeout=90)

    @property
    def ledger_path(self) -> Path:
        return self.root / "ledger.jsonl"

    @property
    def agent_stats_path(self) -> Path:
        return self.root / "agent-stats.json"

    @property
    def apis(self) -> list[Proc]:
        return [p for p in self.procs.values() if p.kind == "api"]

    @property
    def conductors(self) -> list[Proc]:
        return [p for p in self.procs.values() if p.kind == "conductor"]

    def _lab(self) -> None:
        self.lab_dir = self.root / "lab"
        shards = max(1, (self.cfg.nodes + 999) // 1000)
        out = subprocess.run(
            [sys.executable, "-m", "barecloud.lab", "up", "--nodes", str(self.cfg.nodes),
             "--shards", str(shards), "--lab-dir", str(self.lab_dir), "--disk-gb", "1",
             "--json"],
            env=self.env(), check=True, capture_output=True, text=True)
        self.lab_up = True
        summary = json.loads(out.stdout)
        self.shard_urls = [s["redfish_url"] for s in summary["shards"]]
        state = json.loads((self.lab_dir / "lab.json").read_text())
        self.lab_token = state["control_token"]
        self.machines = self.lab_machines()

    def lab_machines(self) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for url in self.shard_urls:
            rsp = httpx.get(f"{url}/lab/v1/machines", headers={"X-Lab-Token": self.lab_token},
                            timeout=30)
            rsp.raise_for_status()
            found += rsp.json()["machines"]
        return found

    def wait_ready(self, timeout: float, restart: bool = False) -> None:
        """Until every API answers and every conductor is listed.  ``restart``: a
        process that exits is started again (a conductor may refuse a name that
        still looks live after its predecessor was killed) instead of failing."""
        deadline = time.monotonic() + timeout
        want = {p.name for p in self.conductors}
        while time.monotonic() < deadline:
            for p in self.procs.values():
                if not p.alive():
                    if not restart:
                        raise RuntimeError(f"{p.name} exited:\n{self.tail(p)}")
                    self.refused.append(f"{p.name} exited with {p.popen and p.popen.returncode}"
                                        f" after its restart; started again")
                    time.sleep(1.0)
                    p.start()
            try:
                up = all(httpx.get(f"{a.url}/baremetal/v1", timeout=2).status_code == 200
                         for a in self.apis)
                if up and want <= self.listed_conductors(self.apis[0]):
                    return
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            time.sleep(0.3)
        raise RuntimeError("cluster did not come up:\n" + "\n".join(
            self.tail(p) for p in self.procs.values()))

    def wait_back(self, p: Proc, timeout: float = 60.0) -> bool:
        """Until ``p`` serves again after a restart or a pause: an API process
        answers, a conductor is listed alive by an API process that is not down,
        and the API processes' hash rings (read again every 2 s) have seen it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not p.alive():
                return False
            try:
                if p.kind == "api":
                    if httpx.get(f"{p.url}/baremetal/v1", timeout=2).status_code == 200:
                        return True
                else:
                    api = next((a for a in self.apis if a.alive() and not a.paused), None)
                    if api is not None and p.name in self.listed_conductors(api):
                        time.sleep(2.5)
                        return True
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            time.sleep(0.3)
        return False

    def listed_conductors(self, api: Proc) -> set[str]:
        """The conductors ``api`` lists as alive (their heartbeats are recent)."""
        rsp = httpx.get(f"{api.url}/baremetal/v1/conductors", headers=BM, timeout=5)
        return {c["hostname"] for c in rsp.json()["conductors"]}

    def tail(self, p: Proc, lines: int = 30) -> str:
        try:
            text = p.log.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            text = []
        return f"--- {p.name}\n" + "\n".join(text)

    # --- faults ---------------------------------------------------------------

    def heal(self) -> list[str]:
        """Resume what is paused, restart what is dead; what was done."""
        done = []
        for p in self.procs.values():
            if p.paused and p.alive():
                p.signal(signal.SIGCONT)
                p.paused = False
                done.append(f"SIGCONT {p.name}")
            elif not p.alive():
                p.start()
                done.append(f"restart {p.name}")
        return done

    # --- tear-down --------------------------------------------------------------

    def stop(self) -> None:
        for p in self.procs.values():
            if p.alive():
                p.signal(signal.SIGCONT)
                p.signal(signal.SIGTERM)
        for p in self.procs.values():
            if p.alive() and not p.wait_exit(20):
                p.signal(signal.SIGKILL)
                p.wait_exit(10)
        if self.lab_up:
            subprocess.run([sys.executable, "-m", "barecloud.lab", "down", "--lab-dir",
                            str(self.lab_dir)], env=self.env(), capture_output=True)
            self.lab_up = False
        if self.db_name and not self.cfg.keep:
            support.pg_drop_database(self.db_name)
            self.db_name = ""

    def asyncpg_dsn(self) -> str:
        return self.db_url.replace("postgresql+asyncpg://", "postgresql://")
