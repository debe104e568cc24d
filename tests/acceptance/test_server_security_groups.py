"""Security groups through the Compute API with the unmodified ``openstack`` CLI: a
real service, a real host agent (its fake driver records what it would load into
nftables), ``server create --security-group``, ``server add/remove security group``,
Nova's errors, and a rule change reaching the host's desired list."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import support
from tests.acceptance import vm_hosts
from tests.acceptance.openstack_cli import Cli
from tests.api.compute.nova import Nova, fault


@pytest.fixture
def host(service: support.Service, tmp_path: Path) -> Iterator[tuple[dict[str, Any], str]]:
    made, credential = vm_hosts.enrol(service)
    with vm_hosts.host_agent(service.url, tmp_path, credential, "--driver", "fake",
                             "--fake-vcpus", "4", "--fake-memory-mb", "8192",
                             "--fake-disk-gb", "40"):
        yield made, credential


def _groups(cli: Cli, server: str) -> list[str]:
    shown = cli.json("server", "show", server)
    return sorted(g["name"] for g in shown.get("security_groups") or [])


def _nic(svc: support.Service, credential: str, server_id: str) -> tuple[int, dict[str, Any]]:
    """The host's generation and the server's NIC as its desired list shows them."""
    r = httpx.get(f"{svc.url}{vm_hosts.AGENT}/desired", params={"since": 0, "wait": 0},
                  headers={"Authorization": f"Bearer {credential}"}, timeout=30)
    assert r.status_code == 200, r.text
    [entry] = [v for v in r.json()["vms"] if v["uuid"] == server_id]
    [nic] = entry["nics"]
    return r.json()["generation"], nic


def _ports(rules: dict[str, Any]) -> set[int]:
    return {r["port_range_min"] for r in rules["rules"] if r["port_range_min"]}


@pytest.mark.slow
def test_server_security_groups_through_the_cli(
        service: support.Service, host: tuple[dict[str, Any], str], tmp_path: Path) -> None:
    cli = Cli(service)
    image = tmp_path / "tiny.raw"
    image.write_bytes(b"\0" * 65536)
    cli.run("image", "create", "--file", str(image), "--disk-format", "raw", "--public",
            "tiny")
    cli.run("flavor", "create", "--vcpus", "1", "--ram", "256", "--disk", "1", "vm.tiny")
    cli.run("network", "create", "sg-net")
    cli.run("subnet", "create", "--network", "sg-net", "--subnet-range", "10.60.0.0/24",
            "sg-sub")
    web = cli.json("security", "group", "create", "web")
    cli.run("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "8080",
            "web")

    server = cli.json("server", "create", "--flavor", "vm.tiny", "--image", "tiny",
                      "--network", "sg-net", "--security-group", "web", "--wait", "vm-sg")
    assert server["status"] == "ACTIVE"
    assert _groups(cli, "vm-sg") == ["web"]
    [port] = cli.json("port", "list", "--server", "vm-sg", "--long")
    assert port["Security Groups"] == [web["id"]]
    # The host's list carries the port's rules: its MAC and address, and TCP 8080 in.
    generation, nic = _nic(service, host[1], server["id"])
    rules = nic["firewall"]
    assert rules["mac"] == port["MAC Address"]
    assert rules["addresses"] == [port["Fixed IP Addresses"][0]["ip_address"]]
    assert _ports(rules) == {8080}

    # A rule added: the host's generation moves within seconds, the list has it.
    start = time.monotonic()
    cli.run("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "9090",
            "web")
    while (found := _nic(service, host[1], server["id"]))[0] == generation:
        assert time.monotonic() - start < 10, "the rule never reached the host's list"
        time.sleep(0.2)
    assert _ports(found[1]["firewall"]) == {8080, 9090}

    # add / remove change every port of the server; its view says so.
    cli.run("server", "add", "security", "group", "vm-sg", "default")
    assert _groups(cli, "vm-sg") == ["default", "web"]
    _check_novas_view(service, server["id"], web["id"])
    cli.run("server", "remove", "security", "group", "vm-sg", "web")
    assert _groups(cli, "vm-sg") == ["default"]
    [port] = cli.json("port", "list", "--server", "vm-sg", "--long")
    assert len(port["Security Groups"]) == 1 and port["Security Groups"] != [web["id"]]
    assert _ports(_nic(service, host[1], server["id"])[1]["firewall"]) == set()

    # Nova's errors, at the API (the CLI resolves names through Neutron first).
    nova = Nova(service)
    try:
        r = nova.request("POST", "/servers", json={"server": {
            "name": "nope", "imageRef": cli.json("image", "show", "tiny")["id"],
            "flavorRef": cli.json("flavor", "show", "vm.tiny")["id"],
            "networks": [{"uuid": cli.json("network", "show", "sg-net")["id"]}],
            "security_groups": [{"name": "nope"}]}})
        assert fault(r, 400) == "Security group nope not found."
        sid = server["id"]
        assert "not associated" in fault(nova.action(sid, {"removeSecurityGroup": {
            "name": "web"}}), 404)
        assert "is not found for project" in fault(nova.action(sid, {"addSecurityGroup": {
            "name": "nope"}}), 404)
        assert fault(nova.action(sid, {"addSecurityGroup": {}}), 400) == \
            "Security group not specified"
        assert fault(nova.action(sid, {"addSecurityGroup": {"name": " "}}), 400) == \
            "Security group name cannot be empty"
    finally:
        nova.close()
    refused = cli.run("server", "remove", "security", "group", "vm-sg", "web", ok=False)
    assert "not associated" in refused.stderr
    cli.run("server", "delete", "--wait", "vm-sg")


def _check_novas_view(service: support.Service, server_id: str, web_id: str) -> None:
    """``GET /servers/{id}/os-security-groups``: the groups in Nova's format (ingress
    rules only, ``ip_range`` or ``group``), sorted by (tenant_id, name), at 2.1 and at
    versions past 2.36 (where Nova ends only the /os-security-groups proxies)."""
    nova = Nova(service)
    try:
        for version in ("2.1", "2.36", "2.96"):
            groups = nova.ok("GET", f"/servers/{server_id}/os-security-groups",
                             version=version)["security_groups"]
            assert [g["name"] for g in groups] == ["default", "web"]
            default, web = groups
            assert web["id"] == web_id and web["description"] == "web"  # the CLI's default
            assert set(web) == {"id", "name", "description", "tenant_id", "rules"}
            assert default["tenant_id"] == web["tenant_id"]
            assert sorted((r["from_port"], r["to_port"]) for r in web["rules"]) == [
                (8080, 8080), (9090, 9090)]  # its two egress rules are not shown
            for r in web["rules"]:
                assert r["ip_protocol"] == "tcp" and r["parent_group_id"] == web_id
                assert r["ip_range"] == {"cidr": "0.0.0.0/0"} and r["group"] == {}
            # The default group admits its members: a remote group, no ports, per
            # ethertype (Nova shows no ethertype: two alike but for their ids).
            assert len(default["rules"]) == 2
            for r in default["rules"]:
                assert r["group"] == {"name": "default", "tenant_id": web["tenant_id"]}
                assert (r["ip_protocol"], r["from_port"], r["to_port"], r["ip_range"]) == (
                    None, None, None, {})
        missing = nova.request("GET", "/servers/00000000-0000-0000-0000-000000000000/"
                               "os-security-groups")
        assert "could not be found" in fault(missing, 404)
    finally:
        nova.close()
