"""What the ramdisk agent calls: lookup by MAC, and heartbeat with its token."""

from __future__ import annotations

import hmac
from typing import Any

from sqlalchemy import select

from barecloud import states
from barecloud.conductor import locks, wakeups
from barecloud.db.models import Node, Port, utcnow
from barecloud.db.transitions import apply_event
from barecloud.errors import BarecloudError, InvalidParameter, NodeLocked, NotFound
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.nodes import find as find_node
from barecloud.services.nodes import get as find_node_outside
from barecloud.services.schemas import normalize_mac

LOOKUP_STATES = {
    states.DEPLOYING, states.DEPLOYWAIT, states.CLEANING, states.CLEANWAIT,
    states.INSPECTING, states.INSPECTWAIT, states.RESCUING, states.RESCUEWAIT,
}
WAIT_STATES = {s.name for s in states.STATES.values() if s.waits}
HEARTBEAT_INTERVAL = 10


class Unauthorized(BarecloudError):
    code = 401


async def lookup(rt: Runtime, addresses: str | None, node_uuid: str | None) -> dict[str, Any]:
    if not addresses and not node_uuid:
        raise InvalidParameter("Lookup needs addresses or node_uuid.")
    async with rt.db.session() as s:
        node: Node | None = None
        if node_uuid:
            node = await find_node(s, node_uuid)
        if addresses:
            try:
                macs = [normalize_mac(a) for a in addresses.split(",") if a.strip()]
            except ValueError as exc:
                raise InvalidParameter(str(exc)) from None
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
        dii = dict(node.driver_internal_info or {})
        if node.agent_token and not dii.get("agent_token_delivered"):
            token = node.agent_token
            dii["agent_token_delivered"] = True
            node.driver_internal_info = dii
        return {
            "node": {
                "uuid": node.uuid,
                "properties": node.properties,
                "instance_info": node.instance_info,
                "driver_internal_info": {
                    k: v for k, v in dii.items() if not k.startswith("agent_token")
                },
            },
            "config": {
                "heartbeat_timeout": HEARTBEAT_INTERVAL * 3,
                "agent_token": token,
                "agent_token_required": True,
            },
        }


async def heartbeat(rt: Runtime, ctx: RequestContext, ident: str, body: dict[str, Any]) -> None:
    token = body.get("agent_token")
    target = await find_node_outside(rt, ident)
    holder = await rt.conductor_for(target.uuid, target.conductor_group)
    async with rt.db.session() as s:
        node = await find_node(s, ident)
        if not node.agent_token or not isinstance(token, str) or not hmac.compare_digest(
            node.agent_token, token
        ):
            raise Unauthorized("Invalid or missing agent token received.")
        dii = dict(node.driver_internal_info or {})
        dii["agent_last_heartbeat"] = utcnow().isoformat()
        if body.get("callback_url"):
            dii["agent_url"] = body["callback_url"]
        if body.get("agent_version"):
            dii["agent_version"] = body["agent_version"]
        node.driver_internal_info = dii
        if node.provision_state not in WAIT_STATES or node.workflow is None:
            return
        if node.reservation or not await locks.claim(s, node, holder):
            raise NodeLocked(node.uuid, node.reservation or "another conductor")
        await wakeups.notify(s, holder)
        s.add(apply_event(node, "resume", request_id=ctx.request_id, conductor=holder,
                          message="agent called back"))
        node.workflow_deadline = None
    rt.wake()
