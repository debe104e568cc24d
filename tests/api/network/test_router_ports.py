"""A router interface's port, updated through /ports as Neutron allows."""

from __future__ import annotations

from tests.api.network.neutron import Neutron, error


def test_a_router_interface_port_keeps_its_gateway_address(demo: Neutron) -> None:
    """tempest's test_router_interface_port_update_with_fixed_ip: ``fixed_ips`` naming
    the subnet only keeps the interface's address (the gateway's), as for any port."""
    for cidr in ("10.62.0.0/24", "2001:db8:62::/64"):
        net = demo.network()
        sub = demo.subnet(net["id"], cidr)
        router = demo.ok("POST", "/routers", 201, json={"router": {"name": "rp"}})["router"]
        leg = demo.ok("PUT", f"/routers/{router['id']}/add_router_interface",
                      json={"subnet_id": sub["id"]})
        updated = demo.ok("PUT", f"/ports/{leg['port_id']}", json={"port": {
            "fixed_ips": [{"subnet_id": sub["id"]}]}})["port"]
        assert updated["fixed_ips"] == [{"subnet_id": sub["id"],
                                         "ip_address": sub["gateway_ip"]}]
        # Still the router's working leg (tempest waits for ACTIVE before removing it).
        assert updated["status"] == "ACTIVE"
        renamed = demo.ok("PUT", f"/ports/{leg['port_id']}", json={"port": {"name": "leg"}})
        assert renamed["port"]["status"] == "ACTIVE"
        # Another port still cannot take the gateway address.
        error(demo.request("POST", "/ports", json={"port": {
            "network_id": net["id"], "fixed_ips": [{"ip_address": sub["gateway_ip"]}]}}),
            409, "IpAddressAlreadyAllocated")
        demo.ok("PUT", f"/routers/{router['id']}/remove_router_interface",
                json={"subnet_id": sub["id"]})
        demo.ok("DELETE", f"/routers/{router['id']}", 204)
        demo.ok("DELETE", f"/networks/{net['id']}", 204)
