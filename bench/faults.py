"""Benchmark (issue 16): the fault-injection run at scale, and throughput vs conductors.

Default mode: ``--nodes`` lab machines (IPMI BMCs, fake agents) enrolled in a
cluster of ``--conductors`` conductors and ``--apis`` API processes on a fresh
PostgreSQL database; deploys, undeploys and power actions for ``--minutes``
while a nemesis SIGKILLs, SIGSTOPs (longer than the dead-conductor timeout)
and restarts processes; the invariants of tests/invariants.py checked during
and after.  Prints the faults injected, the checks made, every violation
(target: 0) and the figures; exits 1 on a violation.

``--throughput``: the same node count deployed at once (no faults) with 1, 2
and 3 conductors, side by side with the ratios; then, per cluster with more
than one conductor, the takeover time after a SIGKILL: from the kill until no
node the killed conductor held is locked by it any more.

Run it alone on the machine (it starts ~8 processes and a lab), under the lab
lock::

    flock /tmp/barecloud-lab.lock .venv/bin/python bench/faults.py            # 2,000 x 30 min
    flock /tmp/barecloud-lab.lock .venv/bin/python bench/faults.py --nodes 200 --minutes 3
    flock /tmp/barecloud-lab.lock .venv/bin/python bench/faults.py --throughput --nodes 200
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "src"))

from tests.cluster import Config  # noqa: E402
from tests.fault_run import run, throughput  # noqa: E402


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--nodes", type=int, default=2000)
    p.add_argument("--minutes", type=float, default=30.0)
    p.add_argument("--conductors", type=int, default=3)
    p.add_argument("--apis", type=int, default=2)
    p.add_argument("--seed", type=int, default=16)
    p.add_argument("--power-sync-interval", type=float, default=None,
                   help="seconds (default: 15, or nodes/10 for big fleets)")
    p.add_argument("--no-nemesis", action="store_true", help="the workload without faults")
    p.add_argument("--throughput", action="store_true",
                   help="deploy throughput with 1, 2, 3 conductors and takeover time")
    p.add_argument("--keep", action="store_true", help="keep the run directory and database")
    p.add_argument("--report", help="where to write the full report (default: /tmp/...)")
    args = p.parse_args()
    interval = args.power_sync_interval or max(15.0, args.nodes / 10)
    root = Path(tempfile.mkdtemp(prefix="barecloud-faults-"))
    print(f"run directory: {root}", flush=True)
    try:
        if args.throughput:
            rows = {}
            for n in (1, 2, 3):
                cfg = Config(nodes=args.nodes, conductors=n, apis=args.apis, seed=args.seed,
                             power_sync_interval=interval, nemesis=False, fail_rate=0.0,
                             keep=args.keep)
                print(f"\n== {n} conductor(s), {args.nodes} nodes", flush=True)
                rows[n] = throughput(cfg, root / f"c{n}")
                print(f"  {rows[n]}", flush=True)
            base = rows[1]["deploys per minute"] or 1.0
            print("\n| conductors | deploy all (s) | active | deploys/min | ratio to 1 | "
                  "held at kill | takeover (s) |")
            print("|---|---|---|---|---|---|---|")
            for n, r in rows.items():
                print(f"| {n} | {r['deploy seconds']:.1f} | {r['active']:.0f} | "
                      f"{r['deploys per minute']:.0f} | {r['deploys per minute'] / base:.2f} | "
                      f"{r.get('held by the killed conductor', '-')} | "
                      + (f"{r['takeover seconds']:.1f} |" if "takeover seconds" in r
                         else "- |"))
            return
        cfg = Config(nodes=args.nodes, minutes=args.minutes, conductors=args.conductors,
                     apis=args.apis, seed=args.seed, power_sync_interval=interval,
                     nemesis=not args.no_nemesis, keep=args.keep,
                     settle_timeout=max(240.0, args.nodes / 4))
        report = run(cfg, root)
        print()
        print(report.text(examples=10))
        full = Path(args.report or f"/tmp/barecloud-faults-report-{int(time.time())}.txt")
        full.write_text(report.text(examples=len(report.violations) + 1) + "\n")
        print(f"\nthe full report (every violation with its evidence): {full}")
        if report.violations:
            raise SystemExit(1)
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
