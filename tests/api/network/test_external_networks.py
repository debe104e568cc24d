"""External networks: what deleting one takes with it, as Neutron does."""

from __future__ import annotations

from tests.api.network.neutron import Neutron, error


def test_an_external_network_goes_with_its_free_floating_ips(admin: Neutron,
                                                              demo: Neutron) -> None:
    """Neutron deletes an external network's unassociated floating IPs with it
    (delete_disassociated_floatingips); one a port holds keeps it in use."""
    ext = admin.network(**{"router:external": True})
    sub = admin.subnet(ext["id"], "198.51.100.0/24", enable_dhcp=False)
    free = admin.ok("POST", "/floatingips", 201, json={"floatingip": {
        "floating_network_id": ext["id"]}})["floatingip"]
    assert admin.ids("floatingips", floating_network_id=ext["id"]) == [free["id"]]
    admin.ok("DELETE", f"/networks/{ext['id']}", 204)
    assert free["id"] not in admin.ids("floatingips")
    assert sub["id"] not in admin.ids("subnets")
    assert admin.ok("GET", "/ports", params={"network_id": ext["id"]})["ports"] == []

    # Held by a port (through a router): the network is in use, and nothing goes.
    ext = admin.network(**{"router:external": True})
    admin.subnet(ext["id"], "198.51.100.0/24", enable_dhcp=False)
    net = demo.network()
    inner = demo.subnet(net["id"], "10.61.0.0/24")
    router = demo.ok("POST", "/routers", 201, json={"router": {
        "external_gateway_info": {"network_id": ext["id"]}}})["router"]
    demo.ok("PUT", f"/routers/{router['id']}/add_router_interface",
            json={"subnet_id": inner["id"]})
    vm = demo.port(net["id"])
    held = demo.ok("POST", "/floatingips", 201, json={"floatingip": {
        "floating_network_id": ext["id"], "port_id": vm["id"]}})["floatingip"]
    spare = demo.ok("POST", "/floatingips", 201, json={"floatingip": {
        "floating_network_id": ext["id"]}})["floatingip"]
    error(admin.request("DELETE", f"/networks/{ext['id']}"), 409, "NetworkInUse")
    assert {held["id"], spare["id"]} <= set(admin.ids("floatingips"))
    for fip in (held, spare):
        demo.ok("DELETE", f"/floatingips/{fip['id']}", 204)
    demo.ok("PUT", f"/routers/{router['id']}/remove_router_interface",
            json={"subnet_id": inner["id"]})
    demo.ok("DELETE", f"/routers/{router['id']}", 204)
    demo.ok("DELETE", f"/ports/{vm['id']}", 204)
    demo.ok("DELETE", f"/networks/{net['id']}", 204)
    admin.ok("DELETE", f"/networks/{ext['id']}", 204)
