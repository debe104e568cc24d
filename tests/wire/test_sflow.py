"""The sFlow v5 decoder on datagrams built byte by byte: IPv4, IPv6, VLAN tags,
ICMP, fragments, the expanded sample form, counter samples, and malformed input.

(Datagrams of a real Open vSwitch: tests/drivers/switches/test_openvswitch.py.)
"""

from __future__ import annotations

import ipaddress
import struct

import pytest

from barecloud.wire import sflow

A, B = bytes.fromhex("525400000001"), bytes.fromhex("525400000002")


def eth(ethertype: int, payload: bytes, vlan: int | None = None) -> bytes:
    tag = struct.pack("!HH", 0x8100, vlan) if vlan is not None else b""
    return B + A + tag + struct.pack("!H", ethertype) + payload


def ipv4(proto: int, l4: bytes, src: str = "10.0.0.1", dst: str = "10.0.0.2",
         fragment: int = 0) -> bytes:
    return struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(l4), 1, fragment, 64, proto, 0,
                       ipaddress.IPv4Address(src).packed,
                       ipaddress.IPv4Address(dst).packed) + l4


def ipv6(nxt: int, rest: bytes, src: str = "fd00::1", dst: str = "fd00::2") -> bytes:
    return struct.pack("!IHBB16s16s", 6 << 28, len(rest), nxt, 64,
                       ipaddress.IPv6Address(src).packed,
                       ipaddress.IPv6Address(dst).packed) + rest


def sample(frame: bytes, rate: int = 1000, inp: int = 3, outp: int = 4) -> bytes:
    return sflow.encode_flow_sample(sequence=1, source=inp, rate=rate, pool=rate * 7,
                                    inp=inp, outp=outp, frame=frame, frame_length=1514)


def test_tcp_over_ipv4_with_a_vlan_tag() -> None:
    frame = eth(0x0800, ipv4(6, struct.pack("!HHII", 40000, 5201, 0, 0)), vlan=100)
    data = sflow.encode_datagram("192.0.2.9", 7, 1234, [sample(frame)])
    dg = sflow.decode(data)
    assert (dg.agent, dg.sequence, dg.uptime_ms) == ("192.0.2.9", 7, 1234)
    [f] = dg.flows
    assert (f.sampling_rate, f.sample_pool, f.input, f.output, f.frame_length) == (
        1000, 7000, 3, 4, 1514)
    assert f.packet == sflow.Packet("52:54:00:00:00:01", "52:54:00:00:00:02", 100, 0x0800,
                                    "10.0.0.1", "10.0.0.2", 6, 40000, 5201)


def test_udp_over_ipv6_past_an_extension_header_and_icmp() -> None:
    hop_by_hop = bytes([17, 0]) + b"\0" * 6  # next: UDP, length 0 (8 bytes)
    frame = eth(0x86DD, ipv6(0, hop_by_hop + struct.pack("!HHHH", 547, 546, 8, 0)))
    icmp = eth(0x0800, ipv4(1, bytes([8, 0, 0, 0])))
    later = eth(0x0800, ipv4(17, struct.pack("!HH", 1, 2), fragment=100))
    dg = sflow.decode(sflow.encode_datagram("2001:db8::1", 1, 1,
                                            [sample(frame), sample(icmp), sample(later)]))
    assert dg.agent == "2001:db8::1"
    v6, ping, fragment = (f.packet for f in dg.flows)
    assert v6 is not None and ping is not None and fragment is not None
    assert (v6.src_ip, v6.dst_ip, v6.protocol, v6.src_port, v6.dst_port) == (
        "fd00::1", "fd00::2", 17, 547, 546)
    assert (ping.protocol, ping.src_port, ping.dst_port) == (1, 8, 0)  # echo request
    assert (fragment.protocol, fragment.src_port) == (17, None)  # not the first fragment


def test_expanded_flow_sample_counters_and_unknown_formats() -> None:
    frame = eth(0x0800, ipv4(6, struct.pack("!HH", 1, 2)))
    header = struct.pack("!IIII", 1, 1514, 4, len(frame)) + frame + b"\0" * (-len(frame) % 4)
    records = struct.pack("!II", 1, len(header)) + header + \
        struct.pack("!II", 1001, 16) + struct.pack("!IIII", 10, 0, 20, 0) + \
        struct.pack("!II", 2000, 4) + b"\0" * 4  # an unknown record: skipped
    body = struct.pack("!IIIIIIIIIII", 1, 0, 9, 512, 9999, 0, 0, 7, 0, 8, 3) + records
    expanded = struct.pack("!II", 3, len(body)) + body
    counters = struct.pack("!IIQIIQIIIIIIQIIIIII", 7, 6, 10**9, 1, 1, 5000, 10, 2,
                           0xFFFFFFFF, 0, 0, 0, 6000, 12, 0, 0, 0, 0, 0)
    crec = struct.pack("!II", 1, len(counters)) + counters
    cbody = struct.pack("!III", 1, 7, 1) + crec
    csample = struct.pack("!II", 2, len(cbody)) + cbody
    unknown = struct.pack("!II", (9 << 12) | 1, 4) + b"\0" * 4
    dg = sflow.decode(sflow.encode_datagram("10.1.1.1", 2, 3, [expanded, csample, unknown]))
    [f] = dg.flows
    assert (f.sampling_rate, f.input, f.output, f.src_vlan, f.dst_vlan) == (512, 7, 8, 10, 20)
    [c] = dg.counters
    # An unknown counter (all ones) counts as none.
    assert (c.if_index, c.in_octets, c.in_packets, c.out_octets, c.out_packets) == (
        7, 5000, 12, 6000, 12)


@pytest.mark.parametrize("data", [
    b"", b"\0\0\0\4" + b"\0" * 40,  # not version 5
    sflow.encode_datagram("10.0.0.1", 1, 1, [sample(eth(0x0800, b""))])[:-5],  # cut short
    struct.pack("!II", 5, 3) + b"\0" * 40,  # unknown address type
])
def test_malformed_datagrams_are_refused(data: bytes) -> None:
    with pytest.raises(sflow.SflowError):
        sflow.decode(data)
