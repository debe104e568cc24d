"""The DHCPv6 codec: DUIDs, bytes built by hand from RFC 8415's layout, round trips,
a REPLY a real dnsmasq sent, and malformed input.

(The exchange with a live dnsmasq: tests/lab/test_dhcp6.py.)
"""

from __future__ import annotations

import pytest

from barecloud.wire import dhcpv6
from barecloud.wire.dhcpv6 import IaAddress, IaNa, Message, Status

MAC = "52:54:00:12:34:56"
DUID = bytes.fromhex("00030001525400123456")

# A REPLY of dnsmasq 2.90 to our REQUEST for a dhcpv6-stateful subnet (the lines
# services/network/dhcp.py writes: `dhcp-range=...,static,64,86400s`, `enable-ra`,
# a `dhcp-host` with `[2001:db8:20::5]`, an option6:dns-server), captured on a
# veth pair between two namespaces with `python -m barecloud.lab.dhcp6 lease`.
DNSMASQ_REPLY = bytes.fromhex(
    "07a454eb"
    "0001000a00030001525400123456"  # CLIENTID: our DUID-LL
    "0002000e0001000132a95f188e475f8bab63"  # SERVERID: dnsmasq's DUID-LLT
    "00030028001234560000a8c000012750"  # IA_NA: IAID, T1 43200, T2 75600
    "0005001820010db800200000000000000000000500015180""00015180"  # IAADDR, 1 day
    "000d0009000073756363657373"  # STATUS_CODE 0 "success", at the top level
    "0017001020010db8002000000000000000000053"  # DNS_SERVERS
    "002700050103766d31"  # CLIENT_FQDN "vm1", not read: kept as it came
)


def test_duid_ll_is_the_mac_behind_type_3_and_ethernet() -> None:
    assert dhcpv6.duid_ll(MAC) == DUID
    assert dhcpv6.duid_mac(DUID) == MAC
    # DUID-LLT: a time between the hardware type and the address.
    assert dhcpv6.duid_mac(bytes.fromhex("0001000132a95f188e475f8bab63")) == "8e:47:5f:8b:ab:63"
    assert dhcpv6.duid_mac(bytes.fromhex("0002000000090102")) is None  # DUID-EN: no MAC
    with pytest.raises(ValueError, match="not a MAC"):
        dhcpv6.duid_ll("52:54:00")


def test_a_solicit_is_laid_out_as_rfc_8415_says() -> None:
    solicit = Message(dhcpv6.SOLICIT, 0xABCDEF, client_id=DUID, ia_na=(IaNa(0x123456),),
                      oro=(dhcpv6.OPT_DNS_SERVERS,), elapsed=150)
    assert dhcpv6.encode(solicit).hex() == (
        "01abcdef"
        "0001000a00030001525400123456"
        "0003000c001234560000000000000000"
        "000600020017"
        "0008000200" "96"
    )


def test_every_field_survives_a_round_trip() -> None:
    reply = Message(
        dhcpv6.REPLY, 7, client_id=DUID, server_id=b"\x00\x02server",
        ia_na=(IaNa(1, 100, 160, (IaAddress("2001:db8::5", 300, 600),
                                  IaAddress("2001:db8::6", 0, 0, Status(dhcpv6.NOT_ON_LINK)))),
               IaNa(2, status=Status(dhcpv6.NO_ADDRS_AVAIL, "none for you"))),
        preference=255, status=Status(dhcpv6.SUCCESS, "ok"),
        dns_servers=("2001:db8::53", "2001:db8::54"), other=((39, b"\x01\x03vm1"), (24, b"")))
    data = dhcpv6.encode(reply)
    assert dhcpv6.decode(data) == reply
    assert dhcpv6.encode(dhcpv6.decode(data)) == data


def test_a_reply_dnsmasq_sent() -> None:
    reply = dhcpv6.decode(DNSMASQ_REPLY)
    assert (reply.type, reply.transaction_id) == (dhcpv6.REPLY, 0xA454EB)
    assert reply.client_id == DUID
    assert reply.server_id is not None and dhcpv6.duid_mac(reply.server_id) == (
        "8e:47:5f:8b:ab:63")
    assert reply.ia_na == (IaNa(0x123456, 43200, 75600,
                                (IaAddress("2001:db8:20::5", 86400, 86400),)),)
    assert reply.status == Status(dhcpv6.SUCCESS, "success")
    assert reply.dns_servers == ("2001:db8:20::53",)
    assert reply.other == ((39, b"\x01\x03vm1"),)
    assert dhcpv6.decode(dhcpv6.encode(reply)) == reply


@pytest.mark.parametrize(("data", "error"), [
    ("07a454", "shorter than a DHCPv6 header"),
    ("0c000000", "not a client/server message"),  # RELAY-FORW
    ("07000001000100", "option header cut short"),
    ("0700000100010005aabb", "longer than the message"),
    ("0700000100060003001700", "ORO of an odd length"),
    ("07000001000300080000000100000002", "IA_NA option cut short"),
    ("070000010003001400000001000000000000000000050004aabbccdd", "IAADDR option cut short"),
    ("070000010017000400000000", "not a list of addresses"),
    ("07000001000d0001aa", "status code option cut short"),
])
def test_malformed_messages_are_refused_whole(data: str, error: str) -> None:
    with pytest.raises(dhcpv6.Dhcpv6Error, match=error):
        dhcpv6.decode(bytes.fromhex(data))


def test_what_cannot_be_encoded_is_refused() -> None:
    with pytest.raises(dhcpv6.Dhcpv6Error, match="transaction id"):
        dhcpv6.encode(Message(dhcpv6.SOLICIT, 1 << 24))
    with pytest.raises(dhcpv6.Dhcpv6Error, match="longer than 65535"):
        dhcpv6.encode(Message(dhcpv6.SOLICIT, 1, other=((99, bytes(70000)),)))
