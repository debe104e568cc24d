"""IPMI 2.0 over RMCP+ ("lanplus"): the bytes on the wire, without I/O.

Both ends of barecloud's IPMI (the asyncio client in ``ipmi_client`` and the
lab BMCs in ``ipmi_server``) build and parse packets here, so the two can
only disagree with the specification, not with each other; ``ipmitool`` and
pyghmi in the tests keep us honest about the specification.

Covered (IPMI v2.0 rev. 1.1 section numbers in brackets):

- RMCP and the ASF presence ping/pong [13.2];
- IPMI v1.5 pre-session framing (auth type NONE), as ``ipmitool`` uses for
  Get Channel Authentication Capabilities [13.6];
- RMCP+ session framing: payload types, session ID and sequence number,
  integrity pad + HMAC trailer, AES-CBC-128 confidentiality [13.6, 13.28];
- Open Session and RAKP messages 1-4 with key derivation (SIK, K1, K2)
  [13.17-13.22, 13.31-13.32];
- cipher suites 3 (RAKP-HMAC-SHA1, HMAC-SHA1-96, AES-CBC-128) and 17
  (RAKP-HMAC-SHA256, HMAC-SHA256-128, AES-CBC-128) [22.15.2];
- IPMI LAN message framing with its two checksums [13.8];
- the commands a bare-metal cloud needs: Get Device ID, Get Channel
  Authentication Capabilities, Get Channel Cipher Suites, Set Session
  Privilege Level, Close Session, Chassis Get Status, Chassis Control,
  Set/Get System Boot Options [20, 22, 28].

Not covered: IPMI v1.5 sessions (MD5/password auth), Serial-over-LAN,
OEM payloads, cipher suites other than 3 and 17, bridging.
"""

from __future__ import annotations

import enum
import hmac
import os
import struct
from dataclasses import dataclass

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

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


class Privilege(enum.IntEnum):
    """Session privilege levels; commands need a minimum one [Appendix G]."""

    CALLBACK = 1
    USER = 2
    OPERATOR = 3
    ADMINISTRATOR = 4
    OEM = 5


# Network functions and commands (requests; a response's netfn is +1).
NETFN_CHASSIS = 0x00
NETFN_APP = 0x06

CMD_GET_CHASSIS_STATUS = 0x01
CMD_CHASSIS_CONTROL = 0x02
CMD_SET_SYSTEM_BOOT_OPTIONS = 0x08
CMD_GET_SYSTEM_BOOT_OPTIONS = 0x09

CMD_GET_DEVICE_ID = 0x01
CMD_GET_SELF_TEST_RESULTS = 0x04
CMD_GET_DEVICE_GUID = 0x08
CMD_GET_SYSTEM_GUID = 0x37
CMD_GET_CHANNEL_AUTH_CAPABILITIES = 0x38
CMD_SET_SESSION_PRIVILEGE_LEVEL = 0x3B
CMD_CLOSE_SESSION = 0x3C
CMD_GET_CHANNEL_CIPHER_SUITES = 0x54

BOOT_PARAM_SET_IN_PROGRESS = 0
BOOT_PARAM_FLAG_VALID_CLEARING = 3
BOOT_PARAM_INFO_ACK = 4
BOOT_PARAM_BOOT_FLAGS = 5

# --- status and completion codes --------------------------------------------

RMCPP_STATUS: dict[int, str] = {
    0x00: "no errors",
    0x01: "insufficient resources to create a session",
    0x02: "invalid session ID",
    0x03: "invalid payload type",
    0x04: "invalid authentication algorithm",
    0x05: "invalid integrity algorithm",
    0x06: "no matching authentication payload",
    0x07: "no matching integrity payload",
    0x08: "inactive session ID",
    0x09: "invalid role",
    0x0A: "unauthorized role or privilege level requested",
    0x0B: "insufficient resources to create a session at the requested role",
    0x0C: "invalid name length",
    0x0D: "unauthorized name",
    0x0E: "unauthorized GUID",
    0x0F: "invalid integrity check value",
    0x10: "invalid confidentiality algorithm",
    0x11: "no cipher suite match with proposed security algorithms",
    0x12: "illegal or unrecognized parameter",
}
STATUS_OK = 0x00
STATUS_NO_RESOURCES = 0x01
STATUS_INVALID_SESSION_ID = 0x02
STATUS_INVALID_ROLE = 0x09
STATUS_UNAUTHORIZED_ROLE = 0x0A
STATUS_INVALID_NAME_LENGTH = 0x0C
STATUS_UNAUTHORIZED_NAME = 0x0D
STATUS_INVALID_INTEGRITY = 0x0F
STATUS_NO_CIPHER_SUITE = 0x11

COMPLETION_CODES: dict[int, str] = {
    0x00: "command completed normally",
    0xC0: "node busy",
    0xC1: "invalid command",
    0xC2: "command invalid for given LUN",
    0xC3: "timeout while processing command",
    0xC4: "out of space",
    0xC5: "reservation canceled or invalid reservation ID",
    0xC6: "request data truncated",
    0xC7: "request data length invalid",
    0xC8: "request data field length limit exceeded",
    0xC9: "parameter out of range",
    0xCA: "cannot return number of requested data bytes",
    0xCB: "requested sensor, data, or record not present",
    0xCC: "invalid data field in request",
    0xCD: "command illegal for specified sensor or record type",
    0xCE: "command response could not be provided",
    0xCF: "cannot execute duplicated request",
    0xD0: "SDR repository in update mode",
    0xD1: "device in firmware update mode",
    0xD2: "BMC initialization in progress",
    0xD3: "destination unavailable",
    0xD4: "insufficient privilege level",
    0xD5: "command not supported in present state",
    0xD6: "command sub-function disabled or unavailable",
    0xFF: "unspecified error",
}
CC_OK = 0x00
CC_INVALID_COMMAND = 0xC1
CC_REQUEST_LENGTH_INVALID = 0xC7
CC_INVALID_DATA = 0xCC
CC_INSUFFICIENT_PRIVILEGE = 0xD4
CC_UNSPECIFIED = 0xFF
CC_PARAM_NOT_SUPPORTED = 0x80  # Get/Set System Boot Options
CC_INVALID_SESSION_ID = 0x87  # Close Session


def status_text(status: int) -> str:
    """The RMCP+ status code as words, for error messages."""
    return f"{RMCPP_STATUS.get(status, 'unknown status')} (0x{status:02x})"


def completion_text(code: int) -> str:
    """The completion code as words, for error messages."""
    return f"{COMPLETION_CODES.get(code, 'command-specific error')} (0x{code:02x})"


# --- errors -----------------------------------------------------------------


class IpmiError(Exception):
    """Root of the errors of this package.

    Hierarchy::

        IpmiError
        ├── IpmiProtocolError   malformed or unexpected bytes
        ├── IpmiTimeout         no answer within the deadline (retryable)
        ├── IpmiSessionError    the BMC refused session set-up (RMCP+ status)
        │   └── IpmiAuthError   ... because of the credentials (permanent)
        └── IpmiCommandError    a command answered a non-zero completion code
    """


class IpmiProtocolError(IpmiError):
    """The peer sent bytes we cannot accept (bad framing, checksum, MAC)."""


class IpmiTimeout(IpmiError, TimeoutError):
    """No answer in time: the BMC is down, unreachable, or overloaded."""


class IpmiSessionError(IpmiError):
    """Session set-up was refused; ``status`` is the RMCP+ status code."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class IpmiAuthError(IpmiSessionError):
    """Wrong user name, password, Kg or privilege: retrying will not help."""


class IpmiCommandError(IpmiError):
    """A command failed at the BMC; ``code`` is the completion code."""

    def __init__(self, netfn: int, command: int, code: int) -> None:
        super().__init__(f"netfn 0x{netfn:02x} cmd 0x{command:02x}: {completion_text(code)}")
        self.netfn = netfn
        self.command = command
        self.code = code


# --- cipher suites and session keys -----------------------------------------

AUTH_RAKP_HMAC_SHA1 = 0x01
AUTH_RAKP_HMAC_SHA256 = 0x03
INTEGRITY_HMAC_SHA1_96 = 0x01
INTEGRITY_HMAC_SHA256_128 = 0x04
CONF_AES_CBC_128 = 0x01


@dataclass(frozen=True, slots=True)
class CipherSuite:
    """One cipher suite: its algorithm numbers and the hash behind them."""

    id: int
    auth: int
    integrity: int
    confidentiality: int
    digest: str  # hashlib name for both the RAKP HMACs and the integrity MAC
    icv_len: int  # bytes of truncated MAC: RAKP4 ICV and per-packet AuthCode

    def mac(self, key: bytes, data: bytes) -> bytes:
        return hmac.digest(key, data, self.digest)

    def icv(self, key: bytes, data: bytes) -> bytes:
        return hmac.digest(key, data, self.digest)[: self.icv_len]


CIPHER_SUITES: dict[int, CipherSuite] = {
    3: CipherSuite(3, AUTH_RAKP_HMAC_SHA1, INTEGRITY_HMAC_SHA1_96, CONF_AES_CBC_128, "sha1", 12),
    17: CipherSuite(
        17, AUTH_RAKP_HMAC_SHA256, INTEGRITY_HMAC_SHA256_128, CONF_AES_CBC_128, "sha256", 16
    ),
}


def cipher_suite(suite_id: int) -> CipherSuite:
    try:
        return CIPHER_SUITES[suite_id]
    except KeyError:
        raise ValueError(
            f"cipher suite {suite_id} is not supported (supported: {sorted(CIPHER_SUITES)})"
        ) from None


def suite_for(auth: int, integrity: int, confidentiality: int) -> CipherSuite | None:
    """The supported suite with exactly these algorithms, if any."""
    for suite in CIPHER_SUITES.values():
        if (suite.auth, suite.integrity, suite.confidentiality) == (
            auth,
            integrity,
            confidentiality,
        ):
            return suite
    return None


@dataclass(frozen=True, slots=True)
class SessionKeys:
    """What RAKP leaves behind: K1 signs packets, K2[:16] encrypts them."""

    suite: CipherSuite
    sik: bytes
    k1: bytes
    k2: bytes

    @property
    def aes_key(self) -> bytes:
        return self.k2[:16]


_CONST_1 = b"\x01" * 20
_CONST_2 = b"\x02" * 20


def derive_keys(
    suite: CipherSuite, kg: bytes, rm: bytes, rc: bytes, role: int, username: bytes
) -> SessionKeys:
    """SIK = HMAC_Kg(Rm|Rc|ROLEm|ULENGTHm|UNAMEm); K1, K2 = HMAC_SIK(const) [13.31-13.32].

    Kg defaults to the user's password (Kuid) when the BMC has no Kg set.
    The constants are 20 bytes for SHA-256 too, as ipmitool and BMCs do.
    """
    sik = suite.mac(kg, rm + rc + bytes((role, len(username))) + username)
    return SessionKeys(suite, sik, suite.mac(sik, _CONST_1), suite.mac(sik, _CONST_2))


def rakp2_auth_code(
    suite: CipherSuite,
    kuid: bytes,
    console_sid: int,
    bmc_sid: int,
    rm: bytes,
    rc: bytes,
    guid: bytes,
    role: int,
    username: bytes,
) -> bytes:
    """The BMC's proof of the password: HMAC_Kuid(SIDm|SIDc|Rm|Rc|GUIDc|ROLEm|ULENGTHm|UNAMEm)."""
    data = (
        struct.pack("<II", console_sid, bmc_sid)
        + rm
        + rc
        + guid
        + bytes((role, len(username)))
        + username
    )
    return suite.mac(kuid, data)


def rakp3_auth_code(
    suite: CipherSuite, kuid: bytes, rc: bytes, console_sid: int, role: int, username: bytes
) -> bytes:
    """The console's proof of the password: HMAC_Kuid(Rc|SIDm|ROLEm|ULENGTHm|UNAMEm)."""
    data = rc + struct.pack("<I", console_sid) + bytes((role, len(username))) + username
    return suite.mac(kuid, data)


def rakp4_icv(suite: CipherSuite, sik: bytes, rm: bytes, bmc_sid: int, guid: bytes) -> bytes:
    """The BMC's proof of the SIK: truncated HMAC_SIK(Rm|SIDc|GUIDc)."""
    return suite.icv(sik, rm + struct.pack("<I", bmc_sid) + guid)


class SeqWindow:
    """Replay protection for one direction of a session [13.29].

    Each session sequence number is accepted once; numbers up to 31 below
    the highest seen are still accepted (UDP reorders), older ones are not.
    """

    __slots__ = ("high", "mask")

    def __init__(self) -> None:
        self.high = 0
        self.mask = 0  # bit i set: high - i was seen

    def accept(self, seq: int) -> bool:
        if seq == 0:
            return False  # zero is for pre-session packets only
        if seq > self.high:
            shift = seq - self.high
            self.mask = ((self.mask << shift) | 1) & 0xFFFFFFFF if shift < 32 else 1
            self.high = seq
            return True
        back = self.high - seq
        if back >= 32 or self.mask >> back & 1:
            return False
        self.mask |= 1 << back
        return True


def random_session_id() -> int:
    """A non-zero 32-bit session ID (zero means "no session")."""
    while True:
        sid: int = struct.unpack("<I", os.urandom(4))[0]
        if sid:
            return sid


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


def _aes_pad(length: int) -> bytes:
    # Confidentiality trailer [Table 13-20]: pad bytes 1, 2, 3, ... then the
    # pad length, so that payload + pad + length is a multiple of 16.
    n = (16 - (length + 1) % 16) % 16
    return bytes(range(1, n + 1)) + bytes((n,))


def seal_payload(keys: SessionKeys, payload: bytes) -> bytes:
    """Encrypt with AES-CBC-128 under K2: IV + ciphertext(payload + pad + pad length)."""
    iv = os.urandom(16)
    enc = Cipher(algorithms.AES(keys.aes_key), modes.CBC(iv)).encryptor()
    return iv + enc.update(payload + _aes_pad(len(payload))) + enc.finalize()


def unseal_payload(keys: SessionKeys, sealed: bytes) -> bytes:
    if len(sealed) < 32 or len(sealed) % 16:
        raise IpmiProtocolError("encrypted payload is not IV + whole AES blocks")
    dec = Cipher(algorithms.AES(keys.aes_key), modes.CBC(sealed[:16])).decryptor()
    plain = dec.update(sealed[16:]) + dec.finalize()
    n = plain[-1]
    if n > 15 or plain[-1 - n : -1] != bytes(range(1, n + 1)):
        raise IpmiProtocolError("bad confidentiality pad (wrong key?)")
    return plain[: -1 - n]


def build_v20_packet(
    payload_type: int,
    payload: bytes,
    session_id: int = 0,
    seq: int = 0,
    keys: SessionKeys | None = None,
) -> bytes:
    """An IPMI v2.0/RMCP+ packet; with ``keys``, encrypted and authenticated.

    Pre-session messages (Open Session, RAKP) go with session 0, seq 0 and
    no keys.  The integrity pad makes auth type .. next header a multiple
    of 4 bytes; the AuthCode is the truncated HMAC_K1 over that span.
    """
    ptype = payload_type
    if keys is not None:
        payload = seal_payload(keys, payload)
        ptype |= PAYLOAD_ENCRYPTED | PAYLOAD_AUTHENTICATED
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


# --- Open Session and RAKP --------------------------------------------------


def _algorithm_payload(kind: int, algorithm: int) -> bytes:
    return bytes((kind, 0, 0, 8, algorithm, 0, 0, 0))


def _parse_algorithm_payloads(data: bytes) -> tuple[int, int, int]:
    if len(data) < 24:
        raise IpmiProtocolError("algorithm payloads truncated")
    algs = []
    for i, kind in enumerate((0, 1, 2)):
        rec = data[8 * i : 8 * i + 8]
        if rec[0] != kind:
            raise IpmiProtocolError(f"algorithm payload {i} has type {rec[0]}, want {kind}")
        algs.append(rec[4] & 0x3F)
    return algs[0], algs[1], algs[2]


@dataclass(frozen=True, slots=True)
class OpenSessionRequest:
    tag: int
    privilege: int  # requested maximum privilege; 0 = highest the algorithms allow
    console_sid: int
    auth: int
    integrity: int
    confidentiality: int

    def encode(self) -> bytes:
        return (
            struct.pack("<BBxxI", self.tag, self.privilege, self.console_sid)
            + _algorithm_payload(0, self.auth)
            + _algorithm_payload(1, self.integrity)
            + _algorithm_payload(2, self.confidentiality)
        )

    @classmethod
    def decode(cls, data: bytes) -> OpenSessionRequest:
        if len(data) < 32:
            raise IpmiProtocolError("Open Session Request truncated")
        tag, priv, sid = struct.unpack_from("<BBxxI", data)
        return cls(tag, priv & 0x0F, sid, *_parse_algorithm_payloads(data[8:32]))


@dataclass(frozen=True, slots=True)
class OpenSessionResponse:
    tag: int
    status: int
    privilege: int
    console_sid: int
    bmc_sid: int = 0
    auth: int = 0
    integrity: int = 0
    confidentiality: int = 0

    def encode(self) -> bytes:
        head = struct.pack("<BBBxI", self.tag, self.status, self.privilege, self.console_sid)
        if self.status != STATUS_OK:
            return head
        return (
            head
            + struct.pack("<I", self.bmc_sid)
            + _algorithm_payload(0, self.auth)
            + _algorithm_payload(1, self.integrity)
            + _algorithm_payload(2, self.confidentiality)
        )

    @classmethod
    def decode(cls, data: bytes) -> OpenSessionResponse:
        if len(data) < 8:
            raise IpmiProtocolError("Open Session Response truncated")
        tag, status, priv, console_sid = struct.unpack_from("<BBBxI", data)
        if status != STATUS_OK:
            return cls(tag, status, priv, console_sid)
        if len(data) < 36:
            raise IpmiProtocolError("Open Session Response truncated")
        (bmc_sid,) = struct.unpack_from("<I", data, 8)
        return cls(tag, status, priv, console_sid, bmc_sid, *_parse_algorithm_payloads(data[12:36]))


@dataclass(frozen=True, slots=True)
class Rakp1:
    tag: int
    bmc_sid: int
    rm: bytes  # console random number, 16 bytes
    role: int  # bits 0-3 privilege, bit 4 name-only lookup; used as-is in HMACs
    username: bytes

    def encode(self) -> bytes:
        return (
            struct.pack("<BxxxI", self.tag, self.bmc_sid)
            + self.rm
            + bytes((self.role, 0, 0, len(self.username)))
            + self.username
        )

    @classmethod
    def decode(cls, data: bytes) -> Rakp1:
        if len(data) < 28:
            raise IpmiProtocolError("RAKP1 truncated")
        tag, bmc_sid = struct.unpack_from("<BxxxI", data)
        length = data[27]
        return cls(tag, bmc_sid, data[8:24], data[24], data[28 : 28 + length])


@dataclass(frozen=True, slots=True)
class Rakp2:
    tag: int
    status: int
    console_sid: int
    rc: bytes = b""  # BMC random number, 16 bytes
    guid: bytes = b""  # BMC GUID, 16 bytes
    auth_code: bytes = b""

    def encode(self) -> bytes:
        head = struct.pack("<BBxxI", self.tag, self.status, self.console_sid)
        if self.status != STATUS_OK:
            return head
        return head + self.rc + self.guid + self.auth_code

    @classmethod
    def decode(cls, data: bytes) -> Rakp2:
        if len(data) < 8:
            raise IpmiProtocolError("RAKP2 truncated")
        tag, status, sid = struct.unpack_from("<BBxxI", data)
        if status != STATUS_OK:
            return cls(tag, status, sid)
        if len(data) < 40:
            raise IpmiProtocolError("RAKP2 truncated")
        return cls(tag, status, sid, data[8:24], data[24:40], data[40:])


@dataclass(frozen=True, slots=True)
class Rakp3:
    tag: int
    status: int
    bmc_sid: int
    auth_code: bytes = b""

    def encode(self) -> bytes:
        return struct.pack("<BBxxI", self.tag, self.status, self.bmc_sid) + self.auth_code

    @classmethod
    def decode(cls, data: bytes) -> Rakp3:
        if len(data) < 8:
            raise IpmiProtocolError("RAKP3 truncated")
        tag, status, sid = struct.unpack_from("<BBxxI", data)
        return cls(tag, status, sid, data[8:])


@dataclass(frozen=True, slots=True)
class Rakp4:
    tag: int
    status: int
    console_sid: int
    icv: bytes = b""

    def encode(self) -> bytes:
        return struct.pack("<BBxxI", self.tag, self.status, self.console_sid) + self.icv

    @classmethod
    def decode(cls, data: bytes) -> Rakp4:
        if len(data) < 8:
            raise IpmiProtocolError("RAKP4 truncated")
        tag, status, sid = struct.unpack_from("<BBxxI", data)
        return cls(tag, status, sid, data[8:])


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


# --- commands ---------------------------------------------------------------


class PowerAction(enum.StrEnum):
    """Chassis Control actions [Table 28-4], named as ``ipmitool power`` names them."""

    OFF = "off"
    ON = "on"
    CYCLE = "cycle"
    RESET = "reset"  # hard reset
    DIAG = "diag"  # pulse a diagnostic interrupt (NMI)
    SOFT = "soft"  # ACPI soft shutdown: the OS is asked to power off

    @property
    def code(self) -> int:
        return _POWER_CODES[self]

    @classmethod
    def from_code(cls, code: int) -> PowerAction:
        for action, c in _POWER_CODES.items():
            if c == code:
                return action
        raise ValueError(f"unknown chassis control code {code}")


_POWER_CODES = {
    PowerAction.OFF: 0,
    PowerAction.ON: 1,
    PowerAction.CYCLE: 2,
    PowerAction.RESET: 3,
    PowerAction.DIAG: 4,
    PowerAction.SOFT: 5,
}


@dataclass(frozen=True, slots=True)
class ChassisStatus:
    """Get Chassis Status [28.2]: byte 1 bit 0 is "system power is on"."""

    power_on: bool
    power_fault: bool = False
    restore_policy: int = 2  # 0 always off, 1 restore previous, 2 always on, 3 unknown
    last_event: int = 0
    misc: int = 0

    def encode(self) -> bytes:
        current = int(self.power_on) | int(self.power_fault) << 3 | (self.restore_policy & 3) << 5
        return bytes((current, self.last_event, self.misc))

    @classmethod
    def decode(cls, data: bytes) -> ChassisStatus:
        if len(data) < 3:
            raise IpmiProtocolError("Chassis Status response truncated")
        return cls(bool(data[0] & 1), bool(data[0] & 8), data[0] >> 5 & 3, data[1], data[2])


class BootDevice(enum.StrEnum):
    """Boot device selector of boot flags byte 2, bits 5:2 [Table 28-14]."""

    NONE = "none"  # no override: the firmware's own order
    PXE = "pxe"
    DISK = "disk"
    SAFE = "safe"  # disk, safe mode
    DIAG = "diag"
    CDROM = "cdrom"
    BIOS = "bios"  # firmware setup
    REMOTE_FLOPPY = "remote-floppy"
    REMOTE_CDROM = "remote-cdrom"
    REMOTE_MEDIA = "remote-media"
    REMOTE_DISK = "remote-disk"
    FLOPPY = "floppy"

    @property
    def code(self) -> int:
        return _BOOT_CODES[self]

    @classmethod
    def from_code(cls, code: int) -> BootDevice:
        for device, c in _BOOT_CODES.items():
            if c == code:
                return device
        raise ValueError(f"unknown boot device selector {code}")


_BOOT_CODES = {
    BootDevice.NONE: 0x0,
    BootDevice.PXE: 0x1,
    BootDevice.DISK: 0x2,
    BootDevice.SAFE: 0x3,
    BootDevice.DIAG: 0x4,
    BootDevice.CDROM: 0x5,
    BootDevice.BIOS: 0x6,
    BootDevice.REMOTE_FLOPPY: 0x7,
    BootDevice.REMOTE_CDROM: 0x8,
    BootDevice.REMOTE_MEDIA: 0x9,
    BootDevice.REMOTE_DISK: 0xB,
    BootDevice.FLOPPY: 0xF,
}


@dataclass(frozen=True, slots=True)
class BootOptions:
    """Boot flags, boot option parameter 5 [Table 28-14].

    ``valid`` is the "boot flags valid" bit: when clear the firmware ignores
    the override.  ``persistent`` false means "next boot only".  ``uefi``
    is the BIOS boot type bit (EFI vs legacy PC compatible).  ``extra``
    keeps data bytes 3-5 (console redirection, verbosity, instance) as is.
    """

    device: BootDevice = BootDevice.NONE
    persistent: bool = False
    uefi: bool = False
    valid: bool = True
    extra: bytes = b"\x00\x00\x00"

    def encode(self) -> bytes:
        flags = self.valid << 7 | self.persistent << 6 | self.uefi << 5
        return bytes((flags, self.device.code << 2)) + self.extra[:3].ljust(3, b"\x00")

    @classmethod
    def decode(cls, data: bytes) -> BootOptions:
        if len(data) < 2:
            raise IpmiProtocolError("boot flags truncated")
        try:
            device = BootDevice.from_code(data[1] >> 2 & 0x0F)
        except ValueError as exc:
            raise IpmiProtocolError(str(exc)) from None
        return cls(
            device,
            bool(data[0] & 0x40),
            bool(data[0] & 0x20),
            bool(data[0] & 0x80),
            bytes(data[2:5]).ljust(3, b"\x00"),
        )


@dataclass(frozen=True, slots=True)
class DeviceId:
    """Get Device ID response data [20.1]."""

    device_id: int = 0x20
    revision: int = 1
    firmware_major: int = 1
    firmware_minor: int = 0  # shown as two BCD digits
    ipmi_version: int = 0x02  # BCD, low nibble major: 0x02 is "2.0"
    additional: int = 0x80  # bit 7: chassis device
    manufacturer_id: int = 0
    product_id: int = 0
    aux: bytes = b""
    available: bool = True
    provides_sdrs: bool = False

    def encode(self) -> bytes:
        minor = int(f"{self.firmware_minor % 100:02d}", 16)  # to BCD
        return (
            bytes(
                (
                    self.device_id,
                    self.provides_sdrs << 7 | (self.revision & 0x0F),
                    (not self.available) << 7 | (self.firmware_major & 0x7F),
                    minor,
                    self.ipmi_version,
                    self.additional,
                )
            )
            + self.manufacturer_id.to_bytes(3, "little")
            + self.product_id.to_bytes(2, "little")
            + self.aux[:4]
        )

    @classmethod
    def decode(cls, data: bytes) -> DeviceId:
        if len(data) < 11:
            raise IpmiProtocolError("Get Device ID response truncated")
        try:
            minor = int(f"{data[3]:x}")
        except ValueError:
            minor = data[3]
        return cls(
            device_id=data[0],
            revision=data[1] & 0x0F,
            firmware_major=data[2] & 0x7F,
            firmware_minor=minor,
            ipmi_version=data[4],
            additional=data[5],
            manufacturer_id=int.from_bytes(data[6:9], "little"),
            product_id=int.from_bytes(data[9:11], "little"),
            aux=bytes(data[11:15]),
            available=not data[2] & 0x80,
            provides_sdrs=bool(data[1] & 0x80),
        )


@dataclass(frozen=True, slots=True)
class ChannelAuthCapabilities:
    """Get Channel Authentication Capabilities response data [22.13]."""

    channel: int = 1
    auth_types: int = 0x80  # bit 7: IPMI v2.0 extended data; no v1.5 auth types
    status: int = 0x04  # bit 2: non-null user names enabled
    extended: int = 0x02  # bit 1: IPMI v2.0 (RMCP+) connections supported
    oem_id: int = 0
    oem_aux: int = 0

    @property
    def supports_ipmi20(self) -> bool:
        return bool(self.auth_types & 0x80 and self.extended & 0x02)

    def encode(self) -> bytes:
        return (
            bytes((self.channel, self.auth_types, self.status, self.extended))
            + self.oem_id.to_bytes(3, "little")
            + bytes((self.oem_aux,))
        )

    @classmethod
    def decode(cls, data: bytes) -> ChannelAuthCapabilities:
        if len(data) < 8:
            raise IpmiProtocolError("Get Channel Authentication Capabilities truncated")
        return cls(data[0], data[1], data[2], data[3], int.from_bytes(data[4:7], "little"), data[7])


def cipher_suite_records(suite_ids: list[int]) -> bytes:
    """Get Channel Cipher Suites record data: C0h, suite ID, auth, integrity, conf [22.15]."""
    out = b""
    for sid in suite_ids:
        s = CIPHER_SUITES[sid]
        out += bytes((0xC0, s.id, s.auth, 0x40 | s.integrity, 0x80 | s.confidentiality))
    return out
