"""What the ramdisk agent calls: lookup by MAC, heartbeat, and its command channel.

The agent pulls its next command by long-poll and reports on it; a report
of success resumes the node's workflow, a failure fails the node with the
agent's error as ``last_error``.  See docs/design/provisioning.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select

from barecloud import states
from barecloud.conductor import agent_tokens, batches, locks, wakeups
from barecloud.conductor.mailbox import MAILBOX
from barecloud.db import admission, node_agents
from barecloud.db.models import LIVE_COMMAND, Node, Port, utcnow
from barecloud.db.transitions import apply_event, fail_and_clear, note
from barecloud.errors import (
    BarecloudError,
    Conflict,
    InvalidParameter,
    NodeChanged,
    NodeLocked,
    NotFound,
)
from barecloud.services.baremetal import agent_refusals
from barecloud.services.baremetal.checks import normalize_mac
from barecloud.services.baremetal.nodes import find as find_node
from barecloud.services.baremetal.nodes import get as find_node_outside
from barecloud.services.context import RequestContext, Runtime

LOOKUP_STATES = {
    states.DEPLOYING, states.DEPLOYWAIT, states.CLEANING, states.CLEANWAIT,
    states.INSPECTING, states.INSPECTWAIT, states.RESCUING, states.RESCUEWAIT,
}
WAIT_STATES = {s.name for s in states.STATES.values() if s.waits}
HEARTBEAT_INTERVAL = 10
# How often a long-poll re-reads the node when no signal comes: the conductor
# may run in another process.  On PostgreSQL its NOTIFY (conductor/wakeups.py)
# is the signal and the re-read only a safety net; SQLite has one process.
POLL_RECHECK = 1.0
POLL_RECHECK_NOTIFIED = 8.0
# A running report is written at most this often (seconds), unless it is one
# the history notes: each write moves the deadline on.
PROGRESS_WRITE_EVERY = 5.0
MAX_POLL_WAIT = 60.0
# A history row for progress at most every this many percent.
PROGRESS_NOTE_STEP = 25
REPORT_STATUSES = ("running", "succeeded", "failed")
MAX_ERROR = 1000  # characters of an agent's error kept in last_error
# Times a heartbeat or report is tried when the node changed under it.
CHANGED_RETRIES = 3


class Unauthorized(BarecloudError):
    code = 401


class Replayed(Conflict):
    """A report of a command that is not the current one, or is over."""


async def lookup(rt: Runtime, addresses: str | None, node_uuid: str | None) -> dict[str, Any]:
    """The node these MACs belong to, for its agent: its uuid and the agent's config.

    Nothing else (no instance_info, properties or commands: those are read with
    the token).  The token itself only at the first lookup of a ramdisk boot
    whose boot interface does not deliver it (conductor/agent_tokens.py).
    """
    if not addresses and not node_uuid:
        raise InvalidParameter("Lookup needs addresses or node_uuid.")
    async with rt.db.session() as s:
        node: Node | None = None
        if node_uuid:
            node = await find_node(s, node_uuid)
        if addresses:
            macs = [normalize_mac(a) for a in addresses.split(",") if a.strip()]
            ids = set(
                (await s.scalars(select(Port.node_id).where(Port.address.in_(macs)))).all()
            )
            if node is not None and node.id not in ids:
                node = None
            elif node is None and len(ids) == 1:
                node = await s.get(Node, ids.pop())
        if node is None or node.provision_state not in LOOKUP_STATES:
            raise NotFound("Node with the given addresses could not be found.")
        token = "******"
        delivered = node.agent is not None and node.agent.token_delivered
        if not delivered and not agent_tokens.boot_delivers(node.driver, node.boot_interface):
            await _lock(s, node)  # the token goes on the node row: that row first
            if await node_agents.deliver_token(s, node.id):
                token = agent_tokens.new()
                node.agent_token = agent_tokens.digest(token)
        return {
            "node": {"uuid": node.uuid},
            "config": {
                "heartbeat_timeout": HEARTBEAT_INTERVAL * 3,
                "agent_token": token,
                "agent_token_required": True,
            },
        }


async def continue_inspection(rt: Runtime, ctx: RequestContext, body: dict[str, Any],
                              source: str = "") -> dict[str, Any]:
    """Ironic's ``POST /v1/continue_inspection``: the agent of a node in ``inspect
    wait`` posts its inventory (the node found by the inventory's MACs) instead of
    reporting its ``get_inventory`` command; the rest of the body is the plugin
    data.  The agent's token is required, as for its reports."""
    inventory = body["inventory"]
    macs = [normalize_mac(i["mac_address"]) for i in inventory.get("interfaces") or ()
            if isinstance(i, dict) and isinstance(i.get("mac_address"), str)]
    async with rt.db.session() as s:
        ids = set((await s.scalars(select(Port.node_id).where(Port.address.in_(macs)))).all())
        node = await s.get(Node, ids.pop()) if len(ids) == 1 else None
        if node is None or node.provision_state != states.INSPECTWAIT:
            raise NotFound("Node with the given addresses could not be found.")
        command = node.agent.command_record() if node.agent is not None else {}
    if command.get("name") != "get_inventory" or command.get("status") not in LIVE_COMMAND:
        raise InvalidParameter(f"Node {node.uuid} is not waiting for an inventory.")
    plugin_data = {k: v for k, v in body.items() if k not in ("inventory", "agent_token")}
    await report(rt, ctx, node.uuid, str(command["id"]), body.get("agent_token"),
                 {"status": "succeeded",
                  "result": {"inventory": inventory, "plugin_data": plugin_data}}, source)
    return {"uuid": node.uuid}


async def _refused(rt: Runtime, ident: str, what: str, source: str,
                   exc: BarecloudError) -> None:
    async with rt.db.session() as s:
        try:
            node: Node | None = await find_node(s, ident)
        except NotFound:
            node = None
        node_id = node.id if node is not None else None
    await agent_refusals.record(rt, node_id, f"agent {what} from {source} refused: "
                                             f"{exc.message}")


async def heartbeat(rt: Runtime, ctx: RequestContext, ident: str, body: dict[str, Any],
                    source: str = "") -> None:
    try:
        await _retried(lambda: rt.with_live_conductor(lambda: _heartbeat(rt, ctx, ident, body)))
    except Unauthorized as exc:
        await _refused(rt, ident, "heartbeat", source, exc)
        raise


async def _heartbeat(rt: Runtime, ctx: RequestContext, ident: str,
                     body: dict[str, Any]) -> None:
    token = body.get("agent_token")
    target = await find_node_outside(rt, ident)
    holder = await rt.conductor_for(target.uuid, target.conductor_group)
    async with rt.db.session() as s:
        node = await find_node(s, ident)
        if node.provision_state in WAIT_STATES:
            await _lock(s, node)  # the heartbeat may resume it: the node row first
        _check_token(node, token)
        values: dict[str, Any] = {"last_heartbeat": utcnow()}
        if body.get("callback_url"):
            values["url"] = str(body["callback_url"])
        if body.get("agent_version"):
            values["agent_version"] = str(body["agent_version"])
        # The agent's own row: the node row is not written unless the workflow resumes.
        agent = await node_agents.write(s, node.id, **values)
        if node.provision_state not in WAIT_STATES or node.workflow is None:
            return
        if agent.command_status in LIVE_COMMAND:
            return  # the command's report resumes the node, not a heartbeat
        if agent.at_gate:
            return  # at a deploy batch's gate: the chain's start resumes it
        await _claim(rt, s, node, holder)
        await wakeups.notify(s, holder)
        s.add(apply_event(node, "resume", request_id=ctx.request_id, conductor=holder,
                          message="agent called back"))
        node.workflow_deadline = None
    rt.wake()


async def _retried(call: Callable[[], Awaitable[None]]) -> None:
    """``call`` again when the node changed between its read and its write.

    Each call is one short transaction, rolled back whole by the conflict, so
    running it again on a fresh read is safe; an agent whose report got a 409
    would take it as "not current" and never send it again.
    """
    for attempt in range(CHANGED_RETRIES):
        try:
            await call()
            return
        except NodeChanged:
            if attempt == CHANGED_RETRIES - 1:
                raise
            await asyncio.sleep(0.02 * (attempt + 1))


async def _lock(s: Any, node: Node) -> None:
    """Lock the node's row (and read it again) before the agent's row.

    The engine saves a step with the node row locked, then writes the agent's
    row; a transaction here that took the agent's row first and then wrote
    the node would deadlock with it.  So every transaction that may write both
    takes them in that one order: node, then agent.
    """
    await s.refresh(node, with_for_update=True)


async def _claim(rt: Runtime, s: Any, node: Node, holder: str) -> None:
    """Lock the node for ``holder``, as it was read: a node changed since is
    read again (NodeChanged, retried); a node someone holds is 409; a holder
    that is not live is looked up again (locks.ConductorGone)."""
    if node.reservation:
        raise NodeLocked(node.uuid, node.reservation)
    if not await locks.claim_for(s, node, holder, rt.settings.conductor_heartbeat_timeout):
        raise NodeChanged(node.uuid)


def _check_token(node: Node, token: Any) -> None:
    if not agent_tokens.matches(node.agent_token, token):
        raise Unauthorized("Invalid or missing agent token received.")


def poll_recheck(rt: Runtime) -> float:
    """The long-poll's re-read interval: rare where a NOTIFY wakes it."""
    return POLL_RECHECK_NOTIFIED if rt.commands_notified() else POLL_RECHECK


async def next_command(rt: Runtime, ident: str, token: str | None,
                       wait: float, source: str = "") -> dict[str, Any] | None:
    """The command the agent should run now, waiting up to ``wait`` seconds for one."""
    try:
        return await _next_command(rt, ident, token, wait)
    except Unauthorized as exc:
        await _refused(rt, ident, "command read", source, exc)
        raise


async def _next_command(rt: Runtime, ident: str, token: str | None,
                        wait: float) -> dict[str, Any] | None:
    wait = min(max(wait, 0.0), MAX_POLL_WAIT)
    until = time.monotonic() + wait
    with contextlib.ExitStack() as stack:
        changed: asyncio.Event | None = None
        while True:
            if changed is not None:
                changed.clear()  # a command stored from now on wakes the wait below
            async with rt.db.session() as s:
                node = await find_node(s, ident, traits=False)
                _check_token(node, token)
                command = node.agent.command_record() if node.agent is not None else {}
                uuid = node.uuid
                if (command.get("status") in ("pending", "running")
                        and node.provision_state in WAIT_STATES):
                    return {"id": command["id"], "name": command["name"],
                            "params": command.get("params") or {}}
            left = until - time.monotonic()
            if left <= 0 or MAILBOX.closed:
                return None
            if changed is None:
                # The node's UUID is known now (the agent may name it otherwise):
                # listen, then read again, so that a command stored between the
                # read above and the wait is not missed until the next recheck.
                changed = stack.enter_context(MAILBOX.listening(uuid))
                continue
            with contextlib.suppress(TimeoutError):
                async with admission.paused(), asyncio.timeout(min(left, poll_recheck(rt))):
                    await changed.wait()


async def report(rt: Runtime, ctx: RequestContext, ident: str, command_id: str,
                 token: str | None, body: dict[str, Any], source: str = "") -> None:
    """Record what the agent says of a command; move the node on when it is over.

    A report without the token is refused (401), one of a command that is not
    current or is over too (409): both are recorded (services/baremetal/agent_refusals.py).
    """
    try:
        await _retried(lambda: rt.with_live_conductor(
            lambda: _report(rt, ctx, ident, command_id, token, body)))
    except (Unauthorized, Replayed) as exc:
        await _refused(rt, ident, f"report of command {command_id[:64]}", source, exc)
        raise


async def _report(rt: Runtime, ctx: RequestContext, ident: str, command_id: str,
                  token: str | None, body: dict[str, Any]) -> None:
    status = body.get("status")
    if status not in REPORT_STATUSES:
        raise InvalidParameter(f"status must be one of {', '.join(REPORT_STATUSES)}, "
                               f"not {status!r}.")
    for key, kind in (("result", dict), ("progress", dict), ("error", str)):
        if body.get(key) is not None and not isinstance(body[key], kind):
            raise InvalidParameter(f"{key} must be a JSON {kind.__name__}, not "
                                   f"{type(body[key]).__name__}.")
    target = await find_node_outside(rt, ident)
    holder = await rt.conductor_for(target.uuid, target.conductor_group)
    async with rt.db.session() as s:
        node = await find_node(s, ident, traits=False)
        await _lock(s, node)  # both outcomes write the node: its row first
        _check_token(node, token)
        command = node.agent.command_record() if node.agent is not None else {}
        if command.get("id") != command_id:
            raise Replayed(f"Command {command_id[:64]} is not the current command of node "
                           f"{node.uuid}.")
        if command.get("status") not in LIVE_COMMAND or (
                node.provision_state not in WAIT_STATES):
            raise Replayed(f"Node {node.uuid} is no longer waiting for command "
                           f"{command_id[:64]} (state {node.provision_state}).")
        now = utcnow()
        command.setdefault("started_at", now.isoformat())
        if status == "running":
            noted = _progress(s, node, command, body.get("progress"), holder)
            timeout = batches.progress_timeout(rt.settings, node, command) or (
                rt.settings.wait_timeout(node.provision_state))
            if not noted and command["status"] == "running" and not _due(command, now, timeout):
                return  # bytes flow, and the row was written a moment ago
            command.update(status="running", written_at=now.isoformat())
            if not await node_agents.settle(s, node.id, command, last_heartbeat=now):
                raise Replayed(f"Command {command_id[:64]} of node {node.uuid} is over.")
            # Bytes are flowing: the machine is alive, the deadline moves on.
            node.workflow_deadline = now + dt.timedelta(seconds=timeout)
            await batches.record(s, rt.settings, node, command, status)
            return
        await _claim(rt, s, node, holder)
        took = (now - dt.datetime.fromisoformat(command["issued_at"])).total_seconds()
        command.update(status=status, finished_at=now.isoformat(),
                       result=body.get("result") or {}, error=body.get("error"))
        if not await node_agents.settle(s, node.id, command, last_heartbeat=now):
            # A report of the same command that won the race: this one is late.
            raise Replayed(f"Command {command_id[:64]} of node {node.uuid} is over.")
        node.workflow_deadline = None
        await wakeups.notify(s, holder)
        retry = await batches.record(s, rt.settings, node, command, status)
        if status == "succeeded":
            s.add(note(node, f"agent {command['name']}: succeeded{_rate(command, took)}",
                       event_type=node.workflow or "agent", conductor=holder,
                       request_id=ctx.request_id, duration=round(took, 6)))
            s.add(apply_event(node, "resume", request_id=ctx.request_id, conductor=holder,
                              message=f"agent finished {command['name']}"))
        elif retry:
            s.add(apply_event(node, "resume", request_id=ctx.request_id, conductor=holder,
                              message=f"agent {command['name']} failed; retrying alone"))
        else:
            reason = str(body.get("error") or "no reason given")[:MAX_ERROR]
            s.add(fail_and_clear(node, f"Agent command {command['name']} failed: {reason}",
                                 conductor=holder, request_id=ctx.request_id))
    rt.wake()


def _due(command: dict[str, Any], now: dt.datetime, timeout: float) -> bool:
    """Whether a running report must be written: the first, or the last write is
    old enough that the deadline it set would soon pass (every PROGRESS_WRITE_EVERY
    seconds at most, and four times per ``timeout``)."""
    last = command.get("written_at")
    if not isinstance(last, str):
        return True
    age = (now - dt.datetime.fromisoformat(last)).total_seconds()
    return age >= min(PROGRESS_WRITE_EVERY, timeout / 4)


def _progress(s: Any, node: Node, command: dict[str, Any], progress: Any,
              holder: str) -> bool:
    """Keep the latest progress; note it in the history every PROGRESS_NOTE_STEP %
    (True when this report is one to note)."""
    if not isinstance(progress, dict):
        return False
    done, total = progress.get("bytes"), progress.get("total")
    command["progress"] = {"bytes": done, "total": total}
    if not isinstance(done, int) or not isinstance(total, int) or total <= 0:
        return False
    percent = min(100, done * 100 // total)
    step = percent // PROGRESS_NOTE_STEP * PROGRESS_NOTE_STEP
    if step > int(command.get("noted", 0)) and step < 100:
        command["noted"] = step
        s.add(note(node, f"agent {command['name']}: {percent}% ({done // 2**20} of "
                         f"{total // 2**20} MiB)", event_type=node.workflow or "agent",
                   conductor=holder))
        return True
    return False


def _rate(command: dict[str, Any], took: float) -> str:
    result = command.get("result") or {}
    size = result.get("bytes")
    seconds = result.get("seconds") or took
    if isinstance(size, int) and size > 0 and seconds:
        return f" ({size // 2**20} MiB in {seconds:.1f} s, {size / 2**20 / seconds:.0f} MiB/s)"
    return ""
