"""Security groups as switch port ACLs: one port's rules to each vendor's ACL lines.

Switch ACLs are stateless, so a port's stateful rules are translated as
deployments of stateless ACLs do (docs/design/security-groups.md, "generic-ssh"):

- the port's **egress** rules become the **inbound** ACL (frames the switch
  receives from the machine), with the port's own addresses as source
  (anti-spoofing by address); its **ingress** rules the **outbound** ACL;
- the answers conntrack would let back are permitted by what answers look
  like: TCP ``established`` from the service port, UDP from the service port
  (or, for a rule with no port, to the client's ephemeral ports
  32768-65535), ICMP echo-reply, unreachable and time-exceeded (and IPv6's
  packet-too-big).  A stateless group's port gets no answer lines;
- DHCP, DHCPv6 and neighbour discovery are always allowed (client side out,
  server side in), as the nftables translation does;
- every ACL ends with an explicit deny; IPv4 and IPv6 each get their lists
  (Junos: one filter for both, with ARP allowed).

Text only: nothing here talks to a switch.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from barecloud.hostagent.firewall import PortRules, Rule, protocol_number

Direction = Literal["in", "out"]
Range = tuple[int, int]

TCP, UDP, ICMP, ICMPV6 = 6, 17, 1, 58
EPHEMERAL: Range = (32768, 65535)
# The ICMP answers a stateful group lets back (by family): echo-reply,
# unreachable, time-exceeded; for IPv6 also packet-too-big.
ICMP_ANSWERS = {4: (0, 3, 11), 6: (129, 1, 2, 3)}
ECHO = {4: (8, 0), 6: (128, 129)}  # request, reply


@dataclass(frozen=True)
class Entry:
    """One permit line, before a vendor's words: ``src``/``dst`` None is any."""

    family: int  # 4 | 6
    protocol: int | None  # None: any IP protocol
    src: str | None = None
    dst: str | None = None
    sport: Range | None = None
    dport: Range | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    established: bool = False


@dataclass(frozen=True)
class _Match:
    """A rule's match, with sides named for the machine: ``local`` is the port's."""

    family: int
    protocol: int | None
    remote: str | None
    local_ports: Range | None = None
    remote_ports: Range | None = None
    icmp_type: int | None = None
    icmp_code: int | None = None
    established: bool = False


def _family(ethertype: str) -> int:
    return 6 if ethertype == "IPv6" else 4


def _prefixes(rule: Rule, family: int) -> list[str | None]:
    """The remote prefixes of ``rule`` of its family ([None]: any; []: none)."""
    if rule.remote is None:
        return [None]
    out: set[str] = set()
    for prefix in rule.remote:
        net = ipaddress.ip_network(prefix, strict=False)
        if net.version == family:
            out.add(str(net))
    return [*sorted(out)]


def _ports(rule: Rule) -> Range | None:
    lo, hi = rule.port_range_min, rule.port_range_max
    if lo is None and hi is None:
        return None
    lo, hi = lo if lo is not None else 1, hi if hi is not None else 65535
    return None if (lo, hi) == (1, 65535) else (lo, hi)


def _forward(rule: Rule, remote: str | None, initiator: Literal["local", "remote"]
             ) -> list[_Match]:
    """What the rule itself allows: ``initiator`` sends to the other side's ports."""
    family, number = _family(rule.ethertype), protocol_number(rule.protocol)
    if number in (ICMP, ICMPV6):
        icmp = ICMP if family == 4 else ICMPV6
        return [_Match(family, icmp, remote, icmp_type=rule.port_range_min,
                       icmp_code=rule.port_range_max if rule.port_range_min is not None
                       else None)]
    ports = _ports(rule) if number in (TCP, UDP) else None
    if initiator == "local":  # egress: to the remote's service port
        return [_Match(family, number, remote, remote_ports=ports)]
    return [_Match(family, number, remote, local_ports=ports)]


def _icmp_answers(family: int, remote: str | None, icmp_type: int | None) -> list[_Match]:
    icmp = ICMP if family == 4 else ICMPV6
    if icmp_type is None:
        types: tuple[int, ...] = ICMP_ANSWERS[family]
    elif icmp_type == ECHO[family][0]:
        types = (ECHO[family][1],)
    else:
        return []  # another type's answer is not known: none
    return [_Match(family, icmp, remote, icmp_type=t) for t in types]


def _answers(rule: Rule, remote: str | None, initiator: Literal["local", "remote"]
             ) -> list[_Match]:
    """What conntrack would let back for the rule, as stateless matches.

    The service side is the one the initiator sends to; answers come from it.
    """
    family, number = _family(rule.ethertype), protocol_number(rule.protocol)
    ports = _ports(rule) if number in (TCP, UDP) else None

    def service(protocol: int, ports: Range | None, established: bool) -> _Match:
        # The service answers from its port to the initiator's (ephemeral) one.
        if initiator == "local":  # the remote serves
            return _Match(family, protocol, remote, remote_ports=ports,
                          established=established)
        return _Match(family, protocol, remote, local_ports=ports, established=established)

    def ephemeral_udp() -> _Match:
        if initiator == "local":  # answers to the machine's ephemeral ports
            return _Match(family, UDP, remote, local_ports=EPHEMERAL)
        return _Match(family, UDP, remote, remote_ports=EPHEMERAL)

    if number == TCP:
        return [service(TCP, ports, True)]
    if number == UDP:
        return [service(UDP, ports, False) if ports else ephemeral_udp()]
    if number in (ICMP, ICMPV6):
        return _icmp_answers(family, remote, rule.port_range_min)
    if number is None:
        return [service(TCP, None, True), ephemeral_udp(),
                *_icmp_answers(family, remote, None)]
    return []  # other protocols have no answer we can tell apart: none


def base_entries(direction: Direction) -> list[Entry]:
    """DHCP, DHCPv6 and neighbour discovery, whatever the groups say."""
    if direction == "in":  # from the machine: client side
        return [Entry(4, UDP, sport=(68, 68), dport=(67, 67)),
                Entry(6, UDP, sport=(546, 546), dport=(547, 547)),
                *(Entry(6, ICMPV6, icmp_type=t) for t in (133, 135, 136, 131, 143))]
    return [Entry(4, UDP, sport=(67, 67), dport=(68, 68)),
            Entry(6, UDP, sport=(547, 547), dport=(546, 546)),
            *(Entry(6, ICMPV6, icmp_type=t) for t in (134, 135, 136, 130))]


def _own(rules: PortRules, family: int) -> list[str]:
    return sorted({str(ipaddress.ip_interface(a).ip) for a in rules.addresses
                   if ipaddress.ip_interface(a).version == family})


def entries(rules: PortRules, direction: Direction) -> list[Entry]:
    """The permit entries of the port's ``direction`` ACL (``in``: from the machine),
    base lines first, in a stable order, without duplicates (the deny is the vendor's)."""
    matches: list[_Match] = []
    for rule in rules.rules:
        if rule.direction not in ("ingress", "egress"):
            raise ValueError(f"direction {rule.direction!r} is not ingress or egress")
        initiator: Literal["local", "remote"] = \
            "local" if rule.direction == "egress" else "remote"
        for remote in _prefixes(rule, _family(rule.ethertype)):
            forward = _forward(rule, remote, initiator)
            back = _answers(rule, remote, initiator) if rules.stateful else []
            # A rule's own matches go the initiator's way, its answers the other.
            if (initiator == "local") == (direction == "in"):
                matches += forward
            else:
                matches += back
    out = base_entries(direction)
    for m in matches:
        if direction == "in":  # from the machine: from each of its own addresses
            for own in _own(rules, m.family):
                host = f"{own}/{32 if m.family == 4 else 128}"
                out.append(Entry(m.family, m.protocol, host, m.remote, m.local_ports,
                                 m.remote_ports, m.icmp_type, m.icmp_code, m.established))
        else:
            out.append(Entry(m.family, m.protocol, m.remote, None, m.remote_ports,
                             m.local_ports, m.icmp_type, m.icmp_code, m.established))
    return list(dict.fromkeys(out))


# --- names ---------------------------------------------------------------------------

_SAFE = re.compile(r"[^A-Za-z0-9]")


def acl_name(port: str, direction: Direction, family: int = 4) -> str:
    """``bc-``/``bc6-``, the port made a name, a short hash (unique), the direction."""
    digest = hashlib.sha256(port.encode()).hexdigest()[:6]
    return f"bc{'6' if family == 6 else ''}-{_SAFE.sub('_', port)}-{digest}-{direction}"


# --- Cisco IOS and Arista EOS --------------------------------------------------------

def _proto_word(entry: Entry, eos: bool) -> str:
    if entry.protocol is None:
        return "ip" if entry.family == 4 else "ipv6"
    if entry.protocol == TCP:
        return "tcp"
    if entry.protocol == UDP:
        return "udp"
    if entry.protocol in (ICMP, ICMPV6):
        return "icmpv6" if eos and entry.family == 6 else "icmp"
    return str(entry.protocol)


def _address(prefix: str | None, eos: bool) -> str:
    if prefix is None:
        return "any"
    net = ipaddress.ip_network(prefix, strict=False)
    if net.num_addresses == 1:
        return f"host {net.network_address}"
    if net.version == 6 or eos:
        return str(net)
    return f"{net.network_address} {net.hostmask}"  # IOS: a wildcard mask


def _port_match(ports: Range | None) -> list[str]:
    if ports is None:
        return []
    lo, hi = ports
    return ["eq", str(lo)] if lo == hi else ["range", str(lo), str(hi)]


def ios_line(entry: Entry, eos: bool = False) -> str:
    """One entry as an IOS (or EOS) extended ACL line."""
    words = ["permit", _proto_word(entry, eos), _address(entry.src, eos),
             *_port_match(entry.sport), _address(entry.dst, eos), *_port_match(entry.dport)]
    if entry.icmp_type is not None:
        words.append(str(entry.icmp_type))
        if entry.icmp_code is not None:
            words.append(str(entry.icmp_code))
    if entry.established:
        words.append("established")
    return " ".join(words)


def ios_acl(name: str, family: int, items: Iterable[Entry], eos: bool) -> list[str]:
    """The lines that (re)write ACL ``name`` of ``family`` with ``items`` and a deny."""
    if family == 4:
        head = f"ip access-list {name}" if eos else f"ip access-list extended {name}"
        remove = f"no ip access-list {name}" if eos else f"no ip access-list extended {name}"
        deny = "deny ip any any"
    else:
        head, remove, deny = f"ipv6 access-list {name}", f"no ipv6 access-list {name}", \
            "deny ipv6 any any"
    return [remove, head, *(ios_line(e, eos) for e in items if e.family == family), deny,
            "exit"]


def ios_groups(family: int, direction: Direction, name: str, eos: bool) -> str:
    """The interface line that applies an ACL (IOS IPv6: ``traffic-filter``)."""
    if family == 4:
        return f"ip access-group {name} {direction}"
    word = "access-group" if eos else "traffic-filter"
    return f"ipv6 {word} {name} {direction}"


# --- Junos ---------------------------------------------------------------------------

def _junos_from(entry: Entry) -> list[str]:
    v6 = entry.family == 6
    words: list[str] = []
    if entry.src is not None:
        words += ["ip6-source-address" if v6 else "ip-source-address", entry.src]
    if entry.dst is not None:
        words += ["ip6-destination-address" if v6 else "ip-destination-address", entry.dst]
    if entry.protocol is None:
        words += ["ether-type", "ipv6" if v6 else "ipv4"]
    else:
        name = {TCP: "tcp", UDP: "udp", ICMP: "icmp", ICMPV6: "icmp6"}.get(
            entry.protocol, str(entry.protocol))
        words += ["next-header" if v6 else "ip-protocol", name]
    for key, ports in (("source-port", entry.sport), ("destination-port", entry.dport)):
        if ports is not None:
            words += [key, str(ports[0]) if ports[0] == ports[1] else f"{ports[0]}-{ports[1]}"]
    if entry.icmp_type is not None:
        words += ["icmp-type", str(entry.icmp_type)]
        if entry.icmp_code is not None:
            words += ["icmp-code", str(entry.icmp_code)]
    if entry.established:
        words.append("tcp-established")
    return words


def junos_filter(name: str, items: Iterable[Entry]) -> list[str]:
    """The lines that (re)write ethernet-switching filter ``name``: ARP, the entries
    (one term each), and a final discard."""
    base = f"firewall family ethernet-switching filter {name}"
    lines = [f"delete {base}", f"set {base} term arp from ether-type arp",
             f"set {base} term arp then accept"]
    for i, entry in enumerate(items, start=1):
        lines += [f"set {base} term t{i} from {' '.join(_junos_from(entry))}",
                  f"set {base} term t{i} then accept"]
    return [*lines, f"set {base} term deny then discard"]


# --- a port's whole block ------------------------------------------------------------

def filter_lines(device_type: str, port: str, rules: PortRules,
                 directions: tuple[Direction, ...]) -> list[str]:
    """The configuration lines that make ``port`` filtered by ``rules`` (replacing
    the ACLs it had) in ``directions`` (``in``: frames from the machine)."""
    if device_type == "juniper_junos":
        lines: list[str] = []
        for d in directions:
            name = acl_name(port, d)
            lines += junos_filter(name, entries(rules, d))
            lines.append(f"set interfaces {port} unit 0 family ethernet-switching filter "
                         f"{'input' if d == 'in' else 'output'} {name}")
        return lines
    eos = device_type == "arista_eos"
    lines, apply = [], []
    for d in directions:
        items = entries(rules, d)
        for family in (4, 6):
            name = acl_name(port, d, family)
            lines += ios_acl(name, family, items, eos)
            apply.append(ios_groups(family, d, name, eos))
    return [*lines, f"interface {port}", *apply, "exit"]


def unfilter_lines(device_type: str, port: str,
                   directions: tuple[Direction, ...]) -> list[str]:
    """The lines that take ``port``'s ACLs off it and delete them (harmless when absent)."""
    if device_type == "juniper_junos":
        return [f"delete interfaces {port} unit 0 family ethernet-switching filter",
                *(f"delete firewall family ethernet-switching filter {acl_name(port, d)}"
                  for d in directions)]
    eos = device_type == "arista_eos"
    off = [f"no {ios_groups(f, d, acl_name(port, d, f), eos)}"
           for d in directions for f in (4, 6)]
    gone = [f"no ip access-list {'' if eos else 'extended '}{acl_name(port, d, 4)}"
            for d in directions]
    gone += [f"no ipv6 access-list {acl_name(port, d, 6)}" for d in directions]
    return [f"interface {port}", *off, "exit", *gone]
