"""The rule-to-nftables translation: the statements each rule becomes, the refusals,
and (as root) the script loaded by the kernel's nft in a namespace of the test's own."""

from __future__ import annotations

import subprocess

import pytest

from barecloud.hostagent.firewall import (
    FirewallError,
    PortRules,
    Rule,
    remove,
    render,
    rule_line,
    table_name,
    tables_of,
)
from tests.hostagent.conftest import NFT


@pytest.mark.parametrize(("rule", "line"), [
    (Rule("ingress", "IPv4", "tcp", 22, 22), "meta nfproto ipv4 tcp dport 22 accept"),
    (Rule("ingress", "IPv4", "6", 80, 90), "meta nfproto ipv4 tcp dport 80-90 accept"),
    (Rule("egress", "IPv6", "udp"), "meta nfproto ipv6 meta l4proto udp accept"),
    (Rule("egress", "IPv4"), "meta nfproto ipv4 accept"),
    (Rule("ingress", "IPv4", "icmp", 8, 0),
     "meta nfproto ipv4 icmp type 8 icmp code 0 accept"),
    (Rule("ingress", "IPv6", "icmp"), "meta nfproto ipv6 meta l4proto icmpv6 accept"),
    (Rule("ingress", "IPv6", "ipv6-icmp", 128), "meta nfproto ipv6 icmpv6 type 128 accept"),
    (Rule("ingress", "IPv4", "gre"), "meta nfproto ipv4 meta l4proto 47 accept"),
    (Rule("ingress", "IPv4", "112"), "meta nfproto ipv4 meta l4proto 112 accept"),
    (Rule("ingress", "IPv4", "tcp", 443, None, ("10.0.0.0/8",)),
     "meta nfproto ipv4 ip saddr 10.0.0.0/8 tcp dport 443-65535 accept"),
    (Rule("egress", "IPv4", "tcp", None, None, ("10.0.0.7/32", "10.0.0.5", "fd00::1")),
     "meta nfproto ipv4 ip daddr { 10.0.0.5, 10.0.0.7 } meta l4proto tcp accept"),
    (Rule("ingress", "IPv6", None, None, None, ("fd00::/64",)),
     "meta nfproto ipv6 ip6 saddr fd00::/64 accept"),
])
def test_rule_lines(rule: Rule, line: str) -> None:
    assert rule_line(rule) == line


def test_a_remote_group_without_members_matches_nothing() -> None:
    assert rule_line(Rule("ingress", "IPv4", "tcp", 22, 22, ())) is None
    assert rule_line(Rule("ingress", "IPv4", None, None, None, ("fd00::1",))) is None


@pytest.mark.parametrize("rule", [
    Rule("sideways"), Rule("ingress", "IPv5"), Rule("ingress", "IPv4", "tcpx"),
    Rule("ingress", "IPv4", "300"), Rule("ingress", "IPv4", "tcp", 90, 80),
    Rule("ingress", "IPv4", "tcp", 1, 70000),
    Rule("ingress", "IPv4", None, None, None, ("not-an-address",)),
])
def test_bad_rules_are_refused(rule: Rule) -> None:
    with pytest.raises(FirewallError):
        rule_line(rule)


def test_script_shape_stateful_and_stateless() -> None:
    rules = PortRules(mac="fa:16:3e:00:00:01", addresses=("10.0.0.5", "fd00::5"),
                      rules=(Rule("ingress", "IPv4", "tcp", 22, 22), Rule("egress", "IPv4")))
    script = render("eth1", 7, rules)
    name = table_name("eth1")
    assert f"table bridge {name} {{" in script and f"table inet {name} {{" in script
    assert 'iifname "eth1" meta mark set meta mark or 0x00070000' in script
    assert 'oifname "eth1" meta mark set meta mark or 0x00000007' in script
    assert 'iifname "eth1" ether saddr != fa:16:3e:00:00:01 drop' in script
    assert "ip saddr != { 0.0.0.0, 10.0.0.5 } drop" in script
    assert script.count("ct state established,related accept") == 2
    to_port = script.split("chain to_port {")[1]
    assert to_port.index("tcp dport 22 accept") < to_port.index("    drop")
    from_port = script.split("chain from_port {")[1].split("chain to_port")[0]
    assert "meta nfproto ipv4 accept" in from_port and "tcp dport 22" not in from_port
    stateless = render("eth1", 7, PortRules(mac="", rules=rules.rules, stateful=False))
    assert "ct state" not in stateless
    assert script.startswith(remove("eth1"))  # replaces the port's tables in one go
    with pytest.raises(FirewallError):
        render("eth1", 0, rules)
    with pytest.raises(FirewallError):
        render("bad name", 1, rules)


def test_port_rules_round_trip_as_json() -> None:
    rules = PortRules(mac="fa:16:3e:00:00:01", addresses=("10.0.0.5",), rules=(
        Rule("ingress", "IPv4", "tcp", 22, 22, ("10.0.0.0/8",)), Rule("egress", "IPv6")),
        stateful=False)
    assert PortRules.from_json(rules.to_json()) == rules
    with pytest.raises(FirewallError):
        PortRules.from_json({"rules": "everything"})




def test_the_kernel_takes_the_script_and_removes_it(netns: str) -> None:
    """nft loads what render writes (every kind of rule), twice (a replacement), and
    remove() takes it away; tables_of reads the listing."""
    rules = PortRules(mac="fa:16:3e:00:00:01", addresses=("10.0.0.5", "fd00::5"), rules=(
        Rule("ingress", "IPv4", "tcp", 22, 22, ("10.0.0.0/8",)),
        Rule("ingress", "IPv4", "udp", 53, 54), Rule("ingress", "IPv4", "icmp", 8, 0),
        Rule("ingress", "IPv6", "icmpv6", 128), Rule("ingress", "IPv4", "gre"),
        Rule("egress", "IPv4", None, None, None, ("10.1.0.1", "10.2.0.0/16")),
        Rule("egress", "IPv6")))

    def nft(script: str) -> None:
        done = subprocess.run(["ip", "netns", "exec", netns, NFT, "-f", "-"], input=script,
                              text=True, capture_output=True, check=False)
        assert done.returncode == 0, done.stderr

    def tables() -> set[str]:
        return tables_of(subprocess.run(["ip", "netns", "exec", netns, NFT, "list", "tables"],
                                        text=True, capture_output=True, check=True).stdout)

    nft(render("eth1", 3, rules))
    nft(render("eth1", 3, PortRules(mac="", rules=rules.rules[:1])))
    assert tables() == {table_name("eth1")}
    nft(remove("eth1"))
    nft(remove("eth1"))  # removing what is not there is fine
    assert tables() == set()
