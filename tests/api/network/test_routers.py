"""Routers and floating IPs over HTTP (Neutron's router, ext-gw-mode and l3 floating IPs),
against a real service on SQLite and PostgreSQL: what they answer, Neutron's refusals
with its status and body, and that a refusal changes nothing."""

from __future__ import annotations

import uuid
from typing import Any

from tests.api.network.neutron import Neutron, error


def _external(admin: Neutron, pool: tuple[str, str] = ("203.0.113.10", "203.0.113.20"),
              cidr: str = "203.0.113.0/24") -> tuple[dict[str, Any], dict[str, Any]]:
    net = admin.network(**{"router:external": True})
    sub = admin.subnet(net["id"], cidr, gateway_ip=cidr.rsplit(".", 1)[0] + ".1",
                       enable_dhcp=False,
                       allocation_pools=[{"start": pool[0], "end": pool[1]}])
    return net, sub


def _tenant(client: Neutron, cidr: str = "10.0.0.0/24") -> tuple[dict[str, Any],
                                                                 dict[str, Any]]:
    net = client.network()
    return net, client.subnet(net["id"], cidr)


def _router(client: Neutron, **attrs: Any) -> dict[str, Any]:
    made: dict[str, Any] = client.ok("POST", "/routers", 201, json={
        "router": {"name": f"r-{uuid.uuid4().hex[:6]}", **attrs}})["router"]
    return made


def _state(client: Neutron) -> dict[str, Any]:
    return {**client.snapshot(), "routers": client.ok("GET", "/routers")["routers"],
            "floatingips": client.ok("GET", "/floatingips")["floatingips"]}


def test_router_gateway_interfaces_and_floating_ip(admin: Neutron, demo: Neutron) -> None:
    ext, ext_sub = _external(admin)
    net, sub = _tenant(demo)
    router = _router(demo, external_gateway_info={"network_id": ext["id"]})
    gw = router["external_gateway_info"]
    assert gw["network_id"] == ext["id"] and gw["enable_snat"] is True
    [fixed] = gw["external_fixed_ips"]
    assert fixed["subnet_id"] == ext_sub["id"] and fixed["ip_address"] == "203.0.113.10"
    assert router["status"] == "ACTIVE" and router["routes"] == []

    added = demo.ok("PUT", f"/routers/{router['id']}/add_router_interface",
                    json={"subnet_id": sub["id"]})
    assert added["subnet_ids"] == [sub["id"]] and added["network_id"] == net["id"]
    leg = demo.ok("GET", f"/ports/{added['port_id']}")["port"]
    assert leg["device_owner"] == "network:router_interface"
    assert leg["device_id"] == router["id"]
    assert leg["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": sub["gateway_ip"]}]
    # The router's own ports cannot be deleted through /ports.
    error(demo.request("DELETE", f"/ports/{leg['id']}"), 409, "ServicePortInUse")

    vm = demo.port(net["id"])
    fip = demo.ok("POST", "/floatingips", 201, json={"floatingip": {
        "floating_network_id": ext["id"], "port_id": vm["id"]}})["floatingip"]
    assert fip["floating_ip_address"] == "203.0.113.11"
    assert fip["port_id"] == vm["id"] and fip["router_id"] == router["id"]
    assert fip["fixed_ip_address"] == vm["fixed_ips"][0]["ip_address"]
    assert fip["status"] == "ACTIVE"

    # Moved to another port, then disassociated.
    other = demo.port(net["id"])
    moved = demo.ok("PUT", f"/floatingips/{fip['id']}", json={"floatingip": {
        "port_id": other["id"]}})["floatingip"]
    assert moved["port_id"] == other["id"]
    assert moved["fixed_ip_address"] == other["fixed_ips"][0]["ip_address"]
    assert demo.ids("floatingips", port_id=other["id"]) == [fip["id"]]
    off = demo.ok("PUT", f"/floatingips/{fip['id']}", json={"floatingip": {
        "port_id": None}})["floatingip"]
    assert off["port_id"] is None and off["router_id"] is None and off["status"] == "DOWN"

    # A deleted port lets its floating IP go.
    demo.ok("PUT", f"/floatingips/{fip['id']}", json={"floatingip": {"port_id": vm["id"]}})
    demo.ok("DELETE", f"/ports/{vm['id']}", 204)
    assert demo.ok("GET", f"/floatingips/{fip['id']}")["floatingip"]["port_id"] is None

    # SNAT off is the operator's; the project may not.
    error(demo.request("PUT", f"/routers/{router['id']}", json={"router": {
        "external_gateway_info": {"network_id": ext["id"], "enable_snat": False}}}), 403)
    nosnat = admin.ok("PUT", f"/routers/{router['id']}", json={"router": {
        "external_gateway_info": {"network_id": ext["id"], "enable_snat": False}}})["router"]
    assert nosnat["external_gateway_info"]["enable_snat"] is False
    assert nosnat["external_gateway_info"]["external_fixed_ips"] == gw["external_fixed_ips"]

    # Taken down again: interface, floating IP, router.
    demo.ok("PUT", f"/routers/{router['id']}/remove_router_interface",
            json={"subnet_id": sub["id"]})
    error(demo.request("GET", f"/ports/{leg['id']}"), 404, "PortNotFound")
    demo.ok("DELETE", f"/floatingips/{fip['id']}", 204)
    demo.ok("DELETE", f"/routers/{router['id']}", 204)
    error(demo.request("GET", f"/routers/{router['id']}"), 404, "RouterNotFound")
    # Its gateway address is free again (the gateway port went with it).
    again = _router(demo, external_gateway_info={"network_id": ext["id"]})
    assert again["external_gateway_info"]["external_fixed_ips"][0]["ip_address"] == \
        "203.0.113.10"
    demo.ok("DELETE", f"/routers/{again['id']}", 204)


def test_bad_input_is_neutrons_and_changes_nothing(admin: Neutron, demo: Neutron) -> None:
    ext, _ = _external(admin, pool=("198.51.100.10", "198.51.100.11"), cidr="198.51.100.0/24")
    net, sub = _tenant(demo, "10.1.0.0/24")
    net2, sub2 = _tenant(demo, "10.1.0.0/25")  # overlaps sub
    nogw_net = demo.network()
    nogw = demo.subnet(nogw_net["id"], "10.9.0.0/24", gateway_ip=None)
    router = _router(demo, external_gateway_info={"network_id": ext["id"]})  # takes .10
    demo.ok("PUT", f"/routers/{router['id']}/add_router_interface",
            json={"subnet_id": sub["id"]})
    before = _state(demo)

    # Overlapping subnets on one router.
    msg = error(demo.request("PUT", f"/routers/{router['id']}/add_router_interface",
                             json={"subnet_id": sub2["id"]}), 400, "BadRequest")
    assert msg == (f"Bad router request: Cidr {sub2['cidr']} of subnet {sub2['id']} overlaps "
                   f"with cidr {sub['cidr']} of subnet {sub['id']}.")
    error(demo.request("PUT", f"/routers/{router['id']}/add_router_interface",
                       json={"subnet_id": nogw["id"]}), 400, "BadRequest")
    error(demo.request("PUT", f"/routers/{router['id']}/add_router_interface", json={}),
          400, "BadRequest")
    error(demo.request("PUT", f"/routers/{router['id']}/add_router_interface",
                       json={"subnet_id": sub2["id"], "port_id": str(uuid.uuid4())}),
          400, "BadRequest")
    # Deleting a router with interfaces.
    msg = error(demo.request("DELETE", f"/routers/{router['id']}"), 409, "RouterInUse")
    assert msg == f"Router {router['id']} still has ports"
    # A gateway on a network that is not external.
    msg = error(demo.request("PUT", f"/routers/{router['id']}", json={"router": {
        "external_gateway_info": {"network_id": net["id"]}}}), 400, "BadRequest")
    assert msg == f"Bad router request: Network {net['id']} is not an external network."

    # A floating IP from the exhausted pool (.10 is the gateway's, .11 is taken here).
    demo.ok("POST", "/floatingips", 201, json={"floatingip": {
        "floating_network_id": ext["id"]}})
    before = _state(demo)
    msg = error(demo.request("POST", "/floatingips", json={"floatingip": {
        "floating_network_id": ext["id"]}}), 409, "IpAddressGenerationFailure")
    assert msg == f"No more IP addresses available on network {ext['id']}."
    # ... from a network that is not external.
    error(demo.request("POST", "/floatingips", json={"floatingip": {
        "floating_network_id": net["id"]}}), 400, "BadRequest")
    fip = demo.ok("GET", "/floatingips")["floatingips"][0]
    # Associating a port on a subnet the router does not reach.
    stranded = demo.port(net2["id"])
    before = _state(demo)
    msg = error(demo.request("PUT", f"/floatingips/{fip['id']}", json={"floatingip": {
        "port_id": stranded["id"]}}), 404, "ExternalGatewayForFloatingIPNotFound")
    assert stranded["fixed_ips"][0]["subnet_id"] in msg and stranded["id"] in msg
    # ... a port without a fixed IP.
    bare = demo.port(net["id"], fixed_ips=[])
    before = _state(demo)
    error(demo.request("PUT", f"/floatingips/{fip['id']}", json={"floatingip": {
        "port_id": bare["id"]}}), 400, "BadRequest")
    # ... another project's port and router: not found.
    admin_net, _ = _tenant(admin, "10.7.0.0/24")
    theirs = admin.port(admin_net["id"])
    error(demo.request("PUT", f"/floatingips/{fip['id']}", json={"floatingip": {
        "port_id": theirs["id"]}}), 404, "PortNotFound")
    admin_router = _router(admin)
    error(demo.request("GET", f"/routers/{admin_router['id']}"), 404, "RouterNotFound")
    error(demo.request("PUT", f"/routers/{admin_router['id']}/add_router_interface",
                       json={"subnet_id": sub2["id"]}), 404, "RouterNotFound")
    error(demo.request("DELETE", f"/routers/{admin_router['id']}"), 404, "RouterNotFound")
    # ... and a fixed IP that already has a floating IP.
    mine = demo.port(net["id"])
    admin.ok("PUT", f"/floatingips/{fip['id']}", json={"floatingip": {"port_id": mine["id"]}})
    second = admin.ok("POST", "/floatingips", 201, json={"floatingip": {
        "floating_network_id": ext["id"], "floating_ip_address": "198.51.100.12",
        "project_id": fip["project_id"]}})
    assert second["floatingip"]["floating_ip_address"] == "198.51.100.12"
    before = _state(demo)
    error(demo.request("PUT", f"/floatingips/{second['floatingip']['id']}", json={
        "floatingip": {"port_id": mine["id"]}}), 409, "FloatingIPPortAlreadyAssociated")
    # The interface a floating IP needs stays.
    error(demo.request("PUT", f"/routers/{router['id']}/remove_router_interface",
                       json={"subnet_id": sub["id"]}), 409, "RouterInterfaceInUseByFloatingIP")
    error(demo.request("PUT", f"/routers/{router['id']}/remove_router_interface",
                       json={"subnet_id": sub2["id"]}), 404,
          "RouterInterfaceNotFoundForSubnet")
    # Unknown attributes, bad types: Neutron's 400.
    error(demo.request("POST", "/routers", json={"router": {"flavor": "x"}}), 400)
    error(demo.request("POST", "/floatingips", json={"floatingip": {}}), 400)
    # A project may not pick its floating address.
    error(demo.request("POST", "/floatingips", json={"floatingip": {
        "floating_network_id": ext["id"], "floating_ip_address": "198.51.100.13"}}), 403)
    assert _state(demo) == before


def test_quotas_for_routers_and_floating_ips(admin: Neutron, demo: Neutron) -> None:
    project = admin.ok("GET", "/ports", params={"limit": 1})  # any call: admin works
    assert project is not None
    demo_project = _router(demo)["project_id"]
    quota = admin.ok("GET", f"/quotas/{demo_project}/default")["quota"]
    assert quota["router"] == 10 and quota["floatingip"] == 50
    used = len(demo.ids("routers"))
    admin.ok("PUT", f"/quotas/{demo_project}", json={"quota": {"router": used}})
    try:
        msg = error(demo.request("POST", "/routers", json={"router": {"name": "over"}}),
                    409, "OverQuota")
        assert msg == "Quota exceeded for resources: ['router']."
        details = admin.ok("GET", f"/quotas/{demo_project}/details")["quota"]
        assert details["router"] == {"limit": used, "used": used, "reserved": 0}
    finally:
        admin.ok("DELETE", f"/quotas/{demo_project}", 204)


def test_ipv6_interfaces_and_dual_stack_gateway(admin: Neutron, demo: Neutron) -> None:
    ext, ext4 = _external(admin)  # "203.0.113.10" sorts after "2001:…": IPv4 still first
    ext6 = admin.subnet(ext["id"], "2001:db8:ff::/64", gateway_ip="2001:db8:ff::1",
                        enable_dhcp=False)
    router = _router(demo, external_gateway_info={"network_id": ext["id"]})
    # The gateway takes an address on every subnet of the external network.
    ips = router["external_gateway_info"]["external_fixed_ips"]
    assert [(f["subnet_id"], f["ip_address"]) for f in ips] == [
        (ext4["id"], "203.0.113.10"), (ext6["id"], "2001:db8:ff::2")]

    net, v4 = _tenant(demo, "10.2.0.0/24")
    slaac = demo.subnet(net["id"], "2001:db8:1::/64", ipv6_ra_mode="slaac",
                        ipv6_address_mode="slaac")
    stateful = demo.subnet(net["id"], "2001:db8:2::/64", ipv6_ra_mode="dhcpv6-stateful",
                           ipv6_address_mode="dhcpv6-stateful")
    first = demo.ok("PUT", f"/routers/{router['id']}/add_router_interface",
                    json={"subnet_id": slaac["id"]})
    # On a SLAAC subnet too, the interface holds the gateway IP (not its EUI-64).
    leg = demo.ok("GET", f"/ports/{first['port_id']}")["port"]
    assert leg["fixed_ips"] == [{"subnet_id": slaac["id"], "ip_address": "2001:db8:1::1"}]
    # A second IPv6 subnet of the network joins that port (one leg, Neutron's).
    second = demo.ok("PUT", f"/routers/{router['id']}/add_router_interface",
                     json={"subnet_id": stateful["id"]})
    assert second["port_id"] == first["port_id"]
    assert second["subnet_ids"] == [stateful["id"]]
    leg = demo.ok("GET", f"/ports/{first['port_id']}")["port"]
    assert sorted(f["ip_address"] for f in leg["fixed_ips"]) == ["2001:db8:1::1",
                                                                  "2001:db8:2::1"]
    # IPv4 gets a port of its own.
    four = demo.ok("PUT", f"/routers/{router['id']}/add_router_interface",
                   json={"subnet_id": v4["id"]})
    assert four["port_id"] != first["port_id"]
    before = _state(demo)

    # Neutron's refusals, each changing nothing.
    msg = error(demo.request("PUT", f"/routers/{router['id']}/add_router_interface",
                             json={"subnet_id": slaac["id"]}), 400, "BadRequest")
    assert msg == f"Bad router request: Router already has a port on subnet {slaac['id']}."
    outside_ra = demo.subnet(net["id"], "2001:db8:3::/64", ipv6_address_mode="slaac")
    before = _state(demo)
    msg = error(demo.request("PUT", f"/routers/{router['id']}/add_router_interface",
                             json={"subnet_id": outside_ra["id"]}), 400, "BadRequest")
    assert msg == (f"Bad router request: IPv6 subnet {outside_ra['id']} configured to receive "
                   "RAs from an external router cannot be added to Neutron Router..")
    spare = demo.port(net["id"], fixed_ips=[{"subnet_id": stateful["id"]}])
    before = _state(demo)
    msg = error(demo.request("PUT", f"/routers/{router['id']}/add_router_interface",
                             json={"port_id": spare["id"]}), 400, "BadRequest")
    assert msg == ("Bad router request: Cannot have multiple router ports with the same "
                   "network id if both contain IPv6 subnets. Existing port "
                   f"{first['port_id']} has IPv6 subnet(s) and network id {net['id']}.")
    net2, a4 = _tenant(demo, "10.3.0.0/24")
    b4 = demo.subnet(net2["id"], "10.4.0.0/24")
    two = demo.port(net2["id"], fixed_ips=[{"subnet_id": a4["id"]}, {"subnet_id": b4["id"]}])
    before = _state(demo)
    msg = error(demo.request("PUT", f"/routers/{router['id']}/add_router_interface",
                             json={"port_id": two["id"]}), 400, "BadRequest")
    assert msg == "Bad router request: Cannot have multiple IPv4 subnets on router port."
    assert _state(demo) == before

    # Removing one prefix by subnet keeps the port and its other prefix.
    gone = demo.ok("PUT", f"/routers/{router['id']}/remove_router_interface",
                   json={"subnet_id": slaac["id"]})
    assert gone["port_id"] == first["port_id"] and gone["subnet_ids"] == [slaac["id"]]
    leg = demo.ok("GET", f"/ports/{first['port_id']}")["port"]
    assert leg["fixed_ips"] == [{"subnet_id": stateful["id"], "ip_address": "2001:db8:2::1"}]
    demo.ok("PUT", f"/routers/{router['id']}/remove_router_interface",
            json={"subnet_id": stateful["id"]})
    error(demo.request("GET", f"/ports/{first['port_id']}"), 404, "PortNotFound")
    demo.ok("PUT", f"/routers/{router['id']}/remove_router_interface",
            json={"port_id": four["port_id"]})
    demo.ok("DELETE", f"/routers/{router['id']}", 204)
