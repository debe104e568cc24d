"""sFlow version 5 datagrams, decoded: flow samples with their packet headers, counters.

What a switch exports (sflow.org's "sFlow Version 5", the format Open vSwitch
and most vendors send): a datagram from one agent carries samples; a *flow
sample* is one packet in ``sampling_rate`` taken at random, with the first
bytes of its frame (the raw header record) and the ports it came in and went
out of (SNMP ifIndex); a *counter sample* is a port's interface counters,
polled.  Both the compact and the expanded sample forms are read; records
and samples of other formats are skipped by their length, as the format
intends.  The sampled frame is decoded as far as the top talkers need:
Ethernet (802.1Q and QinQ tags), IPv4 and IPv6 (extension headers skipped),
and the TCP/UDP ports, or ICMP's type and code in their place.

Standard library only, no I/O: the collector (services/network/flows.py)
feeds it what arrives on its UDP socket, and a malformed datagram raises
:class:`SflowError` rather than yielding half a sample.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field

VERSION = 5
# Sample formats (enterprise 0).
FLOW_SAMPLE, COUNTERS_SAMPLE, FLOW_SAMPLE_EXPANDED, COUNTERS_SAMPLE_EXPANDED = 1, 2, 3, 4
# Flow record formats.
RAW_HEADER, EXTENDED_SWITCH = 1, 1001
# Counter record formats.
GENERIC_INTERFACE = 1
HEADER_ETHERNET = 1
# An ifIndex field's two top bits: 0 an interface, 1 discarded, 2 several.
IF_FORMAT_SHIFT = 30
IF_VALUE_MASK = (1 << 30) - 1
IF_UNKNOWN = IF_VALUE_MASK
_UNKNOWN32 = 0xFFFFFFFF

TCP, UDP, ICMP, ICMPV6 = 6, 17, 1, 58
_IPV6_EXTENSIONS = {0, 43, 60, 44, 51}
_VLAN_TYPES = {0x8100, 0x88A8, 0x9100}

_U32 = struct.Struct("!I")
_HEADER = struct.Struct("!IIII")  # sub-agent, sequence, uptime, samples
_FLOW = struct.Struct("!IIIIIIII")  # seq, source, rate, pool, drops, in, out, records
_FLOW_X = struct.Struct("!IIIIIIIIIII")
_REC = struct.Struct("!II")
_RAW = struct.Struct("!IIII")  # protocol, frame length, stripped, header length
_IFCOUNTERS = struct.Struct("!IIQIIQIIIIIIQIIIIII")
_ETH = struct.Struct("!6s6sH")
_PORTS = struct.Struct("!HH")


class SflowError(ValueError):
    """Not an sFlow v5 datagram, or one cut short."""


@dataclass(frozen=True, slots=True)
class Packet:
    """What a sampled frame's header says, as far as it was read."""

    src_mac: str
    dst_mac: str
    vlan: int | None = None
    ethertype: int = 0
    src_ip: str | None = None
    dst_ip: str | None = None
    protocol: int | None = None  # IP protocol number
    src_port: int | None = None  # TCP/UDP port; ICMP: the type
    dst_port: int | None = None  # TCP/UDP port; ICMP: the code


@dataclass(frozen=True, slots=True)
class FlowSample:
    sampling_rate: int
    sample_pool: int
    drops: int
    input: int | None  # ifIndex, None: unknown, discarded or several
    output: int | None
    frame_length: int  # bytes of the whole frame on the wire
    packet: Packet | None  # None: no (Ethernet) raw header record
    src_vlan: int | None = None  # from the extended switch record
    dst_vlan: int | None = None


@dataclass(frozen=True, slots=True)
class InterfaceCounters:
    if_index: int
    speed: int
    in_octets: int
    in_packets: int
    out_octets: int
    out_packets: int


@dataclass(slots=True)
class Datagram:
    agent: str
    sub_agent: int
    sequence: int
    uptime_ms: int
    flows: list[FlowSample] = field(default_factory=list)
    counters: list[InterfaceCounters] = field(default_factory=list)


def _mac(raw: bytes) -> str:
    return raw.hex(":")


def _interface(value: int) -> int | None:
    if value >> IF_FORMAT_SHIFT or value == IF_UNKNOWN:
        return None
    return value


def decode_frame(header: bytes) -> Packet | None:
    """Ethernet, VLAN tags, IPv4/IPv6, TCP/UDP ports or ICMP type/code, as far as present."""
    if len(header) < _ETH.size:
        return None
    dst, src, ethertype = _ETH.unpack_from(header)
    at, vlan = _ETH.size, None
    while ethertype in _VLAN_TYPES and len(header) >= at + 4:
        tci, ethertype = _PORTS.unpack_from(header, at)
        if vlan is None:
            vlan = tci & 0x0FFF
        at += 4
    src_ip = dst_ip = None
    protocol = sport = dport = None
    l4 = -1
    if ethertype == 0x0800 and len(header) >= at + 20:
        ihl = (header[at] & 0x0F) * 4
        protocol = header[at + 9]
        src_ip = str(ipaddress.IPv4Address(header[at + 12:at + 16]))
        dst_ip = str(ipaddress.IPv4Address(header[at + 16:at + 20]))
        fragment = _PORTS.unpack_from(header, at + 6)[0] & 0x1FFF
        if fragment == 0 and ihl >= 20:  # only a first fragment has the ports
            l4 = at + ihl
    elif ethertype == 0x86DD and len(header) >= at + 40:
        nxt = header[at + 6]
        src_ip = str(ipaddress.IPv6Address(header[at + 8:at + 24]))
        dst_ip = str(ipaddress.IPv6Address(header[at + 24:at + 40]))
        l4 = at + 40
        while nxt in _IPV6_EXTENSIONS and len(header) >= l4 + 8:
            if nxt == 44:  # fragment: ports only in the first one
                first = _PORTS.unpack_from(header, l4 + 2)[0] >> 3 == 0
                nxt, l4 = header[l4], (l4 + 8 if first else -1)
                if not first:
                    break
            elif nxt == 51:  # AH: length in 4-byte units, minus 2
                nxt, l4 = header[l4], l4 + (header[l4 + 1] + 2) * 4
            else:
                nxt, l4 = header[l4], l4 + (header[l4 + 1] + 1) * 8
        protocol = nxt
    if l4 >= 0 and protocol is not None:
        if protocol in (TCP, UDP) and len(header) >= l4 + 4:
            sport, dport = _PORTS.unpack_from(header, l4)
        elif protocol in (ICMP, ICMPV6) and len(header) >= l4 + 2:
            sport, dport = header[l4], header[l4 + 1]
    return Packet(_mac(src), _mac(dst), vlan, ethertype, src_ip, dst_ip, protocol,
                  sport, dport)


def _flow_records(data: bytes, at: int, end: int, count: int) -> tuple[
        int, Packet | None, int | None, int | None]:
    frame_length, packet, src_vlan, dst_vlan = 0, None, None, None
    for _ in range(count):
        if at + _REC.size > end:
            raise SflowError("flow record cut short")
        fmt, length = _REC.unpack_from(data, at)
        at += _REC.size
        if at + length > end:
            raise SflowError("flow record longer than its sample")
        if fmt == RAW_HEADER and length >= _RAW.size:
            protocol, frame_length, _stripped, size = _RAW.unpack_from(data, at)
            if protocol == HEADER_ETHERNET and _RAW.size + size <= length:
                start = at + _RAW.size
                packet = decode_frame(data[start:start + size])
        elif fmt == EXTENDED_SWITCH and length >= 16:
            src_vlan, _, dst_vlan, _ = _RAW.unpack_from(data, at)
        at += length
    return frame_length, packet, src_vlan, dst_vlan


def _counter_records(data: bytes, at: int, end: int, count: int,
                     out: list[InterfaceCounters]) -> None:
    for _ in range(count):
        if at + _REC.size > end:
            raise SflowError("counter record cut short")
        fmt, length = _REC.unpack_from(data, at)
        at += _REC.size
        if at + length > end:
            raise SflowError("counter record longer than its sample")
        if fmt == GENERIC_INTERFACE and length >= _IFCOUNTERS.size:
            c = _IFCOUNTERS.unpack_from(data, at)
            # A counter the agent does not keep is all ones: counted as none.
            n = [0 if v == _UNKNOWN32 else v for v in c]
            out.append(InterfaceCounters(
                if_index=c[0], speed=c[2], in_octets=c[5], in_packets=n[6] + n[7] + n[8],
                out_octets=c[12], out_packets=n[13] + n[14] + n[15]))
        at += length


def decode(data: bytes) -> Datagram:
    """One datagram, every sample in it; :class:`SflowError` if it is not one."""
    try:
        return _decode(data)
    except struct.error as exc:
        raise SflowError(f"datagram cut short: {exc}") from None


def _decode(data: bytes) -> Datagram:
    if len(data) < 8 or _U32.unpack_from(data)[0] != VERSION:
        raise SflowError("not an sFlow version 5 datagram")
    kind = _U32.unpack_from(data, 4)[0]
    if kind == 1:
        agent, at = str(ipaddress.IPv4Address(data[8:12])), 12
    elif kind == 2:
        agent, at = str(ipaddress.IPv6Address(data[8:24])), 24
    else:
        raise SflowError(f"unknown agent address type {kind}")
    sub_agent, sequence, uptime, samples = _HEADER.unpack_from(data, at)
    at += _HEADER.size
    out = Datagram(agent, sub_agent, sequence, uptime)
    for _ in range(samples):
        if at + _REC.size > len(data):
            raise SflowError("sample cut short")
        fmt, length = _REC.unpack_from(data, at)
        at += _REC.size
        end = at + length
        if end > len(data):
            raise SflowError("sample longer than the datagram")
        if fmt == FLOW_SAMPLE:
            _seq, _src, rate, pool, drops, inp, outp, records = _FLOW.unpack_from(data, at)
            body = at + _FLOW.size
        elif fmt == FLOW_SAMPLE_EXPANDED:
            (_seq, _t, _i, rate, pool, drops, in_fmt, inp, out_fmt, outp,
             records) = _FLOW_X.unpack_from(data, at)
            inp = inp if in_fmt == 0 else IF_UNKNOWN
            outp = outp if out_fmt == 0 else IF_UNKNOWN
            body = at + _FLOW_X.size
        elif fmt in (COUNTERS_SAMPLE, COUNTERS_SAMPLE_EXPANDED):
            skip = 12 if fmt == COUNTERS_SAMPLE_EXPANDED else 8
            records = _U32.unpack_from(data, at + skip)[0]
            _counter_records(data, at + skip + 4, end, records, out.counters)
            at = end
            continue
        else:
            at = end
            continue
        if fmt in (FLOW_SAMPLE, FLOW_SAMPLE_EXPANDED):
            frame, packet, src_vlan, dst_vlan = _flow_records(data, body, end, records)
            out.flows.append(FlowSample(rate, pool, drops, _interface(inp), _interface(outp),
                                        frame, packet, src_vlan, dst_vlan))
        at = end
    return out


# --- writing, for tests and the benchmark's generator ------------------------------


def _pad(raw: bytes) -> bytes:
    return raw + b"\0" * (-len(raw) % 4)


def encode_flow_sample(*, sequence: int, source: int, rate: int, pool: int, inp: int,
                       outp: int, frame: bytes, frame_length: int | None = None) -> bytes:
    """A compact flow sample carrying one raw Ethernet header record."""
    header = frame[:128]
    raw = _RAW.pack(HEADER_ETHERNET, frame_length or len(frame) + 4,
                    4, len(header)) + _pad(header)
    body = _FLOW.pack(sequence, source, rate, pool, 0, inp, outp, 1) + \
        _REC.pack(RAW_HEADER, len(raw)) + raw
    return _REC.pack(FLOW_SAMPLE, len(body)) + body


def encode_datagram(agent: str, sequence: int, uptime_ms: int, samples: list[bytes],
                    sub_agent: int = 0) -> bytes:
    address = ipaddress.ip_address(agent)
    kind = 1 if address.version == 4 else 2
    return (_U32.pack(VERSION) + _U32.pack(kind) + address.packed
            + _HEADER.pack(sub_agent, sequence, uptime_ms, len(samples)) + b"".join(samples))
