"""The L3 agent's nftables script: IPv4 NATed, IPv6 routed (no NAT), never a transit
between outsiders in either family."""

from __future__ import annotations

from barecloud.drivers.switches.base import Segment
from barecloud.services.network.l3 import Leg, RouterSpec, ruleset
from barecloud.services.network.radvd import Advert

SEG = Segment("vlan", 101, "physnet1")


def _spec(snat: bool = True) -> RouterSpec:
    gateway = Leg("g", "qg-g", "fa:16:3e:00:00:01", ("203.0.113.10/24", "2001:db8:ff::2/64"),
                  SEG)
    inside = Leg("i", "qr-i", "fa:16:3e:00:00:02", ("10.0.0.1/24", "2001:db8:1::1/64"), SEG)
    return RouterSpec("r", gateway, "203.0.113.1", snat, (inside,), (), "2001:db8:ff::1",
                      (Advert("qr-i", (("2001:db8:1::/64", "slaac"),)),))


def _table(text: str, family: str) -> str:
    return text.split(f"table {family} barecloud {{\n", 1)[1].split("\n}\n", 1)[0]


def test_ipv6_is_routed_without_nat() -> None:
    text = ruleset(_spec())
    v4, v6 = _table(text, "ip"), _table(text, "ip6")
    assert "snat to 203.0.113.10" in v4 and "10.0.0.0/24" in v4
    assert "2001:db8" not in text  # no IPv6 address is translated or filtered by address
    assert "nat" not in v6 and 'iifname "qg-g" oifname "qg-g" drop' in v6
    # With SNAT, IPv4 from outside enters only through a DNAT; IPv6 enters (routed).
    assert 'iifname "qg-g" drop' in v4 and 'iifname "qg-g" drop' not in v6
    # Both tables are replaced whole, in one script.
    assert text.index("delete table ip barecloud") < text.index("delete table ip6 barecloud")


def test_spec_without_gateway_has_empty_tables() -> None:
    spec = RouterSpec("r", None, None, True, _spec().interfaces, ())
    assert "drop" not in ruleset(spec) and "table ip6 barecloud {" in ruleset(spec)
