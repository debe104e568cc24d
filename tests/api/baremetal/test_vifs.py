"""Ironic's VIF API (/v1/nodes/{node}/vifs) on a real service, SQLite and PostgreSQL.

Networks and ports are made through the Network API; what is checked is
what the network interface and the tenant DHCP server rely on: the Neutron
port bound to the node with the chosen NIC's MAC and switch port, the NIC's
``internal_info`` naming the VIF and its segment, and after the detach none
of it.  The ``openstack`` CLI is run unmodified for attach, list and detach.
"""

from __future__ import annotations

import json
import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import preloaded, support
from tests.api.baremetal.ironic import Ironic, fault
from tests.api.network.neutron import Neutron
from tests.conftest import service_on

OPENSTACK = Path(sys.executable).parent / "openstack"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def svc(request: pytest.FixtureRequest,
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Service]:
    """A service with Identity: ``barecloud-admin`` (admin) and ``barecloud`` (demo)."""
    # Switch "dumb" cannot filter; "tor" (the other NICs') is not configured.
    switches = {"dumb": {"driver": "fake", "filters_ports": False}}
    yield from service_on(tmp_path_factory.mktemp("vifs"), request.param, auth="keystone",
                          extra_env={"BARECLOUD_POWER_SYNC_INTERVAL": "3600",
                                     "BARECLOUD_SWITCHES": json.dumps(switches)})


@pytest.fixture
def api(svc: support.Service) -> Iterator[Ironic]:
    client = Ironic(svc)
    yield client
    client.close()


@pytest.fixture
def net(svc: support.Service) -> Iterator[Neutron]:
    client = Neutron(svc, svc.token("barecloud-admin"))
    yield client
    client.close()


def _mac() -> str:
    raw = uuid.uuid4().bytes[:4]
    return "52:54:" + ":".join(f"{b:02x}" for b in raw)


def node_with_nics(api: Ironic, cabled: int = 2, uncabled: int = 0,
                   **node: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A fake-hardware node and its NICs in creation order; the last cabled one is
    the PXE NIC, so choosing it first proves the PXE-first order."""
    made = api.create_node(name=f"vif-{uuid.uuid4().hex[:8]}", **node)
    nics = []
    for i in range(cabled + uncabled):
        body: dict[str, Any] = {"node_uuid": made["uuid"], "address": _mac(),
                                "pxe_enabled": i == cabled - 1}
        if i < cabled:
            body["local_link_connection"] = {
                "switch_id": "52:54:00:ff:00:01", "switch_info": "tor",
                "port_id": f"{made['name']}-eth{i}"}
        nics.append(api.ok("POST", "/ports", 201, json=body))
    return made, nics


def network_port(net: Neutron, cidr: str = "10.70.0.0/24") -> dict[str, Any]:
    network = net.network()
    net.subnet(network["id"], cidr)
    return net.port(network["id"])


def vif_list(api: Ironic, node: str) -> list[str]:
    return [v["id"] for v in api.ok("GET", f"/nodes/{node}/vifs")["vifs"]]


def internal_info(api: Ironic, port: str) -> dict[str, Any]:
    info: dict[str, Any] = api.ok("GET", f"/ports/{port}")["internal_info"]
    return info


def assert_bound(net: Neutron, vif: str, node: dict[str, Any], nic: dict[str, Any]) -> None:
    port = net.ok("GET", f"/ports/{vif}")["port"]
    assert port["binding:host_id"] == node["uuid"]
    assert port["binding:vnic_type"] == "baremetal"
    assert port["binding:profile"]["local_link_information"] == [nic["local_link_connection"]]
    assert port["mac_address"] == nic["address"]
    assert port["status"] == "ACTIVE"


def assert_unbound(net: Neutron, vif: str) -> None:
    port = net.ok("GET", f"/ports/{vif}")["port"]
    assert port["binding:host_id"] == "" and port["status"] == "DOWN", port
    assert "local_link_information" not in port["binding:profile"]


def test_attach_list_detach(api: Ironic, net: Neutron) -> None:
    # neutron network interface: only cabled NICs (it switches their ports).
    node, nics = node_with_nics(api, cabled=2, uncabled=1, network_interface="neutron")
    first, second, third = (network_port(net, f"10.7{i}.0.0/24") for i in range(3))
    assert vif_list(api, node["uuid"]) == []

    api.ok("POST", f"/nodes/{node['uuid']}/vifs", 204, json={"id": first["id"]})
    pxe = nics[1]
    assert_bound(net, first["id"], node, pxe)
    info = internal_info(api, pxe["uuid"])
    assert info["tenant_vif_port_id"] == first["id"]
    assert info["tenant_segment"]["network_id"] == first["network_id"]
    assert info["tenant_segment"]["network_type"] == "vxlan"
    assert "tenant_vif_port_id" not in internal_info(api, nics[0]["uuid"])

    # The next VIF takes the other cabled NIC (by name); the uncabled one takes none.
    api.ok("POST", f"/nodes/{node['name']}/vifs", 204, json={"id": second["id"]})
    assert_bound(net, second["id"], node, nics[0])
    assert sorted(vif_list(api, node["uuid"])) == sorted([first["id"], second["id"]])
    msg = fault(api.post(f"/nodes/{node['uuid']}/vifs", json={"id": third["id"]}), 400)
    assert msg == f"Unable to attach VIF {third['id']}, not enough free physical ports."
    assert_unbound(net, third["id"])
    assert internal_info(api, nics[2]["uuid"]) == {}

    api.ok("DELETE", f"/nodes/{node['uuid']}/vifs/{first['id']}", 204)
    assert vif_list(api, node["uuid"]) == [second["id"]]
    assert_unbound(net, first["id"])
    assert internal_info(api, pxe["uuid"]) == {}
    net.ok("GET", f"/ports/{first['id']}")  # unbound, not deleted: it was the caller's
    # Detaching again is Ironic's VifNotAttached, a 400 (openstacksdk reads it as done).
    msg = fault(api.delete(f"/nodes/{node['uuid']}/vifs/{first['id']}"), 400)
    assert "because it is not attached to it" in msg
    # The freed PXE NIC is taken again first.
    api.ok("POST", f"/nodes/{node['uuid']}/vifs", 204, json={"id": third["id"]})
    assert_bound(net, third["id"], node, pxe)


def test_attach_to_a_named_port(api: Ironic, net: Neutron) -> None:
    node, nics = node_with_nics(api, cabled=2, uncabled=1, network_interface="neutron")
    vif, other = network_port(net), network_port(net)
    path = f"/nodes/{node['uuid']}/vifs"
    api.ok("POST", path, 204, json={"id": vif["id"], "port_uuid": nics[0]["uuid"]})
    assert_bound(net, vif["id"], node, nics[0])
    assert internal_info(api, nics[0]["uuid"])["tenant_vif_port_id"] == vif["id"]
    busy = fault(api.post(path, json={"id": other["id"], "port_uuid": nics[0]["uuid"]}), 409)
    assert vif["id"] in busy
    uncabled = fault(api.post(path, json={"id": other["id"], "port_uuid": nics[2]["uuid"]}),
                     400)
    assert "local_link_connection" in uncabled
    fault(api.post(path, json={"id": other["id"], "port_uuid": str(uuid.uuid4())}), 404)
    # Before 1.67 there is no port_uuid: the usual choice (the PXE NIC) is made.
    api.ok("POST", path, 204, version="1.66",
           json={"id": other["id"], "port_uuid": nics[2]["uuid"]})
    assert_bound(net, other["id"], node, nics[1])


def test_flat_takes_any_free_nic(api: Ironic, net: Neutron) -> None:
    """Ironic's ``flat`` (the default): no switch port needed, the PXE NIC first."""
    node, nics = node_with_nics(api, cabled=0, uncabled=2)
    assert node["network_interface"] == "flat"
    api.ok("PATCH", f"/ports/{nics[1]['uuid']}", json=[
        {"op": "replace", "path": "/pxe_enabled", "value": True}])
    first, second, third = (network_port(net, f"10.8{i}.0.0/24") for i in range(3))
    path = f"/nodes/{node['uuid']}/vifs"
    api.ok("POST", path, 204, json={"id": first["id"]})
    api.ok("POST", path, 204, json={"id": second["id"]})
    for vif, nic in ((first, nics[1]), (second, nics[0])):  # nics[1] is the PXE NIC
        port = net.ok("GET", f"/ports/{vif['id']}")["port"]
        assert port["binding:host_id"] == node["uuid"] and port["status"] == "ACTIVE"
        assert port["mac_address"] == nic["address"]
        assert "local_link_information" not in port["binding:profile"]
        assert internal_info(api, nic["uuid"])["tenant_vif_port_id"] == vif["id"]
    assert sorted(vif_list(api, node["uuid"])) == sorted([first["id"], second["id"]])
    msg = fault(api.post(path, json={"id": third["id"]}), 400)
    assert msg == f"Unable to attach VIF {third['id']}, not enough free physical ports."
    api.ok("DELETE", f"{path}/{first['id']}", 204)
    assert_unbound(net, first["id"])
    assert vif_list(api, node["uuid"]) == [second["id"]]


def test_noop_accepts_and_ignores(api: Ironic, net: Neutron) -> None:
    """Ironic's ``noop``: attach and detach succeed and do nothing."""
    node, nics = node_with_nics(api, cabled=1, network_interface="noop")
    vif = network_port(net)
    path = f"/nodes/{node['uuid']}/vifs"
    api.ok("POST", path, 204, json={"id": vif["id"]})
    api.ok("POST", path, 204, json={"id": str(uuid.uuid4())})  # not even looked up
    assert vif_list(api, node["uuid"]) == []
    assert_unbound(net, vif["id"])
    assert internal_info(api, nics[0]["uuid"]) == {}
    api.ok("DELETE", f"{path}/{vif['id']}", 204)
    fault(api.get(f"/nodes/{uuid.uuid4()}/vifs"), 404)  # the node must still exist


def test_network_interface_names(api: Ironic) -> None:
    """Ironic's names are taken on create and patch; unknown ones are 400."""
    for name in ("flat", "noop", "neutron"):
        made = api.create_node(network_interface=name)
        assert made["network_interface"] == name
    made = api.create_node()
    patched = api.ok("PATCH", f"/nodes/{made['uuid']}", json=[
        {"op": "replace", "path": "/network_interface", "value": "noop"}])
    assert patched["network_interface"] == "noop"
    msg = fault(api.post("/nodes", json={"driver": "fake-hardware",
                                         "network_interface": "vlan"}), 400)
    assert "flat, noop" in msg


def test_errors(api: Ironic, net: Neutron) -> None:
    node, nics = node_with_nics(api, cabled=2)
    elsewhere, _ = node_with_nics(api, cabled=1)
    vif = network_port(net)
    path = f"/nodes/{node['uuid']}/vifs"
    missing = str(uuid.uuid4())
    for method, where in (("GET", f"/nodes/{missing}/vifs"), ("POST", f"/nodes/{missing}/vifs"),
                          ("DELETE", f"/nodes/{missing}/vifs/{vif['id']}")):
        msg = fault(api.request(method, where, json={"id": vif["id"]}), 404)
        assert missing in msg
    # Before 1.28 the resource does not exist.
    for method, where in (("GET", path), ("POST", path), ("DELETE", f"{path}/{vif['id']}")):
        fault(api.request(method, where, version="1.27", json={"id": vif["id"]}), 404)
    fault(api.post(path, json={"vif": vif["id"]}), 400)
    msg = fault(api.post(path, json={"id": missing}), 400)
    assert missing in msg and "could not be found" in msg

    api.ok("POST", path, 204, json={"id": vif["id"]})
    twice = fault(api.post(path, json={"id": vif["id"]}), 409)
    assert twice == (f"Unable to attach VIF because VIF {vif['id']} is already attached to "
                     f"Ironic Port {nics[1]['uuid']}")
    other = fault(api.post(f"/nodes/{elsewhere['uuid']}/vifs", json={"id": vif["id"]}), 409)
    assert node["uuid"] in other
    assert vif_list(api, elsewhere["uuid"]) == []
    assert_bound(net, vif["id"], node, nics[1])
    fault(api.delete(f"/nodes/{elsewhere['uuid']}/vifs/{vif['id']}"), 400)
    assert_bound(net, vif["id"], node, nics[1])  # a refused detach elsewhere changes nothing


def test_locked_node_is_409(api: Ironic, net: Neutron) -> None:
    node, _ = node_with_nics(api, cabled=1, driver_info={"fake_delay": 4})
    vif = network_port(net)
    api.ok("PUT", f"/nodes/{node['uuid']}/states/power", 202, json={"target": "power on"})
    msg = fault(api.post(f"/nodes/{node['uuid']}/vifs", json={"id": vif["id"]}), 409)
    assert "locked" in msg
    assert vif_list(api, node["uuid"]) == []
    assert_unbound(net, vif["id"])


def test_active_neutron_node_refuses(api: Ironic, net: Neutron) -> None:
    """Its switch ports move only in deploy: the records must not say otherwise."""
    node, _ = node_with_nics(api, cabled=1, network_interface="neutron")
    vif = network_port(net)
    api.to_state(node["uuid"], "manageable")
    api.provision(node["uuid"], "adopt")
    api.wait(node["uuid"], "active")
    msg = fault(api.post(f"/nodes/{node['uuid']}/vifs", json={"id": vif["id"]}), 409)
    assert "active" in msg
    assert_unbound(net, vif["id"])


def _project_id(svc: support.Service, name: str) -> str:
    rsp = httpx.get(f"{svc.identity}/projects", params={"name": name}, timeout=30,
                    headers={"X-Auth-Token": svc.token()})
    [project] = rsp.json()["projects"]
    return str(project["id"])


def test_project_members(svc: support.Service, api: Ironic, net: Neutron) -> None:
    demo_project = _project_id(svc, "demo")
    owned, owned_nics = node_with_nics(api, cabled=1, owner=demo_project)
    leased, _ = node_with_nics(api, cabled=1, lessee=demo_project)
    foreign, _ = node_with_nics(api, cabled=1, owner=_project_id(svc, "admin"))
    demo_token = svc.token("barecloud")
    demo = Ironic(svc)
    demo.http.headers["X-Auth-Token"] = demo_token
    demo_net = Neutron(svc, demo_token)
    try:
        mine = network_port(demo_net)
        admins = network_port(net)
        # The owner's member attaches its own project's port, and lists and detaches it.
        demo.ok("POST", f"/nodes/{owned['uuid']}/vifs", 204, json={"id": mine["id"]})
        assert vif_list(demo, owned["uuid"]) == [mine["id"]]
        assert_bound(net, mine["id"], owned, owned_nics[0])
        # ... but not another project's port: it does not exist for demo.
        msg = fault(demo.post(f"/nodes/{owned['uuid']}/vifs", json={"id": admins["id"]}), 400)
        assert "could not be found" in msg
        assert_unbound(net, admins["id"])
        demo.ok("DELETE", f"/nodes/{owned['uuid']}/vifs/{mine['id']}", 204)
        assert_unbound(net, mine["id"])
        # A lessee reads but does not attach; another project's node does not exist.
        assert vif_list(demo, leased["uuid"]) == []
        refused = fault(demo.post(f"/nodes/{leased['uuid']}/vifs", json={"id": mine["id"]}),
                        403)
        assert "baremetal:node:vif:attach" in refused
        fault(demo.post(f"/nodes/{foreign['uuid']}/vifs", json={"id": mine["id"]}), 404)
        fault(demo.get(f"/nodes/{foreign['uuid']}/vifs"), 404)
        assert vif_list(api, leased["uuid"]) == [] and vif_list(api, foreign["uuid"]) == []
    finally:
        demo.close()
        demo_net.close()


@pytest.mark.skipif(not OPENSTACK.exists(), reason="openstack CLI not installed")
def test_a_switch_that_cannot_filter_refuses_a_port_with_port_security(
        svc: support.Service, api: Ironic, net: Neutron) -> None:
    """Neutron's failed binding, as Ironic's attach reports it: a 400 naming the switch,
    its port and the remedy, shown by the CLI; nothing bound or recorded."""
    node = api.create_node(name=f"vif-{uuid.uuid4().hex[:8]}")
    nic = api.ok("POST", "/ports", 201, json={
        "node_uuid": node["uuid"], "address": _mac(), "pxe_enabled": True,
        "local_link_connection": {"switch_id": "52:54:00:ff:00:02", "switch_info": "dumb",
                                  "port_id": "xe-0/0/7"}})
    vif = network_port(net, "10.74.0.0/24")
    path = f"/nodes/{node['uuid']}/vifs"
    msg = fault(api.post(path, json={"id": vif["id"]}), 400)
    assert msg.startswith(f"Binding failed for port {vif['id']}: it has port security, but "
                          "switch dumb cannot enforce security groups on its port xe-0/0/7 "
                          "(it plays a switch that cannot filter"), msg
    assert f"openstack port set --no-security-group --disable-port-security {vif['id']}" \
        in msg
    assert_unbound(net, vif["id"])
    assert internal_info(api, nic["uuid"]) == {} and vif_list(api, node["uuid"]) == []

    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update({"OS_CLIENT_CONFIG_FILE": str(svc.clouds_yaml), "OS_CLOUD": "barecloud-admin",
                "PYTHONWARNINGS": "ignore"})
    proc = preloaded.run([str(OPENSTACK), "baremetal", "node", "vif", "attach", node["uuid"],
                          vif["id"]], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0 and "cannot enforce security groups" in proc.stderr, proc

    # The remedy: the port without port security (and groups) binds on the same NIC.
    net.ok("PUT", f"/ports/{vif['id']}", 200, json={"port": {
        "security_groups": [], "port_security_enabled": False}})
    api.ok("POST", path, 204, json={"id": vif["id"]})
    assert_bound(net, vif["id"], node, nic)


def test_openstack_cli(svc: support.Service, api: Ironic, net: Neutron) -> None:
    node, nics = node_with_nics(api, cabled=2)
    vif = network_port(net)
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update({"OS_CLIENT_CONFIG_FILE": str(svc.clouds_yaml), "OS_CLOUD": "barecloud-admin",
                "PYTHONWARNINGS": "ignore"})

    def run(*args: str, ok: bool = True) -> str:
        proc = preloaded.run([str(OPENSTACK), *args], env=env, capture_output=True,
                             text=True, timeout=120)
        assert (proc.returncode == 0) == ok, (args, proc.stdout, proc.stderr)
        return proc.stdout + proc.stderr

    run("baremetal", "node", "vif", "attach", node["name"], vif["id"])
    listed = json.loads(run("baremetal", "node", "vif", "list", node["name"], "-f", "json"))
    assert listed == [{"id": vif["id"]}]
    shown = json.loads(run("port", "show", vif["id"], "-f", "json"))
    assert shown["binding_host_id"] == node["uuid"]
    assert shown["binding_vnic_type"] == "baremetal"
    assert shown["binding_profile"]["local_link_information"] == [
        nics[1]["local_link_connection"]]
    assert shown["mac_address"] == nics[1]["address"]
    assert internal_info(api, nics[1]["uuid"])["tenant_vif_port_id"] == vif["id"]
    again = run("baremetal", "node", "vif", "attach", node["name"], vif["id"], ok=False)
    assert "already attached" in again

    run("baremetal", "node", "vif", "detach", node["name"], vif["id"])
    assert json.loads(run("baremetal", "node", "vif", "list", node["name"], "-f", "json")) == []
    shown = json.loads(run("port", "show", vif["id"], "-f", "json"))
    assert not shown["binding_host_id"] and shown["status"] == "DOWN"
    assert "tenant_vif_port_id" not in internal_info(api, nics[1]["uuid"])


def test_flat_prefers_a_port_group(api: Ironic, net: Neutron) -> None:
    """As Ironic's ``get_free_port_like_object``: a free port group with member NICs
    before any NIC; the VIF recorded in the group's ``internal_info``, the Neutron
    port bound with the group's address; its members are not used alone."""
    node, nics = node_with_nics(api, cabled=0, uncabled=2)
    group = api.ok("POST", "/portgroups", 201, json={"node_uuid": node["uuid"],
                                                      "address": _mac()})
    api.ok("PATCH", f"/ports/{nics[0]['uuid']}", json=[
        {"op": "add", "path": "/portgroup_uuid", "value": group["uuid"]}])
    first, second, third = (network_port(net, f"10.9{i}.0.0/24") for i in range(3))
    path = f"/nodes/{node['uuid']}/vifs"
    api.ok("POST", path, 204, json={"id": first["id"]})
    assert api.ok("GET", f"/portgroups/{group['uuid']}")["internal_info"] == {
        "tenant_vif_port_id": first["id"]}
    assert "tenant_vif_port_id" not in internal_info(api, nics[0]["uuid"])
    port = net.ok("GET", f"/ports/{first['id']}")["port"]
    assert port["binding:host_id"] == node["uuid"]
    assert port["mac_address"] == group["address"]
    twice = fault(api.post(path, json={"id": first["id"]}), 409)
    assert group["uuid"] in twice
    api.ok("POST", path, 204, json={"id": second["id"]})  # the NIC outside the group
    assert internal_info(api, nics[1]["uuid"])["tenant_vif_port_id"] == second["id"]
    fault(api.post(path, json={"id": third["id"]}), 400)  # the group's member is not free
    assert sorted(vif_list(api, node["uuid"])) == sorted([first["id"], second["id"]])
    api.ok("DELETE", f"{path}/{first['id']}", 204)
    assert api.ok("GET", f"/portgroups/{group['uuid']}")["internal_info"] == {}
    assert_unbound(net, first["id"])
    # Named (1.67): that group, or 404 for one the node has not.
    api.ok("POST", path, 204, json={"id": third["id"], "portgroup_uuid": group["uuid"]})
    assert vif_list(api, node["uuid"])[0] == third["id"]
    fault(api.post(path, json={"id": first["id"], "portgroup_uuid": str(uuid.uuid4())}), 404)
    fault(api.post(path, json={"id": first["id"], "portgroup_uuid": group["uuid"],
                               "port_uuid": nics[1]["uuid"]}), 400)
