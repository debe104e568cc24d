"""Lease service tests: a runtime, reservable hosts, a clock the test moves."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from barecloud.services.context import RequestContext, Runtime
from barecloud.services.reservation import hosts
from tests.services.compute.support import ADMIN, add_node

ALICE = RequestContext(request_id="req-alice", user="alice", project="alice-project",
                       roles=("member", "reader"))
BOB = RequestContext(request_id="req-bob", user="bob", project="bob-project",
                     roles=("member", "reader"))
T0 = dt.datetime(2027, 3, 1, 8, 0)


class Clock:
    """The lease clock file: ``set`` moves "now" for the service."""

    def __init__(self, path: Path, start: dt.datetime = T0) -> None:
        self.path = path
        self.set(start)

    def set(self, moment: dt.datetime) -> None:
        self.now = moment
        self.path.write_text(moment.isoformat())

    def advance(self, **delta: float) -> dt.datetime:
        self.set(self.now + dt.timedelta(**delta))
        return self.now


def when(moment: dt.datetime) -> str:
    """A date as the client sends it."""
    return moment.strftime("%Y-%m-%d %H:%M")


async def pool(rt: Runtime, count: int, prefix: str = "m",
               extra: Any = None, **node_values: Any) -> list[str]:
    """``count`` nodes in the reservable pool; their host ids.  ``extra(i)`` gives host
    i's extra capabilities."""
    ids = []
    for i in range(count):
        name = f"{prefix}{i}"
        await add_node(rt.db, name, properties={"cpus": 8, "memory_mb": 32768 * (1 + i % 3),
                                                "local_gb": 100, "cpu_arch": "x86_64"},
                       **node_values)
        body = {"name": name, **(extra(i) if extra else {})}
        ids.append((await hosts.create(rt, ADMIN, body))["id"])
    return ids


def ask(start: dt.datetime, end: dt.datetime, count: int = 1, *, name: str = "lease",
        high: int | None = None, props: str = "") -> dict[str, Any]:
    return {"name": name, "start_date": when(start), "end_date": when(end),
            "before_end_date": None, "events": [],
            "reservations": [{"resource_type": "physical:host", "min": count,
                              "max": high or count, "hypervisor_properties": "",
                              "resource_properties": props}]}
