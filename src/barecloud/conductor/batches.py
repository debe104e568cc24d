"""Deploy batches: the chain's gate, its order, per-machine results, retries.

A batch member runs the usual deploy workflow.  With ``chain`` delivery its
agent first calls back (the "agent up" step), then the "write image" step
*joins* the batch: the member is ready, and it waits at the gate until every
member the request asked for is ready (or has dropped out), or the gate's
deadline passes.  Whoever opens the gate *dispatches*: it orders the ready
members by switch and port, so that most hops of the chain stay inside one
switch, and gives each agent a ``write_image`` whose ``upstreams`` are the
chain URLs of the agents before it (nearest first), then the image server.
Each agent writes what it pulls and serves it to the next (agent/chain.py).

A member whose write fails, or that makes no progress for
``deploy_batch_progress_timeout``, is retried alone with ``http``; a dead
machine is rebooted first.  A member that reaches the write after the chain
started also gets ``http`` alone: nobody waits for a late or dead machine.
Each member row keeps how its write went, for the per-machine report.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import secrets
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from barecloud import states
from barecloud.conductor import image_urls, wakeups
from barecloud.conductor.batch_args import batch_of, member_args
from barecloud.conductor.mailbox import MAILBOX
from barecloud.conductor.workflows import WORKFLOWS, HttpWrite
from barecloud.config import Settings
from barecloud.db import node_agents
from barecloud.db.batch_models import DeployBatch, DeployBatchMember
from barecloud.db.models import Node, utcnow
from barecloud.db.session import Database, serialize
from barecloud.db.transitions import note
from barecloud.drivers.agent import image_command
from barecloud.drivers.base import WAIT, AgentCommand, NodeView, StepResult

log = logging.getLogger(__name__)

DELIVERIES = ("chain", "http")
GATHERING, BROADCASTING, DONE = "gathering", "broadcasting", "done"
# Member states: enlisted, agent up at the gate, command sent, and the end.
WAITING, READY, WRITING, RETRYING, OK, KO = (
    "waiting", "ready", "writing", "retrying", "ok", "ko")
UNSETTLED = (WAITING, READY, WRITING, RETRYING)
IN_DEPLOY = (states.DEPLOYING, states.DEPLOYWAIT)

# Member rows by (batch UUID, node UUID).
Members = dict[tuple[str, str], DeployBatchMember]


async def create(s: AsyncSession, settings: Settings, *, uuid_: str, delivery: str,
                 expected: int, project_id: str | None) -> DeployBatch:
    batch = DeployBatch(
        uuid=uuid_, delivery=delivery, expected=expected, state=GATHERING,
        gate_deadline=utcnow() + dt.timedelta(seconds=settings.deploy_batch_gate_timeout),
        project_id=project_id)
    s.add(batch)
    return batch


async def expect_fewer(s: AsyncSession, batch_uuid: str | None) -> None:
    """One member the request asked for will never come (its server found no node)."""
    if batch_uuid:
        await s.execute(update(DeployBatch).where(
            DeployBatch.uuid == batch_uuid, DeployBatch.expected > 0).values(
            expected=DeployBatch.expected - 1).execution_options(synchronize_session=False))


async def gave_up(s: AsyncSession, batch_uuid: str | None, tried: Iterable[str]) -> bool:
    """A server of the batch's request failed for good (ERROR, deleted while building).

    If none of the nodes it ``tried`` ever joined the batch (a VIF that could not be
    attached, no node left), the gate would wait for it until its deadline: it
    expects one member fewer.  A node that joined is a member row already, and
    counts as dropped once it leaves the deploy.  True if there is such a batch (its
    gate is then to be checked, :func:`check_gate`)."""
    if not batch_uuid or await s.get(DeployBatch, batch_uuid) is None:
        return False
    nodes = list(tried)
    joined = nodes and await s.scalar(select(DeployBatchMember.id).where(
        DeployBatchMember.batch_uuid == batch_uuid,
        DeployBatchMember.node_uuid.in_(nodes)).limit(1))
    if not joined:
        await expect_fewer(s, batch_uuid)
    return True


async def enlist(s: AsyncSession, batch_uuid: str, node: Node) -> dict[str, Any]:
    """Make ``node`` a member (again, for a redeploy); the workflow args saying so."""
    batch = await s.get(DeployBatch, batch_uuid)
    if batch is None:
        return {}
    member = await s.scalar(select(DeployBatchMember).where(
        DeployBatchMember.batch_uuid == batch_uuid, DeployBatchMember.node_uuid == node.uuid))
    if member is None:
        s.add(DeployBatchMember(batch_uuid=batch_uuid, node_uuid=node.uuid,
                                node_name=node.name, state=WAITING, retried=False,
                                sources=[], failures=[]))
    else:  # deployed again in the same batch (a retried server): a new write
        member.state, member.error, member.position = WAITING, None, None
        member.write_started_at = member.write_finished_at = None
    return member_args(batch_uuid, batch.delivery)


async def join(db: Database, settings: Settings, view: NodeView,
               http_write: HttpWrite) -> StepResult:
    """The "write image" step of a batch member: wait at the gate, or write alone."""
    ref = batch_of(view.workflow_args)
    assert ref is not None
    sent: list[str] = []
    mine: AgentCommand | None = None
    async with db.session() as s:
        await serialize(s, f"deploy-batch:{ref}")
        batch = await s.get(DeployBatch, ref)
        member = await _member(s, ref, view.uuid)
        agent_url = view.driver_internal_info.get("agent_url")
        alone = batch is None or member is None or (
            batch.delivery != "chain" or batch.state != GATHERING
            or view.workflow_args.get("image_delivery") == "http" or not agent_url)
        if batch is not None and member is not None and alone:
            member.delivery = "http"
            member.state = WRITING
            member.write_started_at = None
            log.info("batch %s: node %s writes alone over http (%s)", ref, view.uuid,
                     _http_reason(batch, view, agent_url))
        elif batch is not None and member is not None:
            member.state = READY
            member.agent_url = str(agent_url)
            member.chain_token = secrets.token_urlsafe(24)
            node = await _node(s, view.uuid)
            await node_agents.write(s, node.id, at_gate=True)
            if not _gate_open(batch, await _members(s, batch)):
                return WAIT
            mine, sent = await _dispatch(s, settings, batch, view.uuid)
    if alone:  # the deploy interface's own write, outside the transaction
        result = await http_write()
        if result is None:  # no agent (fake deploy): written already
            await _written_alone(db, ref, view.uuid)
        return result
    for other in sent:
        MAILBOX.notify(other)
    return mine if mine is not None else WAIT


async def _written_alone(db: Database, ref: str, node_uuid: str) -> None:
    async with db.session() as s:
        member = await _member(s, ref, node_uuid)
        if member is not None:
            member.state = OK
            await s.flush()
            await _close_if_finished(s, ref)


def _http_reason(batch: DeployBatch, view: NodeView, agent_url: Any) -> str:
    if batch.delivery != "chain":
        return "the batch's delivery"
    if view.workflow_args.get("image_delivery") == "http":
        return "a retry"
    if batch.state != GATHERING:
        return "the chain had started"
    return "its agent gave no callback URL"


async def _member(s: AsyncSession, batch_uuid: str, node_uuid: str) -> DeployBatchMember | None:
    member: DeployBatchMember | None = await s.scalar(select(DeployBatchMember).where(
        DeployBatchMember.batch_uuid == batch_uuid, DeployBatchMember.node_uuid == node_uuid))
    return member


async def _node(s: AsyncSession, node_uuid: str) -> Node:
    node = await s.scalar(select(Node).where(Node.uuid == node_uuid))
    assert node is not None
    return node


Membership = list[tuple[DeployBatchMember, Node | None]]


async def _members(s: AsyncSession, batch: DeployBatch, *, ports: bool = False) -> Membership:
    """The members and their nodes (with their ports only for the chain's order)."""
    members = list((await s.scalars(select(DeployBatchMember).where(
        DeployBatchMember.batch_uuid == batch.uuid).order_by(DeployBatchMember.id))).all())
    query = select(Node).where(Node.uuid.in_([m.node_uuid for m in members]))
    if ports:
        query = query.options(selectinload(Node.ports))
    nodes = {n.uuid: n for n in (await s.scalars(query)).all()}
    return [(m, nodes.get(m.node_uuid)) for m in members]


def _dropped(member: DeployBatchMember, node: Node | None, batch_uuid: str) -> bool:
    """The member's node left this batch's deploy (failed, aborted, gone)."""
    return node is None or node.provision_state not in IN_DEPLOY or (
        (node.workflow_args or {}).get("deploy_batch") != batch_uuid)


def _gate_open(batch: DeployBatch, members: Membership) -> bool:
    if utcnow() >= batch.gate_deadline:
        return True
    if len(members) < batch.expected:
        return False
    return all(m.state != WAITING or _dropped(m, n, batch.uuid) for m, n in members)


def chain_order(members: Iterable[tuple[DeployBatchMember, Node]]) -> list[
        tuple[DeployBatchMember, Node]]:
    """Members by switch, then port (naturally: p2 before p10), then name."""
    return sorted(members, key=lambda mn: _place(mn[1]))


def _place(node: Node) -> tuple[str, tuple[Any, ...], str]:
    ports = sorted(node.ports, key=lambda p: (not p.pxe_enabled, p.id or 0))
    link = dict(ports[0].local_link_connection or {}) if ports else {}
    switch = str(link.get("switch_id") or link.get("switch_info") or "")
    return switch, _natural(str(link.get("port_id") or "")), node.name or node.uuid


def _natural(text: str) -> tuple[Any, ...]:
    return tuple(int(part) if part.isdigit() else part
                 for part in re.split(r"(\d+)", text) if part)


async def _dispatch(s: AsyncSession, settings: Settings, batch: DeployBatch,
                    me: str | None) -> tuple[AgentCommand | None, list[str]]:
    """Start the chain with the ready members; my command, and the nodes told."""
    now = utcnow()
    ready: list[tuple[DeployBatchMember, Node]] = []
    for member, node in await _members(s, batch, ports=True):
        if member.state == READY and node is not None and not _dropped(member, node,
                                                                        batch.uuid):
            ready.append((member, node))
    batch.state = BROADCASTING
    batch.started_at = now
    mine: AgentCommand | None = None
    told: list[str] = []
    chain = chain_order(ready)
    for position, (member, node) in enumerate(chain):
        before = chain[max(0, position - settings.deploy_chain_fallbacks):position]
        upstreams = [f"{m.agent_url.rstrip('/')}/chain/{m.chain_token}"
                     for m, _ in reversed(before) if m.agent_url and m.chain_token]
        # The tail serves nobody: it need not wait for a successor before powering off.
        tail = position == len(chain) - 1
        command = _chain_command(node, None if tail else member, upstreams, settings)
        member.position = position
        member.delivery = "chain"
        member.state = WRITING
        if node.uuid == me:
            mine = command
            await node_agents.write(s, node.id, at_gate=False)
            continue
        await node_agents.issue(s, node.id, command.issued(now.isoformat()))
        await wakeups.notify_command(s, node.uuid)
        node.workflow_deadline = now + dt.timedelta(
            seconds=settings.deploy_batch_progress_timeout)
        s.add(note(node, f"deploy batch {batch.uuid}: chain position {position + 1} of "
                         f"{len(chain)}, write_image sent to the agent",
                   event_type="deploy", conductor=node.reservation))
        told.append(node.uuid)
    log.info("batch %s: chain of %d started (%d expected)", batch.uuid, len(chain),
             batch.expected)
    return mine, told


def _chain_command(node: Node, serving: DeployBatchMember | None, upstreams: list[str],
                   settings: Settings) -> AgentCommand:
    view = NodeView(uuid=node.uuid, name=node.name, driver=node.driver, driver_info={},
                    driver_internal_info={}, properties={},
                    instance_info=dict(node.instance_info or {}), power_state=None,
                    provision_state=node.provision_state)
    params = dict(image_command(view).params)
    params.update(upstreams=upstreams, stall_timeout=settings.deploy_chain_stall_timeout)
    if serving is not None:
        params["serve"] = {"token": serving.chain_token}
    return image_urls.sign_command(settings, node.uuid, view.instance_info,
                                   AgentCommand("write_image", params))


async def check_gates(db: Database, settings: Settings,
                      mine: Callable[[str], bool] = lambda _ref: True) -> int:
    """Open gates whose deadline passed or whose missing members dropped out; settle
    members whose node left the deploy; close finished batches.  Batches touched.

    ``mine``: whether a batch (by UUID) is this conductor's to check; each open
    batch is one conductor's (the hash ring of the live ones), so N conductors
    do not read every batch N times.  Two that overlap while the ring changes
    are still serialized per batch (:func:`check_gate`)."""
    async with db.session() as s:
        refs = [ref for ref in (await s.scalars(select(DeployBatch.uuid).where(
            DeployBatch.state.in_((GATHERING, BROADCASTING))).order_by(DeployBatch.uuid)
        )).all() if mine(ref)]
    touched = 0
    for ref in refs:
        touched += await check_gate(db, settings, ref)
    return touched


async def check_gate(db: Database, settings: Settings, ref: str) -> int:
    """:func:`check_gates` for one batch, at once: a server of the batch that failed
    for good must not leave the others waiting for the next periodic check."""
    touched = 0
    sent: list[str] = []
    async with db.session() as s:
        await serialize(s, f"deploy-batch:{ref}")
        batch = await s.get(DeployBatch, ref)
        if batch is None or batch.state == DONE:
            return 0
        members = await _members(s, batch)
        for member, node in members:
            if member.state in UNSETTLED and _dropped(member, node, batch.uuid):
                _settle(member, KO, node.last_error if node is not None else None, node)
        if (batch.state == GATHERING and any(m.state == READY for m, _ in members)
                and _gate_open(batch, members)):
            _, sent = await _dispatch(s, settings, batch, None)
            touched += 1
        if _finished(batch, [m for m, _ in members]):
            touched += 1
    for other in sent:
        MAILBOX.notify(other)
    return touched


def _settle(member: DeployBatchMember, state: str, error: str | None,
            node: Node | None) -> None:
    member.state = state
    if state == KO:
        where = f" (node {node.provision_state})" if node is not None else " (node deleted)"
        member.error = (error or f"the node left the deploy{where}")[:1000]


def _finished(batch: DeployBatch, members: list[DeployBatchMember]) -> bool:
    if len(members) < batch.expected and utcnow() < batch.gate_deadline:
        return False
    if any(m.state in UNSETTLED for m in members):
        return False
    batch.state = DONE
    batch.finished_at = utcnow()
    oks = sum(m.state == OK for m in members)
    log.info("batch %s done: %d OK, %d KO", batch.uuid, oks, len(members) - oks)
    return True


async def record(s: AsyncSession, settings: Settings, node: Node, command: dict[str, Any],
                 status: str) -> bool:
    """An agent's report on a batch member's ``write_image``; True if a failure is to be
    retried alone (the caller resumes the node instead of failing it)."""
    ref = batch_of(node.workflow_args or {})
    if ref is None or command.get("name") != "write_image":
        return False
    member = await _member(s, ref, node.uuid)
    if member is None:
        return False
    now = utcnow()
    if status == "running":
        member.state = WRITING
        member.write_started_at = member.write_started_at or now
        return False
    result = command.get("result") or {}
    if status == "succeeded":
        member.state = OK
        member.error = None
        member.bytes = result.get("bytes") if isinstance(result.get("bytes"), int) else None
        seconds = result.get("seconds")
        member.seconds = float(seconds) if isinstance(seconds, (int, float)) else None
        member.sources = list(result.get("sources") or [])
        member.write_started_at = member.write_started_at or now
        member.write_finished_at = now
        await _close_if_finished(s, ref)
        return False
    return await retry_alone(s, settings, node, str(command.get("error") or "failed"),
                             alive=True)


async def members_of(s: AsyncSession, nodes: Iterable[Node]) -> Members:
    """The member rows of the batch members among ``nodes``, in one query (for
    :func:`retry_alone` on many nodes at once)."""
    pairs = {(ref, n.uuid) for n in nodes if (ref := batch_of(n.workflow_args or {}))}
    if not pairs:
        return {}
    rows = (await s.scalars(select(DeployBatchMember).where(
        DeployBatchMember.node_uuid.in_([uuid for _, uuid in pairs]),
        DeployBatchMember.batch_uuid.in_({ref for ref, _ in pairs})))).all()
    return {(m.batch_uuid, m.node_uuid): m for m in rows}


async def retry_alone(s: AsyncSession, settings: Settings, node: Node, reason: str, *,
                      alive: bool, members: Members | None = None) -> bool:
    """Send a batch member that failed its write back to write alone over http, if it
    has retries left; else it is KO.  ``alive``: the agent reported (no reboot).
    ``members``: :func:`members_of` the nodes at hand, read already."""
    args = dict(node.workflow_args or {})
    ref = batch_of(args)
    if ref is None or node.workflow != "deploy":
        return False
    member = (members.get((ref, node.uuid)) if members is not None
              else await _member(s, ref, node.uuid))
    if member is None:
        return False
    retries = int(args.get("batch_retries") or 0)
    member.failures = [*member.failures, {"at": utcnow().isoformat(), "error": reason[:500],
                                          "delivery": member.delivery or "chain"}]
    if retries >= settings.deploy_batch_retries:
        _settle(member, KO, reason, node)
        member.write_finished_at = utcnow()
        await _close_if_finished(s, ref)
        return False
    names = [step.name for step in WORKFLOWS["deploy"]]
    node.workflow_step = names.index("write image" if alive else "prepare ramdisk")
    node.workflow_args = {**args, "image_delivery": "http", "batch_retries": retries + 1}
    await node_agents.write(s, node.id, at_gate=False)
    member.state = RETRYING
    member.retried = True
    member.write_started_at = None
    how = "over http" if alive else "over http after a reboot"
    s.add(note(node, f"deploy batch {ref}: the image write failed ({reason[:200]}); "
                     f"retrying alone {how}", event_type="deploy", error=True,
               conductor=node.reservation))
    return True


async def _close_if_finished(s: AsyncSession, ref: str) -> None:
    batch = await s.get(DeployBatch, ref)
    if batch is None or batch.state == DONE:
        return
    members = list((await s.scalars(select(DeployBatchMember).where(
        DeployBatchMember.batch_uuid == ref))).all())
    _finished(batch, members)


def progress_timeout(settings: Settings, node: Node,
                     command: dict[str, Any]) -> float | None:
    """The no-progress deadline of a chain member's write, else None (the usual one).

    Only in a chain does silence mean a dead machine: a download from the image
    server shared N ways can starve for tens of seconds (TCP backs off on a
    full link) and still finish."""
    params = command.get("params") or {}
    if (batch_of(node.workflow_args or {}) and command.get("name") == "write_image"
            and ("upstreams" in params or "serve" in params)):
        return settings.deploy_batch_progress_timeout
    return None
