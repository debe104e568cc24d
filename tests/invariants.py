"""The invariants of issue 16, checked while the nemesis runs and at the end.

The checker reads the database (a read-only session, its own clock), the
lab's BMC power-read log, the fake agents' ledger, the lab's disks and the
workload's history of requests; it never writes.  Checks:

- ``lock``: no node stays locked by a holder that is not a live conductor
  (online, heartbeat younger than the timeout, by the database's clock) for
  longer than the takeover deadline;
- ``transient``: no node stays in one transient state longer than a wait's
  deadline plus the takeover deadline (plus a step's BMC time-outs);
- ``transition``: every history transition is in ``states.TRANSITIONS``
  (its event, from and to states), and each node's transitions chain: a row
  that starts from another state than the last one ended in was written
  from a stale view (a lost update, or a deposed conductor);
- ``deposed``: no history row from a conductor on a node after the
  takeover declared it dead ("Conductor X stopped answering") and before it
  restarted or a new request moved the node (it must step down);
- ``active-image``: each move to ``active`` follows a successful write by
  the node's agent, within that deploy, of the image that deploy asked for
  (ledger); at the end each active node's lab disk holds that image;
- ``power-poll``: each quiet node's BMC (no workflow ever touches it after
  the set-up) is read at most once per power-sync interval by the whole
  cluster: two reads closer than 0.9 interval are a violation, unless a
  conductor left or joined in between (the ring moved: tolerated once per
  BMC per move, since the new owner's first read may follow the old owner's
  last; 0.9 allows for timer jitter); and strictly, with no tolerance, in
  a calm window after the cluster healed (``power-poll (calm)``);
- ``settled``: after the nemesis stops and every process is back, every
  node reaches a stable state, unlocked, and every accepted (202) provision
  request left a transition in the history;
- ``server-error``: no 5xx answer to the workload or to the agents.

One DHCP server per network is not checked: no tenant network has DHCP
here (it needs ``network_host_switch`` and root).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from barecloud import states
from barecloud.lab.fake_agents import read_disk
from tests.cluster import Cluster
from tests.nemesis import Nemesis
from tests.workload import Op

TRANSIENT = tuple(s.name for s in states.STATES.values() if not s.stable)
DEPLOY_STARTS = {(f, t) for (f, e), t in states.TRANSITIONS.items()
                 if e in ("deploy", "rebuild")}


@dataclass
class Violation:
    check: str
    node: str | None
    at: float
    detail: str
    evidence: list[str] = field(default_factory=list)

    def text(self, t0: float) -> str:
        head = f"[{self.check}] {self.at - t0:8.1f} s node {self.node or '-'}: {self.detail}"
        return "\n".join([head, *(f"      {e}" for e in self.evidence[:24])])


@dataclass
class Row:
    id: int
    node: str
    at: float
    event: str
    kind: str
    from_state: str | None
    to_state: str | None
    conductor: str | None

    def text(self, t0: float) -> str:
        return (f"history #{self.id} {self.at - t0:8.1f} s [{self.conductor or '-'}] "
                f"{self.event[:160]}")


@dataclass
class Checker:
    cluster: Cluster
    nemesis: Nemesis
    quiet: dict[str, str]  # machine name -> node uuid: nodes the workload never touches
    t0: float = field(default_factory=time.time)
    checks: collections.Counter[str] = field(default_factory=collections.Counter)
    violations: list[Violation] = field(default_factory=list)
    reads: dict[str, list[float]] = field(default_factory=lambda: collections.defaultdict(list))
    reads_from: float = 0.0
    names: dict[str, str] = field(default_factory=dict)  # uuid -> name
    _held: dict[tuple[str, str], float] = field(default_factory=dict)
    _lock_violations: dict[tuple[str, str], tuple[Violation, float]] = field(
        default_factory=dict)
    _reported: set[Any] = field(default_factory=set)
    _since: dict[str, float] = field(default_factory=dict)
    # When each member's incarnations registered (conductors.created_at): a
    # conductor that stepped down and registered again is new, like a restart.
    registered: dict[str, set[float]] = field(
        default_factory=lambda: collections.defaultdict(set))

    def violate(self, check: str, node: str | None, detail: str, evidence: list[str],
                key: Any = None) -> None:
        if key is not None:
            if (check, key) in self._reported:
                return
            self._reported.add((check, key))
        self.violations.append(Violation(check, node, time.time(), detail, evidence))

    async def connect(self) -> asyncpg.Connection:
        conn = await asyncpg.connect(self.cluster.asyncpg_dsn())
        await conn.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
        return conn

    # --- during the run -----------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        conn = await self.connect()
        last_history = last_reads = 0.0
        try:
            while not stop.is_set():
                try:
                    await self.poll(conn)
                    if time.monotonic() - last_reads > 5:
                        last_reads = time.monotonic()
                        await self.pull_reads()
                    if time.monotonic() - last_history > 30:
                        last_history = time.monotonic()
                        self.check_transitions(await self.history(conn))
                except (asyncpg.PostgresError, OSError, httpx.HTTPError) as exc:
                    self.checks["checker errors (retried)"] += 1
                    print(f"  checker: {exc!r}", flush=True)
                    if conn.is_closed():
                        conn = await self.connect()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
        finally:
            await conn.close()

    async def poll(self, conn: asyncpg.Connection) -> None:
        cfg = self.cluster.cfg
        conductors = await conn.fetch(
            "SELECT hostname, online, extract(epoch FROM (now() AT TIME ZONE 'utc') - "
            "updated_at) AS age, extract(epoch FROM created_at) AS registered "
            "FROM conductors")
        for r in conductors:
            self.registered[r["hostname"]].add(float(r["registered"]))
        live = {r["hostname"] for r in conductors
                if r["online"] and r["age"] < cfg.heartbeat_timeout}
        rows = await conn.fetch(
            "SELECT uuid, name, provision_state, reservation, workflow, "
            "coalesce(provision_updated_at, updated_at, created_at) AS since, "
            "extract(epoch FROM (now() AT TIME ZONE 'utc') - "
            "coalesce(provision_updated_at, updated_at, created_at)) AS age FROM nodes")
        now = time.time()
        held = set()
        for r in rows:
            self.names[r["uuid"]] = r["name"]
            holder = r["reservation"]
            if holder is not None:
                self.checks["lock"] += 1
                if holder not in live:
                    key = (r["uuid"], holder)
                    held.add(key)
                    first = self._held.setdefault(key, now)
                    grace = cfg.takeover_deadline - cfg.heartbeat_timeout
                    if now - first > grace and key not in self._lock_violations:
                        row = next((c for c in conductors if c["hostname"] == holder), None)
                        state = ("no such conductor" if row is None else
                                 f"online={row['online']}, heartbeat {row['age']:.1f} s old")
                        self.violate(
                            "lock", r["uuid"],
                            f"locked by {holder} ({state}) for over {grace:.1f} s (the "
                            "takeover deadline) after it stopped being live",
                            [f"node {r['name']} {r['provision_state']} workflow {r['workflow']}",
                             *self.faults_of(holder, first - 60, now)])
                        self._lock_violations[key] = (self.violations[-1], first)
            if r["provision_state"] in TRANSIENT:
                self.checks["transient"] += 1
                if r["age"] > cfg.transient_limit:
                    self.violate(
                        "transient", r["uuid"],
                        f"{r['provision_state']} for {r['age']:.0f} s (limit "
                        f"{cfg.transient_limit:.0f} s)",
                        [f"node {r['name']} reservation {holder} workflow {r['workflow']}"],
                        key=(r["uuid"], r["provision_state"], r["since"]))
        for key in set(self._held) - held:
            del self._held[key]
            self._episode_over(key, f"released {now - self._held_first(key, now):.1f} s "
                                    "after its holder stopped being live")

    def _held_first(self, key: tuple[str, str], now: float) -> float:
        found = self._lock_violations.get(key)
        return found[1] if found else now

    def _episode_over(self, key: tuple[str, str], how: str) -> None:
        found = self._lock_violations.pop(key, None)
        if found is not None:
            found[0].evidence.insert(0, how)

    def close_lock_episodes(self) -> None:
        """At the end: the lock violations still open say how long they lasted."""
        now = time.time()
        for key in list(self._lock_violations):
            self._episode_over(key, f"still held {now - self._held_first(key, now):.1f} s "
                                    "after its holder stopped being live, at the end")

    def faults_of(self, target: str, since: float, until: float) -> list[str]:
        return [f"nemesis: {f.line(self.t0)}" for f in self.nemesis.log
                if f.target == target and since <= f.at <= until]

    async def pull_reads(self) -> None:
        c = self.cluster
        async with httpx.AsyncClient(headers={"X-Lab-Token": c.lab_token}, timeout=30) as http:
            for url in c.shard_urls:
                since = self._since.get(url, 0.0)
                rsp = await http.get(f"{url}/lab/v1/power-reads", params={"since": since})
                rsp.raise_for_status()
                body = rsp.json()
                for name, times in body["reads"].items():
                    self.reads[name].extend(t for t in times if t > since)
                self._since[url] = body["now"] - 1e-6
                for name in body["reads"]:
                    self.reads[name] = sorted(set(self.reads[name]))

    async def history(self, conn: asyncpg.Connection) -> list[Row]:
        rows = await conn.fetch(
            "SELECT h.id, n.uuid, extract(epoch FROM h.created_at) AS at, h.event, "
            "h.event_type, h.from_state, h.to_state, h.conductor FROM node_history h "
            "JOIN nodes n ON n.id = h.node_id ORDER BY h.id")
        return [Row(r["id"], r["uuid"], float(r["at"]), r["event"], r["event_type"],
                    r["from_state"], r["to_state"], r["conductor"]) for r in rows]

    # --- history ------------------------------------------------------------------

    @staticmethod
    def transitions(rows: list[Row]) -> dict[str, list[Row]]:
        by_node: dict[str, list[Row]] = collections.defaultdict(list)
        for r in rows:
            # apply_event's rows; notes carry the state they were written in.
            if r.kind == "provisioning" and r.from_state is not None and r.to_state:
                by_node[r.node].append(r)
        return by_node

    def check_transitions(self, rows: list[Row]) -> None:
        for node, trans in self.transitions(rows).items():
            prev: Row | None = None
            for r in trans:
                self.checks["transition"] += 1
                event = r.event.split(":", 1)[0]
                if states.TRANSITIONS.get((str(r.from_state), event)) != r.to_state:
                    self.violate("transition", node,
                                 f"{event}: {r.from_state} -> {r.to_state} is not in the table",
                                 [r.text(self.t0)], key=r.id)
                if prev is not None and prev.to_state != r.from_state:
                    self.violate(
                        "transition", node,
                        f"history does not chain: {prev.to_state} then a move from "
                        f"{r.from_state} (written from a stale view of the node)",
                        [prev.text(self.t0), r.text(self.t0)], key=r.id)
                prev = r

    def check_deposed(self, rows: list[Row]) -> None:
        """No conductor works on a node after its peers declared it dead (the
        takeover's "Conductor X stopped answering") until it starts again (a
        restart, or a new incarnation after stepping down) or a new request
        moves the node: it must have stepped down."""
        restarts: dict[str, list[float]] = collections.defaultdict(list)
        for f in self.nemesis.log:
            if f.action in ("restart", "heal"):
                restarts[f.target].append(f.at)
        for name, times in self.registered.items():
            restarts[name].extend(times)
        by_node: dict[str, list[Row]] = collections.defaultdict(list)
        for r in rows:
            by_node[r.node].append(r)
        for node, history in by_node.items():
            deposed: dict[str, Row] = {}
            for r in history:
                self.checks["deposed"] += 1
                event = r.event.split(":", 1)[0]
                if (r.kind == "provisioning" and event in states.USER_EVENTS) or (
                        r.event.startswith("power action")):
                    deposed.clear()  # a new request: whoever runs it now is new work
                    continue
                for holder in list(deposed):
                    if any(deposed[holder].at < t <= r.at for t in restarts[holder]):
                        del deposed[holder]
                if "stopped answering" in r.event and r.conductor:
                    # A takeover just after a restart is the old incarnation's.
                    timeout = self.cluster.cfg.heartbeat_timeout
                    if not any(r.at - timeout <= t <= r.at for t in restarts[r.conductor]):
                        deposed[r.conductor] = r
                    continue
                if r.conductor in deposed:
                    self.violate(
                        "deposed", node,
                        f"{r.conductor} worked on the node after it was declared dead",
                        [deposed[r.conductor].text(self.t0), r.text(self.t0),
                         *self.faults_of(str(r.conductor), deposed[r.conductor].at - 30,
                                         r.at)], key=(node, deposed[r.conductor].id))

    def check_active(self, rows: list[Row], ops: list[Op],
                     ledger: list[dict[str, Any]]) -> None:
        """Every move to active follows its deploy's image write (ledger)."""
        writes: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
        for w in ledger:
            if w["name"] == "write_image":
                writes[w["node"]].append(w)
        deploys = images_set(ops)
        rows_of: dict[str, list[Row]] = collections.defaultdict(list)
        for h in rows:
            rows_of[h.node].append(h)
        for node, trans in self.transitions(rows).items():
            start: Row | None = None
            for r in trans:
                if (r.from_state, r.to_state) in DEPLOY_STARTS:
                    start = r
                if r.to_state != states.ACTIVE or r.from_state != states.DEPLOYING:
                    continue
                self.checks["active-image"] += 1
                if start is None:
                    self.violate("active-image", node, "active with no deploy before it",
                                 [r.text(self.t0)], key=r.id)
                    continue
                images = asked_images(deploys[node], start.at)
                if not images:
                    self.violate("active-image", node,
                                 "active after a deploy no request of the workload asked for",
                                 [start.text(self.t0), r.text(self.t0)], key=r.id)
                    continue
                image = " or ".join(sorted(images))
                done = [w for w in writes[node] if w["image"] in images
                        and w["outcome"] == "succeeded" and w["started"] >= start.at - 1.0
                        and w["ended"] <= r.at + 1.0]
                if not done:
                    seen = [w for w in writes[node] if start.at - 1.0 <= w["started"] <= r.at]
                    evidence = [f"ledger: {w['name']} {w['image']} {w['outcome']} "
                                f"{w['started'] - self.t0:.1f}-{w['ended'] - self.t0:.1f} s"
                                for w in seen]
                    if not seen:
                        evidence.append("ledger: no image write on this node in this deploy")
                    evidence += [h.text(self.t0) for h in rows_of[node]
                                 if start.at - 0.01 <= h.at <= r.at + 0.01]
                    self.violate("active-image", node,
                                 f"active without its agent writing {image} in this deploy",
                                 evidence, key=r.id)
                start = None

    # --- at the end ---------------------------------------------------------------

    async def settle(self, conn: asyncpg.Connection, timeout: float) -> list[asyncpg.Record]:
        """Wait for every node to be stable and unlocked; those that are not."""
        deadline = time.monotonic() + timeout
        while True:
            await self.poll(conn)
            left = await conn.fetch(
                "SELECT uuid, name, provision_state, reservation, workflow, last_error "
                "FROM nodes WHERE provision_state = ANY($1::text[]) OR reservation IS NOT NULL "
                "OR target_power_state IS NOT NULL", list(TRANSIENT))
            if not left or time.monotonic() > deadline:
                return list(left)
            await asyncio.sleep(2.0)

    def check_settled(self, left: list[asyncpg.Record], rows: list[Row], ops: list[Op]) -> None:
        by_node: dict[str, list[Row]] = collections.defaultdict(list)
        for r in rows:
            by_node[r.node].append(r)
        for n in left:
            self.checks["settled"] += 1
            accepted = [o for o in ops if o.node == n["uuid"] and o.status == 202]
            last = (f"last accepted request: {accepted[-1].op} at "
                    f"{accepted[-1].t0 - self.t0:.1f} s" if accepted else "no request")
            self.violate("settled", n["uuid"],
                         f"not settled after the cluster healed: {n['provision_state']}, "
                         f"reservation {n['reservation']}, workflow {n['workflow']}",
                         [last, f"last_error: {str(n['last_error'])[:200]}",
                          *(r.text(self.t0) for r in by_node[n["uuid"]][-6:])])
        for o in ops:
            if o.status != 202 or o.op.startswith("power"):
                continue
            self.checks["settled"] += 1
            trace = [r for r in by_node[o.node] if r.kind == "provisioning"
                     and r.from_state is not None and r.at >= o.t0 - 1.0]
            if not trace:
                self.violate("settled", o.node,
                             f"accepted {o.op} at {o.t0 - self.t0:.1f} s left no transition",
                             [r.text(self.t0) for r in by_node[o.node][-5:]])

    def check_disks(self, nodes: list[asyncpg.Record], rows: list[Row], ops: list[Op]) -> None:
        disks = {m["uuid"]: Path(m["disk"]) for m in self.cluster.machines}
        deploys = images_set(ops)
        trans = self.transitions(rows)
        for n in nodes:
            if n["provision_state"] != states.ACTIVE or n["uuid"] not in disks:
                continue
            self.checks["active-image"] += 1
            starts = [r for r in trans[n["uuid"]] if (r.from_state, r.to_state) in DEPLOY_STARTS]
            if not starts:
                continue
            want = asked_images(deploys[n["uuid"]], starts[-1].at)
            found = read_disk(disks[n["uuid"]])
            got = found.get("image") if found else None
            if got not in want:
                self.violate("active-image", n["uuid"],
                             f"active, but its disk holds {got} and its deploy asked for {want}",
                             [starts[-1].text(self.t0)])

    def check_polls(self, start: float, end: float, calm: bool = False) -> dict[str, float]:
        """Power reads of the quiet nodes' BMCs: at most one per interval.  ``calm``:
        a window with every process up and no fault: no tolerance."""
        cfg = self.cluster.cfg
        interval = cfg.power_sync_interval
        changes = [] if calm else self.nemesis.membership_changes()
        check = "power-poll (calm)" if calm else "power-poll"
        total = 0
        bad = 0
        used: set[tuple[str, float]] = set()
        for name, uuid in sorted(self.quiet.items()):
            times = [t for t in self.reads.get(name, []) if start <= t <= end]
            total += len(times)
            for a, b in itertools.pairwise(times):
                self.checks[check] += 1
                if b - a >= 0.9 * interval:
                    continue
                # A ring move gives a BMC a new owner, whose first read may come
                # soon after the old owner's last: one such pair per BMC per move.
                moved = [c for c in changes if a - cfg.heartbeat_timeout - 1.0 <= c <= b
                         and (name, c) not in used]
                if moved:
                    used.add((name, moved[0]))
                    self.checks["power-poll (ring moved: tolerated)"] += 1
                    continue
                bad += 1
                self.violate(check, uuid,
                             f"BMC {name} read twice {b - a:.2f} s apart (interval "
                             f"{interval:g} s), no conductor joined or left meanwhile",
                             [f"reads at {a - self.t0:.2f} s and {b - self.t0:.2f} s"],
                             key=name)
        span = max(end - start, 1e-9)
        per = total / max(len(self.quiet), 1) / (span / interval)
        return {"reads per quiet BMC per interval": per, "close pairs": bad,
                "quiet BMCs": len(self.quiet)}


def images_set(ops: list[Op]) -> dict[str, list[Op]]:
    """Per node, the workload's writes of instance_info's image (PATCH), in order."""
    out: dict[str, list[Op]] = collections.defaultdict(list)
    for o in ops:
        if o.op == "set image" and o.image and (o.status == 200 or o.status is None):
            out[o.node].append(o)
    return out


def asked_images(sets: list[Op], start: float) -> set[str]:
    """The image(s) instance_info held when a deploy started at ``start``: the last
    PATCH answered 200 before it, and any sent after that whose answer was lost."""
    before = [o for o in sets if o.t0 <= start + 0.5]
    images: set[str] = set()
    for o in reversed(before):
        if o.image:
            images.add(o.image)
        if o.status == 200:
            break
    return images


def load_ledger(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out
