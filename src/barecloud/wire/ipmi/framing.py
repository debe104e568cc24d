"""RMCP, RMCP+ and IPMI LAN framing: datagrams in and out, sealed or clear [13.2-13.8].

Packets are built and checked here, payloads are encoded elsewhere
(``session`` for set-up messages, ``commands`` for command data).
"""

from __future__ import annotations

import enum
import hmac
import struct
from dataclasses import dataclass

from barecloud.wire.ipmi.crypto import SessionKeys, seal_payload, unseal_payload
from barecloud.wire.ipmi.errors import IpmiProtocolError

# --- RMCP / ASF -------------------------------------------------------------

RMCP_VERSION = 0x06
RMCP_SEQ_NO_ACK = 0xFF
RMCP_CLASS_ASF = 0x06
RMCP_CLASS_IPMI = 0x07
ASF_IANA = 4542  # 0x000011BE, the ASF enterprise number
ASF_PING = 0x80
ASF_PONG = 0x40
_RMCP_IPMI = bytes((RMCP_VERSION, 0, RMCP_SEQ_NO_ACK, RMCP_CLASS_IPMI))
_RMCP_ASF = bytes((RMCP_VERSION, 0, RMCP_SEQ_NO_ACK, RMCP_CLASS_ASF))

AUTH_TYPE_NONE = 0x00
AUTH_TYPE_RMCPP = 0x06  # "format = RMCP+": an IPMI v2.0 packet

PAYLOAD_ENCRYPTED = 0x80
PAYLOAD_AUTHENTICATED = 0x40
NEXT_HEADER = 0x07  # fixed value of the integrity trailer's "next header"
INTEGRITY_PAD = 0xFF

BMC_ADDRESS = 0x20  # rsSA: the BMC on the IPMB
CONSOLE_SWID = 0x81  # rqSA: remote console software ID


class PayloadType(enum.IntEnum):
    """RMCP+ payload types [Table 13-16]."""

    IPMI = 0x00
    SOL = 0x01
    OPEN_SESSION_REQUEST = 0x10
    OPEN_SESSION_RESPONSE = 0x11
    RAKP1 = 0x12
    RAKP2 = 0x13
    RAKP3 = 0x14
    RAKP4 = 0x15


# --- RMCP / IPMI packet framing ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Packet:
    """A parsed IPMI-class RMCP datagram; ``payload`` is still sealed if encrypted."""

    auth_type: int
    payload_type: int  # bare type, flags removed
    encrypted: bool
    authenticated: bool
    session_id: int
    seq: int
    payload: bytes
    raw: bytes  # the whole datagram, for the integrity check
    payload_end: int  # offset in ``raw`` where the payload field ends


def is_asf(data: bytes) -> bool:
    return len(data) >= 4 and data[0] == RMCP_VERSION and data[3] & 0x1F == RMCP_CLASS_ASF


def parse_packet(data: bytes) -> Packet:
    """Split an IPMI datagram into its session header fields and payload.

    Accepts IPMI v1.5 packets with auth type NONE (pre-session requests) and
    IPMI v2.0/RMCP+ packets; anything else raises :class:`IpmiProtocolError`.
    """
    if len(data) < 14 or data[0] != RMCP_VERSION or data[3] & 0x1F != RMCP_CLASS_IPMI:
        raise IpmiProtocolError("not an RMCP IPMI packet")
    auth_type = data[4] & 0x0F
    if auth_type == AUTH_TYPE_RMCPP:
        if len(data) < 16:
            raise IpmiProtocolError("short RMCP+ header")
        ptype = data[5]
        bare = ptype & 0x3F
        if bare == 0x02:
            raise IpmiProtocolError("OEM explicit payloads are not supported")
        session_id, seq, length = struct.unpack_from("<IIH", data, 6)
        end = 16 + length
        if end > len(data):
            raise IpmiProtocolError("payload length beyond end of packet")
        return Packet(
            auth_type,
            bare,
            bool(ptype & PAYLOAD_ENCRYPTED),
            bool(ptype & PAYLOAD_AUTHENTICATED),
            session_id,
            seq,
            data[16:end],
            data,
            end,
        )
    if auth_type == AUTH_TYPE_NONE:
        seq, session_id = struct.unpack_from("<II", data, 5)
        length = data[13]
        end = 14 + length
        if end > len(data):
            raise IpmiProtocolError("message length beyond end of packet")
        return Packet(
            auth_type, PayloadType.IPMI, False, False, session_id, seq, data[14:end], data, end
        )
    raise IpmiProtocolError(f"IPMI v1.5 auth type {auth_type} is not supported (use lanplus)")


def build_v15_packet(message: bytes) -> bytes:
    """A pre-session IPMI v1.5 packet (auth type NONE, session 0)."""
    return _RMCP_IPMI + b"\x00" + bytes(8) + bytes((len(message),)) + message


def build_v20_packet(
    payload_type: int,
    payload: bytes,
    session_id: int = 0,
    seq: int = 0,
    keys: SessionKeys | None = None,
    encrypt: bool = True,
) -> bytes:
    """An IPMI v2.0/RMCP+ packet; with ``keys``, authenticated (and encrypted
    unless ``encrypt`` is false: a SOL payload activated without encryption).

    Pre-session messages (Open Session, RAKP) go with session 0, seq 0 and
    no keys.  The integrity pad makes auth type .. next header a multiple
    of 4 bytes; the AuthCode is the truncated HMAC_K1 over that span.
    """
    ptype = payload_type
    if keys is not None:
        ptype |= PAYLOAD_AUTHENTICATED
        if encrypt:
            payload = seal_payload(keys, payload)
            ptype |= PAYLOAD_ENCRYPTED
    head = _RMCP_IPMI + struct.pack("<BBIIH", AUTH_TYPE_RMCPP, ptype, session_id, seq, len(payload))
    if keys is None:
        return head + payload
    body = head + payload
    pad = (4 - (len(body) - 4 + 2) % 4) % 4
    body += bytes((INTEGRITY_PAD,)) * pad + bytes((pad, NEXT_HEADER))
    return body + keys.suite.icv(keys.k1, body[4:])


def open_packet(packet: Packet, keys: SessionKeys) -> bytes:
    """Check the integrity trailer and decrypt; the payload in clear.

    Raises :class:`IpmiProtocolError` for an unauthenticated packet, a bad
    MAC or a bad pad: such packets must be dropped, never acted on.
    """
    if not packet.authenticated:
        raise IpmiProtocolError("unauthenticated packet in an authenticated session")
    raw = packet.raw
    icv_len = keys.suite.icv_len
    if len(raw) < packet.payload_end + 2 + icv_len:
        raise IpmiProtocolError("integrity trailer missing")
    if not hmac.compare_digest(keys.suite.icv(keys.k1, raw[4:-icv_len]), raw[-icv_len:]):
        raise IpmiProtocolError("integrity check failed")
    if raw[-icv_len - 1] != NEXT_HEADER:
        raise IpmiProtocolError("bad next-header byte in integrity trailer")
    if packet.encrypted:
        return unseal_payload(keys, packet.payload)
    return packet.payload


# --- ASF presence ping ------------------------------------------------------


def build_asf_ping(tag: int) -> bytes:
    """ASF Presence Ping: how tools check that something answers on port 623."""
    return _RMCP_ASF + struct.pack(">IBBBB", ASF_IANA, ASF_PING, tag & 0xFF, 0, 0)


def build_asf_pong(tag: int) -> bytes:
    """ASF Presence Pong saying "IPMI supported" (entity byte bit 7)."""
    data = struct.pack(">IIBB6x", ASF_IANA, 0, 0x81, 0x00)
    return _RMCP_ASF + struct.pack(">IBBBB", ASF_IANA, ASF_PONG, tag & 0xFF, 0, len(data)) + data


def parse_asf(data: bytes) -> tuple[int, int, bytes]:
    """(message type, message tag, data) of an ASF datagram."""
    if len(data) < 12 or not is_asf(data):
        raise IpmiProtocolError("not an ASF packet")
    iana, mtype, tag, _reserved, length = struct.unpack_from(">IBBBB", data, 4)
    if iana != ASF_IANA:
        raise IpmiProtocolError("ASF message with a foreign IANA number")
    return mtype, tag, data[12 : 12 + length]


def pong_supports_ipmi(data: bytes) -> bool:
    return len(data) >= 9 and bool(data[8] & 0x80)


# --- IPMI LAN messages --------------------------------------------------------


def checksum(data: bytes) -> int:
    """Two's-complement checksum: the covered bytes plus it sum to 0 mod 256."""
    return -sum(data) & 0xFF


@dataclass(frozen=True, slots=True)
class IpmiRequest:
    """A request message: rsSA, netFn/rsLUN, chk1, rqSA, rqSeq/rqLUN, cmd, data, chk2."""

    netfn: int
    command: int
    data: bytes
    seq: int  # rqSeq, 6 bits: pairs a response with its request
    rs_addr: int = BMC_ADDRESS
    rq_addr: int = CONSOLE_SWID
    rs_lun: int = 0
    rq_lun: int = 0

    def encode(self) -> bytes:
        head = bytes((self.rs_addr, self.netfn << 2 | self.rs_lun))
        body = bytes((self.rq_addr, (self.seq & 0x3F) << 2 | self.rq_lun, self.command)) + self.data
        return head + bytes((checksum(head),)) + body + bytes((checksum(body),))

    @classmethod
    def decode(cls, msg: bytes) -> IpmiRequest:
        _check_message(msg)
        return cls(
            msg[1] >> 2, msg[5], msg[6:-1], msg[4] >> 2, msg[0], msg[3], msg[1] & 3, msg[4] & 3
        )

    def response(self, code: int, data: bytes = b"") -> IpmiResponse:
        return IpmiResponse(
            self.netfn | 1, self.command, code, data, self.seq,
            self.rq_addr, self.rs_addr, self.rq_lun, self.rs_lun,
        )  # fmt: skip


@dataclass(frozen=True, slots=True)
class IpmiResponse:
    """A response: rqSA, netFn/rqLUN, chk1, rsSA, rqSeq/rsLUN, cmd, cc, data, chk2."""

    netfn: int  # the response netfn (request netfn + 1)
    command: int
    code: int
    data: bytes
    seq: int
    rq_addr: int = CONSOLE_SWID
    rs_addr: int = BMC_ADDRESS
    rq_lun: int = 0
    rs_lun: int = 0

    def encode(self) -> bytes:
        head = bytes((self.rq_addr, self.netfn << 2 | self.rq_lun))
        body = (
            bytes((self.rs_addr, (self.seq & 0x3F) << 2 | self.rs_lun, self.command, self.code))
            + self.data
        )
        return head + bytes((checksum(head),)) + body + bytes((checksum(body),))

    @classmethod
    def decode(cls, msg: bytes) -> IpmiResponse:
        _check_message(msg, response=True)
        return cls(
            msg[1] >> 2, msg[5], msg[6], msg[7:-1], msg[4] >> 2, msg[0], msg[3],
            msg[1] & 3, msg[4] & 3,
        )  # fmt: skip


def _check_message(msg: bytes, response: bool = False) -> None:
    if len(msg) < (8 if response else 7):
        raise IpmiProtocolError("IPMI message too short")
    if checksum(msg[:2]) != msg[2] or checksum(msg[3:-1]) != msg[-1]:
        raise IpmiProtocolError("IPMI message checksum mismatch")
