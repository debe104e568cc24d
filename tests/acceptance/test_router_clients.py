"""The unmodified ``openstack`` CLI against routers and floating IPs (no lab: the API).

The admin makes an external network with a two-address pool; the demo
project makes a router with a gateway there and an interface on its subnet,
a port, and a floating IP associated, moved and released; then Neutron's
refusals as the CLI shows them: overlapping subnets on the router, the
exhausted pool, deleting a router with an interface.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests import support
from tests.acceptance.test_network_clients import Cli, cli_only


@pytest.fixture(scope="module")
def keystone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Service]:
    svc = support.start_service(tmp_path_factory.mktemp("routerclients") / "svc",
                                auth="keystone")
    try:
        yield svc
    finally:
        svc.stop()


@cli_only
def test_routers_and_floating_ips_with_the_cli(keystone: support.Service) -> None:
    cli = Cli(keystone)
    adm, demo = "barecloud-admin", "barecloud"
    ext = cli.json(adm, "network", "create", "--external", "ext-net")
    assert ext["router:external"] is True
    cli.json(adm, "subnet", "create", "--network", "ext-net", "--subnet-range",
             "192.0.2.0/24", "--no-dhcp", "--allocation-pool",
             "start=192.0.2.10,end=192.0.2.11", "ext-sub")
    cli.json(demo, "network", "create", "net-a")
    sub = cli.json(demo, "subnet", "create", "--network", "net-a", "--subnet-range",
                   "10.20.0.0/24", "sub-a")
    cli.json(demo, "network", "create", "net-b")
    cli.json(demo, "subnet", "create", "--network", "net-b", "--subnet-range",
             "10.20.0.128/25", "sub-b")
    router = cli.json(demo, "router", "create", "r1")
    assert router["status"] == "ACTIVE"
    cli.run(demo, "router", "set", "--external-gateway", "ext-net", "r1")
    cli.run(demo, "router", "add", "subnet", "r1", "sub-a")
    shown = cli.json(demo, "router", "show", "r1")
    gw = shown["external_gateway_info"]
    assert gw["network_id"] == ext["id"] and gw["enable_snat"] is True
    assert gw["external_fixed_ips"][0]["ip_address"] == "192.0.2.10"
    assert [r["Name"] for r in cli.json(demo, "router", "list")] == ["r1"]
    legs = cli.json(demo, "port", "list", "--router", "r1")
    assert [p["Fixed IP Addresses"][0]["ip_address"] for p in legs] == [sub["gateway_ip"]]

    p1 = cli.json(demo, "port", "create", "--network", "net-a", "p1")
    p2 = cli.json(demo, "port", "create", "--network", "net-a", "p2")
    fip = cli.json(demo, "floating", "ip", "create", "--port", "p1", "ext-net")
    assert fip["floating_ip_address"] == "192.0.2.11" and fip["port_id"] == p1["id"]
    assert fip["router_id"] == router["id"]
    cli.run(demo, "floating", "ip", "set", "--port", "p2", "192.0.2.11")
    moved = cli.json(demo, "floating", "ip", "show", "192.0.2.11")
    assert moved["port_id"] == p2["id"]
    assert moved["fixed_ip_address"] == p2["fixed_ips"][0]["ip_address"]
    cli.run(demo, "floating", "ip", "unset", "--port", "192.0.2.11")
    assert cli.json(demo, "floating", "ip", "show", "192.0.2.11")["port_id"] is None

    # Neutron's refusals, as the CLI shows them, and nothing changed.
    err = cli.run(demo, "router", "add", "subnet", "r1", "sub-b", ok=False).stderr
    assert "overlaps with cidr 10.20.0.0/24" in err, err
    err = cli.run(demo, "floating", "ip", "create", "ext-net", ok=False).stderr
    assert f"No more IP addresses available on network {ext['id']}" in err, err
    err = cli.run(demo, "router", "delete", "r1", ok=False).stderr
    assert "still has ports" in err or "Failed to delete router" in err, err
    assert len(cli.json(demo, "floating", "ip", "list")) == 1
    assert len(cli.json(demo, "port", "list", "--router", "r1")) == 1
    cli.run(demo, "router", "unset", "--external-gateway", "r1")

    # Taken down in order, the way a user would.
    cli.run(demo, "floating", "ip", "delete", "192.0.2.11")
    cli.run(demo, "router", "remove", "subnet", "r1", "sub-a")
    cli.run(demo, "router", "delete", "r1")
    assert cli.json(demo, "router", "list") == []
