"""A multi-create's servers get their nodes together, or none does (Nova's way).

Nova's scheduler places every instance of a request in one call and raises
NoValidHost for all of them when it cannot place each one
(``_ensure_sufficient_hosts``): ``server create --min 4 --max 4`` with three
free machines is four servers in ERROR with the fault "No valid host was
found. There are not enough hosts available.", and no machine deployed.
``min_count`` counts only against the quota: the request makes as many
servers as the quota admits between ``min_count`` and ``max_count``
(services/compute/servers.py), and each of those must find a node.

The first server of the request that the reconciler looks at claims a node
for every server of the request that was never scheduled, in one
transaction (under one lock per request on PostgreSQL): all claims commit,
or none.  Each server then attaches its VIFs and starts its deploy on its
own pass (compute_sync.py); a deploy that fails is rescheduled alone, as
Nova reschedules one instance.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass

from sqlalchemy import and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.conductor import batches
from barecloud.db.compute_models import Server
from barecloud.db.models import Node
from barecloud.db.session import serialize
from barecloud.services.compute import destinations, reservations, scheduler
from barecloud.services.compute import status as st
from barecloud.services.compute.flavors import placement_request
from barecloud.services.compute.hypervisors import DEFAULT_ZONE
from barecloud.services.context import Runtime
from barecloud.services.network import locality

log = logging.getLogger(__name__)


class _Lost(Exception):
    """A claim lost a race (a node, or a server deleted meanwhile): undo them all."""


@dataclass(frozen=True)
class _Outcome:
    placed: bool  # every server of the group has its node
    short: int = 0  # servers, nodes found: when not placed for want of nodes
    found: int = 0


async def schedule(rt: Runtime, server: Server) -> None:
    """Schedule ``server``: with the rest of its request if it is a multi-create never
    scheduled yet, else alone (:func:`scheduler.schedule`)."""
    if server.attempts or not server.reservation_id:
        await scheduler.schedule(rt, server)
        return
    for _ in range(scheduler.ROUNDS):
        outcome = await _place(rt, server)
        if outcome is None:  # not a group (any more): alone
            await scheduler.schedule(rt, server)
            return
        if outcome.placed:
            break
        if outcome.short > outcome.found:
            await _no_valid_host(rt, server.reservation_id, outcome)
            return
    else:  # lost every race (nodes taken meanwhile): not "no host", the next pass
        log.info("multi-create %s: nodes taken meanwhile %d times; next pass",
                 server.reservation_id, scheduler.ROUNDS)
        return
    async with rt.db.session() as s:
        me = await s.get(Server, server.id, populate_existing=True)
    if me is None or me.node_uuid is None or me.vm_state != st.BUILDING:
        return
    async with rt.db.session() as s:
        node = await s.scalar(select(Node).where(Node.uuid == me.node_uuid))
    if node is not None:
        await scheduler.start(rt, me, node)


async def _group(s: AsyncSession, rid: str) -> list[Server] | None:
    rows = list((await s.scalars(select(Server).where(
        Server.reservation_id == rid, Server.deleted.is_(False)).order_by(Server.id))).all())
    if len(rows) < 2:
        return None
    return [r for r in rows if r.vm_state == st.BUILDING and r.node_uuid is None
            and not r.attempts and r.pending is None]


async def _place(rt: Runtime, server: Server) -> _Outcome | None:
    """Claim a node for every unscheduled server of the request, or for none."""
    rid = server.reservation_id
    try:
        async with rt.db.session() as s:
            await serialize(s, f"multi-create:{rid}")
            group = await _group(s, rid)
            if group is None or (len(group) == 1 and group[0].id == server.id):
                return None
            if not any(g.id == server.id for g in group):
                return _Outcome(True)  # placed by another pass (or no longer building)
            nodes = await _candidates(s, group[0], len(group),
                                      rt.settings.scheduler_spare_network)
            if len(nodes) < len(group):
                return _Outcome(False, short=len(group), found=len(nodes))
            free = iter(nodes)
            for member in group:
                await _claim(s, member, free)
    except _Lost:
        return _Outcome(False)
    log.info("multi-create %s: %d servers placed together", rid, len(group))
    return _Outcome(True)


async def _candidates(s: AsyncSession, first: Server, count: int,
                      spare_network: bool = False) -> list[Node]:
    """Nodes for the request's servers (the same flavor, project, zone and hints),
    claimed in id order: concurrent group claims take node locks in one order.

    Picked at random (``count`` and a window more); or, sparing the network,
    ``count`` of all the free ones under the fewest switches (locality.pack),
    and only those: a node lost to another request means a new round, so that
    no claim ever goes back to a lower id (which could deadlock two claims)."""
    req = placement_request(first.flavor.get("extra_specs") or {})
    if req.resource_class is None:
        return []
    classes = await scheduler.resource_classes(s, req.resource_class)
    if not classes:
        return []
    q = scheduler.candidates_query(req, classes, first.requested_az or DEFAULT_ZONE,
                                   first.project_id, [],
                                   and_(reservations.node_filter(first),
                                        destinations.node_filter(first)),
                                   limit=None if spare_network else count + scheduler.WINDOW)
    ids = list((await s.scalars(q)).all())
    if spare_network and len(ids) >= count:
        ids.sort()  # the random pick's ties broken by id, as the claims go
        ids = locality.pack(ids, await locality.node_switches(s, ids), count)[:count]
    return list((await s.scalars(select(Node).where(Node.id.in_(ids))
                                 .order_by(Node.id))).all())


async def _claim(s: AsyncSession, server: Server, free: Iterator[Node]) -> None:
    """The next free node of ``free`` for ``server``; _Lost if none is left."""
    for node in free:
        try:
            if await scheduler.take(s, server, node):
                return
        except scheduler.ServerGone:
            raise _Lost from None
    raise _Lost


async def _no_valid_host(rt: Runtime, rid: str, outcome: _Outcome) -> None:
    """Every unscheduled server of the request in ERROR, as Nova's NoValidHost."""
    details = (f"{outcome.short} instance(s) requested to build, {outcome.found} node(s) "
               "available." if outcome.short else "The nodes were taken meanwhile.")
    async with rt.db.session() as s:
        await serialize(s, f"multi-create:{rid}")
        group = await _group(s, rid) or []
        for member in group:
            done = await s.execute(
                update(Server).where(Server.id == member.id, Server.node_uuid.is_(None),
                                     Server.deleted.is_(False),
                                     Server.vm_state == st.BUILDING)
                .values(vm_state=st.ERROR, task_state=None, power_state=st.NOSTATE,
                        fault=scheduler.fault(scheduler.NO_VALID_HOST, details))
                .execution_options(synchronize_session=False))
            if done.rowcount:  # type: ignore[attr-defined]
                await batches.gave_up(s, rid, [])
    log.info("multi-create %s: no valid host for %d server(s): %s", rid, len(group), details)
    if group:
        await scheduler.open_gate(rt, rid)
