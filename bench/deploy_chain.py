"""Benchmark (issue 8): one image to 1-32 lab machines, each from the image server or by chain.

A barecloud service (noauth, SQLite, a temporary data directory) with
``serve --lab M --netns --rate L``: M machines, each in its own network
namespace cabled to the lab switch, and **every** cable shaped with tc tbf
at the same rate L, both ends, barecloud's own (``bcprov0``, where the image
server listens) included.  An S-byte raw image of random bytes is uploaded
through the Image API, then for each size, method and count N, one run:

- ``chain``: ``POST /v1/barecloud-deploy-batches`` with ``delivery: chain``
  (the agents pass the image down a pipelined chain: each one's link
  carries it once, at L);
- ``http``: the same batch with ``delivery: http`` (every agent downloads from
  the image server, whose one link at L is shared N ways: ~N x S/L);
- ``plain``: no batch, N plain deploys (``instance_info.image_source``, then
  ``{"target": "active"}``): every agent downloads from the image server,
  as ``http`` does, through the API that exists without batches.

Figures per run: T(N), from the request to the first poll that sees every
node ``active`` (or ``deploy failed``); T(N)/T(1) of the same method;
T(N) against S/L, the time the image takes to cross one link at L; the image
phase (batches: the members' ``write_started_at`` .. ``write_finished_at``,
first start to last finish; plain: the agents' own write times from the node
history) against S/L; the machine's CPU use (both cores, from /proc/stat) and
the service's CPU seconds.  Then every node is undeployed (back to
``available`` through cleaning) before the next run.

Targets: chain T(32)/T(1) <= 1.3 and its image phase <= 1.25 x S/L; http
grows ~N x.  (TCP/IP and Ethernet headers take ~4.4 % of a 1500-byte frame
that tbf counts, so the best possible is ~1.05 x S/L.)

L is 50mbit by default because of this 2-core machine, not the code: in a
chain of 32 every agent receives, hashes (sha512), writes and serves at L at
once, all on the same two cores.  A 32-machine chain of 256 MiB held 1.12 x
S/L at 50mbit (cores 85 % busy in the image phase), 1.20 x at 64mbit (94 %),
1.30 x at 75mbit (94 %) and 1.75 x at 100mbit (CPU-bound at ~58 Mbit/s a
link).  At 50mbit the full run (http's N=32 alone is 32 x 43 s) takes about
50 minutes.

``--kill``: one more chain run at the largest N in which the agent of the
member in the middle of the chain is SIGKILLed (its process, found with
``ip netns pids`` in its machine's namespace, nothing else) once it has
written ~40 %; the figures are T and each machine's OK/KO as the batch
reports it.

Asserted, nothing more: every node ends ``active`` (the killed one may
not), and every active node's disk starts with the image (sha512 equal to
the Image API's ``os_hash_value``).

Run (root; one lab service at a time on this host):

    .venv/bin/python bench/deploy_chain.py --kill   # 256 MiB, 1,4,16,32, http+chain, 50mbit
    .venv/bin/python bench/deploy_chain.py --methods chain --rate 64mbit
    .venv/bin/python bench/deploy_chain.py --sizes 64 --counts 1,2 --methods plain
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import hashlib
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.deploy_image import make_image, upload
from bench.host import load, machine_info
from tests import support

HEADERS = {"X-OpenStack-Ironic-API-Version": "1.78"}
MIB = 1 << 20
METHODS = ("http", "chain", "plain")
MAX_MACHINES = 64
ACTIVE, FAILED, AVAILABLE = "active", "deploy failed", "available"
WROTE = re.compile(r"agent write_image: succeeded \((\d+) MiB in ([\d.]+) s")
STEP_DONE = re.compile(r"^deploy step (.+): done$")
_RATE = re.compile(r"^(\d+(?:\.\d+)?)([kmg]?)bit$", re.IGNORECASE)

# The batch API: what to adapt if it changes.  Its report is read in
# image_span_batch (members' state, write_started_at, write_finished_at) and
# kill_report (position, state, retried, bytes, error).
BATCHES = "/barecloud-deploy-batches"
MEMBER_OK, MEMBER_KO = "ok", "ko"


def batch_body(names: list[str], image_id: str, delivery: str) -> dict[str, Any]:
    return {"nodes": names, "image_source": image_id, "delivery": delivery}


def rate_bits(rate: str) -> int:
    found = _RATE.match(rate.strip())
    if found is None:
        raise argparse.ArgumentTypeError(f"rate {rate!r}: bits per second, like 100mbit")
    return int(float(found.group(1)) * {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}[
        found.group(2).lower()])


def iso(text: str | None) -> float | None:
    return dt.datetime.fromisoformat(text).timestamp() if text else None


# --- the machine --------------------------------------------------------------------------


class Cpu:
    """Machine-wide busy share (/proc/stat) and the service's CPU seconds between marks."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.tick = os.sysconf("SC_CLK_TCK")
        self.start = self._sample()
        self.marks: list[tuple[float, int, int]] = []  # (epoch, total, idle) per poll

    def mark(self) -> None:
        total, idle, _ = self._sample()
        self.marks.append((time.time(), total, idle))

    def busy_between(self, start: float, end: float) -> float | None:
        """Busy share of all cores from the last poll before ``start`` to the first after
        ``end`` (the image phase, say)."""
        before = [m for m in self.marks if m[0] <= start]
        after = [m for m in self.marks if m[0] >= end]
        if not before or not after or after[0][1] <= before[-1][1]:
            return None
        (_, t0, i0), (_, t1, i1) = before[-1], after[0]
        return 1 - (i1 - i0) / (t1 - t0)

    def _sample(self) -> tuple[int, int, float]:
        fields = [int(x) for x in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
            service = (int(stat[11]) + int(stat[12])) / self.tick
        except (OSError, IndexError):
            service = 0.0
        return sum(fields), fields[3] + fields[4], service

    def since(self) -> tuple[float, float]:
        """(busy share of all cores, service CPU seconds) since the last call."""
        total, idle, service = self._sample()
        t0, i0, s0 = self.start
        self.start = (total, idle, service)
        return (1 - (idle - i0) / max(total - t0, 1)), service - s0


# --- the cloud ----------------------------------------------------------------------------


@dataclass
class Cloud:
    svc: support.Service
    bm: httpx.Client
    lab: Path  # the lab directory (lab.json, machines/<name>/disk.img)
    poll: float

    def nodes(self, names: list[str]) -> dict[str, dict[str, Any]]:
        rsp = self.bm.get("/nodes", params={"fields": "name,provision_state,"
                                            "target_provision_state,last_error"})
        rsp.raise_for_status()
        wanted = set(names)
        return {n["name"]: n for n in rsp.json()["nodes"] if n["name"] in wanted}

    def node(self, name: str, fields: str | None = None) -> dict[str, Any]:
        rsp = self.bm.get(f"/nodes/{name}", params={"fields": fields} if fields else None)
        rsp.raise_for_status()
        return dict(rsp.json())

    def provision(self, name: str, target: str) -> None:
        rsp = self.bm.put(f"/nodes/{name}/states/provision", json={"target": target})
        if rsp.status_code != 202:
            raise SystemExit(f"{name} → {target}: HTTP {rsp.status_code} {rsp.text}")

    def settle(self, names: list[str], want: str, timeout: float) -> None:
        """Until every node rests (no target) in ``want``; anything else ends the bench."""
        deadline = time.monotonic() + timeout
        while True:
            seen = self.nodes(names)
            if all(n["target_provision_state"] is None and n["provision_state"] == want
                   for n in seen.values()) and len(seen) == len(names):
                return
            stuck = {k: v for k, v in seen.items() if v["target_provision_state"] is None
                     and v["provision_state"] not in (want, "cleaning", "clean wait")}
            if stuck:
                raise SystemExit(f"nodes rest in other states than {want}: " + ", ".join(
                    f"{k} {v['provision_state']} ({v['last_error']})" for k, v in stuck.items()))
            if time.monotonic() > deadline:
                raise SystemExit(f"not all {want} after {timeout:.0f} s: " + ", ".join(
                    f"{k} {v['provision_state']}" for k, v in seen.items()))
            time.sleep(self.poll)

    def batch(self, ref: str) -> dict[str, Any]:
        rsp = self.bm.get(f"{BATCHES}/{ref}")
        rsp.raise_for_status()
        return dict(rsp.json())

    def netns(self, name: str) -> str:
        wiring = json.loads((self.lab / "lab.json").read_text())["netns"]
        return str(wiring["machines"][name]["netns"])

    def disk(self, name: str) -> Path:
        return self.lab / "machines" / name / "disk.img"


def written(node: dict[str, Any]) -> tuple[int, int] | None:
    """(bytes, total) of the agent's running write, as its last progress report said."""
    command = (node.get("driver_internal_info") or {}).get("agent_command") or {}
    progress = command.get("progress") or {}
    done, total = progress.get("bytes"), progress.get("total")
    if command.get("name") == "write_image" and isinstance(done, int) and isinstance(
            total, int) and total > 0:
        return done, total
    return None


def kill_agent(netns: str) -> list[int]:
    """SIGKILL the agent processes running in ``netns`` (the ramdisk, not the firmware)."""
    out = subprocess.run(["ip", "netns", "pids", netns], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    killed = []
    for pid in (int(p) for p in out.split() if p.isdigit()):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"barecloud.lab.nsboot" in cmdline:
            continue  # the machine's firmware: the power stays on
        if any(arg.endswith(b"ramdisk.pyz") or arg == b"barecloud.agent" for arg in cmdline):
            os.kill(pid, signal.SIGKILL)
            killed.append(pid)
    return killed


# --- one run ------------------------------------------------------------------------------


@dataclass
class Outcome:
    name: str
    state: str  # provision state at the end
    done_after: float  # seconds from the request to the first poll that saw it done
    member: dict[str, Any] = field(default_factory=dict)  # the batch's row, if a batch


@dataclass
class Run:
    method: str
    n: int
    size: int
    seconds: float
    phase: float | None
    # Seconds from the request to the first write start, and from the last write end
    # to the last node done (boot and gate before the image; config drive, power after).
    before: float | None
    after: float | None
    busy: float
    phase_busy: float | None
    service_cpu: float
    undeploy: float = 0.0
    outcomes: list[Outcome] = field(default_factory=list)
    batch: dict[str, Any] = field(default_factory=dict)
    killed: str = ""
    # Per deploy step, over the machines: (median seconds, max seconds, seconds from
    # the request to the last machine's end of it): where T goes outside the image.
    steps: dict[str, tuple[float, float, float]] = field(default_factory=dict)


def image_span_plain(cloud: Cloud, names: list[str]) -> tuple[float, float] | None:
    """First write start, last write end (epoch), from the agents' own figures."""
    spans = []
    for name in names:
        rsp = cloud.bm.get(f"/nodes/{name}/history", params={"detail": "true"})
        rsp.raise_for_status()
        for h in reversed(rsp.json()["history"]):
            found = WROTE.search(h["event"])
            if found:
                end = iso(h["created_at"])
                assert end is not None
                spans.append((end - float(found.group(2)), end))
                break
    if len(spans) != len(names):
        return None
    return min(s for s, _ in spans), max(e for _, e in spans)


def step_times(cloud: Cloud, names: list[str], wall: float) -> dict[str, tuple[
        float, float, float]]:
    """Each deploy step's duration (median, max over the machines) and when the last
    machine finished it, from the node histories of this run (rows after ``wall``)."""
    took: dict[str, list[float]] = {}
    ends: dict[str, float] = {}
    for name in names:
        rsp = cloud.bm.get(f"/nodes/{name}/history", params={"detail": "true"})
        rsp.raise_for_status()
        for h in rsp.json()["history"]:
            found, at = STEP_DONE.match(h["event"]), iso(h["created_at"])
            if found is None or at is None or at < wall or h.get("duration") is None:
                continue
            step = found.group(1)
            took.setdefault(step, []).append(float(h["duration"]))
            ends[step] = max(ends.get(step, 0.0), at - wall)
    return {step: (statistics.median(d), max(d), ends[step]) for step, d in
            sorted(took.items(), key=lambda kv: ends[kv[0]])}


def image_span_batch(batch: dict[str, Any]) -> tuple[float, float] | None:
    """First write start, last write end (epoch) of the members that ended OK."""
    rows = [m for m in batch["members"] if m.get("state") == MEMBER_OK]
    starts = [iso(m.get("write_started_at")) for m in rows]
    ends = [iso(m.get("write_finished_at")) for m in rows]
    if not rows or None in starts or None in ends:
        return None
    return min(s for s in starts if s is not None), max(e for e in ends if e is not None)


def deploy(cloud: Cloud, cpu: Cpu, method: str, names: list[str], image_id: str, size: int,
           timeout: float, kill_at: float | None = None) -> Run:
    if method == "plain":
        for name in names:
            cloud.bm.patch(f"/nodes/{name}", json=[{
                "op": "add", "path": "/instance_info/image_source", "value": image_id,
            }]).raise_for_status()
    cpu.since()
    cpu.marks.clear()
    cpu.mark()
    started, wall = time.monotonic(), time.time()
    ref = None
    if method == "plain":
        for name in names:
            cloud.provision(name, "active")
    else:
        rsp = cloud.bm.post(BATCHES, json=batch_body(names, image_id, method))
        if rsp.status_code != 202:
            raise SystemExit(f"batch of {len(names)} ({method}): HTTP {rsp.status_code} "
                             f"{rsp.text}")
        ref = rsp.json()["uuid"]
    done: dict[str, float] = {}
    victim, killed = (names[len(names) // 2] if kill_at is not None else None), ""
    deadline = started + timeout
    while len(done) < len(names):
        time.sleep(cloud.poll if victim is None or killed else min(cloud.poll, 0.2))
        cpu.mark()
        now = time.monotonic() - started
        for name, node in cloud.nodes(names).items():
            if name not in done and node["target_provision_state"] is None and (
                    node["provision_state"] in (ACTIVE, FAILED)):
                done[name] = now
        if victim is not None and not killed and victim not in done:
            progress = written(cloud.node(victim, "driver_internal_info"))
            if progress and kill_at is not None and progress[0] >= kill_at * progress[1]:
                pids = kill_agent(cloud.netns(victim))
                killed = (f"{victim}: agent pid(s) {', '.join(map(str, pids)) or 'none found'} "
                          f"SIGKILLed at {progress[0] / progress[1]:.0%} written, "
                          f"{now:.1f} s in")
                print(f"  {killed}", flush=True)
        if time.monotonic() > deadline:
            raise SystemExit(f"{method} N={len(names)}: not done after {timeout:.0f} s "
                             f"({len(done)} done)")
    if victim is not None and not killed:
        killed = f"{victim}: not killed (it finished before {kill_at:.0%} was reported)"
    seconds = max(done.values())
    busy, service_cpu = cpu.since()
    final = cloud.nodes(names)
    batch = cloud.batch(ref) if ref else {}
    members = {m.get("node_name"): m for m in batch.get("members", [])}
    outcomes = [Outcome(n, final[n]["provision_state"], done[n], members.get(n, {}))
                for n in names]
    span = image_span_batch(batch) if ref else image_span_plain(cloud, names)
    phase = before = after = phase_busy = None
    if span:
        phase, before, after = span[1] - span[0], span[0] - wall, wall + seconds - span[1]
        phase_busy = cpu.busy_between(*span)
    return Run(method, len(names), size, seconds, phase, before, after, busy, phase_busy,
               service_cpu, outcomes=outcomes, batch=batch, killed=killed,
               steps=step_times(cloud, names, wall))


def verify(cloud: Cloud, run: Run, digest: str) -> None:
    """Every node active, its disk starting with the image; in a run with a machine
    killed, failures are the figures (reported, not fatal), but no active node may
    hold anything but the image."""
    for o in run.outcomes:
        if o.state != ACTIVE:
            if run.killed:
                continue
            last = cloud.nodes([o.name])[o.name]["last_error"]
            raise SystemExit(f"{run.method} N={run.n}: {o.name} ended {o.state}: {last}")
        h = hashlib.sha512()
        with cloud.disk(o.name).open("rb") as f:
            left = run.size
            while left:
                chunk = f.read(min(left, 8 * MIB))
                if not chunk:
                    break
                h.update(chunk)
                left -= len(chunk)
        if h.hexdigest() != digest:
            raise SystemExit(f"{run.method} N={run.n}: {o.name}'s disk is not the image")


def undeploy(cloud: Cloud, names: list[str], timeout: float) -> float:
    started = time.monotonic()
    for name in names:
        cloud.provision(name, "deleted")
    cloud.settle(names, AVAILABLE, timeout)
    return time.monotonic() - started


# --- report -------------------------------------------------------------------------------


def pct(share: float | None) -> str:
    return f"{share:.0%}" if share is not None else "n/a"


def per_run(run: Run, limit: float) -> str:
    phase = f"{run.phase:.1f} s ({run.phase / limit:.2f} x S/L)" if run.phase else "n/a"
    if run.before is not None and run.after is not None:
        phase += f" (starts {run.before:.1f} s in, ends {run.after:.1f} s before the end)"
    ok = sum(o.state == ACTIVE for o in run.outcomes)
    return (f"{run.method:5} N={run.n:<3} S={run.size // MIB} MiB: T {run.seconds:6.1f} s "
            f"({run.seconds / limit:.2f} x S/L), image phase {phase}, {ok}/{run.n} active, "
            f"cores busy {run.busy:.0%} ({pct(run.phase_busy)} in the image phase), "
            f"service CPU {run.service_cpu:.1f} s, "
            f"undeploy {run.undeploy:.1f} s")


def per_step(run: Run) -> str:
    return "  steps (median / max s, last done at +s): " + "; ".join(
        f"{step} {med:.1f} / {top:.1f} (+{end:.1f})"
        for step, (med, top, end) in run.steps.items())


def table(runs: list[Run], limits: dict[int, float]) -> None:
    print("\n| S | method | N | T(N), s | T(N)/T(1) | T(N) / (S/L) | image phase, s "
          "| phase / (S/L) | active | cores busy: run, image phase | service CPU, s |")
    print("|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
    for r in runs:
        if r.killed:
            continue
        one = next((x for x in runs if (x.method, x.size, x.n) == (r.method, r.size, 1)
                    and not x.killed), None)
        limit = limits[r.size]
        ratio = f"{r.seconds / one.seconds:.2f}" if one else ""
        phase = f"{r.phase:.1f}" if r.phase else ""
        pratio = f"{r.phase / limit:.2f}" if r.phase else ""
        ok = sum(o.state == ACTIVE for o in r.outcomes)
        print(f"| {r.size // MIB} MiB | {r.method} | {r.n} | {r.seconds:.1f} | {ratio} "
              f"| {r.seconds / limit:.2f} | {phase} | {pratio} | {ok}/{r.n} "
              f"| {r.busy:.0%}, {pct(r.phase_busy)} "
              f"| {r.service_cpu:.1f} |")


def kill_report(run: Run, limit: float) -> None:
    print(f"\nchain N={run.n} with a machine killed mid-chain: T {run.seconds:.1f} s "
          f"({run.seconds / limit:.2f} x S/L); {run.killed}")
    print("| machine | position | batch says | retried | provision state | done after, s "
          "| bytes | error |")
    print("|---|--:|---|--:|---|--:|--:|---|")
    for o in sorted(run.outcomes, key=lambda o: (o.member.get("position") is None,
                                                  o.member.get("position") or 0)):
        m = o.member
        verdict = {MEMBER_OK: "OK", MEMBER_KO: "KO"}.get(str(m.get("state")),
                                                         str(m.get("state")))
        print(f"| {o.name} | {m.get('position')} | {verdict} | {m.get('retried')} | {o.state} "
              f"| {o.done_after:.1f} | {m.get('bytes')} | {m.get('error') or ''} |")


# --- main ---------------------------------------------------------------------------------


def say(text: str) -> None:
    print(text, flush=True)


def ints(text: str) -> list[int]:
    out = [int(x) for x in text.split(",") if x.strip()]
    if not out or any(n < 1 for n in out):
        raise argparse.ArgumentTypeError("positive integers, comma-separated")
    return out


def methods(text: str) -> list[str]:
    out = [x.strip() for x in text.split(",") if x.strip()]
    if not out or any(m not in METHODS for m in out):
        raise argparse.ArgumentTypeError(f"choose from {', '.join(METHODS)}")
    return out


def run_all(args: argparse.Namespace, cloud: Cloud, names: list[str], tmp: Path,
            say: Callable[[str], None]) -> tuple[list[Run], dict[int, float]]:
    cpu = Cpu(cloud.svc.proc.pid)
    bits = rate_bits(args.rate)
    runs: list[Run] = []
    limits: dict[int, float] = {}
    for size_mib in args.sizes:
        size = size_mib * MIB
        limit = limits[size] = size * 8 / bits
        image = tmp / "image.raw"
        make_image(image, size_mib)
        with image.open("rb") as f:
            digest = hashlib.file_digest(f, "sha512").hexdigest()
        image_id = upload(cloud.svc.url, image)
        image.unlink()
        shown = httpx.get(f"{cloud.svc.url}/image/v2/images/{image_id}", timeout=30).json()
        assert shown.get("os_hash_value") == digest, "the Image API reports another hash"
        say(f"image {image_id}: {size_mib} MiB, S/L = {limit:.1f} s at {args.rate}")
        plan = [(m, n, None) for m in args.methods for n in args.counts]
        if args.kill:
            plan.append(("chain", args.kill_count or max(args.counts), args.kill_at))
        for method, n, kill_at in plan:
            # Worst case (http, plain): N images through one link, plus boots.
            timeout = n * limit * 3 + 600
            run = deploy(cloud, cpu, method, names[:n], image_id, size, timeout, kill_at)
            verify(cloud, run, digest)
            run.undeploy = undeploy(cloud, names[:n], 600 + 30 * n)
            runs.append(run)
            say(per_run(run, limit) + f"; load {load()}")
            say(per_step(run))
    return runs, limits


def main() -> None:
    assert __doc__
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=ints, default=[256], help="image sizes, MiB (256)")
    parser.add_argument("--counts", type=ints, default=[1, 4, 16, 32],
                        help="machines per run (1,4,16,32)")
    parser.add_argument("--rate", default="50mbit", help="every lab link (50mbit)")
    parser.add_argument("--methods", type=methods, default=["http", "chain"],
                        help=f"of {', '.join(METHODS)} (http,chain)")
    parser.add_argument("--kill", action="store_true",
                        help="also a chain run with one member's agent killed mid-write")
    parser.add_argument("--kill-count", type=int, default=0, help="N of that run (largest)")
    parser.add_argument("--kill-at", type=float, default=0.4, help="share written (0.4)")
    parser.add_argument("--poll", type=float, default=0.5, help="seconds between polls")
    parser.add_argument("--json", type=Path, default=None,
                        help="also write every run (batch reports included) to this file")
    parser.add_argument("--tmp", default=None,
                        help="where the data directory (and the lab's disks) go (TMPDIR)")
    args = parser.parse_args()
    rate_bits(args.rate)
    machines = max([*args.counts, args.kill_count])
    if machines > MAX_MACHINES:
        parser.error(f"at most {MAX_MACHINES} machines")
    if os.geteuid() != 0 or shutil.which("tc") is None:
        parser.error("the netns lab needs root, ip and tc")
    if Path("/sys/class/net/bcprov0").exists():
        parser.error("bcprov0 exists: another netns lab service runs on this host")
    if max(args.sizes) * MIB > 9 << 30:
        parser.error("the lab's disks are 10 GB: sizes up to 9 GiB")
    say(machine_info())
    say(f"load average at start {load()}")
    tmp = Path(tempfile.mkdtemp(prefix="bench-deploy-chain-", dir=args.tmp))
    free = shutil.disk_usage(tmp).free
    need = machines * max(args.sizes) * MIB + 2 * max(args.sizes) * MIB
    if free < need * 1.2:
        parser.error(f"{tmp}: {free >> 30} GiB free, the disks need {need >> 30} GiB")
    svc = None
    try:
        started = time.monotonic()
        svc = support.start_service(tmp / "svc", lab=machines, netns=True, rate=args.rate,
                                    timeout=900 + 20 * machines, extra_env={
                                        "BARECLOUD_POWER_SYNC_INTERVAL": "3600",
                                        "BARECLOUD_DEPLOY_CALLBACK_TIMEOUT": "7200",
                                        "BARECLOUD_MAX_CONCURRENT_DEPLOYS": "1000",
                                    })
        say(f"service and {machines} machines ({args.rate} on every cable) up in "
            f"{time.monotonic() - started:.0f} s, data in {tmp}")
        names = [f"lab-{i:05d}" for i in range(1, machines + 1)]
        with httpx.Client(base_url=f"{svc.baremetal}/v1", headers=HEADERS, timeout=60) as bm:
            cloud = Cloud(svc, bm, svc.data_dir / "lab", args.poll)
            cloud.settle(names, AVAILABLE, 600)
            runs, limits = run_all(args, cloud, names, tmp, say)
        say(f"load average at end {load()}")
        if args.json:
            args.json.write_text(json.dumps({"rate": args.rate, "runs": [
                dataclasses.asdict(r) for r in runs]}, indent=1))
        table(runs, limits)
        for r in runs:
            if r.killed:
                kill_report(r, limits[r.size])
    finally:
        if svc is not None:
            svc.stop()  # SIGTERM: the service stops the lab, which deletes its namespaces
        if (tmp / "svc" / "lab" / "lab.json").exists():  # and if it could not: by lab.json
            subprocess.run([sys.executable, "-m", "barecloud.lab", "down", "--lab-dir",
                            str(tmp / "svc" / "lab")], capture_output=True, timeout=120,
                           check=False)
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
