"""RMCP+ session set-up: privilege levels, Open Session and RAKP 1-4, replay window.

The messages that establish a session [13.17-13.22] and the rules that
guard one afterwards [13.29]; the keys they lead to are in ``crypto``.
"""

from __future__ import annotations

import enum
import os
import struct
from dataclasses import dataclass

from barecloud.wire.ipmi.errors import STATUS_OK, IpmiProtocolError


class Privilege(enum.IntEnum):
    """Session privilege levels; commands need a minimum one [Appendix G]."""

    CALLBACK = 1
    USER = 2
    OPERATOR = 3
    ADMINISTRATOR = 4
    OEM = 5


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
