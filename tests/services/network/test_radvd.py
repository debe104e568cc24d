"""A router's radvd.conf: the router advertised on each IPv6 leg with Neutron's flags,
and the prefixes as the network's dnsmasq advertises them."""

from __future__ import annotations

from barecloud.services.network.radvd import Advert, config


def _block(text: str, ifname: str) -> str:
    return text.split(f"interface {ifname}\n", 1)[1].split("\n};\n", 1)[0]


def test_each_mode_gets_neutrons_flags() -> None:
    text = config((
        Advert("qr-slaac", (("2001:db8:1::/64", "slaac"),)),
        Advert("qr-stateless", (("2001:db8:2::/64", "dhcpv6-stateless"),)),
        Advert("qr-stateful", (("2001:db8:3::/64", "dhcpv6-stateful"),)),
        Advert("qr-nomode", (("2001:db8:4::/64", None),)),
    ))
    slaac = _block(text, "qr-slaac")
    assert "AdvSendAdvert on;" in slaac and "MaxRtrAdvInterval 10;" in slaac
    # A default router: no AdvDefaultLifetime 0 (radvd's default is 3 x the interval).
    assert "AdvDefaultLifetime" not in text
    assert "prefix 2001:db8:1::/64" in slaac and "AdvAutonomous on;" in slaac
    assert "AdvManagedFlag" not in slaac and "AdvOtherConfigFlag" not in slaac
    stateless = _block(text, "qr-stateless")
    assert "AdvOtherConfigFlag on;" in stateless and "AdvManagedFlag" not in stateless
    assert "AdvAutonomous on;" in stateless
    stateful = _block(text, "qr-stateful")
    assert "AdvManagedFlag on;" in stateful and "AdvOtherConfigFlag on;" in stateful
    assert "AdvAutonomous off;" in stateful
    # No RA mode: the router still advertises itself, but no prefix.
    nomode = _block(text, "qr-nomode")
    assert "AdvSendAdvert on;" in nomode and "prefix" not in nomode


def test_prefixes_sharing_a_leg_share_its_advertisement() -> None:
    text = config((Advert("qr-both", (("2001:db8:1::/64", "slaac"),
                                      ("2001:db8:2::/64", "dhcpv6-stateful"))),))
    both = _block(text, "qr-both")
    assert text.count("interface ") == 1
    assert "prefix 2001:db8:1::/64" in both and "prefix 2001:db8:2::/64" in both
    assert "AdvManagedFlag on;" in both
