"""The reconciler that makes a server's status follow its node.

It runs in every API process (``serve`` and ``api``), every
``compute_sync_interval`` seconds and at once when a request asks
(:func:`wake`), and looks only at servers with something under way:
``building``, a ``task_state``, or a ``pending`` intent.  Each one is
claimed for a short while with a conditional UPDATE (``sync_holder``), so
several API processes never work on the same server; everything a pass does
is idempotent, so a process dying mid-way leaves work the next pass
finishes.  Passes go round the servers in flight in id order, ``BATCH`` at a
time, from where the last one stopped (:class:`Cursor`): with more servers in
flight than a pass takes, each one is still looked at once per round (a
pass that started from the first id each time never reached the 501st).

As built (node → server):

- no node yet → schedule (:mod:`barecloud.services.compute.scheduler`);
- node ``deploying`` / ``wait call-back`` → BUILD, task ``spawning``;
- node ``active`` (its workflow done) → ACTIVE, or SHUTOFF if it is off;
- node ``deploy failed`` / ``error`` / taken away → the node is undeployed
  (cleaned before it is ``available`` again) and let go, the attempt is
  recorded, the server scheduled again (up to ``scheduler_max_attempts``) or
  ERROR with a fault naming the node's ``last_error``;
- delete → task ``deleting``, node undeploy ("deleted"); the row is marked
  deleted (gone from the API) once the node has left ``active``/deploying;
- reboot/stop/start → the node's power action, then ACTIVE/SHUTOFF once the
  power workflow has ended; rebuild → the node's rebuild, then ACTIVE.

A VM (a server of a VM flavor) is placed on a hypervisor and its requests
handed to its host by :mod:`barecloud.services.compute.vm_sync`; the host's
reports end them (:mod:`barecloud.services.compute.host_reports`).

Two sweeps over nodes finish what servers leave behind: a node ``available``
that still names a server which no longer wants it (its deploy never started:
an undeploy's tear-down clears ``instance_uuid`` itself, as Ironic's) loses
it before any scheduler can see it; a node still holding
a server that no longer wants it in ``active``/``deploy failed``/``wait
call-back`` (a process died between two steps) is undeployed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, update

from barecloud import states
from barecloud.conductor import batches
from barecloud.db.compute_models import Server
from barecloud.db.models import Node, bump, utcnow
from barecloud.errors import BarecloudError
from barecloud.services.background import Reconciler
from barecloud.services.baremetal import node_states
from barecloud.services.compute import (
    multi_create,
    scheduler,
    vm_networks,
    vm_placement,
    vm_sync,
)
from barecloud.services.compute import status as st
from barecloud.services.context import Runtime
from barecloud.services.network import vifs
from barecloud.services.tenancy import service_context

log = logging.getLogger(__name__)

CLAIM_SECONDS = 60.0
BATCH = 500
PARALLEL = 32
DEPLOYING = (states.DEPLOYING, states.DEPLOYWAIT)
UNDEPLOYABLE = scheduler.UNDEPLOYABLE
# Orphans are undeployed from these only: a node in "error" after a failed
# undeploy is left to the operator rather than retried every second.
ORPHAN_UNDEPLOY = (states.ACTIVE, states.DEPLOYFAIL, states.DEPLOYWAIT)
POWER_TARGETS = {"reboot_soft": states.SOFT_REBOOT, "reboot_hard": states.REBOOT,
                 "stop": states.POWER_OFF, "start": states.POWER_ON}

_wakers: set[asyncio.Event] = set()


def wake() -> None:
    """Have the reconcilers of this process look at servers now."""
    for event in list(_wakers):
        event.set()


@dataclass
class Cursor:
    """The last server id a pass looked at; 0: the next pass starts a new round."""

    after: int = 0


class ComputeSync(Reconciler):
    name = "compute-sync"

    def __init__(self, rt: Runtime) -> None:
        super().__init__(rt, _wakers)
        self.cursor = Cursor()

    @property
    def interval(self) -> float:
        return self.rt.settings.compute_sync_interval

    async def once(self) -> bool:
        return await sync_once(self.rt, self.holder, self.cursor)


async def sync_once(rt: Runtime, holder: str, cursor: Cursor | None = None) -> bool:
    """One pass, from ``cursor`` on (none: from the first server); True if the
    round is not over, and the next pass should follow at once."""
    cursor = cursor if cursor is not None else Cursor()
    now = utcnow()
    async with rt.db.session() as s:
        ids = list((await s.scalars(
            select(Server.id).where(
                Server.deleted.is_(False),
                or_(Server.vm_state == st.BUILDING, Server.task_state.is_not(None),
                    Server.pending.is_not(None)),
                vm_sync.needs_sync(),
                or_(Server.sync_holder.is_(None), Server.sync_until < now),
                Server.id > cursor.after,
            ).order_by(Server.id).limit(BATCH)
        )).all())
    more = len(ids) == BATCH
    cursor.after = ids[-1] if more else 0
    limit = asyncio.Semaphore(PARALLEL)

    async def one(server_id: int) -> None:
        async with limit:
            await _with_claim(rt, holder, server_id)

    waiting = await _place_vms(rt, holder, ids)
    await asyncio.gather(*(one(i) for i in ids if i not in waiting))
    await vm_sync.mark_down(rt)
    await _release_nodes(rt)
    await _undeploy_orphans(rt)
    return more


async def _place_vms(rt: Runtime, holder: str, ids: list[int]) -> set[int]:
    """Place the VMs among ``ids`` that wait for a host, all at once
    (vm_placement.place_many); the ids it took care of."""
    async with rt.db.session() as s:
        rows = (await s.scalars(select(Server).where(
            Server.id.in_(ids), Server.vm_state == st.BUILDING,
            Server.hypervisor_id.is_(None), Server.node_uuid.is_(None),
            Server.pending.is_(None), Server.deleted.is_(False)))).all()
    waiting = [r.id for r in rows if vm_placement.is_vm(r)]
    if not waiting:
        return set()
    now = utcnow()
    async with rt.db.session() as s:
        await s.execute(
            update(Server).where(Server.id.in_(waiting),
                                 or_(Server.sync_holder.is_(None), Server.sync_until < now))
            .values(sync_holder=holder, sync_until=now + dt.timedelta(seconds=CLAIM_SECONDS))
            .execution_options(synchronize_session=False))
        mine = list((await s.scalars(select(Server).where(
            Server.id.in_(waiting), Server.sync_holder == holder))).all())
    try:
        await vm_placement.place_many(rt, mine)
        await _wire_placed(rt, [x.id for x in mine])
    except Exception:
        log.exception("placing %d VMs failed; the next pass tries again", len(mine))
    finally:
        async with rt.db.session() as s:
            await s.execute(update(Server).where(Server.id.in_(waiting),
                                                 Server.sync_holder == holder)
                            .values(sync_holder=None, sync_until=None)
                            .execution_options(synchronize_session=False))
    return set(waiting)


async def _wire_placed(rt: Runtime, ids: list[int]) -> None:
    """Bind the ports of the VMs just placed that asked for networks (vm_networks)."""
    async with rt.db.session() as s:
        placed = list((await s.scalars(select(Server).where(
            Server.id.in_(ids), Server.task_state == st.NETWORKING,
            Server.hypervisor_id.is_not(None), Server.deleted.is_(False)))).all())
    limit = asyncio.Semaphore(PARALLEL)

    async def one(server: Server) -> None:
        async with limit:
            await vm_networks.wire(rt, server)

    await asyncio.gather(*(one(x) for x in placed))


async def _with_claim(rt: Runtime, holder: str, server_id: int) -> None:
    now = utcnow()
    async with rt.db.session() as s:
        claimed = await s.execute(
            update(Server).where(Server.id == server_id,
                                 or_(Server.sync_holder.is_(None), Server.sync_until < now))
            .values(sync_holder=holder, sync_until=now + dt.timedelta(seconds=CLAIM_SECONDS))
            .execution_options(synchronize_session=False)
        )
        if not claimed.rowcount:  # type: ignore[attr-defined]
            return
        server = await s.get(Server, server_id)
    try:
        if server is not None and not server.deleted:
            await reconcile(rt, server)
    except BarecloudError as exc:
        log.warning("server %s: %s", server_id, exc.message)
    except Exception:
        log.exception("server %s: reconcile failed", server_id)
    finally:
        async with rt.db.session() as s:
            await s.execute(update(Server).where(Server.id == server_id,
                                                 Server.sync_holder == holder)
                            .values(sync_holder=None, sync_until=None)
                            .execution_options(synchronize_session=False))


async def _node(rt: Runtime, uuid: str | None) -> Node | None:
    if uuid is None:
        return None
    async with rt.db.session() as s:
        return await s.scalar(select(Node).where(Node.uuid == uuid))


async def _set(rt: Runtime, server: Server, **values: Any) -> None:
    """Write ``values`` unless a request changed the server's intent meanwhile (a delete
    during a deploy): the next pass then works from the new one."""
    async with rt.db.session() as s:
        await s.execute(update(Server).where(
            Server.id == server.id, Server.deleted.is_(False),
            Server.pending.is_not_distinct_from(server.pending),
        ).values(**values).execution_options(synchronize_session=False))


async def reconcile(rt: Runtime, server: Server) -> None:
    if vm_placement.is_vm(server):
        await vm_sync.reconcile(rt, server)
        return
    node = await _node(rt, server.node_uuid)
    if server.pending == "delete":
        await _delete(rt, server, node)
    elif server.vm_state == st.BUILDING:
        if server.node_uuid is None:
            await multi_create.schedule(rt, server)
        else:
            await _follow_deploy(rt, server, node)
    elif server.pending in POWER_TARGETS:
        await _follow_power(rt, server, node)
    elif server.pending == "rebuild":
        await _follow_rebuild(rt, server, node)
    elif server.task_state is not None and server.pending is None:
        await _set(rt, server, task_state=None)  # a task nothing carries any more


def _settled(node: Node) -> bool:
    """The node's last workflow has ended (it holds no lock, runs nothing)."""
    return node.reservation is None and node.workflow is None


def _running(node: Node) -> dict[str, Any]:
    on = node.power_state != states.POWER_OFF
    return {"vm_state": st.ACTIVE if on else st.STOPPED, "task_state": None,
            "power_state": st.power_state_of(node.power_state)}


async def _follow_deploy(rt: Runtime, server: Server, node: Node | None) -> None:
    assert server.node_uuid is not None
    if node is None or node.instance_uuid != server.uuid:
        await _failed(rt, server, server.node_uuid, "The node was deleted or given to "
                      "another instance during the deploy.")
    elif node.provision_state in DEPLOYING:
        if server.task_state != st.SPAWNING:
            await _set(rt, server, task_state=st.SPAWNING)
    elif node.provision_state == states.ACTIVE and _settled(node):
        await _set(rt, server, launched_at=utcnow(), fault=None, **_running(node))
    elif node.provision_state in (states.DEPLOYFAIL, states.ERROR) and _settled(node):
        await _failed(rt, server, node.uuid, node.last_error or
                      f"Deploy ended in state {node.provision_state}")
    elif node.provision_state == states.AVAILABLE and _settled(node):
        # Claimed (with the rest of its multi-create, services/compute/multi_create.py), or the
        # deploy request never got through: attach (again) and ask again.
        try:
            error = await vifs.attach(rt, server, node) or await scheduler.deploy(
                rt, server, node.uuid)
        except scheduler.TRANSIENT:
            return
        if error is not None:
            await _failed(rt, server, node.uuid, error)


async def _failed(rt: Runtime, server: Server, node_uuid: str, error: str) -> None:
    log.warning("server %s: deploy on node %s failed: %s", server.uuid, node_uuid, error)
    now = await scheduler.fail_attempt(rt, server, node_uuid, error)
    if now is not None and now.vm_state == st.BUILDING:
        await scheduler.schedule(rt, now)


async def _delete(rt: Runtime, server: Server, node: Node | None) -> None:
    if node is None or node.instance_uuid != server.uuid or (
        node.provision_state not in (*UNDEPLOYABLE, states.DEPLOYING)
    ):
        await vifs.detach(rt, server, server.node_uuid)
        now = utcnow()
        batched = False
        async with rt.db.session() as s:
            gone = await s.execute(update(Server).where(
                Server.id == server.id, Server.deleted.is_(False),
                Server.pending.is_not_distinct_from(server.pending),
            ).values(deleted=True, deleted_at=now, terminated_at=now, vm_state=st.DELETED,
                     task_state=None, pending=None, power_state=st.NOSTATE)
                .execution_options(synchronize_session=False))
            if gone.rowcount and server.vm_state == st.BUILDING:  # type: ignore[attr-defined]
                # Deleted before its node joined its deploy batch: nobody waits for it.
                batched = await batches.gave_up(s, server.reservation_id, [
                    *scheduler.tried(server.attempts),
                    *([server.node_uuid] if server.node_uuid else [])])
        if batched:
            await scheduler.open_gate(rt, server.reservation_id)
        return
    if server.pending_sent and node.provision_state == states.ERROR and _settled(node):
        # The undeploy itself failed: as Nova, the instance goes to ERROR; deleting
        # it again tries again.
        await _set(rt, server, pending=None, pending_sent=False, task_state=None,
                   vm_state=st.ERROR, power_state=st.NOSTATE,
                   fault=scheduler.fault(f"Failed to delete instance {server.uuid}: "
                                         f"{node.last_error or 'the undeploy failed'}"))
        return
    if node.provision_state in UNDEPLOYABLE and node.reservation is None:
        try:
            await node_states.set_provision_state(rt, service_context(f"req-delete-{server.uuid}"),
                                            node.uuid, "deleted", {})
        except BarecloudError as exc:  # locked, or a state change meanwhile: next pass
            log.info("server %s: undeploy of %s postponed: %s", server.uuid, node.uuid,
                     exc.message)
            return
        await _set(rt, server, pending_sent=True)


async def _follow_power(rt: Runtime, server: Server, node: Node | None) -> None:
    assert server.pending is not None
    if node is None:
        await _set(rt, server, pending=None, task_state=None, vm_state=st.ERROR,
                   fault=scheduler.fault("The node of this instance is gone."))
        return
    if not server.pending_sent:
        if node.reservation is not None:
            return
        target = POWER_TARGETS[server.pending]
        ctx = service_context(f"req-power-{server.uuid}")
        try:
            await node_states.set_power_state(rt, ctx, node.uuid, target, None)
        except BarecloudError as exc:
            if exc.code == 409 or exc.code >= 500:
                return  # busy (or no conductor): next pass
            await _power_failed(rt, server, exc.message)
            return
        await _set(rt, server, pending_sent=True)
        return
    if not _settled(node) or node.target_power_state is not None:
        return
    wanted = states.POWER_OFF if server.pending == "stop" else states.POWER_ON
    if node.power_state != wanted:
        await _power_failed(rt, server, node.last_error or
                            f"The node is {node.power_state}, not {wanted}.")
        return
    await _set(rt, server, pending=None, pending_sent=False, **_running(node))


async def _power_failed(rt: Runtime, server: Server, error: str) -> None:
    """A failed reboot leaves the server in ERROR (as Nova); stop/start only end the task."""
    values: dict[str, Any] = {"pending": None, "pending_sent": False, "task_state": None,
                              "fault": scheduler.fault(error)}
    if server.pending and server.pending.startswith("reboot"):
        values["vm_state"] = st.ERROR
    await _set(rt, server, **values)


async def _follow_rebuild(rt: Runtime, server: Server, node: Node | None) -> None:
    if node is None or node.instance_uuid != server.uuid:
        await _set(rt, server, pending=None, task_state=None, vm_state=st.ERROR,
                   fault=scheduler.fault("The node of this instance is gone."))
        return
    if not server.pending_sent:
        if not _settled(node):
            return
        async with rt.db.session() as s:
            fresh = await s.get(Node, node.id)
            if fresh is None or fresh.reservation is not None:
                return
            fresh.instance_info = {**(fresh.instance_info or {}),
                                   **scheduler.instance_info(server, fresh)}
        try:
            error = await scheduler.deploy(rt, server, node.uuid, verb="rebuild")
        except scheduler.TRANSIENT:
            return
        if error is not None:
            await _set(rt, server, pending=None, task_state=None, vm_state=st.ERROR,
                       fault=scheduler.fault(f"Failed to rebuild instance {server.uuid}: "
                                             f"{error}"))
            return
        await _set(rt, server, pending_sent=True, task_state=st.REBUILD_SPAWNING)
        return
    if node.provision_state in DEPLOYING or not _settled(node):
        return
    if node.provision_state == states.ACTIVE:
        running = _running(node)
        if server.vm_state == st.STOPPED and running["vm_state"] == st.ACTIVE:
            # Nova rebuilds a stopped server and stops it again: the deploy powered
            # the machine on, so the rebuild ends in a stop (then SHUTOFF).
            running = {**running, "task_state": st.POWERING_OFF, "pending": "stop"}
        else:
            running["pending"] = None
        await _set(rt, server, pending_sent=False, launched_at=utcnow(), fault=None,
                   **running)
    else:
        await _set(rt, server, pending=None, pending_sent=False, task_state=None,
                   vm_state=st.ERROR, power_state=st.NOSTATE,
                   fault=scheduler.fault(f"Failed to rebuild instance {server.uuid}: "
                                         f"{node.last_error or node.provision_state}"))


def _unwanted() -> Any:
    """Nodes holding a server that no longer wants them."""
    return select(Server.uuid).where(
        Server.uuid == Node.instance_uuid,
        or_(Server.deleted.is_(True), Server.node_uuid.is_(None),
            Server.node_uuid != Node.uuid),
    ).exists()


async def _release_nodes(rt: Runtime) -> None:
    async with rt.db.session() as s:
        await s.execute(
            update(Node).where(Node.provision_state == states.AVAILABLE,
                               Node.instance_uuid.is_not(None), Node.reservation.is_(None),
                               _unwanted())
            .values(instance_uuid=None, instance_info={}, **bump())
            .execution_options(synchronize_session=False)
        )


async def _undeploy_orphans(rt: Runtime) -> None:
    async with rt.db.session() as s:
        orphans = list((await s.scalars(
            select(Node.uuid).where(Node.provision_state.in_(ORPHAN_UNDEPLOY),
                                    Node.instance_uuid.is_not(None),
                                    Node.reservation.is_(None), _unwanted()).limit(BATCH)
        )).all())
    for uuid in orphans:
        try:
            await node_states.set_provision_state(rt, service_context("req-compute-orphan"),
                                            uuid, "deleted", {})
        except BarecloudError as exc:  # someone else got there first, or it moved on
            log.debug("orphan node %s: %s", uuid, exc.message)
