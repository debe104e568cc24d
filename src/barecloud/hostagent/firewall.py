"""Security groups as nftables: one port's resolved rules to the script that enforces them.

The one translation, used where a port meets a Linux bridge: a VM's tap on
its hypervisor (the host agent) and a machine's switch port on the lab's
``linux-bridge`` switch (drivers/switches/linux_bridge.py).  It lives here,
in the package with the strictest imports (standard library only), so both
can use it.  docs/design/security-groups.md says why it is built this way.

The kernel here has no bridge-family conntrack (``nf_conntrack_bridge``),
but it has ``br_netfilter``: with ``net.bridge.bridge-nf-call-iptables`` on,
bridged IP packets also cross the ``inet`` family's hooks, where conntrack
works, but there the in/out interface is the bridge, not the port.  So each
filtered port gets two tables:

- ``bridge sg_<port>``: a forward chain (priority -300, before br_netfilter
  hands the packet to ``inet``) that marks a frame from the port with the
  port's number in the mark's high 16 bits and a frame to the port in the
  low 16 bits, and drops frames from the port with another MAC or a source
  address not the port's (anti-spoofing, as Neutron does);
- ``inet sg_<port>``: a forward chain that sends marked packets through the
  port's egress (from the port) or ingress (to the port) chain: conntrack's
  established/related first (stateful groups), DHCP, DHCPv6 and ICMPv6
  neighbour discovery, then the rules; anything else is dropped.

A packet from one filtered port to another crosses both ports' tables: both
must accept it.  The port's number is its interface index (unique in the
namespace), so no table needs another's.  A script replaces the port's
tables in one ``nft -f`` transaction: the old rules hold until the new ones do.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PROTOCOL_NAMES = {"tcp": 6, "udp": 17, "icmp": 1, "icmpv6": 58, "ipv6-icmp": 58,
                  "sctp": 132, "gre": 47, "esp": 50, "ah": 51, "igmp": 2,
                  "dccp": 33, "ipip": 4, "ospf": 89, "pgm": 113, "rsvp": 46,
                  "udplite": 136, "vrrp": 112, "egp": 8, "encap": 98,
                  "ipv6-encap": 41, "ipv6-frag": 44, "ipv6-nonxt": 59,
                  "ipv6-opts": 60, "ipv6-route": 43}
_PORTS = {6: "tcp", 17: "udp", 132: "sctp", 33: "dccp", 136: "udplite"}
MAX_MARK_ID = 0xFFFF
_SAFE = re.compile(r"[^A-Za-z0-9]")


class FirewallError(ValueError):
    """A rule or port this translation cannot carry out; the message says which."""


@dataclass(frozen=True)
class Rule:
    """One security-group rule with its remote group already resolved to addresses.

    ``remote`` None: any address; a tuple: those prefixes only (an empty tuple
    matches nothing: a remote group with no member).  ``protocol`` is a name
    or a number 0-255 as Neutron stores it, None for any; for ICMP the range
    is (type, code) as in Neutron.
    """

    direction: str  # ingress (to the port) | egress (from the port)
    ethertype: str = "IPv4"  # IPv4 | IPv6
    protocol: str | None = None
    port_range_min: int | None = None
    port_range_max: int | None = None
    remote: tuple[str, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"direction": self.direction, "ethertype": self.ethertype,
                "protocol": self.protocol, "port_range_min": self.port_range_min,
                "port_range_max": self.port_range_max,
                "remote": None if self.remote is None else list(self.remote)}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Rule:
        remote = data.get("remote")
        return cls(direction=str(data.get("direction")),
                   ethertype=str(data.get("ethertype") or "IPv4"),
                   protocol=None if data.get("protocol") in (None, "")
                   else str(data["protocol"]),
                   port_range_min=_opt_int(data.get("port_range_min")),
                   port_range_max=_opt_int(data.get("port_range_max")),
                   remote=None if remote is None else tuple(str(r) for r in remote))


@dataclass(frozen=True)
class PortRules:
    """What one port may send and receive: its identity (anti-spoofing) and its rules."""

    mac: str
    addresses: tuple[str, ...] = ()
    rules: tuple[Rule, ...] = ()
    stateful: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"mac": self.mac, "addresses": list(self.addresses),
                "rules": [r.to_json() for r in self.rules], "stateful": self.stateful}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PortRules:
        if not isinstance(data, Mapping):
            raise FirewallError(f"port rules must be an object, not {data!r}")
        rules = data.get("rules") or []
        if not isinstance(rules, list):
            raise FirewallError("rules must be a list")
        return cls(mac=str(data.get("mac") or "").lower(),
                   addresses=tuple(str(a) for a in data.get("addresses") or ()),
                   rules=tuple(Rule.from_json(r) for r in rules),
                   stateful=bool(data.get("stateful", True)))


def _opt_int(value: Any) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise FirewallError(f"{value!r} is not a port number")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise FirewallError(f"{value!r} is not a number") from None


def table_name(port: str) -> str:
    """``sg_`` and the port's name made an nftables identifier, unique by a short hash."""
    digest = hashlib.sha256(port.encode()).hexdigest()[:6]
    return f"sg_{_SAFE.sub('_', port)}_{digest}"


def protocol_number(protocol: str | None) -> int | None:
    if protocol is None or protocol.lower() == "any":
        return None
    if protocol.isdigit():
        number = int(protocol)
        if not 0 <= number <= 255:
            raise FirewallError(f"protocol {protocol} is not 0-255")
        return number
    try:
        return PROTOCOL_NAMES[protocol.lower()]
    except KeyError:
        raise FirewallError(f"protocol {protocol!r} is not known") from None


def _family(ethertype: str) -> str:
    if ethertype == "IPv4":
        return "ip"
    if ethertype == "IPv6":
        return "ip6"
    raise FirewallError(f"ethertype {ethertype!r} is not IPv4 or IPv6")


def _set(items: Iterable[str]) -> str:
    values = list(items)
    return values[0] if len(values) == 1 else "{ " + ", ".join(values) + " }"


def _remote(rule: Rule, family: str) -> str | None:
    """The address match of ``rule`` ('' for any); None: the rule matches nothing."""
    if rule.remote is None:
        return ""
    version = 4 if family == "ip" else 6
    nets = []
    for prefix in rule.remote:
        try:
            net = ipaddress.ip_network(prefix, strict=False)
        except ValueError:
            raise FirewallError(f"{prefix!r} is not an address or prefix") from None
        if net.version == version:
            nets.append(str(net.network_address) if net.num_addresses == 1 else str(net))
    if not nets:
        return None
    side = "saddr" if rule.direction == "ingress" else "daddr"
    return f"{family} {side} {_set(sorted(set(nets)))} "


def rule_line(rule: Rule) -> str | None:
    """One rule as an nftables statement (None: it can match nothing)."""
    if rule.direction not in ("ingress", "egress"):
        raise FirewallError(f"direction {rule.direction!r} is not ingress or egress")
    family = _family(rule.ethertype)
    remote = _remote(rule, family)
    if remote is None:
        return None
    number = protocol_number(rule.protocol)
    lo, hi = rule.port_range_min, rule.port_range_max
    head = f"meta nfproto {'ipv4' if family == 'ip' else 'ipv6'} {remote}"
    if number is None:
        return f"{head}accept"
    if number in _PORTS:
        name = _PORTS[number]
        if lo is None and hi is None:
            return f"{head}meta l4proto {name} accept"
        lo, hi = lo if lo is not None else 1, hi if hi is not None else 65535
        for value in (lo, hi):
            if not 0 <= value <= 65535:
                raise FirewallError(f"port {value} is not 0-65535")
        if lo > hi:
            raise FirewallError(f"port range {lo}-{hi} is backwards")
        ports = str(lo) if lo == hi else f"{lo}-{hi}"
        return f"{head}{name} dport {ports} accept"
    if number in (1, 58):
        # ICMP and ICMPv6 rules follow the ethertype, as Neutron's agents treat them.
        icmp = "icmp" if family == "ip" else "icmpv6"
        match = f"meta l4proto {icmp}"
        if lo is not None:
            match = f"{icmp} type {lo}"
            if hi is not None:
                match += f" {icmp} code {hi}"
        return f"{head}{match} accept"
    return f"{head}meta l4proto {number} accept"


# What every filtered port may do whatever its groups say: get an address and
# find its neighbours, as Neutron's firewall drivers allow.
_EGRESS_BASE = (
    "meta nfproto ipv4 udp sport 68 udp dport 67 accept",
    "meta nfproto ipv6 udp sport 546 udp dport 547 accept",
    "icmpv6 type { nd-router-solicit, nd-neighbor-solicit, nd-neighbor-advert, "
    "mld-listener-report, mld2-listener-report } accept",
    "meta nfproto ipv4 udp sport 67 udp dport 68 drop",  # no DHCP server on a port
    "meta nfproto ipv6 udp sport 547 udp dport 546 drop",
    "icmpv6 type nd-router-advert drop",  # nor a router advertising itself
)
_INGRESS_BASE = (
    "meta nfproto ipv4 udp sport 67 udp dport 68 accept",
    "meta nfproto ipv6 udp sport 547 udp dport 546 accept",
    "icmpv6 type { nd-router-advert, nd-neighbor-solicit, nd-neighbor-advert, "
    "mld-listener-query } accept",
)


def _quote(port: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_.:@-]{1,15}", port):
        raise FirewallError(f"{port!r} is not an interface name")
    return f'"{port}"'


def _spoof_lines(port: str, rules: PortRules) -> list[str]:
    """Frames from the port with another source than its own are dropped."""
    iif = f"iifname {_quote(port)}"
    lines = []
    if rules.mac:
        lines.append(f"{iif} ether saddr != {rules.mac} drop")
    v4 = sorted({str(ipaddress.ip_interface(a).ip) for a in rules.addresses
                 if ipaddress.ip_interface(a).version == 4} | {"0.0.0.0"})
    v6 = sorted({str(ipaddress.ip_interface(a).ip) for a in rules.addresses
                 if ipaddress.ip_interface(a).version == 6} | {"::"})
    lines.append(f"{iif} ether type ip ip saddr != {_set(v4)} drop")
    lines.append(f"{iif} ether type ip6 ip6 saddr != {_set(v6)} "
                 "ip6 saddr != fe80::/10 drop")
    return lines


def render(port: str, mark_id: int, rules: PortRules) -> str:
    """The ``nft -f`` script that makes ``port`` filtered by ``rules`` (replacing what
    was there).  ``mark_id`` is the port's number in its namespace (1..65535)."""
    if not 1 <= mark_id <= MAX_MARK_ID:
        raise FirewallError(f"port number {mark_id} is not 1..{MAX_MARK_ID}")
    name, q = table_name(port), _quote(port)
    egress = [line for r in rules.rules if r.direction == "egress"
              for line in [rule_line(r)] if line]
    ingress = [line for r in rules.rules if r.direction == "ingress"
               for line in [rule_line(r)] if line]
    for r in rules.rules:  # a bad rule is refused even if it matched nothing
        if r.direction not in ("ingress", "egress"):
            raise FirewallError(f"direction {r.direction!r} is not ingress or egress")
    state = ("ct state established,related accept", "ct state invalid drop") \
        if rules.stateful else ()
    out = [
        *remove(port).splitlines(),
        f"table bridge {name} {{",
        "  chain port_marks {",
        "    type filter hook forward priority -300; policy accept;",
        *(f"    {line}" for line in _spoof_lines(port, rules)),
        f"    iifname {q} meta mark set meta mark or 0x{mark_id << 16:08x}",
        f"    oifname {q} meta mark set meta mark or 0x{mark_id:08x}",
        "  }",
        "}",
        f"table inet {name} {{",
        "  chain port_filter {",
        "    type filter hook forward priority 0; policy accept;",
        f"    meta mark and 0xffff0000 == 0x{mark_id << 16:08x} jump from_port",
        f"    meta mark and 0x0000ffff == 0x{mark_id:08x} jump to_port",
        "  }",
        "  chain from_port {",
        *(f"    {line}" for line in (*state, *_EGRESS_BASE, *egress)),
        "    drop",
        "  }",
        "  chain to_port {",
        *(f"    {line}" for line in (*state, *_INGRESS_BASE, *ingress)),
        "    drop",
        "  }",
        "}",
    ]
    return "\n".join(out) + "\n"


def remove(port: str) -> str:
    """The script that takes ``port``'s tables away (and does nothing if there are none):
    declaring a table before deleting it makes the delete safe."""
    name = table_name(port)
    return (f"table bridge {name} {{}}\ndelete table bridge {name}\n"
            f"table inet {name} {{}}\ndelete table inet {name}\n")


def tables_of(listing: str) -> set[str]:
    """The ``sg_`` table names in ``nft list tables`` output."""
    found = set()
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[0] == "table" and parts[2].startswith("sg_"):
            found.add(parts[2])
    return found
