"""Security groups as port ACLs, per vendor: the exact lines, and how a stateless ACL
stands in for a stateful group (answers), a stateless group, remote groups and IPv6."""

from __future__ import annotations

from barecloud.drivers.switches.generic_ssh import acls
from barecloud.drivers.switches.generic_ssh.acls import Entry, entries, ios_line
from barecloud.hostagent.firewall import PortRules, Rule

PORT = "GigabitEthernet1/0/1"
SSH_IN = Rule("ingress", "IPv4", "tcp", 22, 22, ("192.0.2.0/24",))
DNS_OUT = Rule("egress", "IPv4", "udp", 53, 53, ("198.51.100.53",))


def _port(*rules: Rule, stateful: bool = True) -> PortRules:
    return PortRules("52:54:00:00:00:01", ("10.0.0.5/24", "2001:db8::5/64"), rules, stateful)


def _lines(rules: PortRules, direction: acls.Direction, family: int = 4,
           eos: bool = False) -> list[str]:
    """The permit lines past the base (DHCP, neighbour discovery) ones."""
    base = {ios_line(e, eos) for e in acls.base_entries(direction)}
    return [ios_line(e, eos) for e in entries(rules, direction)
            if e.family == family and ios_line(e, eos) not in base]


def test_ios_stateful_ingress_rule_and_its_answers() -> None:
    rules = _port(SSH_IN)
    # To the machine: the rule; from it: only the answers, from its own address.
    assert _lines(rules, "out") == ["permit tcp 192.0.2.0 0.0.0.255 any eq 22"]
    assert _lines(rules, "in") == [
        "permit tcp host 10.0.0.5 eq 22 192.0.2.0 0.0.0.255 established"]


def test_ios_stateful_egress_rules_and_their_answers() -> None:
    rules = _port(DNS_OUT, Rule("egress", "IPv4", "icmp", 8, None))
    assert _lines(rules, "in") == [
        "permit udp host 10.0.0.5 host 198.51.100.53 eq 53",
        "permit icmp host 10.0.0.5 any 8"]
    # DNS answers come from port 53; echo's answer is echo-reply.
    assert _lines(rules, "out") == ["permit udp host 198.51.100.53 eq 53 any",
                                    "permit icmp any any 0"]


def test_egress_to_anything_is_answered_by_tcp_established_udp_ephemeral_and_icmp() -> None:
    rules = _port(Rule("egress", "IPv4"))
    assert _lines(rules, "in") == ["permit ip host 10.0.0.5 any"]
    assert _lines(rules, "out") == [
        "permit tcp any any established", "permit udp any any range 32768 65535",
        "permit icmp any any 0", "permit icmp any any 3", "permit icmp any any 11"]


def test_a_stateless_group_gets_no_answers() -> None:
    rules = _port(SSH_IN, DNS_OUT, stateful=False)
    assert _lines(rules, "out") == ["permit tcp 192.0.2.0 0.0.0.255 any eq 22"]
    assert _lines(rules, "in") == ["permit udp host 10.0.0.5 host 198.51.100.53 eq 53"]


def test_remote_groups_are_their_members_addresses_and_empty_ones_nothing() -> None:
    members = Rule("ingress", "IPv4", None, None, None, ("10.0.0.7", "10.0.0.8", "2001:db8::9"))
    assert _lines(_port(members), "out") == ["permit ip host 10.0.0.7 any",
                                             "permit ip host 10.0.0.8 any"]
    nobody = Rule("ingress", "IPv4", "tcp", 80, 80, ())
    assert _lines(_port(nobody), "out") == [] and _lines(_port(nobody), "in") == []


def test_ipv6_lists() -> None:
    rules = _port(Rule("ingress", "IPv6", "tcp", 443, 443, ("2001:db8:1::/48",)),
                  Rule("ingress", "IPv6", "icmpv6", 128, None))
    assert _lines(rules, "out", 6) == ["permit tcp 2001:db8:1::/48 any eq 443",
                                       "permit icmp any any 128"]
    assert _lines(rules, "out", 6, eos=True)[1] == "permit icmpv6 any any 128"
    assert _lines(rules, "in", 6) == [
        "permit tcp host 2001:db8::5 eq 443 2001:db8:1::/48 established",
        "permit icmp host 2001:db8::5 any 129"]
    # A port without an address of the family sends nothing of it but the base lines.
    v4_only = PortRules("52:54:00:00:00:01", ("10.0.0.5/24",),
                        (Rule("egress", "IPv6"),))
    assert _lines(v4_only, "in", 6) == []


def test_other_protocols_port_ranges_and_icmp_codes() -> None:
    rules = _port(Rule("ingress", "IPv4", "gre"), Rule("ingress", "IPv4", "udp", 5000, 5010),
                  Rule("ingress", "IPv4", "icmp", 3, 4))
    assert _lines(rules, "out") == ["permit 47 any any", "permit udp any any range 5000 5010",
                                    "permit icmp any any 3 4"]
    # GRE has no answer a stateless ACL can tell apart: none.
    assert _lines(rules, "in") == ["permit udp host 10.0.0.5 range 5000 5010 any"]


def test_ios_block_replaces_applies_and_ends_with_deny() -> None:
    lines = acls.filter_lines("cisco_ios", PORT, _port(SSH_IN), ("in", "out"))
    v4_in, v4_out = acls.acl_name(PORT, "in"), acls.acl_name(PORT, "out")
    v6_in, v6_out = acls.acl_name(PORT, "in", 6), acls.acl_name(PORT, "out", 6)
    assert v4_in.startswith("bc-GigabitEthernet1_0_1-") and v6_in.startswith("bc6-")
    assert lines[:3] == [f"no ip access-list extended {v4_in}",
                         f"ip access-list extended {v4_in}", "permit udp any eq 68 any eq 67"]
    assert lines[-6:] == [f"interface {PORT}", f"ip access-group {v4_in} in",
                          f"ipv6 traffic-filter {v6_in} in", f"ip access-group {v4_out} out",
                          f"ipv6 traffic-filter {v6_out} out", "exit"]
    assert lines.count("deny ip any any") == 2 and lines.count("deny ipv6 any any") == 2
    assert acls.unfilter_lines("cisco_ios", PORT, ("in",)) == [
        f"interface {PORT}", f"no ip access-group {v4_in} in",
        f"no ipv6 traffic-filter {v6_in} in", "exit",
        f"no ip access-list extended {v4_in}", f"no ipv6 access-list {v6_in}"]


def test_eos_block_uses_prefixes_and_access_group() -> None:
    lines = acls.filter_lines("arista_eos", "Ethernet1", _port(SSH_IN), ("out",))
    name, name6 = acls.acl_name("Ethernet1", "out"), acls.acl_name("Ethernet1", "out", 6)
    assert f"ip access-list {name}" in lines and f"no ip access-list {name}" in lines
    assert "permit tcp 192.0.2.0/24 any eq 22" in lines
    assert lines[-3:] == [f"ip access-group {name} out", f"ipv6 access-group {name6} out",
                          "exit"]


def test_junos_filter_terms() -> None:
    lines = acls.filter_lines("juniper_junos", "ge-0/0/1", _port(SSH_IN), ("in",))
    name = acls.acl_name("ge-0/0/1", "in")
    base = f"firewall family ethernet-switching filter {name}"
    assert lines[:3] == [f"delete {base}", f"set {base} term arp from ether-type arp",
                         f"set {base} term arp then accept"]
    assert (f"set {base} term t8 from ip-source-address 10.0.0.5/32 ip-destination-address "
            "192.0.2.0/24 ip-protocol tcp source-port 22 tcp-established") in lines
    assert lines[-2:] == [f"set {base} term deny then discard",
                          f"set interfaces ge-0/0/1 unit 0 family ethernet-switching filter "
                          f"input {name}"]
    assert acls.unfilter_lines("juniper_junos", "ge-0/0/1", ("in",)) == [
        "delete interfaces ge-0/0/1 unit 0 family ethernet-switching filter",
        f"delete {base}"]


def test_entries_have_no_duplicates() -> None:
    twice = _port(SSH_IN, Rule("ingress", "IPv4", "tcp", 22, 22, ("192.0.2.0/24",)))
    assert entries(twice, "out").count(Entry(4, 6, "192.0.2.0/24", dport=(22, 22))) == 1
