"""The nemesis: kills, pauses and restarts a cluster's processes at random.

Faults (each its own task, so they overlap): a conductor SIGKILLed and
restarted a few seconds later (a third of the time only after the takeover
deadline); a conductor SIGSTOPped for longer than the
dead-conductor timeout, then SIGCONTed (it must step down, not resume); a
conductor stopped gracefully (SIGTERM) and restarted likewise (it must
release its nodes or be taken over); an API process SIGKILLed and restarted, or paused briefly.  At
least one conductor and one API process are left alone at any time, so the
service stays reachable: a process stays the nemesis's until it serves again
(a restarted conductor is only a member once it has heartbeated), else the
last conductor could be stopped while its restarted peer still starts.  The
fake agents (the machines) are not touched.
"""

from __future__ import annotations

import asyncio
import random
import signal
import time
from dataclasses import dataclass, field

from tests.cluster import Cluster, Proc


@dataclass
class Fault:
    at: float
    action: str
    target: str
    pid: int | None
    note: str = ""

    def line(self, t0: float) -> str:
        extra = f" ({self.note})" if self.note else ""
        return f"{self.at - t0:8.1f} s  {self.action:<10} {self.target:<12} pid {self.pid}{extra}"


@dataclass
class Nemesis:
    cluster: Cluster
    rng: random.Random
    log: list[Fault] = field(default_factory=list)
    busy: set[str] = field(default_factory=set)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def record(self, action: str, p: Proc, note: str = "") -> None:
        self.log.append(Fault(time.time(), action, p.name, p.pid, note))

    def membership_changes(self) -> list[float]:
        """When a conductor left or came back: the hash ring moved then."""
        return [f.at for f in self.log if f.target.startswith("conductor")]

    async def run(self, stop: asyncio.Event) -> None:
        cfg = self.cluster.cfg
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), self.rng.uniform(*cfg.fault_gap))
                break
            except TimeoutError:
                pass
            self.tasks = [t for t in self.tasks if not t.done()]
            fault = self._pick()
            if fault is not None:
                self.tasks.append(fault)
        await asyncio.gather(*self.tasks, return_exceptions=True)

    def _pick(self) -> asyncio.Task[None] | None:
        cfg = self.cluster.cfg
        conductors = [p for p in self.cluster.conductors if p.name not in self.busy]
        apis = [p for p in self.cluster.apis if p.name not in self.busy]
        choices: list[tuple[str, Proc]] = []
        if len(conductors) > 1 or (conductors and cfg.conductors > 1
                                   and len(conductors) == cfg.conductors):
            for p in conductors:
                choices += [("kill", p), ("kill", p), ("pause", p), ("pause", p), ("term", p)]
        if len(apis) > 1:
            for p in apis:
                choices += [("kill", p), ("pause", p)]
        if not choices:
            return None
        action, p = self.rng.choice(choices)
        self.busy.add(p.name)
        return asyncio.create_task(self._fault(action, p))

    def _down(self, p: Proc) -> float:
        """How long a stopped process stays down: mostly a few seconds (back before
        anyone declares it dead), a third of the time past the takeover deadline
        (its peers must take its nodes over)."""
        cfg = self.cluster.cfg
        if p.kind == "conductor" and self.rng.random() < 1 / 3:
            return self.rng.uniform(cfg.takeover_deadline, cfg.takeover_deadline + 15)
        return self.rng.uniform(*cfg.down)

    async def _fault(self, action: str, p: Proc) -> None:
        cfg = self.cluster.cfg
        try:
            if action == "kill":
                self.record("SIGKILL", p)
                p.signal(signal.SIGKILL)
                await asyncio.to_thread(p.wait_exit, 10)
                await asyncio.sleep(self._down(p))
                p.start()
                self.record("restart", p)
                await asyncio.to_thread(self.cluster.wait_back, p)
            elif action == "pause":
                span = (self.rng.uniform(*cfg.pause) if p.kind == "conductor"
                        else self.rng.uniform(1.0, 4.0))
                self.record("SIGSTOP", p, f"for {span:.1f} s")
                p.signal(signal.SIGSTOP)
                p.paused = True
                await asyncio.sleep(span)
                p.signal(signal.SIGCONT)
                p.paused = False
                self.record("SIGCONT", p)
                await asyncio.to_thread(self.cluster.wait_back, p)
            elif action == "term":
                self.record("SIGTERM", p)
                p.signal(signal.SIGTERM)
                started = time.monotonic()
                if not await asyncio.to_thread(p.wait_exit, 30):
                    self.record("SIGKILL", p, "did not exit 30 s after SIGTERM")
                    p.signal(signal.SIGKILL)
                    await asyncio.to_thread(p.wait_exit, 10)
                else:
                    self.record("exited", p, f"{time.monotonic() - started:.1f} s after SIGTERM")
                await asyncio.sleep(self._down(p))
                p.start()
                self.record("restart", p)
                await asyncio.to_thread(self.cluster.wait_back, p)
        finally:
            self.busy.discard(p.name)
