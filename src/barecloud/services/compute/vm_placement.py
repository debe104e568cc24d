"""Placing a VM: a hypervisor with room for its flavor, claimed atomically.

A flavor that asks for a custom resource class (``resources:CUSTOM_<CLASS>``)
is bare metal; any other is a VM flavor, placed here by free capacity.  The
claim is one conditional UPDATE of the host's usage (``used + asked <=
total * ratio``, the ratios being settings as Nova's allocation ratios)
and one of the server, in one transaction: API processes that race for the
last room on a host cannot both win, on SQLite or PostgreSQL.  Spread
weighs hosts by free RAM, most first; pack, least first.  A project that
owns hypervisors (machines it leased and turned into hosts) gets its VMs on
those only; a host with no owner takes anyone else's (Nova's aggregate
multi-tenancy isolation, made the rule).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Integer,
    Update,
    and_,
    bindparam,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.compute_models import Server
from barecloud.db.hypervisor_models import UP, Hypervisor
from barecloud.services.compute import destinations, hosts_wakeup, scheduler
from barecloud.services.compute import status as st
from barecloud.services.compute.hypervisors import DEFAULT_ZONE
from barecloud.services.context import Runtime
from barecloud.services.network import vifs

log = logging.getLogger(__name__)

WINDOW = 16
ROUNDS = 8
PLACE_CHUNK = 25  # servers placed per transaction by place_many


def is_vm_flavor(extra_specs: dict[str, Any] | None) -> bool:
    """A VM flavor asks for no custom (bare-metal) resource class."""
    return not any(str(k).upper().startswith("RESOURCES:CUSTOM_") for k in extra_specs or {})


def is_vm(server: Server) -> bool:
    return is_vm_flavor((server.flavor or {}).get("extra_specs"))


@dataclass(frozen=True)
class Ask:
    vcpus: int
    memory_mb: int
    disk_gb: int

    @classmethod
    def of(cls, flavor: dict[str, Any]) -> Ask:
        return cls(int(flavor.get("vcpus") or 0), int(flavor.get("ram") or 0),
                   int(flavor.get("disk") or 0) + int(flavor.get("ephemeral") or 0))


def _room(rt: Runtime, ask: Ask) -> ColumnElement[bool]:
    """The host has room for ``ask`` now, within its ratios."""
    cfg = rt.settings
    return and_(
        Hypervisor.vcpus_used + ask.vcpus <= Hypervisor.vcpus * cfg.cpu_allocation_ratio,
        Hypervisor.memory_mb_used + ask.memory_mb
        <= Hypervisor.memory_mb * cfg.ram_allocation_ratio,
        Hypervisor.disk_gb_used + ask.disk_gb <= Hypervisor.disk_gb * cfg.disk_allocation_ratio,
    )


def _fits_empty(rt: Runtime, ask: Ask) -> ColumnElement[bool]:
    """The host could hold ``ask`` if it ran nothing."""
    cfg = rt.settings
    return and_(ask.vcpus <= Hypervisor.vcpus * cfg.cpu_allocation_ratio,
                ask.memory_mb <= Hypervisor.memory_mb * cfg.ram_allocation_ratio,
                ask.disk_gb <= Hypervisor.disk_gb * cfg.disk_allocation_ratio)


async def _eligible(s: AsyncSession, server: Server) -> ColumnElement[bool]:
    """Hosts that may take the server at all: up, enabled, its zone, its owner."""
    owns = await s.scalar(select(Hypervisor.id).where(
        Hypervisor.owner == server.project_id).limit(1))
    owner = Hypervisor.owner == server.project_id if owns else Hypervisor.owner.is_(None)
    return and_(Hypervisor.state == UP, Hypervisor.enabled.is_(True), owner,
                Hypervisor.availability_zone == (server.requested_az or DEFAULT_ZONE),
                destinations.host_filter(server))


async def candidates(rt: Runtime, server: Server) -> list[int] | str:
    """Up to WINDOW hosts with room now, best first (ties broken at random);
    or why none could ever do (the "No valid host" details)."""
    ask = Ask.of(server.flavor or {})
    async with rt.db.session() as s:
        eligible = await _eligible(s, server)
        free = Hypervisor.memory_mb * rt.settings.ram_allocation_ratio - Hypervisor.memory_mb_used
        order = free.desc() if rt.settings.vm_placement == "spread" else free.asc()
        ids = list((await s.scalars(select(Hypervisor.id).where(
            eligible, _room(rt, ask)).order_by(order).limit(WINDOW))).all())
        if ids:
            head = ids[:4]
            random.shuffle(head)  # racing schedulers rarely pick the same best host
            return head + ids[4:]
        could = await s.scalar(select(Hypervisor.id).where(eligible, _fits_empty(rt, ask))
                               .limit(1))
    zone = server.requested_az or DEFAULT_ZONE
    if could is None:
        return (f"No hypervisor that is up and enabled in availability zone {zone} for this "
                f"project can hold {ask.vcpus} vCPU, {ask.memory_mb} MB of RAM and "
                f"{ask.disk_gb} GB of disk, even empty.")
    return (f"Every hypervisor in availability zone {zone} for this project is full for "
            f"{ask.vcpus} vCPU, {ask.memory_mb} MB of RAM and {ask.disk_gb} GB of disk.")


@functools.cache
def _claim_statement(cpu_ratio: float, ram_ratio: float, disk_ratio: float,
                     placing: bool) -> Update:
    """The claim's UPDATE, built once (its parameters bound at each execution):
    a storm runs it once a VM, and building it cost more than running it."""
    vcpus: BindParameter[int] = bindparam("ask_vcpus", type_=Integer)
    memory_mb: BindParameter[int] = bindparam("ask_memory_mb", type_=Integer)
    disk_gb: BindParameter[int] = bindparam("ask_disk_gb", type_=Integer)
    room = and_(Hypervisor.vcpus_used + vcpus <= Hypervisor.vcpus * cpu_ratio,
                Hypervisor.memory_mb_used + memory_mb <= Hypervisor.memory_mb * ram_ratio,
                Hypervisor.disk_gb_used + disk_gb <= Hypervisor.disk_gb * disk_ratio)
    values: dict[str, Any] = {"generation": Hypervisor.generation + 1} if placing else {}
    return (update(Hypervisor).where(Hypervisor.id == bindparam("host_id"),
                                     Hypervisor.state == UP, Hypervisor.enabled.is_(True), room)
            .values(vcpus_used=Hypervisor.vcpus_used + vcpus,
                    memory_mb_used=Hypervisor.memory_mb_used + memory_mb,
                    disk_gb_used=Hypervisor.disk_gb_used + disk_gb, **values)
            .execution_options(synchronize_session=False))


async def claim(s: AsyncSession, rt: Runtime, hypervisor_id: int, ask: Ask, *,
                placing: bool = True) -> bool:
    """Take ``ask`` of the host's room in ``s``; False when it has none left.
    ``placing``: a new VM for the host (its desired list changes: a new
    generation); a resize's growth changes it only when handed over (vm_sync)."""
    cfg = rt.settings
    statement = _claim_statement(cfg.cpu_allocation_ratio, cfg.ram_allocation_ratio,
                                 cfg.disk_allocation_ratio, placing)
    won = await s.execute(statement, {"host_id": hypervisor_id, "ask_vcpus": ask.vcpus,
                                      "ask_memory_mb": ask.memory_mb,
                                      "ask_disk_gb": ask.disk_gb})
    return bool(won.rowcount)  # type: ignore[attr-defined]


async def give_back(s: AsyncSession, hypervisor_id: int, ask: Ask) -> None:
    await s.execute(
        update(Hypervisor).where(Hypervisor.id == hypervisor_id)
        .values(vcpus_used=Hypervisor.vcpus_used - ask.vcpus,
                memory_mb_used=Hypervisor.memory_mb_used - ask.memory_mb,
                disk_gb_used=Hypervisor.disk_gb_used - ask.disk_gb,
                generation=Hypervisor.generation + 1)
        .execution_options(synchronize_session=False))


async def release(s: AsyncSession, server: Server, **values: Any) -> bool:
    """Take the server off its host and give the host its room back, in ``s``;
    False if the server was not on it (someone else released it)."""
    if server.hypervisor_id is None:
        return False
    off = await s.execute(
        update(Server).where(Server.id == server.id,
                             Server.hypervisor_id == server.hypervisor_id)
        .values(hypervisor_id=None, **values).execution_options(synchronize_session=False))
    if not off.rowcount:  # type: ignore[attr-defined]
        return False
    await give_back(s, server.hypervisor_id, Ask.of(server.flavor or {}))
    return True


def first_task(server: Server) -> str:
    """The task a placed VM starts with: binding its ports (vm_networks.py) if it
    asked for networks, else spawning on its host."""
    return st.NETWORKING if vifs.requested(server) else st.SPAWNING


# Built once (see _claim_statement): the server takes the host whose room was just claimed.
_PUT = (update(Server).where(Server.id == bindparam("server_id"), Server.deleted.is_(False),
                             Server.hypervisor_id.is_(None), Server.node_uuid.is_(None),
                             Server.pending.is_(None), Server.vm_state == st.BUILDING)
        .values(hypervisor_id=bindparam("host_id"), task_state=bindparam("task"),
                action_seq=Server.action_seq + 1, availability_zone=bindparam("zone"))
        .execution_options(synchronize_session=False))


async def _put(s: AsyncSession, server: Server, hypervisor_id: int, zone: str) -> bool:
    """Give the server the host whose room was just claimed in ``s``; False if it no
    longer waits for one (placed, deleted, or a request made meanwhile)."""
    mine = await s.execute(_PUT, {"server_id": server.id, "host_id": hypervisor_id,
                                  "task": first_task(server), "zone": zone})
    return bool(mine.rowcount)  # type: ignore[attr-defined]


class _Lost(Exception):
    """The server was placed, deleted or changed meanwhile: roll the claim back."""


async def _take(rt: Runtime, server: Server, hypervisor_id: int) -> Hypervisor | None:
    try:
        async with rt.db.session() as s:
            if not await claim(s, rt, hypervisor_id, Ask.of(server.flavor or {})):
                return None
            host = await s.get(Hypervisor, hypervisor_id)
            assert host is not None
            if not await _put(s, server, hypervisor_id, host.availability_zone):
                raise _Lost
            await hosts_wakeup.notify(s, host.uuid)
            return host
    except _Lost:
        return None


async def schedule(rt: Runtime, server: Server) -> None:
    """Place ``server`` on a host, or put it in ERROR when no host could ever
    take it now.  Lost races try the next candidate; after ``ROUNDS`` rounds the
    next pass of the reconciler tries again."""
    for _ in range(ROUNDS):
        found = await candidates(rt, server)
        if isinstance(found, str):
            await _no_valid_host(rt, server, found)
            return
        for hypervisor_id in found:
            host = await _take(rt, server, hypervisor_id)
            if host is not None:
                hosts_wakeup.wake(host.uuid)
                return
            async with rt.db.session() as s:
                fresh = await s.get(Server, server.id)
            if fresh is None or fresh.deleted or fresh.hypervisor_id is not None or (
                    fresh.vm_state != st.BUILDING or fresh.pending is not None):
                return
        await asyncio.sleep(random.uniform(0.0, 0.05))
    log.info("server %s: no host claimed in %d rounds of races; next pass", server.uuid,
             ROUNDS)


async def _no_valid_host(rt: Runtime, server: Server, why: str) -> None:
    async with rt.db.session() as s:
        await s.execute(
            update(Server).where(Server.id == server.id, Server.hypervisor_id.is_(None),
                                 Server.deleted.is_(False), Server.vm_state == st.BUILDING)
            .values(vm_state=st.ERROR, task_state=None, power_state=st.NOSTATE,
                    fault=scheduler.fault(scheduler.NO_VALID_HOST, why))
            .execution_options(synchronize_session=False))


@dataclass
class _Room:
    """A host's room as a pass of place_many sees it (the claim UPDATE is the judge)."""

    id: int
    uuid: str
    zone: str
    vcpus: float
    memory_mb: float
    disk_gb: float

    def fits(self, ask: Ask) -> bool:
        return (ask.vcpus <= self.vcpus and ask.memory_mb <= self.memory_mb
                and ask.disk_gb <= self.disk_gb)

    def take(self, ask: Ask) -> None:
        self.vcpus -= ask.vcpus
        self.memory_mb -= ask.memory_mb
        self.disk_gb -= ask.disk_gb


async def _rooms(rt: Runtime, server: Server) -> list[_Room]:
    cfg = rt.settings
    async with rt.db.session() as s:
        hosts = (await s.scalars(select(Hypervisor).where(await _eligible(s, server)))).all()
    return [_Room(h.id, h.uuid, h.availability_zone,
                  h.vcpus * cfg.cpu_allocation_ratio - h.vcpus_used,
                  h.memory_mb * cfg.ram_allocation_ratio - h.memory_mb_used,
                  h.disk_gb * cfg.disk_allocation_ratio - h.disk_gb_used) for h in hosts]


async def place_many(rt: Runtime, servers: list[Server]) -> None:
    """Place many waiting VMs in a few transactions (a storm of creates): each
    group (project, zone, requested host) reads its hosts' room once, picks for each server the
    best host that fits as the pass sees it, and claims with the same
    conditional UPDATEs as :func:`schedule`.  A server this pass cannot place
    (a lost race, no room) is left to :func:`schedule`, which also says why
    when no host ever could."""
    groups: dict[tuple[str, str | None, str | None], list[Server]] = {}
    for server in servers:
        key = (server.project_id, server.requested_az, destinations.of(server))
        groups.setdefault(key, []).append(server)
    left: list[Server] = []
    woken: set[str] = set()
    for group in groups.values():
        rooms = await _rooms(rt, group[0])
        spread = rt.settings.vm_placement == "spread"
        # A transaction per chunk: one of 500 servers held the event loop (and
        # every user's read waiting in it) for a quarter of a second.
        for start in range(0, len(group), PLACE_CHUNK):
            async with rt.db.session() as s:
                for server in group[start:start + PLACE_CHUNK]:
                    ask = Ask.of(server.flavor or {})
                    fitting = [r for r in rooms if r.fits(ask)]
                    if not fitting:
                        left.append(server)
                        continue
                    best = (max if spread else min)(fitting, key=lambda r: r.memory_mb)
                    if not await claim(s, rt, best.id, ask):
                        rooms.remove(best)  # someone else filled it: not this pass
                        left.append(server)
                        continue
                    if not await _put(s, server, best.id, best.zone):
                        await give_back(s, best.id, ask)  # deleted meanwhile
                        continue
                    best.take(ask)
                    if best.uuid not in woken:
                        woken.add(best.uuid)
                        await hosts_wakeup.notify(s, best.uuid)
    for host in woken:
        hosts_wakeup.wake(host)
    for server in left:
        await schedule(rt, server)
