"""Two projects: what a member sees and may do, RBAC sharing, and what only admins may."""

from __future__ import annotations

import httpx

from tests import support
from tests.api.network.neutron import Neutron, error


def test_no_token_is_401_in_neutrons_format(keystone: support.Service) -> None:
    r = httpx.get(f"{keystone.url}/network/v2.0/networks")
    error(r, 401)
    assert r.headers["WWW-Authenticate"].startswith("Keystone uri=")
    assert httpx.get(f"{keystone.url}/network").status_code == 200  # versions: public


def test_projects_see_their_own_and_shared(admin: Neutron, demo: Neutron) -> None:
    private = admin.network(name="admins-only")
    sub = admin.subnet(private["id"], "10.30.0.0/24")
    admin_port = admin.port(private["id"])
    mine = demo.network(name="demos")
    # A member sees no provider attributes and no binding details; an admin does.
    own_port = demo.port(mine["id"])
    assert "provider:network_type" not in mine and "binding:host_id" not in own_port
    assert admin.ok("GET", f"/networks/{mine['id']}")["network"][
        "provider:network_type"] == "vxlan"
    assert private["id"] not in demo.ids("networks")
    error(demo.request("GET", f"/networks/{private['id']}"), 404, "NetworkNotFound")
    error(demo.request("GET", f"/subnets/{sub['id']}"), 404, "SubnetNotFound")
    error(demo.request("GET", f"/ports/{admin_port['id']}"), 404, "PortNotFound")
    error(demo.request("DELETE", f"/networks/{private['id']}"), 404, "NetworkNotFound")
    error(demo.request("POST", "/ports", json={"port": {"network_id": private["id"]}}), 404,
          "NetworkNotFound")
    assert {private["id"], mine["id"]} <= set(admin.ids("networks"))
    # Share the admin's network with the demo project only.
    demo_project = mine["project_id"]
    rule = admin.ok("POST", "/rbac-policies", 201, json={"rbac_policy": {
        "object_type": "network", "object_id": private["id"], "action": "access_as_shared",
        "target_tenant": demo_project}})["rbac_policy"]
    assert rule["target_tenant"] == demo_project and rule["project_id"] == \
        private["project_id"]
    seen = demo.ok("GET", f"/networks/{private['id']}")["network"]
    assert seen["shared"] is True  # shared with the caller's project
    assert admin.ok("GET", f"/networks/{private['id']}")["network"]["shared"] is False
    assert demo.ok("GET", f"/subnets/{sub['id']}")["subnet"]["cidr"] == "10.30.0.0/24"
    demo_port = demo.port(private["id"])
    assert demo_port["project_id"] == demo_project
    # The network's owner sees the demo port; demo still does not see the admin's.
    assert demo_port["id"] in admin.ids("ports", network_id=private["id"])
    assert demo.ids("ports", network_id=private["id"]) == [demo_port["id"]]
    # Demo may not change or delete what it was only given, nor add subnets to it.
    error(demo.request("PUT", f"/networks/{private['id']}", json={"network": {
        "name": "mine now"}}), 403, "PolicyNotAuthorized")
    error(demo.request("POST", "/subnets", json={"subnet": {
        "network_id": private["id"], "ip_version": 4, "cidr": "10.31.0.0/24"}}), 403)
    error(demo.request("POST", "/ports", json={"port": {
        "network_id": private["id"], "fixed_ips": [{"ip_address": "10.30.0.50"}]}}), 403)
    # The RBAC entry is in use while demo's port is there.
    error(admin.request("DELETE", f"/rbac-policies/{rule['id']}"), 409, "RbacPolicyInUse")
    error(demo.request("GET", f"/rbac-policies/{rule['id']}"), 404)
    demo.ok("DELETE", f"/ports/{demo_port['id']}", 204)
    admin.ok("DELETE", f"/rbac-policies/{rule['id']}", 204)
    assert private["id"] not in demo.ids("networks")
    # Members set no admin-only attributes.
    for attrs in ({"shared": True}, {"router:external": True},
                  {"provider:network_type": "vlan"}):
        msg = error(demo.request("POST", "/networks", json={"network": attrs}), 403,
                    "PolicyNotAuthorized")
        assert msg.endswith("is disallowed by policy")
    error(demo.request("POST", "/ports", json={"port": {
        "network_id": mine["id"], "binding:host_id": "node"}}), 403)
    error(demo.request("POST", "/rbac-policies", json={"rbac_policy": {
        "object_type": "network", "object_id": mine["id"], "action": "access_as_shared",
        "target_tenant": "*"}}), 403)
    error(demo.request("PUT", f"/quotas/{demo_project}", json={"quota": {"network": 1}}),
          403)
    error(demo.request("GET", f"/quotas/{private['project_id']}"), 403)
    assert demo.ok("GET", f"/quotas/{demo_project}")["quota"]["network"] == 100
    # A project_id other than one's own is the admin's to give.
    error(demo.request("POST", "/networks", json={"network": {
        "project_id": private["project_id"]}}), 400, "HTTPBadRequest")
    given = admin.network(project_id=demo_project)
    assert given["id"] in demo.ids("networks")
    # Shared with everyone: visible to demo, and external networks too.
    admin.ok("PUT", f"/networks/{private['id']}", json={"network": {"shared": True}})
    assert private["id"] in demo.ids("networks", shared="true")
    admin.ok("DELETE", f"/ports/{admin_port['id']}", 204)
    for net in (private, given):
        admin.ok("DELETE", f"/networks/{net['id']}", 204)
    demo.ok("DELETE", f"/ports/{own_port['id']}", 204)
    demo.ok("DELETE", f"/networks/{mine['id']}", 204)


def test_subnets_of_an_external_network_are_seen_and_say_so(admin: Neutron,
                                                             demo: Neutron) -> None:
    """Neutron's subnet-external-network: everyone sees an external network's subnets,
    each with ``router:external`` (filterable); tempest's external-network visibility
    test asks for it when the extension is listed."""
    aliases = {e["alias"] for e in demo.ok("GET", "/extensions")["extensions"]}
    assert "subnet-external-network" in aliases
    public = admin.network(**{"router:external": True})
    made = admin.subnet(public["id"], "192.0.2.0/24")
    assert made["router:external"] is True
    mine = demo.network()
    own = demo.subnet(mine["id"], "10.9.0.0/24")
    assert own["router:external"] is False
    seen = demo.ok("GET", "/subnets", params={"network_id": public["id"]})["subnets"]
    assert [(s["id"], s["router:external"]) for s in seen] == [(made["id"], True)]
    external = demo.ids("subnets", **{"router:external": "true"})
    assert made["id"] in external and own["id"] not in external
    assert own["id"] in demo.ids("subnets", **{"router:external": "false"})
    # The network turned internal: its subnet says so, and a tenant no longer sees it.
    admin.ok("PUT", f"/networks/{public['id']}", json={"network": {"router:external": False}})
    assert admin.ok("GET", f"/subnets/{made['id']}")["subnet"]["router:external"] is False
    assert made["id"] not in demo.ids("subnets")
    demo.ok("DELETE", f"/networks/{mine['id']}", 204)
    admin.ok("DELETE", f"/networks/{public['id']}", 204)
