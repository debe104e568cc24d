"""Security groups with the unmodified ``openstack`` CLI: groups, rules, the default
group, ports in groups, the operator's shared firewall profiles, and Neutron's
answers to bad input (nothing changed by a refusal)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests import support
from tests.acceptance.test_network_clients import Cli, cli_only


@pytest.fixture(scope="module")
def keystone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Service]:
    svc = support.start_service(tmp_path_factory.mktemp("sgclients") / "svc",
                                auth="keystone")
    try:
        yield svc
    finally:
        svc.stop()


ADM, DEMO = "barecloud-admin", "barecloud"


def _rules(cli: Cli, cloud: str, group: str) -> list[dict[str, object]]:
    return list(cli.json(cloud, "security", "group", "rule", "list", "--long", group))


@cli_only
def test_groups_rules_and_ports(keystone: support.Service) -> None:
    cli = Cli(keystone)
    # Every project has its default group on first sight, with Neutron's four rules.
    groups = cli.json(DEMO, "security", "group", "list")
    assert [g["Name"] for g in groups] == ["default"]
    default = cli.json(DEMO, "security", "group", "show", groups[0]["ID"])
    rules = default["rules"]
    assert len(rules) == 4
    ingress = [r for r in rules if r["direction"] == "ingress"]
    assert {r["ethertype"] for r in ingress} == {"IPv4", "IPv6"}
    assert all(r["remote_group_id"] == default["id"] for r in ingress)

    web = cli.json(DEMO, "security", "group", "create", "--description", "web tier", "web")
    assert web["stateful"] is True and len(web["rules"]) == 2  # the two egress rules
    ssh = cli.json(DEMO, "security", "group", "rule", "create", "--protocol", "tcp",
                   "--dst-port", "22", "--remote-ip", "10.0.0.0/8", "web")
    assert (ssh["port_range_min"], ssh["port_range_max"]) == (22, 22)
    assert ssh["remote_ip_prefix"] == "10.0.0.0/8" and ssh["direction"] == "ingress"
    http = cli.json(DEMO, "security", "group", "rule", "create", "--protocol", "tcp",
                    "--dst-port", "80:81", "--remote-group", "default", "web")
    assert http["remote_group_id"] == default["id"]
    ping = cli.json(DEMO, "security", "group", "rule", "create", "--protocol", "icmp",
                    "--icmp-type", "8", "--icmp-code", "0", "web")
    assert (ping["protocol"], ping["port_range_min"], ping["port_range_max"]) == \
        ("icmp", 8, 0)
    v6 = cli.json(DEMO, "security", "group", "rule", "create", "--ethertype", "IPv6",
                  "--protocol", "ipv6-icmp", "web")
    assert v6.get("ethertype", v6.get("ether_type")) == "IPv6"
    numbered = cli.json(DEMO, "security", "group", "rule", "create", "--protocol", "47",
                        "web")
    assert numbered["protocol"] == "47"
    assert len(_rules(cli, DEMO, "web")) == 7

    # Ports: the default group unless told; `port set --security-group` adds one.
    cli.run(DEMO, "network", "create", "sg-net")
    cli.run(DEMO, "subnet", "create", "--network", "sg-net", "--subnet-range",
            "10.30.0.0/24", "sg-sub")
    port = cli.json(DEMO, "port", "create", "--network", "sg-net", "p1")
    assert port["security_group_ids"] == [default["id"]]
    cli.run(DEMO, "port", "set", "--security-group", "web", "p1")
    assert set(cli.json(DEMO, "port", "show", "p1")["security_group_ids"]) == \
        {default["id"], web["id"]}
    listed = cli.json(DEMO, "port", "list", "--security-group", web["id"])  # ids only
    assert [p["Name"] for p in listed] == ["p1"]
    bare = cli.json(DEMO, "port", "create", "--network", "sg-net", "--no-security-group",
                    "p2")
    assert bare["security_group_ids"] == []
    refused = cli.run(DEMO, "port", "set", "--disable-port-security", "p1", ok=False)
    assert "Port has security group associated" in refused.stderr
    cli.run(DEMO, "port", "set", "--no-security-group", "--disable-port-security", "p1")
    assert cli.json(DEMO, "port", "show", "p1")["port_security_enabled"] is False
    cli.run(DEMO, "port", "set", "--enable-port-security", "--security-group", "web", "p1")

    # A group in use is not deleted; the default group is not deleted by its project.
    in_use = cli.run(DEMO, "security", "group", "delete", "web", ok=False)
    assert "in use" in in_use.stderr
    gone = cli.run(DEMO, "security", "group", "delete", default["id"], ok=False)
    assert "default security group" in gone.stderr
    cli.run(DEMO, "port", "delete", "p1", "p2")
    cli.run(DEMO, "security", "group", "rule", "delete", ssh["id"])
    assert len(_rules(cli, DEMO, "web")) == 6
    cli.run(DEMO, "security", "group", "set", "--name", "web2", "web")
    cli.run(DEMO, "security", "group", "delete", "web2")
    assert [g["Name"] for g in cli.json(DEMO, "security", "group", "list")] == ["default"]
    cli.run(DEMO, "network", "delete", "sg-net")


@cli_only
def test_firewall_profiles_are_shared_and_read_only(keystone: support.Service) -> None:
    cli = Cli(keystone)
    profile = cli.json(ADM, "security", "group", "create", "--description",
                       "SSH in, all out", "ssh-only")
    cli.run(ADM, "security", "group", "rule", "create", "--protocol", "tcp", "--dst-port",
            "22", "ssh-only")
    assert "ssh-only" not in {g["Name"] for g in cli.json(DEMO, "security", "group", "list")}
    rbac = cli.json(ADM, "network", "rbac", "create", "--type", "security_group",
                    "--action", "access_as_shared", "--target-all-projects",
                    profile["id"])
    assert rbac["object_type"] == "security_group"
    seen = cli.json(DEMO, "security", "group", "show", profile["id"])
    assert len(seen["rules"]) == 3
    shown = httpx.get(f"{keystone.url}/network/v2.0/security-groups/{profile['id']}",
                      headers={"X-Auth-Token": keystone.token("barecloud")}).json()
    assert shown["security_group"]["shared"] is True
    # demo applies it but cannot change it.
    cli.run(ADM, "network", "create", "--share", "prof-net")
    cli.run(ADM, "subnet", "create", "--network", "prof-net", "--subnet-range",
            "10.31.0.0/24", "prof-sub")
    port = cli.json(DEMO, "port", "create", "--network", "prof-net", "--security-group",
                    profile["id"], "pp")
    assert port["security_group_ids"] == [profile["id"]]
    for args in (("security", "group", "set", "--name", "mine", profile["id"]),
                 ("security", "group", "delete", profile["id"]),
                 ("security", "group", "rule", "create", "--protocol", "tcp",
                  "--dst-port", "80", profile["id"])):
        refused = cli.run(DEMO, *args, ok=False)
        assert "disallowed by policy" in refused.stderr or "403" in refused.stderr, \
            refused.stderr
    # Unsharing while demo's port is in it: in use.
    cli.run(ADM, "network", "rbac", "delete", rbac["id"], ok=False)
    cli.run(DEMO, "port", "delete", "pp")
    cli.run(ADM, "network", "rbac", "delete", rbac["id"])
    cli.run(DEMO, "security", "group", "show", profile["id"], ok=False)
    cli.run(ADM, "security", "group", "delete", "ssh-only")
    cli.run(ADM, "network", "delete", "prof-net")


BAD_RULES: list[tuple[dict[str, object], int, str, str]] = [
    ({"protocol": "tcpx"}, 400, "SecurityGroupRuleInvalidProtocol",
     "Security group rule protocol tcpx not supported"),
    ({"protocol": "256"}, 400, "SecurityGroupRuleInvalidProtocol", "not supported"),
    ({"protocol": "tcp", "port_range_min": 90, "port_range_max": 80}, 400,
     "SecurityGroupInvalidPortRange", "port_range_min must be <= port_range_max"),
    ({"protocol": "tcp", "port_range_min": 70000}, 400, "SecurityGroupInvalidPortValue",
     "Invalid value for port 70000"),
    ({"protocol": "tcp", "port_range_max": 6}, 400,
     "SecurityGroupInvalidPortRange", "port_range_min must be <= port_range_max"),
    ({"protocol": "udp", "port_range_min": 53}, 400,
     "SecurityGroupInvalidPortRange", "port_range_min must be <= port_range_max"),
    ({"protocol": "tcp", "port_range_min": -16, "port_range_max": 80}, 400,
     "SecurityGroupInvalidPortValue", "Invalid value for port -16"),
    ({"protocol": "tcp", "port_range_min": 0, "port_range_max": 10}, 400,
     "SecurityGroupInvalidPortValue", "Invalid value for port 0"),
    ({"port_range_min": 22, "port_range_max": 22}, 400,
     "SecurityGroupProtocolRequiredWithPorts", "Must also specify protocol"),
    ({"protocol": "icmp", "port_range_min": 300}, 400, "SecurityGroupInvalidIcmpValue",
     "It must be 0 to 255"),
    ({"protocol": "icmp", "port_range_max": 3}, 400, "SecurityGroupMissingIcmpType",
     "ICMP type (port-range-min) is missing"),
    ({"protocol": "gre", "port_range_min": 1, "port_range_max": 2}, 400,
     "SecurityGroupInvalidProtocolForPortRange", "Invalid protocol gre for port range"),
    ({"ethertype": "IPv4", "remote_ip_prefix": "fd00::/64"}, 400,
     "SecurityGroupRuleParameterConflict", "Conflicting value ethertype IPv4"),
    ({"remote_ip_prefix": "10.0.0.0/8", "remote_group_id": "{group}"}, 400,
     "SecurityGroupRemoteGroupAndRemoteIpPrefix", "Only remote_ip_prefix or"),
    ({"protocol": "icmpv6"}, 400, "SecurityGroupEthertypeConflictWithProtocol",
     "Invalid ethertype IPv4 for protocol icmpv6"),
    ({"direction": "sideways"}, 400, "HTTPBadRequest", "Invalid input for direction"),
    ({"ethertype": "IPv5"}, 400, "HTTPBadRequest", "Invalid input for ethertype"),
    ({"remote_group_id": "00000000-0000-0000-0000-000000000000"}, 404,
     "SecurityGroupNotFound", "does not exist"),
    ({"remote_group_id": "bad_group_id"}, 404, "SecurityGroupNotFound", "does not exist"),
    ({"direction": "egress"}, 409, "SecurityGroupRuleExists",
     "Security group rule already exists"),
]


def test_bad_rules_answer_as_neutron_and_change_nothing(keystone: support.Service) -> None:
    token = keystone.token("barecloud")
    with httpx.Client(base_url=f"{keystone.url}/network/v2.0",
                      headers={"X-Auth-Token": token}, timeout=60) as http:
        group = http.post("/security-groups", json={"security_group": {"name": "bad"}}
                          ).json()["security_group"]
        before = http.get("/security-group-rules").json()
        for extra, status, kind, words in BAD_RULES:
            body = {"security_group_id": group["id"], "direction": "ingress",
                    **{k: (group["id"] if v == "{group}" else v) for k, v in extra.items()}}
            r = http.post("/security-group-rules", json={"security_group_rule": body})
            assert r.status_code == status, (extra, r.status_code, r.text)
            error = r.json()["NeutronError"]
            assert error["type"] == kind and words in error["message"], (extra, error)
        assert http.get("/security-group-rules").json() == before
        # The default group: not deleted, not renamed; no second one.
        default = http.get("/security-groups", params={"name": "default"}
                           ).json()["security_groups"][0]
        r = http.delete(f"/security-groups/{default['id']}")
        assert r.status_code == 409 and r.json()["NeutronError"]["type"] == \
            "SecurityGroupCannotRemoveDefault"
        r = http.put(f"/security-groups/{default['id']}",
                     json={"security_group": {"name": "other"}})
        assert r.status_code == 409 and r.json()["NeutronError"]["type"] == \
            "SecurityGroupCannotUpdateDefault"
        r = http.post("/security-groups", json={"security_group": {"name": "default"}})
        assert r.status_code == 409 and r.json()["NeutronError"]["type"] == \
            "SecurityGroupDefaultAlreadyExists"
        r = http.get("/security-groups/00000000-0000-0000-0000-000000000000")
        assert r.status_code == 404 and r.json()["NeutronError"]["type"] == \
            "SecurityGroupNotFound"
        # Quotas: a group too many is Neutron's OverQuota.
        project = group["project_id"]
        admin = {"X-Auth-Token": keystone.token("barecloud-admin")}
        used = http.get(f"/quotas/{project}/details").json()["quota"]
        groups, rules = (used[k]["used"] for k in ("security_group", "security_group_rule"))
        assert http.put(f"/quotas/{project}", headers=admin, json={"quota": {
            "security_group": groups, "security_group_rule": rules}}).status_code == 200
        r = http.post("/security-groups", json={"security_group": {"name": "third"}})
        assert r.status_code == 409 and r.json()["NeutronError"]["type"] == "OverQuota"
        r = http.post("/security-group-rules", json={"security_group_rule": {
            "security_group_id": group["id"], "direction": "ingress", "protocol": "tcp"}})
        assert r.status_code == 409 and "security_group_rule" in r.text
        details = http.get(f"/quotas/{project}/details").json()["quota"]
        assert details["security_group"] == {"limit": groups, "used": groups, "reserved": 0}
        assert details["security_group_rule"]["used"] == rules
        http.delete(f"/quotas/{project}", headers=admin)
        assert http.delete(f"/security-groups/{group['id']}").status_code == 204
