"""Neutron's agents, read only: the DHCP and L3 agents barecloud's network node runs.

Every member process (``barecloud conductor``, or the all-in-one service: a
row of ``conductors``) runs the network agent's loops when its settings make
it a network host (:func:`barecloud.services.network.dhcp.enabled`: a
``network_host_switch`` and root); those loops are the DHCP agent (one
dnsmasq per network) and the L3 agent (a namespace per router).  So each
member is listed with a DHCP agent and an L3 agent when this process's
settings say the cloud has a network host, and none otherwise; ``alive`` is
the member's heartbeat.  Neutron's ``get_agent`` is for admins only: others
list nothing and find no agent (docs/design/networking.md, "Agents").
"""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from sqlalchemy import select

from barecloud.db.models import Conductor, utcnow
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.network import dhcp
from barecloud.services.network.errors import AgentNotFound

# agent_type -> (binary, topic), in Neutron's words.
KINDS = {"DHCP agent": ("barecloud-conductor", "dhcp_agent"),
         "L3 agent": ("barecloud-conductor", "l3_agent")}
_NAMESPACE = uuid.UUID("8f1d4a52-5c3e-4b8e-9a61-0c2f7e6d9b10")
_STAMP = "%Y-%m-%d %H:%M:%S"


def agent_id(hostname: str, agent_type: str) -> str:
    """Stable across restarts: the member's name and the agent's kind."""
    return str(uuid.uuid5(_NAMESPACE, f"{hostname}/{agent_type}"))


def _agent(member: Conductor, agent_type: str, alive_after: dt.datetime) -> dict[str, Any]:
    binary, topic = KINDS[agent_type]
    return {"id": agent_id(member.hostname, agent_type), "agent_type": agent_type,
            "binary": binary, "topic": topic, "host": member.hostname,
            "admin_state_up": True, "alive": member.online and member.updated_at >= alive_after,
            "availability_zone": "nova", "configurations": {}, "description": None,
            "created_at": member.created_at.strftime(_STAMP),
            "started_at": member.created_at.strftime(_STAMP),
            "heartbeat_timestamp": member.updated_at.strftime(_STAMP),
            "resources_synced": None}


def _text(value: Any) -> str:
    """A value as a query string says it (``alive=true``)."""
    return str(value).lower() if isinstance(value, bool) else str(value)


async def list_agents(rt: Runtime, ctx: RequestContext,
                      filters: dict[str, list[str]] | None = None) -> list[dict[str, Any]]:
    if not policy.can(ctx, "network:get_agent") or not dhcp.enabled(rt.settings):
        return []
    async with rt.db.session() as s:
        members = list(await s.scalars(select(Conductor).order_by(Conductor.hostname)))
    alive_after = utcnow() - dt.timedelta(seconds=rt.settings.conductor_heartbeat_timeout)
    found = [_agent(m, kind, alive_after) for m in members for kind in KINDS]
    for key, values in (filters or {}).items():
        found = [a for a in found if _text(a.get(key)) in values]
    return found


async def get(rt: Runtime, ctx: RequestContext, agent_id_: str) -> dict[str, Any]:
    for agent in await list_agents(rt, ctx):
        if agent["id"] == agent_id_:
            return agent
    raise AgentNotFound(agent_id_)
