"""openstacksdk and the ``openstack`` CLI, unmodified, against barecloud's Network API.

The clients find the API through Identity's catalog (service ``network``,
``<base>/network``, versions discovered there), as against any OpenStack
cloud: ``barecloud-admin`` is the admin of project admin, ``barecloud`` the
demo user, a member of project demo.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openstack
import pytest
from openstack import exceptions

from tests import preloaded, support

OPENSTACK = Path(sys.executable).parent / "openstack"
cli_only = pytest.mark.skipif(not OPENSTACK.exists(), reason="openstack CLI not installed")


@pytest.fixture(scope="module")
def keystone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Service]:
    svc = support.start_service(tmp_path_factory.mktemp("netclients") / "svc",
                                auth="keystone")
    try:
        yield svc
    finally:
        svc.stop()


class Cli:
    def __init__(self, svc: support.Service) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        self.env.update({"OS_CLIENT_CONFIG_FILE": str(svc.clouds_yaml),
                         "PYTHONWARNINGS": "ignore"})

    def run(self, cloud: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = preloaded.run([str(OPENSTACK), "--os-cloud", cloud, *args], env=self.env,
                             capture_output=True, text=True, timeout=300)
        assert (proc.returncode == 0) == ok, (args, proc.stdout, proc.stderr)
        return proc

    def json(self, cloud: str, *args: str) -> Any:
        return json.loads(self.run(cloud, *args, "-f", "json").stdout)


@cli_only
def test_openstack_cli(keystone: support.Service) -> None:
    cli = Cli(keystone)
    adm, demo = "barecloud-admin", "barecloud"
    net = cli.json(adm, "network", "create", "--provider-network-type", "vxlan",
                   "--provider-segment", "5500", "cli-net")
    assert net["provider:network_type"] == "vxlan" and net["provider:segmentation_id"] == 5500
    assert net["status"] == "ACTIVE" and net["mtu"] == 1450
    vlan = cli.json(adm, "network", "create", "--provider-network-type", "vlan", "cli-vlan")
    assert 100 <= vlan["provider:segmentation_id"] <= 199
    listed = cli.json(adm, "network", "list")
    assert {"cli-net", "cli-vlan"} <= {n["Name"] for n in listed}
    cli.run(adm, "network", "set", "--name", "cli-net2", "--description", "renamed",
            "cli-net")
    shown = cli.json(adm, "network", "show", "cli-net2")
    assert shown["description"] == "renamed" and shown["id"] == net["id"]

    v4 = cli.json(adm, "subnet", "create", "--network", "cli-net2", "--subnet-range",
                  "10.0.0.0/24", "cli-v4")
    assert v4["gateway_ip"] == "10.0.0.1" and v4["cidr"] == "10.0.0.0/24"
    v6 = cli.json(adm, "subnet", "create", "--network", "cli-net2", "--ip-version", "6",
                  "--subnet-range", "fd00:10::/64", "--ipv6-ra-mode", "slaac",
                  "--ipv6-address-mode", "slaac", "cli-v6")
    assert v6["ip_version"] == 6 and v6["ipv6_address_mode"] == "slaac"
    port = cli.json(adm, "port", "create", "--network", "cli-net2", "--fixed-ip",
                    "subnet=cli-v4,ip-address=10.0.0.50", "cli-port")
    assert any(ip["ip_address"] == "10.0.0.50" for ip in port["fixed_ips"])
    ports = cli.json(adm, "port", "list", "--network", "cli-net2")
    assert [p["Name"] for p in ports] == ["cli-port"]
    taken = cli.run(adm, "port", "create", "--network", "cli-net2", "--fixed-ip",
                    "subnet=cli-v4,ip-address=10.0.0.50", "again", ok=False)
    assert "already allocated" in taken.stderr

    # Quotas: set for the demo project; demo reads its own.
    cli.run(adm, "quota", "set", "--networks", "7", "--ports", "9", "demo")
    quota = cli.json(adm, "quota", "show", "--network", "demo")
    values = {q["Resource"]: q["Limit"] for q in quota} if isinstance(quota, list) else quota
    assert values.get("networks") == 7 and values.get("ports") == 9, quota

    # The demo member sees the admin's network only once it is shared with demo.
    assert "cli-net2" not in {n["Name"] for n in cli.json(demo, "network", "list")}
    cli.run(demo, "network", "show", "cli-net2", ok=False)
    rule = cli.json(adm, "network", "rbac", "create", "--target-project", "demo",
                    "--action", "access_as_shared", "--type", "network", "cli-net2")
    assert rule["action"] == "access_as_shared" and rule["object_id"] == net["id"]
    assert "cli-net2" in {n["Name"] for n in cli.json(demo, "network", "list")}
    mine = cli.json(demo, "port", "create", "--network", "cli-net2", "demo-port")
    assert mine["fixed_ips"] and mine["network_id"] == net["id"]
    cli.run(demo, "network", "delete", "cli-net2", ok=False)  # not demo's
    cli.run(demo, "port", "delete", "demo-port")
    cli.run(adm, "network", "rbac", "delete", rule["id"])
    assert "cli-net2" not in {n["Name"] for n in cli.json(demo, "network", "list")}

    # Agents: the admin's to list (none here: no network host); demo lists none.
    assert cli.json(adm, "network", "agent", "list") == []
    assert cli.json(demo, "network", "agent", "list") == []

    cli.run(adm, "port", "delete", "cli-port")
    cli.run(adm, "subnet", "delete", "cli-v4", "cli-v6")
    cli.run(adm, "network", "delete", "cli-net2", "cli-vlan")
    assert not {"cli-net2", "cli-vlan"} & {n["Name"] for n in cli.json(adm, "network",
                                                                         "list")}


def test_openstacksdk(keystone: support.Service, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OS_CLIENT_CONFIG_FILE", str(keystone.clouds_yaml))
    monkeypatch.delenv("OS_CLOUD", raising=False)
    admin = openstack.connect(cloud="barecloud-admin")
    demo = openstack.connect(cloud="barecloud")
    try:
        na, nd = admin.network, demo.network
        assert na.find_extension("provider") is not None
        assert na.find_extension("router") is not None
        assert na.find_extension("trunk") is None
        net = na.create_network(name="sdk-net", provider_network_type="vlan",
                                provider_segmentation_id=150)
        assert net.provider_segmentation_id == 150 and net.mtu == 1500
        sub = na.create_subnet(network_id=net.id, ip_version=4, cidr="192.168.7.0/24",
                               allocation_pools=[{"start": "192.168.7.10",
                                                  "end": "192.168.7.20"}])
        assert sub.gateway_ip == "192.168.7.1"
        port = na.create_port(network_id=net.id, binding_vnic_type="baremetal",
                              binding_host_id="node-1")
        assert port.fixed_ips[0]["ip_address"] == "192.168.7.10"
        assert port.binding_vif_type == "other" and port.status == "ACTIVE"
        assert [p.id for p in na.ports(network_id=net.id)] == [port.id]
        found = na.find_network("sdk-net")
        assert found is not None and found.id == net.id
        assert nd.find_network("sdk-net") is None
        with pytest.raises(exceptions.ConflictException):
            na.delete_network(net)
        demo_project = demo.current_project_id
        assert demo_project is not None
        na.create_rbac_policy(object_type="network", object_id=net.id,
                              action="access_as_shared",
                              target_project_id=demo_project)
        assert nd.get_network(net.id).name == "sdk-net"
        na.update_quota(demo_project, networks=5)
        quota = na.get_quota(demo_project, details=True)
        assert quota.networks["limit"] == 5 and quota.ports["used"] == 0
        pages = list(na.networks(limit=1))
        assert net.id in [n.id for n in pages]
        na.delete_port(port)
        na.delete_network(net)
        with pytest.raises(exceptions.NotFoundException):
            na.get_network(net.id)
    finally:
        admin.close()
        demo.close()


@cli_only
def test_ipv6_modes_with_the_cli(keystone: support.Service) -> None:
    """The three IPv6 modes, the addresses a port gets in each (EUI-64 from its MAC,
    or the pool's first for DHCPv6-stateful), and Neutron's refusals, nothing made."""
    cli = Cli(keystone)
    adm = "barecloud-admin"
    cli.json(adm, "network", "create", "v6-net")
    subnets = {}
    for i, mode in enumerate(("slaac", "dhcpv6-stateless", "dhcpv6-stateful")):
        sub = cli.json(adm, "subnet", "create", "--network", "v6-net", "--ip-version", "6",
                       "--subnet-range", f"fd00:6{i}::/64", "--ipv6-ra-mode", mode,
                       "--ipv6-address-mode", mode, f"v6-{mode}")
        assert (sub["ipv6_ra_mode"], sub["ipv6_address_mode"]) == (mode, mode)
        assert sub["gateway_ip"] == f"fd00:6{i}::1"
        subnets[sub["id"]] = mode
    port = cli.json(adm, "port", "create", "--network", "v6-net", "--mac-address",
                    "fa:16:3e:12:34:56", "v6-port")
    got = {subnets[f["subnet_id"]]: f["ip_address"] for f in port["fixed_ips"]}
    assert got == {"slaac": "fd00:60::f816:3eff:fe12:3456",
                   "dhcpv6-stateless": "fd00:61::f816:3eff:fe12:3456",
                   "dhcpv6-stateful": "fd00:62::2"}, got
    bad = [
        (("--ipv6-ra-mode", "slaac", "--ipv6-address-mode", "dhcpv6-stateful"),
         "fd00:70::/64", "must be the same value"),
        (("--ipv6-ra-mode", "slaac", "--ipv6-address-mode", "slaac"), "fd00:71::/80",
         "requires the prefix to be /64"),
        (("--ipv6-address-mode", "slaac", "--no-dhcp"), "fd00:72::/64",
         "cannot be set when enable_dhcp is set to False"),
        (("--ipv6-ra-mode", "bogus"), "fd00:73::/64", "invalid choice"),  # the CLI's own
    ]
    for args, cidr, words in bad:
        out = cli.run(adm, "subnet", "create", "--network", "v6-net", "--ip-version", "6",
                      "--subnet-range", cidr, *args, "v6-bad", ok=False)
        assert words in out.stderr, (args, out.stderr)
    v4 = cli.run(adm, "subnet", "create", "--network", "v6-net", "--subnet-range",
                 "10.77.0.0/24", "--ipv6-ra-mode", "slaac", "v4-bad", ok=False)
    assert "cannot be set when ip_version is 4" in v4.stderr, v4.stderr
    assert "v6-bad" not in {s["Name"] for s in cli.json(adm, "subnet", "list")}
    # A SLAAC subnet goes with the port's address on it (Neutron); a stateful one not.
    cli.run(adm, "subnet", "delete", "v6-slaac")
    left = cli.json(adm, "port", "show", "v6-port")["fixed_ips"]
    assert [subnets[f["subnet_id"]] for f in left] == ["dhcpv6-stateless", "dhcpv6-stateful"]
    refused = cli.run(adm, "subnet", "delete", "v6-dhcpv6-stateful", ok=False)
    assert "One or more ports have an IP allocation from this subnet" in refused.stderr, \
        refused.stderr
    cli.run(adm, "port", "delete", "v6-port")
