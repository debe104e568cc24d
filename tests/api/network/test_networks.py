"""Network API behaviour: discovery, networks, subnets (IPAM), ports, quotas, lists."""

from __future__ import annotations

import ipaddress

import httpx

from tests import support
from tests.api.network.neutron import Neutron, error


# --- discovery -----------------------------------------------------------------
def test_versions_index_and_extensions(network_service: support.Service,
                                       neutron: Neutron) -> None:
    for path in ("/network", "/network/"):
        versions = httpx.get(network_service.url + path).json()["versions"]
        assert [(v["id"], v["status"]) for v in versions] == [("v2.0", "CURRENT")]
        assert versions[0]["links"][0]["href"] == f"{network_service.url}/network/v2.0/"
    resources = {r["collection"] for r in neutron.ok("GET", "/")["resources"]}
    assert {"networks", "subnets", "ports", "quotas", "rbac-policies", "routers",
            "floatingips"} <= resources
    aliases = {e["alias"] for e in neutron.ok("GET", "/extensions")["extensions"]}
    assert {"provider", "external-net", "binding", "quotas", "quota_details",
            "rbac-policies", "project-id", "port-security"} <= aliases
    assert {"router", "ext-gw-mode", "security-group"} <= aliases
    assert "trunk" not in aliases
    assert neutron.ok("GET", "/extensions/provider")["extension"]["name"] == \
        "Provider Network"
    error(neutron.request("GET", "/extensions/trunk"), 404)
    error(neutron.request("GET", "/nothing-here"), 404, "HTTPNotFound")


# --- networks --------------------------------------------------------------------
def test_network_defaults_and_segments(neutron: Neutron) -> None:
    a, b = neutron.network(), neutron.network()
    for net in (a, b):
        assert net["status"] == "ACTIVE" and net["admin_state_up"] is True
        assert net["shared"] is False and net["router:external"] is False
        assert net["provider:network_type"] == "vxlan" and net["mtu"] == 1450
        assert net["provider:physical_network"] is None and net["subnets"] == []
        assert net["project_id"] == net["tenant_id"]
        assert 5000 <= net["provider:segmentation_id"] <= 5999
    assert a["provider:segmentation_id"] != b["provider:segmentation_id"]
    vlan = neutron.network(**{"provider:network_type": "vlan"})
    assert 100 <= vlan["provider:segmentation_id"] <= 199 and vlan["mtu"] == 1500
    assert vlan["provider:physical_network"] == "physnet1"
    flat = neutron.network(**{"provider:network_type": "flat"})
    assert flat["provider:segmentation_id"] is None and flat["mtu"] == 1500
    fixed = neutron.network(**{"provider:network_type": "vlan",
                               "provider:segmentation_id": 3000})
    assert fixed["provider:segmentation_id"] == 3000
    msg = error(neutron.request("POST", "/networks", json={"network": {
        "provider:network_type": "vlan", "provider:segmentation_id": 3000}}), 409,
        "VlanIdInUse")
    assert "3000" in msg
    # A deleted network's id is free again: the lowest free one is taken next.
    neutron.ok("DELETE", f"/networks/{a['id']}", 204)
    again = neutron.network()
    assert again["provider:segmentation_id"] == a["provider:segmentation_id"]
    for net in (b, vlan, flat, fixed, again):
        neutron.ok("DELETE", f"/networks/{net['id']}", 204)
    error(neutron.request("GET", f"/networks/{b['id']}"), 404, "NetworkNotFound")


def test_network_update_and_shared_rbac(neutron: Neutron) -> None:
    net = neutron.network(shared=True)
    assert net["shared"] is True
    rules = neutron.ok("GET", "/rbac-policies", params={"object_id": net["id"]})
    assert [(r["action"], r["target_tenant"]) for r in rules["rbac_policies"]] == [
        ("access_as_shared", "*")]
    done = neutron.ok("PUT", f"/networks/{net['id']}", json={"network": {
        "name": "renamed", "shared": False, "mtu": 1400, "description": "d"}})["network"]
    assert (done["name"], done["shared"], done["mtu"], done["description"]) == (
        "renamed", False, 1400, "d")
    assert done["revision_number"] == net["revision_number"] + 1
    assert neutron.ok("GET", "/rbac-policies", params={"object_id": net["id"]})[
        "rbac_policies"] == []
    error(neutron.request("PUT", f"/networks/{net['id']}", json={"network": {
        "provider:segmentation_id": 5999}}), 400, "InvalidInput")
    error(neutron.request("PUT", f"/networks/{net['id']}", json={"network": {
        "status": "DOWN"}}), 400, "HTTPBadRequest")
    neutron.ok("DELETE", f"/networks/{net['id']}", 204)


def test_bulk_create_is_all_or_nothing(neutron: Neutron) -> None:
    before = neutron.ids("networks")
    made = neutron.ok("POST", "/networks", 201, json={"networks": [
        {"name": "bulk-a"}, {"name": "bulk-b"}]})["networks"]
    assert [n["name"] for n in made] == ["bulk-a", "bulk-b"]
    error(neutron.request("POST", "/networks", json={"networks": [
        {"name": "bulk-c"}, {"name": "bulk-d", "mtu": 99999}]}), 400, "InvalidInput")
    assert "bulk-c" not in [n["name"] for n in neutron.ok("GET", "/networks")["networks"]]
    for n in made:
        neutron.ok("DELETE", f"/networks/{n['id']}", 204)
    assert neutron.ids("networks") == before


# --- subnets ----------------------------------------------------------------------
def test_subnet_ipam_defaults_and_validation(neutron: Neutron) -> None:
    net = neutron.network()
    v4 = neutron.subnet(net["id"], "10.1.0.0/24", dns_nameservers=["8.8.8.8"],
                        host_routes=[{"destination": "10.9.0.0/16", "nexthop": "10.1.0.9"}])
    assert v4["gateway_ip"] == "10.1.0.1" and v4["enable_dhcp"] is True
    assert v4["allocation_pools"] == [{"start": "10.1.0.2", "end": "10.1.0.254"}]
    assert v4["dns_nameservers"] == ["8.8.8.8"] and v4["ipv6_ra_mode"] is None
    nogw = neutron.subnet(net["id"], "10.2.0.0/29", gateway_ip=None)
    assert nogw["gateway_ip"] is None
    assert nogw["allocation_pools"] == [{"start": "10.2.0.1", "end": "10.2.0.6"}]
    mid = neutron.subnet(net["id"], "10.3.0.0/29", gateway_ip="10.3.0.4")
    assert mid["allocation_pools"] == [{"start": "10.3.0.1", "end": "10.3.0.3"},
                                       {"start": "10.3.0.5", "end": "10.3.0.6"}]
    v6 = neutron.subnet(net["id"], "fd00:1::/64", ipv6_ra_mode="slaac",
                        ipv6_address_mode="slaac")
    assert v6["ip_version"] == 6 and v6["gateway_ip"] == "fd00:1::1"
    shown = neutron.ok("GET", f"/networks/{net['id']}")["network"]
    assert set(shown["subnets"]) == {v4["id"], nogw["id"], mid["id"], v6["id"]}
    error(neutron.request("POST", "/subnets", json={"subnet": {
        "network_id": net["id"], "ip_version": 4, "cidr": "10.1.0.128/25"}}), 400,
        "InvalidInput")  # overlaps 10.1.0.0/24
    updated = neutron.ok("PUT", f"/subnets/{v4['id']}", json={"subnet": {
        "allocation_pools": [{"start": "10.1.0.100", "end": "10.1.0.110"}],
        "name": "s4"}})["subnet"]
    assert updated["allocation_pools"] == [{"start": "10.1.0.100", "end": "10.1.0.110"}]
    port = neutron.port(net["id"])
    mac = bytes.fromhex(port["mac_address"].replace(":", ""))
    iid = bytes([mac[0] ^ 2, *mac[1:3], 0xFF, 0xFE, *mac[3:]])
    slaac = str(ipaddress.IPv6Address(int(ipaddress.IPv6Address("fd00:1::"))
                                      | int.from_bytes(iid, "big")))
    assert port["fixed_ips"][1] == {"subnet_id": v6["id"], "ip_address": slaac}
    assert port["fixed_ips"][0] == {"subnet_id": v4["id"], "ip_address": "10.1.0.100"}
    error(neutron.request("DELETE", f"/subnets/{v4['id']}"), 409, "SubnetInUse")
    neutron.ok("DELETE", f"/ports/{port['id']}", 204)
    for s in (v4, nogw, mid, v6):
        neutron.ok("DELETE", f"/subnets/{s['id']}", 204)
    error(neutron.request("GET", f"/subnets/{v4['id']}"), 404, "SubnetNotFound")
    neutron.ok("DELETE", f"/networks/{net['id']}", 204)


# --- ports ------------------------------------------------------------------------
def test_ports_addresses_macs_and_binding(neutron: Neutron) -> None:
    net = neutron.network()
    sub = neutron.subnet(net["id"], "10.4.0.0/29", enable_dhcp=False)  # pool .2-.6
    a = neutron.port(net["id"], name="a", device_id="dev-1", device_owner="compute:nova")
    assert a["fixed_ips"] == [{"subnet_id": sub["id"], "ip_address": "10.4.0.2"}]
    assert a["mac_address"].startswith("fa:16:3e:") and a["status"] == "DOWN"
    assert a["binding:vif_type"] == "unbound" and a["binding:vnic_type"] == "normal"
    default = neutron.ok("GET", "/security-groups", params={"name": "default"})
    assert a["security_groups"] == [default["security_groups"][0]["id"]]
    assert a["port_security_enabled"] is True
    b = neutron.port(net["id"], fixed_ips=[{"subnet_id": sub["id"],
                                            "ip_address": "10.4.0.5"}],
                     mac_address="52:54:00:AA:BB:CC")
    assert b["mac_address"] == "52:54:00:aa:bb:cc"
    assert b["fixed_ips"][0]["ip_address"] == "10.4.0.5"
    error(neutron.request("POST", "/ports", json={"port": {
        "network_id": net["id"], "mac_address": "52:54:00:aa:bb:cc"}}), 409,
        "MacAddressInUse")
    bound = neutron.ok("PUT", f"/ports/{a['id']}", json={"port": {
        "binding:host_id": "node-1", "binding:vnic_type": "baremetal",
        "binding:profile": {"local_link_information": [
            {"switch_id": "aa:bb:cc:dd:ee:ff", "port_id": "Eth1", "switch_info": "sw1"}]}}}
    )["port"]
    assert (bound["binding:vif_type"], bound["status"]) == ("other", "ACTIVE")
    assert bound["binding:profile"]["local_link_information"][0]["port_id"] == "Eth1"
    moved = neutron.ok("PUT", f"/ports/{b['id']}", json={"port": {
        "fixed_ips": [{"subnet_id": sub["id"]}, {"ip_address": "10.4.0.6"}]}})["port"]
    assert sorted(ip["ip_address"] for ip in moved["fixed_ips"]) == ["10.4.0.5", "10.4.0.6"]
    listed = neutron.ok("GET", "/ports", params={"network_id": net["id"],
                                                "device_id": "dev-1"})["ports"]
    assert [p["id"] for p in listed] == [a["id"]]
    by_ip = neutron.ok("GET", "/ports", params={"fixed_ips": "ip_address=10.4.0.6"})
    assert [p["id"] for p in by_ip["ports"]] == [b["id"]]
    by_subnet = neutron.ids("ports", fixed_ips=f"subnet_id={sub['id']}")
    assert set(by_subnet) == {a["id"], b["id"]}
    # .3 and .4 are left; a third request takes .3, a fourth .4, a fifth finds none.
    c, d = neutron.port(net["id"]), neutron.port(net["id"])
    assert [c["fixed_ips"][0]["ip_address"], d["fixed_ips"][0]["ip_address"]] == [
        "10.4.0.3", "10.4.0.4"]
    error(neutron.request("POST", "/ports", json={"port": {"network_id": net["id"]}}), 409,
          "IpAddressGenerationFailure")
    error(neutron.request("DELETE", f"/networks/{net['id']}"), 409, "NetworkInUse")
    # DHCP ports do not keep a network alive.
    for p in (a, b, c, d):
        neutron.ok("DELETE", f"/ports/{p['id']}", 204)
    neutron.port(net["id"], device_owner="network:dhcp")
    neutron.ok("DELETE", f"/networks/{net['id']}", 204)
    assert neutron.ids("ports", network_id=net["id"]) == []


# --- lists ---------------------------------------------------------------------------
def test_filters_fields_sorting_and_pages(neutron: Neutron) -> None:
    made = [neutron.network(name=f"page-{i}", description="paged") for i in range(5)]
    ids = sorted(n["id"] for n in made)
    got = neutron.ok("GET", "/networks", params=[("description", "paged"),
                                                 ("fields", "id"), ("fields", "name")])
    assert all(set(n) == {"id", "name"} for n in got["networks"])
    assert sorted(n["id"] for n in got["networks"]) == ids
    by_name = neutron.ok("GET", "/networks", params=[
        ("description", "paged"), ("sort_key", "name"), ("sort_dir", "desc")])["networks"]
    assert [n["name"] for n in by_name] == [f"page-{i}" for i in (4, 3, 2, 1, 0)]
    seen, params = [], {"description": "paged", "limit": "2", "sort_key": "id"}
    body = neutron.ok("GET", "/networks", params=params)
    while True:
        seen += [n["id"] for n in body["networks"]]
        nxt = [link for link in body.get("networks_links", []) if link["rel"] == "next"]
        if not nxt:
            break
        body = httpx.get(nxt[0]["href"], timeout=30).json()
    assert seen == ids
    assert neutron.ids("networks", name="page-3") == [made[3]["id"]]
    two = neutron.ids("networks", id=[made[0]["id"], made[1]["id"]])
    assert sorted(two) == sorted([made[0]["id"], made[1]["id"]])
    error(neutron.request("GET", "/networks", params={"colour": "blue"}), 400,
          "HTTPBadRequest")
    error(neutron.request("GET", "/networks", params={"sort_key": "colour"}), 400)
    error(neutron.request("GET", "/networks", params={"limit": "-1"}), 400)
    for n in made:
        neutron.ok("DELETE", f"/networks/{n['id']}", 204)


# --- quotas ---------------------------------------------------------------------------
def test_quotas_are_enforced(neutron: Neutron) -> None:
    project = neutron.network()["project_id"]
    quota = neutron.ok("GET", f"/quotas/{project}")["quota"]
    assert quota == {"network": 100, "subnet": 100, "port": 500, "rbac_policy": 10,
                     "security_group": 10, "security_group_rule": 100,
                     "router": 10, "floatingip": 50}
    details = neutron.ok("GET", f"/quotas/{project}/details.json")["quota"]
    used = details["network"]["used"]
    assert used >= 1 and details["network"]["limit"] == 100
    done = neutron.ok("PUT", f"/quotas/{project}", json={"quota": {"network": used}})
    assert done["quota"]["network"] == used
    msg = error(neutron.request("POST", "/networks", json={"network": {"name": "over"}}),
                409, "OverQuota")
    assert msg == "Quota exceeded for resources: ['network']."
    listed = neutron.ok("GET", "/quotas")["quotas"]
    assert [q["network"] for q in listed if q["project_id"] == project] == [used]
    neutron.ok("DELETE", f"/quotas/{project}", 204)
    assert neutron.ok("GET", f"/quotas/{project}")["quota"]["network"] == 100
    over = neutron.network(name="fits-again")
    neutron.ok("DELETE", f"/networks/{over['id']}", 204)
    for n in neutron.ok("GET", "/networks")["networks"]:
        neutron.ok("DELETE", f"/networks/{n['id']}", 204)


def test_auto_address_subnets_go_and_leave_their_ports(neutron: Neutron) -> None:
    """Neutron's delete_subnet: a SLAAC or DHCPv6-stateless subnet is deleted with
    ports on it (their addresses on it go, the ports stay, so the network is still in
    use); a DHCPv6-stateful one is not."""
    for mode in ("slaac", "dhcpv6-stateless"):
        net = neutron.network()
        v4 = neutron.subnet(net["id"], "10.44.0.0/24")
        auto = neutron.subnet(net["id"], "2001:db8:44::/64", ipv6_ra_mode=mode,
                              ipv6_address_mode=mode)
        port = neutron.port(net["id"])
        assert {ip["subnet_id"] for ip in port["fixed_ips"]} == {v4["id"], auto["id"]}
        neutron.ok("DELETE", f"/subnets/{auto['id']}", 204)
        assert auto["id"] not in neutron.ids("subnets")
        left = neutron.ok("GET", f"/ports/{port['id']}")["port"]
        assert [ip["subnet_id"] for ip in left["fixed_ips"]] == [v4["id"]]
        assert left["revision_number"] > port["revision_number"]
        msg = error(neutron.request("DELETE", f"/networks/{net['id']}"), 409, "NetworkInUse")
        assert "There are one or more ports still in use on the network" in msg
        neutron.ok("DELETE", f"/ports/{port['id']}", 204)
        neutron.ok("DELETE", f"/networks/{net['id']}", 204)
    net = neutron.network()
    stateful = neutron.subnet(net["id"], "2001:db8:45::/64", ipv6_ra_mode="dhcpv6-stateful",
                              ipv6_address_mode="dhcpv6-stateful")
    port = neutron.port(net["id"])
    error(neutron.request("DELETE", f"/subnets/{stateful['id']}"), 409, "SubnetInUse")
    assert neutron.ok("GET", f"/ports/{port['id']}")["port"]["fixed_ips"] == port["fixed_ips"]
    neutron.ok("DELETE", f"/ports/{port['id']}", 204)
    neutron.ok("DELETE", f"/networks/{net['id']}", 204)
