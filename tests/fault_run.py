"""Issue 16's proof: a workload under a nemesis, invariants checked during and after.

``run(cfg, root)`` builds the cluster (tests/cluster.py), enrolls the lab's
machines as ``ipmi`` nodes (``boot=fake``: no boot script, the machine
network-boots and its fake agent comes up; ``deploy=agent``), brings them to
``available`` (verify, then automated cleaning by the agents), sets a share
aside as quiet nodes, then runs the workload, the nemesis and the checker for
``cfg.minutes``; then stops the faults, heals every process, waits for the
nodes to settle and makes the final checks.  The report lists the faults
injected, the checks made and every violation with its evidence.

``throughput(cfg, root)`` is the bench's other figure: deploy throughput of
one cluster (all nodes deployed at once, no faults) and the takeover time
after a SIGKILL mid-undeploy.
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from barecloud import states
from barecloud.lab.enroll import node_body
from barecloud.lab.layout import LabDir
from barecloud.lab.machine import Machine
from tests.cluster import BM, Cluster, Config
from tests.invariants import Checker, Violation, load_ledger
from tests.nemesis import Fault, Nemesis
from tests.workload import FINE, Workload

STABLE = frozenset(s.name for s in states.STATES.values() if s.stable)


@dataclass
class Report:
    cfg: Config
    t0: float
    faults: list[Fault] = field(default_factory=list)
    checks: collections.Counter[str] = field(default_factory=collections.Counter)
    violations: list[Violation] = field(default_factory=list)
    statuses: collections.Counter[str] = field(default_factory=collections.Counter)
    agent_stats: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    log_errors: dict[str, int] = field(default_factory=dict)

    def by_check(self) -> dict[str, list[Violation]]:
        out: dict[str, list[Violation]] = collections.defaultdict(list)
        for v in self.violations:
            out[v.check].append(v)
        return out

    def text(self, examples: int = 5) -> str:
        c = self.cfg
        lines = [f"fault run: {c.nodes} nodes, {c.conductors} conductors, {c.apis} API "
                 f"processes, {c.minutes:g} min of faults, seed {c.seed}"]
        lines.append(f"faults injected ({len(self.faults)}):")
        lines += [f"  {f.line(self.t0)}" for f in self.faults]
        counts = collections.Counter(f.action for f in self.faults)
        lines.append("  totals: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        lines.append("checks made: " + ", ".join(
            f"{k} {v}" for k, v in sorted(self.checks.items())))
        lines.append("requests: " + ", ".join(
            f"{k}: {v}" for k, v in sorted(self.statuses.items())))
        lines.append("agents: " + json.dumps({k: v for k, v in self.agent_stats.items()
                                              if k != "server_errors"}))
        lines.append("figures: " + json.dumps(self.figures, default=str))
        if self.log_errors:
            lines.append("ERROR/Traceback lines in process logs: " + json.dumps(self.log_errors))
        lines.append("DHCP (one server per network): not checked, no tenant network DHCP here")
        grouped = self.by_check()
        lines.append(f"violations: {len(self.violations)} " + json.dumps(
            {k: len(v) for k, v in grouped.items()}))
        for check, vs in grouped.items():
            lines.append(f"--- {check}: {len(vs)}")
            for v in vs[:examples]:
                lines.append(v.text(self.t0))
            if len(vs) > examples:
                lines.append(f"    ... and {len(vs) - examples} more")
        return "\n".join(lines)


# --- set-up ------------------------------------------------------------------


async def enroll(cluster: Cluster) -> list[dict[str, str]]:
    """Every lab machine as an ipmi node (boot fake, deploy agent) with its ports."""
    api = cluster.apis[0].url
    machines = list(LabDir(cluster.lab_dir).machines())
    shard_url = cluster.shard_urls[0]
    sem = asyncio.Semaphore(8)
    out: list[dict[str, str]] = []
    async with httpx.AsyncClient(base_url=f"{api}/baremetal/v1", headers=BM,
                                 timeout=60) as http:

        async def one(m: Machine) -> None:
            async with sem:
                body = node_body(m, "ipmi", shard_url)
                body.update(boot_interface="fake", deploy_interface="agent")
                rsp = await http.post("/nodes", json=body)
                if rsp.status_code != 201:
                    raise RuntimeError(f"enroll {m.name}: {rsp.status_code} {rsp.text[:300]}")
                for mac in m.macs:
                    rsp = await http.post("/ports", json={"address": mac, "node_uuid": m.uuid})
                    if rsp.status_code != 201:
                        raise RuntimeError(f"port {m.name}: {rsp.status_code} {rsp.text[:300]}")
                out.append({"name": m.name, "uuid": m.uuid})

        await asyncio.gather(*(one(m) for m in machines))
    return sorted(out, key=lambda n: n["name"])


async def bring_to(cluster: Cluster, nodes: list[dict[str, str]], target: str, want: str,
                   timeout: float) -> dict[str, str]:
    """Ask each node for ``target``; wait until they are all ``want`` (or time out)."""
    api = cluster.apis[0].url
    async with httpx.AsyncClient(base_url=f"{api}/baremetal/v1", headers=BM,
                                 timeout=60) as http:
        sem = asyncio.Semaphore(8)

        async def ask(n: dict[str, str]) -> None:
            async with sem:
                rsp = await http.put(f"/nodes/{n['uuid']}/states/provision",
                                     json={"target": target})
                if rsp.status_code != 202:
                    raise RuntimeError(f"{target} {n['name']}: {rsp.status_code} "
                                       f"{rsp.text[:300]}")

        await asyncio.gather(*(ask(n) for n in nodes))
        return await wait_states(http, nodes, want, timeout)


async def wait_states(http: httpx.AsyncClient, nodes: list[dict[str, str]], want: str,
                      timeout: float) -> dict[str, str]:
    uuids = {n["uuid"] for n in nodes}
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, str] = {}
        marker = None
        while True:
            params = {"fields": "uuid,provision_state,reservation", "limit": "1000"}
            if marker:
                params["marker"] = marker
            rsp = await http.get("/nodes", params=params)
            rsp.raise_for_status()
            page = rsp.json()["nodes"]
            for n in page:
                if n["uuid"] in uuids:
                    found[n["uuid"]] = (n["provision_state"] if n["reservation"] is None
                                        else f"{n['provision_state']} (locked)")
            if len(page) < 1000:
                break
            marker = page[-1]["uuid"]
        # Done when all are there, or when none can move any more (each stable
        # and unlocked: a failed deploy stays failed).
        if all(s == want or s in STABLE for s in found.values()) or (
                time.monotonic() > deadline):
            return found
        await asyncio.sleep(1.0)


async def prepare(cluster: Cluster) -> list[dict[str, str]]:
    nodes = await enroll(cluster)
    for target, want in (("manage", "manageable"), ("provide", "available")):
        started = time.monotonic()
        got = await bring_to(cluster, nodes, target, want, timeout=300 + cluster.cfg.nodes)
        off = collections.Counter(s for s in got.values() if s != want)
        print(f"  {target}: {sum(1 for s in got.values() if s == want)}/{len(nodes)} {want} "
              f"in {time.monotonic() - started:.1f} s {dict(off) or ''}", flush=True)
        if off:
            raise RuntimeError(f"set-up: not every node reached {want}: {dict(off)}")
    return nodes


def log_errors(cluster: Cluster) -> dict[str, int]:
    out = {}
    for p in cluster.procs.values():
        try:
            text = p.log.read_text(errors="replace")
        except OSError:
            continue
        n = sum(1 for line in text.splitlines() if " ERROR " in line or "Traceback" in line)
        if n:
            out[p.name] = n
    return out


# --- the run -------------------------------------------------------------------


def run(cfg: Config, root: Path) -> Report:
    cluster = Cluster(cfg, root)
    try:
        cluster.start()
        print(f"cluster up in {root}: " + ", ".join(
            f"{p.name} pid {p.pid}" for p in cluster.procs.values()), flush=True)
        return asyncio.run(_run(cluster))
    finally:
        cluster.stop()


async def _run(cluster: Cluster) -> Report:
    cfg = cluster.cfg
    rng = random.Random(cfg.seed)
    nodes = await prepare(cluster)
    shuffled = nodes[:]
    rng.shuffle(shuffled)
    n_quiet = max(1, round(len(nodes) * cfg.quiet_share))
    quiet, busy = shuffled[:n_quiet], shuffled[n_quiet:]
    nemesis = Nemesis(cluster, rng)
    checker = Checker(cluster, nemesis, {n["name"]: n["uuid"] for n in quiet})
    report = Report(cfg, checker.t0)
    workload = Workload([a.url for a in cluster.apis], busy, rng, workers=cfg.workers)
    stop_faults, stop_checks = asyncio.Event(), asyncio.Event()
    checking = asyncio.create_task(checker.run(stop_checks))
    started = time.time()
    tasks = [asyncio.create_task(workload.run(stop_faults))]
    if cfg.nemesis:
        tasks.append(asyncio.create_task(nemesis.run(stop_faults)))
    print(f"  workload on {len(busy)} nodes, {len(quiet)} quiet; nemesis "
          f"{'on' if cfg.nemesis else 'off'} for {cfg.minutes:g} min", flush=True)
    await asyncio.sleep(cfg.minutes * 60)
    stop_faults.set()
    await asyncio.gather(*tasks)
    ended = time.time()
    for action in cluster.heal():
        nemesis.log.append(Fault(time.time(), "heal", action.split()[-1], None, action))
    await asyncio.to_thread(cluster.wait_ready, 120, True)
    healed = time.time()
    print(f"  faults over ({len(nemesis.log)} events); settling", flush=True)
    conn = await checker.connect()
    try:
        left = await checker.settle(conn, cfg.settle_timeout)
        # A calm window: every process up, the ring still, no workload: each BMC
        # must be read once per interval, with no tolerance at all.
        calm_from = healed + cfg.power_sync_interval + cfg.heartbeat_timeout
        calm_to = max(time.time(), calm_from) + 2.5 * cfg.power_sync_interval
        print(f"  settled; calm window for the power polls until "
              f"{calm_to - checker.t0:.0f} s", flush=True)
        await asyncio.sleep(max(0.0, calm_to - time.time()))
        stop_checks.set()
        await checking
        checker.close_lock_episodes()
        await checker.pull_reads()
        rows = await checker.history(conn)
        ledger = load_ledger(cluster.ledger_path)
        checker.check_transitions(rows)
        checker.check_deposed(rows)
        checker.check_active(rows, workload.ops, ledger)
        checker.check_settled(left, rows, workload.ops)
        final = await conn.fetch("SELECT uuid, name, provision_state FROM nodes")
        checker.check_disks(list(final), rows, workload.ops)
        report.figures.update(checker.check_polls(started + cfg.power_sync_interval, ended))
        calm = checker.check_polls(calm_from, calm_to, calm=True)
        report.figures["calm: reads per quiet BMC per interval"] = calm[
            "reads per quiet BMC per interval"]
        report.figures["calm: close pairs"] = calm["close pairs"]
        final_states = collections.Counter(r["provision_state"] for r in final)
        report.figures["final states"] = dict(final_states)
        report.figures["moves to active"] = sum(
            1 for r in rows if r.kind == "provisioning" and r.to_state == "active"
            and r.at >= started)
        report.figures["ledger writes"] = sum(1 for w in ledger if w["name"] == "write_image")
    finally:
        await conn.close()
    for o in workload.server_errors():
        checker.violate("server-error", o.node, f"{o.op} answered {o.status} by {o.api}",
                        [o.detail])
    try:
        report.agent_stats = json.loads(cluster.agent_stats_path.read_text())
    except (OSError, ValueError):
        report.agent_stats = {}
    for e in report.agent_stats.get("server_errors", []):
        checker.violate("server-error", None,
                        f"agent {e['method']} {e['path']} answered {e['status']}",
                        [e["body"][:300]])
    report.faults = nemesis.log
    report.checks = checker.checks
    report.violations = checker.violations
    report.statuses = workload.statuses()
    report.figures["accepted requests"] = len(workload.accepted())
    report.figures["refused (400/404/409/503)"] = sum(
        1 for o in workload.ops if o.status in FINE)
    report.figures["unknown outcome (connection lost)"] = sum(
        1 for o in workload.ops if o.status is None)
    report.log_errors = log_errors(cluster)
    report.figures["process starts"] = {p.name: p.starts for p in cluster.procs.values()}
    if cluster.refused:
        report.figures["exits after a heal"] = cluster.refused
    return report


# --- throughput and takeover ----------------------------------------------------


def throughput(cfg: Config, root: Path) -> dict[str, float]:
    """Deploy every node at once (no faults); then undeploy them all, SIGKILL
    conductor-1 mid-way and time until no node is locked by it any more."""
    cluster = Cluster(cfg, root)
    try:
        cluster.start()
        return asyncio.run(_throughput(cluster))
    finally:
        cluster.stop()


async def _throughput(cluster: Cluster) -> dict[str, float]:
    nodes = await prepare(cluster)
    api = cluster.apis[0].url
    out: dict[str, float] = {}
    async with httpx.AsyncClient(base_url=f"{api}/baremetal/v1", headers=BM,
                                 timeout=60) as http:
        sem = asyncio.Semaphore(16)

        async def deploy(n: dict[str, str]) -> None:
            async with sem:
                url = f"http://127.0.0.1:9/images/{n['name']}-tp.raw"
                patch = [{"op": "add", "path": f"/instance_info/{k}", "value": v}
                         for k, v in {"image_source": url, "image_os_hash_algo": "sha256",
                                      "image_os_hash_value": "ab" * 32,
                                      "image_size": 1 << 30}.items()]
                (await http.patch(f"/nodes/{n['uuid']}", json=patch)).raise_for_status()
                (await http.put(f"/nodes/{n['uuid']}/states/provision",
                                json={"target": "active"})).raise_for_status()

        started = time.time()
        await asyncio.gather(*(deploy(n) for n in nodes))
        got = await wait_states(http, nodes, "active", timeout=600 + 2 * len(nodes))
        out["active"] = sum(1 for s in got.values() if s == "active")
        # Until the last node went active (by the history), so that a straggler
        # that fails at its wait deadline does not count as deploy time.
        conn = await asyncpg.connect(cluster.asyncpg_dsn())
        try:
            last = await conn.fetchval(
                "SELECT extract(epoch FROM max(created_at)) FROM node_history "
                "WHERE event_type = 'provisioning' AND to_state = 'active' "
                "AND from_state = 'deploying'")
        finally:
            await conn.close()
        took = float(last) - started if last is not None else time.time() - started
        out["deploy seconds"] = took
        out["deploys per minute"] = out["active"] / took * 60
        if cluster.cfg.conductors < 2:
            return out
        # Takeover: undeploy everything, and kill conductor-1 while it holds nodes
        # (watched while the requests go out: it may be done with its share of
        # the undeploy steps before the last request is sent).

        async def undeploy(n: dict[str, str]) -> None:
            async with sem:
                await http.put(f"/nodes/{n['uuid']}/states/provision",
                               json={"target": "deleted"})

        sending = asyncio.gather(*(undeploy(n) for n in nodes), return_exceptions=True)
        conn = await asyncpg.connect(cluster.asyncpg_dsn())
        try:
            victim = cluster.procs["conductor-1"]
            held: list[str] = []
            # Kill it while it holds a quarter of its share of the nodes (or, after
            # 10 s, whatever it holds).
            share = max(1, len(nodes) // cluster.cfg.conductors // 4)
            begun = time.monotonic()
            while time.monotonic() - begun < 60:
                held = [r["uuid"] for r in await conn.fetch(
                    "SELECT uuid FROM nodes WHERE reservation = $1", victim.name)]
                if len(held) >= share or (held and time.monotonic() - begun > 10):
                    break
                await asyncio.sleep(0.02)
            killed = time.monotonic()
            victim.signal(signal.SIGKILL)
            out["held by the killed conductor"] = len(held)
            while held and time.monotonic() - killed < 600:
                still = await conn.fetchval(
                    "SELECT count(*) FROM nodes WHERE reservation = $1 "
                    "AND uuid = ANY($2::text[])", victim.name, held)
                if not still:
                    break
                await asyncio.sleep(0.2)
            out["takeover seconds"] = time.monotonic() - killed
        finally:
            await conn.close()
            await sending
    return out
