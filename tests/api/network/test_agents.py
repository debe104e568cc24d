"""GET /network/v2.0/agents: admins see the network node's agents; others see none."""

from __future__ import annotations

from tests.api.network.neutron import Neutron, error


def test_agents_are_listed_to_admins_only(admin: Neutron, demo: Neutron) -> None:
    # No network host (network_host_switch unset): no DHCP or L3 agent runs.
    assert admin.ok("GET", "/agents") == {"agents": []}
    # Neutron's tempest test_list_agents_non_admin: 200 and an empty list.
    assert demo.ok("GET", "/agents") == {"agents": []}
    assert demo.ok("GET", "/agents", params={"agent_type": "DHCP agent"}) == {"agents": []}
    missing = "3f0e6b1c-1111-4222-8333-944455556666"
    msg = error(admin.request("GET", f"/agents/{missing}"), 404, "AgentNotFound")
    assert msg == f"Agent {missing} could not be found."
    error(demo.request("GET", f"/agents/{missing}"), 404, "AgentNotFound")
