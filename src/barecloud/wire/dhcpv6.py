"""DHCPv6 messages (RFC 8415), encoded and decoded: what a host's client exchanges.

A message is a type, a 24-bit transaction id and options (code, length,
value).  The options a client needs are read into fields: the client's and
the server's DUIDs, IA_NA with its IAADDR options (the leased addresses and
their lifetimes), the Option Request Option, the DNS servers (RFC 3646),
the status code, the preference and the elapsed time; any other option is
kept as it came (``other``), so nothing a server sent is lost in a decode
and encode.  A status code inside an IA or an IAADDR is kept with it.

Standard library only, no I/O: the lab OS's client (lab/dhcp6.py) sends
and receives them on its UDP socket.  Malformed input raises
:class:`Dhcpv6Error` rather than yielding half a message.
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass, field, replace

CLIENT_PORT, SERVER_PORT = 546, 547
ALL_SERVERS = "ff02::1:2"  # All_DHCP_Relay_Agents_and_Servers, link scope

# Message types.
SOLICIT, ADVERTISE, REQUEST, CONFIRM, RENEW, REBIND, REPLY = 1, 2, 3, 4, 5, 6, 7
RELEASE, DECLINE, RECONFIGURE, INFORMATION_REQUEST = 8, 9, 10, 11
# Options.
OPT_CLIENTID, OPT_SERVERID, OPT_IA_NA, OPT_IAADDR, OPT_ORO = 1, 2, 3, 5, 6
OPT_PREFERENCE, OPT_ELAPSED_TIME, OPT_STATUS_CODE = 7, 8, 13
OPT_DNS_SERVERS, OPT_DOMAIN_LIST = 23, 24
# Status codes.
SUCCESS, UNSPEC_FAIL, NO_ADDRS_AVAIL, NO_BINDING, NOT_ON_LINK, USE_MULTICAST = range(6)
INFINITY = 0xFFFFFFFF  # a lifetime, T1 or T2 that never ends

DUID_LLT, DUID_EN, DUID_LL = 1, 2, 3
HW_ETHERNET = 1

_OPT = struct.Struct("!HH")
_IA_NA = struct.Struct("!III")
_IAADDR = struct.Struct("!16sII")
_U16 = struct.Struct("!H")


class Dhcpv6Error(ValueError):
    """Not a DHCPv6 client/server message, or one cut short."""


@dataclass(frozen=True, slots=True)
class Status:
    code: int
    message: str = ""


@dataclass(frozen=True, slots=True)
class IaAddress:
    address: str
    preferred: int  # seconds
    valid: int
    status: Status | None = None


@dataclass(frozen=True, slots=True)
class IaNa:
    """An identity association for non-temporary addresses: the client's IAID, the
    times to renew (T1) and rebind (T2), and the addresses in it."""

    iaid: int
    t1: int = 0
    t2: int = 0
    addresses: tuple[IaAddress, ...] = ()
    status: Status | None = None


@dataclass(frozen=True, slots=True)
class Message:
    type: int
    transaction_id: int
    client_id: bytes | None = None  # a DUID
    server_id: bytes | None = None
    ia_na: tuple[IaNa, ...] = ()
    oro: tuple[int, ...] = ()  # option codes the client asks for
    elapsed: int | None = None  # hundredths of a second since the exchange began
    preference: int | None = None
    status: Status | None = None
    dns_servers: tuple[str, ...] = ()
    other: tuple[tuple[int, bytes], ...] = field(default=())  # any other option, as sent


def duid_ll(mac: str) -> bytes:
    """DUID-LL (RFC 8415 11.4) from an Ethernet MAC: what a client without stable
    storage sends, and what lets dnsmasq match the client's ``dhcp-host`` by MAC."""
    raw = bytes.fromhex(mac.replace(":", "").replace("-", ""))
    if len(raw) != 6:
        raise ValueError(f"not a MAC address: {mac!r}")
    return struct.pack("!HH", DUID_LL, HW_ETHERNET) + raw


def duid_mac(duid: bytes) -> str | None:
    """The link-layer address of a DUID-LL or DUID-LLT on Ethernet, else None."""
    if len(duid) < 4:
        return None
    kind, hw = struct.unpack("!HH", duid[:4])
    raw = duid[4:] if kind == DUID_LL else duid[8:] if kind == DUID_LLT else b""
    if hw != HW_ETHERNET or len(raw) != 6:
        return None
    return ":".join(f"{b:02x}" for b in raw)


# --- encoding ------------------------------------------------------------------

def _opt(code: int, value: bytes) -> bytes:
    if len(value) > 0xFFFF:
        raise Dhcpv6Error(f"option {code} longer than 65535 bytes")
    return _OPT.pack(code, len(value)) + value


def _status(status: Status | None) -> bytes:
    if status is None:
        return b""
    return _opt(OPT_STATUS_CODE, _U16.pack(status.code) + status.message.encode())


def _ia_na(ia: IaNa) -> bytes:
    body = _IA_NA.pack(ia.iaid, ia.t1, ia.t2)
    for a in ia.addresses:
        body += _opt(OPT_IAADDR, _IAADDR.pack(ipaddress.IPv6Address(a.address).packed,
                                              a.preferred, a.valid) + _status(a.status))
    return _opt(OPT_IA_NA, body + _status(ia.status))


def encode(msg: Message) -> bytes:
    """The message's bytes, its options in a fixed order (the unknown ones last)."""
    if not 0 < msg.type < 256 or not 0 <= msg.transaction_id < 1 << 24:
        raise Dhcpv6Error(f"bad message type {msg.type} or transaction id")
    out = bytes((msg.type,)) + msg.transaction_id.to_bytes(3, "big")
    if msg.client_id is not None:
        out += _opt(OPT_CLIENTID, msg.client_id)
    if msg.server_id is not None:
        out += _opt(OPT_SERVERID, msg.server_id)
    for ia in msg.ia_na:
        out += _ia_na(ia)
    if msg.oro:
        out += _opt(OPT_ORO, b"".join(_U16.pack(c) for c in msg.oro))
    if msg.elapsed is not None:
        out += _opt(OPT_ELAPSED_TIME, _U16.pack(min(msg.elapsed, 0xFFFF)))
    if msg.preference is not None:
        out += _opt(OPT_PREFERENCE, bytes((msg.preference,)))
    out += _status(msg.status)
    if msg.dns_servers:
        out += _opt(OPT_DNS_SERVERS, b"".join(ipaddress.IPv6Address(a).packed
                                              for a in msg.dns_servers))
    for code, value in msg.other:
        out += _opt(code, value)
    return out


# --- decoding ------------------------------------------------------------------

def _options(data: bytes) -> list[tuple[int, bytes]]:
    out, at = [], 0
    while at < len(data):
        if at + _OPT.size > len(data):
            raise Dhcpv6Error("option header cut short")
        code, length = _OPT.unpack_from(data, at)
        at += _OPT.size
        if at + length > len(data):
            raise Dhcpv6Error(f"option {code} longer than the message")
        out.append((code, data[at:at + length]))
        at += length
    return out


def _decode_status(value: bytes) -> Status:
    if len(value) < 2:
        raise Dhcpv6Error("status code option cut short")
    return Status(_U16.unpack_from(value)[0], value[2:].decode("utf-8", errors="replace"))


def _decode_iaaddr(value: bytes) -> IaAddress:
    if len(value) < _IAADDR.size:
        raise Dhcpv6Error("IAADDR option cut short")
    raw, preferred, valid = _IAADDR.unpack_from(value)
    status = None
    for code, inner in _options(value[_IAADDR.size:]):
        if code == OPT_STATUS_CODE:
            status = _decode_status(inner)
    return IaAddress(str(ipaddress.IPv6Address(raw)), preferred, valid, status)


def _decode_ia_na(value: bytes) -> IaNa:
    if len(value) < _IA_NA.size:
        raise Dhcpv6Error("IA_NA option cut short")
    iaid, t1, t2 = _IA_NA.unpack_from(value)
    addresses, status = [], None
    for code, inner in _options(value[_IA_NA.size:]):
        if code == OPT_IAADDR:
            addresses.append(_decode_iaaddr(inner))
        elif code == OPT_STATUS_CODE:
            status = _decode_status(inner)
    return IaNa(iaid, t1, t2, tuple(addresses), status)


def decode(data: bytes) -> Message:
    """A client/server message (relay messages, types 12 and 13, are refused)."""
    if len(data) < 4:
        raise Dhcpv6Error("shorter than a DHCPv6 header")
    if data[0] in (0, 12, 13):
        raise Dhcpv6Error(f"message type {data[0]} is not a client/server message")
    msg = Message(data[0], int.from_bytes(data[1:4], "big"))
    ia_na: list[IaNa] = []
    other: list[tuple[int, bytes]] = []
    for code, value in _options(data[4:]):
        if code == OPT_CLIENTID:
            msg = replace(msg, client_id=value)
        elif code == OPT_SERVERID:
            msg = replace(msg, server_id=value)
        elif code == OPT_IA_NA:
            ia_na.append(_decode_ia_na(value))
        elif code == OPT_ORO:
            if len(value) % 2:
                raise Dhcpv6Error("ORO of an odd length")
            msg = replace(msg, oro=struct.unpack(f"!{len(value) // 2}H", value))
        elif code == OPT_ELAPSED_TIME and len(value) == 2:
            msg = replace(msg, elapsed=_U16.unpack(value)[0])
        elif code == OPT_PREFERENCE and len(value) == 1:
            msg = replace(msg, preference=value[0])
        elif code == OPT_STATUS_CODE:
            msg = replace(msg, status=_decode_status(value))
        elif code == OPT_DNS_SERVERS:
            if len(value) % 16:
                raise Dhcpv6Error("DNS servers option not a list of addresses")
            msg = replace(msg, dns_servers=tuple(str(ipaddress.IPv6Address(value[i:i + 16]))
                                                 for i in range(0, len(value), 16)))
        else:
            other.append((code, value))
    return replace(msg, ia_na=tuple(ia_na), other=tuple(other))
