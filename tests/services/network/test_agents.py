"""An agent as Neutron shows it, from the member process that runs it."""

from __future__ import annotations

import datetime as dt

from barecloud.db.models import Conductor
from barecloud.services.network import agents


def test_each_member_has_a_dhcp_and_an_l3_agent_alive_by_its_heartbeat() -> None:
    now = dt.datetime(2030, 1, 1, 12, 0, 0)
    member = Conductor(hostname="net1", online=True, created_at=now - dt.timedelta(hours=1),
                       updated_at=now - dt.timedelta(seconds=5))
    dhcp = agents._agent(member, "DHCP agent", now - dt.timedelta(seconds=60))
    assert (dhcp["agent_type"], dhcp["topic"], dhcp["host"], dhcp["alive"]) == (
        "DHCP agent", "dhcp_agent", "net1", True)
    assert dhcp["heartbeat_timestamp"] == "2030-01-01 11:59:55"
    assert dhcp["id"] == agents.agent_id("net1", "DHCP agent") != agents.agent_id(
        "net1", "L3 agent")
    stale = agents._agent(member, "L3 agent", now)
    assert stale["alive"] is False and stale["topic"] == "l3_agent"
    member.online = False
    assert agents._agent(member, "L3 agent", now - dt.timedelta(hours=2))["alive"] is False
