"""The scheduler: give a server a node, and start the deploy.

Candidates are nodes ``available``, not in maintenance, not retired, with no
instance, allocation or lock, whose resource class is the flavor's
``resources:CUSTOM_<CLASS>=1``, that have every required trait and no
forbidden one, are in the requested zone, whose owner or lessee admit the
server's project (a node with neither admits everyone), and that leases
allow: outside the reservable pool, or held by the active lease whose
reservation the server names (:mod:`barecloud.services.compute.reservations`).

Several API processes schedule at once, and every matching node is as good
as another, so the candidates are :data:`WINDOW` nodes picked at random among
all that match (racing schedulers rarely try the same node; the first
sixteen by id made every scheduler fight over the same few), and the claim
is one conditional UPDATE of the node and one of the server, in one
transaction: the node only if it is still free, the server only if it
still has no node and is not deleted.  A claim that loses moves on to the
next candidate; no node is ever given to two servers.  "No valid host" is
the answer only when no node matches at all: a scheduler that keeps losing
races leaves the server to the next pass instead.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import random
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud import states
from barecloud.conductor import batches
from barecloud.db.compute_models import Server
from barecloud.db.models import Node, NodeTrait, Port, bump, utcnow
from barecloud.errors import BarecloudError, NodeLocked
from barecloud.services.baremetal import node_states
from barecloud.services.compute import destinations, reservations
from barecloud.services.compute import status as st
from barecloud.services.compute.flavors import (
    PlacementRequest,
    normalize_resource_class,
    placement_request,
)
from barecloud.services.compute.hypervisors import DEFAULT_ZONE, zone_of_column
from barecloud.services.context import NoConductor, Runtime
from barecloud.services.network import vifs
from barecloud.services.tenancy import service_context

log = logging.getLogger(__name__)

NO_VALID_HOST = "No valid host was found. There are not enough hosts available."
WINDOW = 16
ROUNDS = 8
# Node states an undeploy (Ironic's "deleted" verb) may start from.
UNDEPLOYABLE = (states.ACTIVE, states.DEPLOYFAIL, states.ERROR, states.DEPLOYWAIT)
# Errors that say "later", not "never": the server keeps its node and the
# deploy request is made again on the next pass.
TRANSIENT = (NodeLocked, NoConductor)


class ServerGone(Exception):
    """The server was placed or deleted by someone else meanwhile: roll back."""


def fault(message: str, details: str = "", code: int = 500) -> dict[str, Any]:
    return {"code": code, "message": message, "details": details,
            "created": utcnow().strftime("%Y-%m-%dT%H:%M:%SZ")}


async def resource_classes(s: AsyncSession, wanted: str) -> list[str]:
    """The raw ``resource_class`` values that normalise to ``wanted``."""
    raw = await s.scalars(select(Node.resource_class).distinct()
                          .where(Node.resource_class.is_not(None)))
    return [r for r in raw if r and normalize_resource_class(r) == wanted]


def candidates_query(req: PlacementRequest, classes: list[str], zone: str, project: str,
                     exclude: list[str], leases: ColumnElement[bool],
                     limit: int | None = WINDOW) -> Any:
    """``leases``: the lease rule for the server (:func:`reservations.node_filter`)."""
    q = select(Node.id).where(
        Node.provision_state == states.AVAILABLE, Node.maintenance.is_(False),
        Node.retired.is_(False), Node.instance_uuid.is_(None), Node.reservation.is_(None),
        Node.allocation_uuid.is_(None), Node.resource_class.in_(classes),
        zone_of_column() == zone,
        or_(and_(Node.owner.is_(None), Node.lessee.is_(None)),
            Node.owner == project, Node.lessee == project),
    )
    for trait in req.required:
        q = q.where(select(NodeTrait.node_id).where(
            NodeTrait.node_id == Node.id, NodeTrait.trait == trait).exists())
    for trait in req.forbidden:
        q = q.where(~select(NodeTrait.node_id).where(
            NodeTrait.node_id == Node.id, NodeTrait.trait == trait).exists())
    if exclude:
        q = q.where(Node.uuid.not_in(exclude))
    # At random: see the module's docstring (callers that lock several sort them).
    return q.where(leases).order_by(func.random()).limit(limit)


async def candidates(rt: Runtime, server: Server) -> list[int]:
    """Ids of up to WINDOW nodes the server could go to, in random order."""
    req = placement_request(server.flavor.get("extra_specs") or {})
    if req.resource_class is None:
        return []
    tried = [a["node"] for a in server.attempts or []]
    async with rt.db.session() as s:
        classes = await resource_classes(s, req.resource_class)
        if not classes:
            return []
        q = candidates_query(req, classes, server.requested_az or DEFAULT_ZONE,
                             server.project_id, tried,
                             and_(reservations.node_filter(server),
                                  destinations.node_filter(server)))
        ids = list((await s.scalars(q)).all())
    random.shuffle(ids)
    return ids


def instance_info(server: Server, node: Node) -> dict[str, Any]:
    """What Nova's Ironic driver writes into a node's ``instance_info``."""
    f = server.flavor
    return {
        "image_source": server.image_ref, "root_gb": str(f.get("disk", 0)),
        "swap_mb": str(f.get("swap", 0)), "ephemeral_gb": str(f.get("ephemeral", 0)),
        "display_name": server.name, "vcpus": str(f.get("vcpus", 0)),
        "memory_mb": str(f.get("ram", 0)),
        "local_gb": str((node.properties or {}).get("local_gb", 0)),
        "project_id": server.project_id, "user_id": server.user_id,
    }


def addresses(ports: list[Port]) -> dict[str, Any]:
    """The node's NICs as Nova's ``addresses``: an entry only for a NIC whose address
    the operator recorded in the port's ``extra.ip_address`` (no IPAM on this
    network).  A NIC with none is no entry, as Nova lists a port with no fixed IP:
    the network's label with an empty list (``addr`` must be an IP address)."""
    return {"provisioning": [
        {"version": 6 if ":" in addr else 4, "addr": addr,
         "OS-EXT-IPS-MAC:mac_addr": p.address, "OS-EXT-IPS:type": "fixed"}
        for p in sorted(ports, key=lambda p: p.id)
        if (addr := str((p.extra or {}).get("ip_address") or ""))
    ]} if ports else {}


async def take(s: AsyncSession, server: Server, node: Node) -> bool:
    """Give ``node`` to ``server`` in ``s``: False when the node was taken meanwhile;
    ServerGone when the server no longer waits for one (the caller rolls back)."""
    won = await s.execute(
        update(Node).where(
            Node.id == node.id, Node.instance_uuid.is_(None),
            Node.provision_state == states.AVAILABLE, Node.reservation.is_(None),
            Node.maintenance.is_(False),
        ).values(instance_uuid=server.uuid, instance_info=instance_info(server, node),
                 **bump())
        .execution_options(synchronize_session=False)
    )
    if not won.rowcount:  # type: ignore[attr-defined]
        log.debug("server %s lost the race for node %s", server.uuid, node.uuid)
        return False
    ports = list((await s.scalars(select(Port).where(Port.node_id == node.id))).all())
    mine = await s.execute(
        update(Server).where(Server.id == server.id, Server.deleted.is_(False),
                             Server.node_uuid.is_(None), Server.pending.is_(None),
                             Server.vm_state == st.BUILDING)
        .values(node_uuid=node.uuid, task_state=st.SPAWNING,
                availability_zone=(node.properties or {}).get("availability_zone")
                or DEFAULT_ZONE, addresses=addresses(ports))
        .execution_options(synchronize_session=False)
    )
    if not mine.rowcount:  # type: ignore[attr-defined]
        raise ServerGone
    return True


async def _claim(rt: Runtime, server: Server, node_id: int) -> Node | None:
    """The node, claimed for ``server``; None if it was taken meanwhile (ServerGone
    if the server no longer waits for one)."""
    async with rt.db.session() as s:
        node = await s.get(Node, node_id)
        if node is None or not await take(s, server, node):
            return None
        return node


def configdrive(server: Server) -> dict[str, Any]:
    """The config drive's JSON form (Ironic's), as Nova's metadata service would say it."""
    meta: dict[str, Any] = {
        "uuid": server.uuid, "name": server.name, "hostname": server.hostname,
        "launch_index": server.launch_index,
        "availability_zone": server.availability_zone or DEFAULT_ZONE,
        "project_id": server.project_id, "meta": dict(server.meta or {}), "devices": [],
        "public_keys": {}, "keys": [],
    }
    if server.key_name and server.key_data:
        meta["public_keys"] = {server.key_name: server.key_data}
        meta["keys"] = [{"name": server.key_name, "type": "ssh", "data": server.key_data}]
    drive: dict[str, Any] = {"meta_data": meta}
    if server.user_data:
        drive["user_data"] = base64.b64decode(server.user_data).decode()
    return drive


async def deploy(rt: Runtime, server: Server, node_uuid: str, verb: str = "active") -> str | None:
    """Ask for the deploy (or rebuild); None when it started, else why not.

    A transient refusal (the node is locked, no conductor) raises, so the
    caller tries again later.
    """
    ctx = service_context(f"req-compute-{server.uuid}")
    drive = configdrive(server)
    network = await vifs.network_data(rt, server)
    if network is not None:
        drive["network_data"] = network
    try:
        # A server of a multi-create joins its request's deploy batch (if it has one).
        await node_states.set_provision_state(rt, ctx, node_uuid, verb, {"configdrive": drive},
                                        batch=server.reservation_id if verb == "active"
                                        else None)
    except TRANSIENT:
        raise
    except BarecloudError as exc:
        return exc.message
    return None


async def release(rt: Runtime, server: Server, node_uuid: str) -> bool:
    """Give back a node whose deploy for ``server`` failed; False: not yet (busy).

    A node that was deployed (or tried to be) is undeployed first, so it is
    cleaned before any scheduler sees it ``available`` again; only then is its
    ``instance_uuid`` dropped (it is unique: the server cannot claim another
    node while this one names it).
    """
    async with rt.db.session() as s:
        node = await s.scalar(select(Node).where(Node.uuid == node_uuid))
    if node is None or node.instance_uuid != server.uuid:
        return True
    if node.reservation is not None:
        return False
    await vifs.detach(rt, server, node_uuid)
    values: dict[str, Any] = {"instance_uuid": None}
    if node.provision_state in UNDEPLOYABLE:
        try:
            await node_states.set_provision_state(rt, service_context(f"req-release-{server.uuid}"),
                                            node_uuid, "deleted", {})
        except BarecloudError as exc:
            log.info("node %s: undeploy after a failed deploy postponed: %s", node_uuid,
                     exc.message)
            return False
    elif node.provision_state == states.AVAILABLE:
        values["instance_info"] = {}
    async with rt.db.session() as s:
        await s.execute(update(Node).where(Node.uuid == node_uuid,
                                           Node.instance_uuid == server.uuid)
                        .values(**values, **bump())
                        .execution_options(synchronize_session=False))
    return True


async def fail_attempt(rt: Runtime, server: Server, node_uuid: str,
                       error: str) -> Server | None:
    """Release the node and record the failure; the server as it is now, or None if
    the node could not be released yet (the next pass tries again)."""
    if not await release(rt, server, node_uuid):
        return None
    return await record_failure(rt, server, node_uuid, error)


async def schedule(rt: Runtime, server: Server) -> None:
    """Find and claim a node for ``server`` and start its deploy, or put it in ERROR
    when no node matches.  After ``ROUNDS`` rounds of lost races (or failed
    deploys) it stays ``building``: the reconciler's next pass tries again."""
    for _ in range(ROUNDS):
        ids = await candidates(rt, server)
        if not ids:
            await no_valid_host(rt, server)
            return
        for node_id in ids:
            try:
                node = await _claim(rt, server, node_id)
            except ServerGone:
                return
            if node is None:
                continue
            now = await _start(rt, server, node)
            if now is None:
                return
            server = now
            break  # the candidates changed: ask again
        else:  # every candidate went to a racing scheduler: let them go first
            await asyncio.sleep(random.uniform(0.0, 0.05))
    log.info("server %s: no node claimed in %d rounds of races; next pass", server.uuid,
             ROUNDS)


async def start(rt: Runtime, server: Server, node: Node) -> None:
    """Attach and deploy ``server`` on the ``node`` it claimed; rescheduled alone if
    that fails (a multi-create's server placed with the others)."""
    now = await _start(rt, server, node)
    if now is not None:
        await schedule(rt, now)


async def _start(rt: Runtime, server: Server, node: Node) -> Server | None:
    """None when the deploy started (or postponed, or the server moved on); else the
    server, free to be scheduled again."""
    try:
        error = await vifs.attach(rt, server, node) or await deploy(rt, server, node.uuid)
    except TRANSIENT as exc:
        log.info("server %s: deploy on %s postponed: %s", server.uuid, node.uuid,
                 exc.message)
        return None
    if error is None:
        return None
    now = await fail_attempt(rt, server, node.uuid, error)
    if now is None or now.vm_state != st.BUILDING:
        return None
    return now


async def record_failure(rt: Runtime, server: Server, node_uuid: str,
                         error: str) -> Server | None:
    """Note that the deploy on ``node_uuid`` failed, and free the server to be
    scheduled again, or put it in ERROR after ``scheduler_max_attempts``.

    Returns the server as it is now (None if someone else moved it on).
    """
    attempts = [*(server.attempts or []), {"node": node_uuid, "error": error}]
    values: dict[str, Any] = {"node_uuid": None, "attempts": attempts,
                              "task_state": st.SCHEDULING, "addresses": {}}
    exhausted = len(attempts) >= rt.settings.scheduler_max_attempts
    if exhausted:
        values.update(_error_values(server, attempts, exhausted=True))
    batched = False
    async with rt.db.session() as s:
        result = await s.execute(
            update(Server).where(Server.id == server.id, Server.node_uuid == node_uuid,
                                 Server.deleted.is_(False)).values(**values)
            .execution_options(synchronize_session=False)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            return None
        if exhausted:  # out of reschedules: its deploy batch must not wait for it
            batched = await batches.gave_up(s, server.reservation_id, tried(attempts))
        now = await s.get(Server, server.id, populate_existing=True)
    if batched:
        await open_gate(rt, server.reservation_id)
    return now


def tried(attempts: list[dict[str, Any]] | None) -> list[str]:
    """The nodes a server's deploy was tried on."""
    return [str(a["node"]) for a in attempts or [] if a.get("node")]


async def open_gate(rt: Runtime, batch_uuid: str | None) -> None:
    """Check the deploy batch's gate now (a server of it failed for good), not at the
    conductor's next periodic check: the others go on within seconds."""
    if batch_uuid:
        await batches.check_gate(rt.db, rt.settings, batch_uuid)


def _error_values(server: Server, attempts: list[dict[str, Any]],
                  exhausted: bool) -> dict[str, Any]:
    last = attempts[-1]
    head = "Exceeded maximum number of retries." if exhausted else "No valid host was found."
    message = (f"{head} Build of instance {server.uuid} failed on {len(attempts)} node(s); "
               f"last error (node {last['node']}): {last['error']}")
    details = "\n".join(f"node {a['node']}: {a['error']}" for a in attempts)
    return {"vm_state": st.ERROR, "task_state": None, "power_state": st.NOSTATE,
            "fault": fault(message, details)}


async def no_valid_host(rt: Runtime, server: Server) -> None:
    req = placement_request(server.flavor.get("extra_specs") or {})
    if server.attempts:
        values = _error_values(server, server.attempts, exhausted=False)
    else:
        why = ("The flavor asks for no bare-metal resource class: it needs exactly one "
               "extra spec resources:CUSTOM_<CLASS>=1." if req.resource_class is None else
               f"No available node has resource class {req.resource_class}"
               + (f", traits {', '.join(req.required)}" if req.required else "")
               + f" in availability zone {server.requested_az or DEFAULT_ZONE}"
               " for this project.")
        values = {"vm_state": st.ERROR, "task_state": None, "power_state": st.NOSTATE,
                  "fault": fault(NO_VALID_HOST, why)}
    batched = False
    async with rt.db.session() as s:
        result = await s.execute(
            update(Server).where(Server.id == server.id, Server.node_uuid.is_(None),
                                 Server.deleted.is_(False), Server.vm_state == st.BUILDING)
            .values(**values).execution_options(synchronize_session=False)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            # It will never join its multi-create's deploy batch: no gate waits for it.
            batched = await batches.gave_up(s, server.reservation_id, tried(server.attempts))
    if batched:
        await open_gate(rt, server.reservation_id)
