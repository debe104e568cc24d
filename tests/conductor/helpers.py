"""Driving nodes through the real services and workflows, and waiting on them."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from sqlalchemy import select, update

from barecloud import states
from barecloud.db.models import Node, NodeHistory
from barecloud.db.session import Database
from barecloud.services.baremetal import agent, node_states, nodes
from barecloud.services.context import RequestContext, Runtime

CTX = RequestContext(request_id="req-test", user="tester")


def rt_conductor(rt: Runtime) -> Any:
    return rt.local_conductor


async def enroll(rt: Runtime, **driver_info: Any) -> str:
    """A fake-hardware node in ``enroll``; returns its UUID."""
    node = await nodes.create(
        rt, CTX, {"driver": "fake-hardware", "name": f"n-{uuid.uuid4().hex[:10]}",
                  "driver_info": driver_info},
        initial=states.ENROLL,
    )
    return node.uuid


async def load(db: Database, node_uuid: str) -> Node:
    async with db.session() as s:
        node = await s.scalar(select(Node).where(Node.uuid == node_uuid))
        assert node is not None, node_uuid
        return node


async def history(db: Database, node_uuid: str) -> list[NodeHistory]:
    async with db.session() as s:
        node_id = await s.scalar(select(Node.id).where(Node.uuid == node_uuid))
        return list((await s.scalars(
            select(NodeHistory).where(NodeHistory.node_id == node_id).order_by(NodeHistory.id)
        )).all())


async def describe(db: Database, node_uuid: str) -> str:
    node = await load(db, node_uuid)
    rows = await history(db, node_uuid)
    lines = [f"node {node_uuid}: state={node.provision_state!r} target="
             f"{node.target_provision_state!r} reservation={node.reservation!r} "
             f"workflow={node.workflow!r} step={node.workflow_step} "
             f"last_error={node.last_error!r}", "history:"]
    lines += [f"  [{r.event_type}/{r.severity}] {r.event}" for r in rows]
    return "\n".join(lines)


async def wait_state(
    rt: Runtime, node_uuid: str, state: str, *, timeout: float = 15.0, settled: bool = True
) -> Node:
    """Poll until the node is in ``state`` (and, if ``settled``, no work holds it).

    Fails with the node's last_error and history when it does not get there.
    """
    deadline = time.monotonic() + timeout
    while True:
        node = await load(rt.db, node_uuid)
        if node.provision_state == state and (
            not settled or (node.reservation is None and (
                node.workflow is None or states.STATES[state].waits))
        ):
            return node
        if time.monotonic() > deadline:
            raise AssertionError(
                f"node did not reach {state!r} in {timeout} s\n"
                + await describe(rt.db, node_uuid)
            )
        await asyncio.sleep(0.02)


async def act(rt: Runtime, node_uuid: str, verb: str, **args: Any) -> None:
    await node_states.set_provision_state(rt, CTX, node_uuid, verb, args)


async def drive(rt: Runtime, node_uuid: str, verb: str, state: str, **args: Any) -> Node:
    """Ask for ``verb`` and wait until the node settles in ``state``."""
    await act(rt, node_uuid, verb, **args)
    return await wait_state(rt, node_uuid, state)


async def set_driver_info(db: Database, node_uuid: str, **changes: Any) -> None:
    """Change driver_info behind the API's back (the node must be idle)."""
    async with db.session() as s:
        node = await s.scalar(select(Node).where(Node.uuid == node_uuid))
        assert node is not None
        assert node.reservation is None, f"node {node_uuid} is locked by {node.reservation}"
        info = dict(node.driver_info or {})
        for key, value in changes.items():
            if value is None:
                info.pop(key, None)
            else:
                info[key] = value
        await s.execute(update(Node).where(Node.id == node.id).values(driver_info=info))


_TOKENS: dict[str, str] = {}


async def agent_token(rt: Runtime, node_uuid: str) -> str:
    """The token of the agent of the node's current ramdisk boot: a fake boot hands
    it out at the first lookup after the ramdisk was prepared, then says ******."""
    token = (await agent.lookup(rt, None, node_uuid))["config"]["agent_token"]
    if token != "******":
        _TOKENS[node_uuid] = token
    return _TOKENS.get(node_uuid, "")


async def heartbeat(rt: Runtime, node_uuid: str, token: str | None = None,
                    url: str = "http://192.0.2.1:9999") -> None:
    """What the agent does: call back with its token, and where it serves a chain
    (``url``)."""
    if token is None:
        token = await agent_token(rt, node_uuid)
    await agent.heartbeat(rt, CTX, node_uuid, {"agent_token": token, "callback_url": url})


async def expire_wait(db: Database, node_uuid: str) -> None:
    """Move the node's wait deadline into the past (the reconciler does the rest)."""
    async with db.session() as s:
        node = await s.scalar(select(Node).where(Node.uuid == node_uuid))
        assert node is not None and node.workflow_deadline is not None, node_uuid
        await s.execute(update(Node).where(Node.id == node.id).values(
            workflow_deadline=node.workflow_deadline.replace(year=2000)))


async def make_available(rt: Runtime, **driver_info: Any) -> str:
    node_uuid = await enroll(rt, **driver_info)
    await drive(rt, node_uuid, "manage", states.MANAGEABLE)
    await drive(rt, node_uuid, "provide", states.AVAILABLE)
    return node_uuid


def recorded_transitions(rows: list[NodeHistory]) -> set[tuple[str, str, str]]:
    """(from, event, to) of every provision state change in ``rows``."""
    out = set()
    for r in rows:
        if r.event_type != "provisioning" or r.from_state is None:
            continue
        assert r.to_state is not None
        out.add((r.from_state, r.event.split(":", 1)[0], r.to_state))
    return out
