"""Issue 16's proof in CI: 3 conductors and 2 API processes on PostgreSQL, lab IPMI
BMCs and fake agents, a workload of deploys, undeploys and power actions while a
nemesis kills, pauses and restarts processes; no invariant may be violated.

A few minutes with a couple of hundred nodes (tests/fault_run.py; the long run
is ``bench/faults.py``).  Starts a lab: run under ``flock /tmp/barecloud-lab.lock``.
BARECLOUD_FAULTS_NODES and BARECLOUD_FAULTS_MINUTES change the size.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.cluster import Config
from tests.fault_run import run

pytestmark = pytest.mark.slow


def test_no_invariant_breaks_under_kills_pauses_and_restarts(
    tmp_path: Path, pg_server: None,
) -> None:
    cfg = Config(
        nodes=int(os.environ.get("BARECLOUD_FAULTS_NODES", "200")),
        minutes=float(os.environ.get("BARECLOUD_FAULTS_MINUTES", "3")),
        conductors=3, apis=2,
    )
    report = run(cfg, tmp_path)
    print(report.text())
    (tmp_path / "report.txt").write_text(report.text(examples=len(report.violations) + 1))
    # The run did what it is for: faults of each kind, deploys that finished,
    # and the checks were made (a harness that checked nothing passes nothing).
    actions = {f.action for f in report.faults}
    assert {"SIGKILL", "SIGSTOP", "restart", "SIGCONT"} <= actions, actions
    assert report.figures["accepted requests"] > 0
    assert report.figures["moves to active"] > 0
    for check in ("lock", "transient", "transition", "deposed", "active-image", "power-poll",
                  "power-poll (calm)", "settled"):
        assert report.checks[check] > 0, (check, report.checks)
    assert not report.violations, report.text(examples=3)
