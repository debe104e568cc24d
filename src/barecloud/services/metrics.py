"""The /metrics exposition: fleet state read from the database, plus this process's own.

What every process would agree on (nodes, leases, deploy batch members) is
counted in the database at scrape time with a few GROUP BY queries, so any
API process gives the same answer however many there are.  What happens in
one process (API latency, the conductor's steps and power-sync sweeps) lives
in that process's Prometheus registry and is scraped from each process.
See docs/design/operability.md.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from sqlalchemy import func, select

from barecloud.conductor.recovery import live_conductors
from barecloud.db.batch_models import DeployBatch, DeployBatchMember
from barecloud.db.lease_models import Lease
from barecloud.db.models import Node
from barecloud.services.context import Runtime

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
NONE = "none"  # a NULL column as a label value (an empty one would drop the label)


async def fleet(rt: Runtime) -> list[Metric]:
    """Gauges (and one counter) of the fleet, counted now in the database."""
    nodes = GaugeMetricFamily(
        "barecloud_nodes", "Nodes by provision state, power state and maintenance.",
        labels=("provision_state", "power_state", "maintenance"))
    leases = GaugeMetricFamily("barecloud_leases", "Leases by status.", labels=("status",))
    batches = GaugeMetricFamily("barecloud_deploy_batches", "Deploy batches by state.",
                                labels=("state",))
    members = GaugeMetricFamily(
        "barecloud_deploy_batch_members",
        "Deploy batch members by result (ok, ko) or progress, and how their image went.",
        labels=("state", "delivery"))
    written = CounterMetricFamily(
        "barecloud_deploy_batch_bytes",
        "Image bytes deploy batch members reported written, by how they got them.",
        labels=("delivery",))
    conductors = GaugeMetricFamily(
        "barecloud_conductors_alive",
        "Conductors whose heartbeat is within conductor_heartbeat_timeout.")
    async with rt.db.session() as s:
        for prov, power, maint, count in (await s.execute(
                select(Node.provision_state, Node.power_state, Node.maintenance, func.count())
                .group_by(Node.provision_state, Node.power_state, Node.maintenance))).all():
            nodes.add_metric((prov or NONE, power or NONE, str(bool(maint)).lower()), count)
        for status, count in (await s.execute(
                select(Lease.status, func.count()).group_by(Lease.status))).all():
            leases.add_metric((status or NONE,), count)
        for state, count in (await s.execute(
                select(DeployBatch.state, func.count()).group_by(DeployBatch.state))).all():
            batches.add_metric((state or NONE,), count)
        by_delivery: dict[str, int] = {}
        for state, delivery, count, total in (await s.execute(
                select(DeployBatchMember.state, DeployBatchMember.delivery, func.count(),
                       func.coalesce(func.sum(DeployBatchMember.bytes), 0))
                .group_by(DeployBatchMember.state, DeployBatchMember.delivery))).all():
            members.add_metric((state or NONE, delivery or NONE), count)
            by_delivery[delivery or NONE] = by_delivery.get(delivery or NONE, 0) + int(total or 0)
        for delivery, total in sorted(by_delivery.items()):
            written.add_metric((delivery,), total)
    live = await live_conductors(rt.db, rt.settings.conductor_heartbeat_timeout)
    conductors.add_metric((), len(live))
    return [nodes, leases, batches, members, written, conductors]


def admission(rt: Runtime) -> list[Metric]:
    """This process's turns (db/admission.py): background work queued behind them,
    and turns taken past the gate's limit because one was held too long."""
    gate = rt.db.admission
    held = GaugeMetricFamily("barecloud_admission_turns_held",
                             "Turns held now by background work in this process.")
    held.add_metric((), gate.slots - gate.free)
    waiting = GaugeMetricFamily("barecloud_admission_waiting",
                                "Background work waiting for a turn in this process.")
    waiting.add_metric((), gate.waiting)
    overrun = CounterMetricFamily(
        "barecloud_admission_overrun",
        "Turns taken without a free slot after waiting admission's max_wait.")
    overrun.add_metric((), gate.overrun)
    return [held, waiting, overrun]


class _Snapshot:
    """A collector that yields families computed beforehand (the queries are async)."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self.families)


async def exposition(rt: Runtime) -> bytes:
    """The whole scrape, in the Prometheus text format."""
    snapshot = CollectorRegistry(auto_describe=False)
    snapshot.register(_Snapshot(await fleet(rt) + admission(rt)))
    return generate_latest(snapshot) + generate_latest(REGISTRY)
