"""Serial-over-LAN without I/O: the SOL payload, its commands and parameters [15, 24, 26].

A SOL session is RMCP+ payload type 1 inside an ordinary (encrypted and
authenticated) session, switched on with Activate Payload.  Each side sends
character data in numbered packets (sequence 1-15, 0 for a bare ACK) and
acknowledges the other's with the number of characters it accepted; one
packet per direction is in flight at a time, resent until acknowledged.
The BMC end is in ``sol_bmc``, the console end in ``sol_client``; both
build and parse with this module.

A serial port is anything that satisfies :class:`SerialPort`: the lab's
machines have one (lab/serial.py), the default BMC handler a loopback plug.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from barecloud.wire.ipmi.errors import IpmiProtocolError

NETFN_TRANSPORT = 0x0C
CMD_ACTIVATE_PAYLOAD = 0x48
CMD_DEACTIVATE_PAYLOAD = 0x49
CMD_GET_PAYLOAD_ACTIVATION_STATUS = 0x4A
CMD_GET_PAYLOAD_INSTANCE_INFO = 0x4B
CMD_GET_CHANNEL_PAYLOAD_SUPPORT = 0x4E
CMD_SET_SOL_CONFIG = 0x21
CMD_GET_SOL_CONFIG = 0x22

PAYLOAD_SOL = 0x01
SOL_INSTANCES = 1  # one SOL session per BMC, as on most real ones
CHANNEL_LAN = 0x01
CHANNEL_CURRENT = 0x0E

# Activate / Deactivate Payload completion codes [24.1, 24.2].
CC_PAYLOAD_ACTIVE = 0x80  # activate: already active on another session; deactivate: not active
CC_PAYLOAD_DISABLED = 0x81
CC_PAYLOAD_LIMIT = 0x82
CC_NEEDS_NO_ENCRYPTION = 0x83  # "cannot activate payload with encryption"
CC_NEEDS_ENCRYPTION = 0x84  # "cannot activate payload without encryption"
# Set/Get SOL Configuration Parameters [26.2, 26.3].
CC_SOL_PARAM_NOT_SUPPORTED = 0x80
CC_SOL_SET_IN_PROGRESS = 0x81
CC_SOL_READ_ONLY = 0x82

# Activate Payload auxiliary data, byte 1.
AUX_ENCRYPT = 0x80
AUX_AUTHENTICATE = 0x40

# Operation/status byte of a SOL packet [Table 15-2, 15-3].
SOL_NACK = 0x40
# console -> BMC
SOL_RING_WOR = 0x20
SOL_BREAK = 0x10
SOL_CTS_PAUSE = 0x08
SOL_DROP_DCD_DSR = 0x04
SOL_FLUSH_INBOUND = 0x02
SOL_FLUSH_OUTBOUND = 0x01
# BMC -> console
SOL_UNAVAILABLE = 0x20  # character transfer unavailable
SOL_DEACTIVATING = 0x10
SOL_OVERRUN = 0x08
SOL_BREAK_DETECTED = 0x04

# Characters per packet.  ipmitool counts them in a byte (and keeps them in
# 255-byte buffers), so neither side sends more than this, whatever the
# activation answer allowed.
MAX_CHARS = 200
SOL_HEADER = 4


@dataclass(frozen=True, slots=True)
class SolPacket:
    """One SOL payload: sequence (0: ACK only), the ACK/NACK it carries, data [15.9]."""

    seq: int = 0
    ack: int = 0
    accepted: int = 0
    status: int = 0
    data: bytes = b""

    def encode(self) -> bytes:
        return bytes((self.seq & 0x0F, self.ack & 0x0F, self.accepted & 0xFF, self.status)) + (
            self.data
        )

    @classmethod
    def decode(cls, payload: bytes) -> SolPacket:
        if len(payload) < SOL_HEADER:
            raise IpmiProtocolError("SOL packet shorter than its header")
        return cls(payload[0] & 0x0F, payload[1] & 0x0F, payload[2], payload[3], payload[4:])

    @property
    def nack(self) -> bool:
        return bool(self.status & SOL_NACK)


def next_sol_seq(seq: int) -> int:
    """The packet sequence after ``seq``: 1..15, wrapping; 0 is never used for data."""
    return seq % 15 + 1


@dataclass(frozen=True, slots=True)
class PayloadActivation:
    """The Activate Payload answer: buffer sizes and where the payload goes [24.1]."""

    inbound: int  # largest payload the BMC takes from the console
    outbound: int  # largest payload the BMC sends
    port: int
    vlan: int = 0xFFFF  # none
    aux: bytes = bytes(4)

    def encode(self) -> bytes:
        return self.aux + struct.pack("<HHHH", self.inbound, self.outbound, self.port, self.vlan)

    @classmethod
    def decode(cls, data: bytes) -> PayloadActivation:
        if len(data) < 12:
            raise IpmiProtocolError("Activate Payload answer truncated")
        inbound, outbound, port, vlan = struct.unpack_from("<HHHH", data, 4)
        return cls(inbound, outbound, port, vlan, bytes(data[:4]))


# --- SOL configuration parameters [26.3, Table 26-5] ---------------------------

PARAM_SET_IN_PROGRESS = 0
PARAM_ENABLE = 1
PARAM_AUTHENTICATION = 2
PARAM_ACCUMULATE = 3
PARAM_RETRY = 4
PARAM_NV_BIT_RATE = 5
PARAM_BIT_RATE = 6
PARAM_CHANNEL = 7
PARAM_PORT = 8
PARAM_REVISION = 0x11
READ_ONLY_PARAMS = frozenset({PARAM_CHANNEL, PARAM_PORT})
BIT_RATES = {0x06: 9600, 0x07: 19200, 0x08: 38400, 0x09: 57600, 0x0A: 115200}


class SolConfig:
    """A BMC's SOL parameters, kept as their bytes.

    Defaults: enabled, encryption and authentication forced, User privilege
    to activate, 10 ms / 100 characters accumulation, 7 retries 100 ms
    apart, 115.2 kbit/s.  The payload port is the BMC's own (read-only: SOL
    goes on the session's port, the only one ipmitool supports).
    """

    def __init__(self) -> None:
        self.values: dict[int, bytes] = {
            PARAM_SET_IN_PROGRESS: b"\x00",
            PARAM_ENABLE: b"\x01",
            PARAM_AUTHENTICATION: b"\xc2",
            PARAM_ACCUMULATE: bytes((2, 100)),
            PARAM_RETRY: bytes((7, 10)),
            PARAM_NV_BIT_RATE: b"\x0a",
            PARAM_BIT_RATE: b"\x0a",
            PARAM_CHANNEL: bytes((CHANNEL_LAN,)),
        }

    def get(self, param: int, port: int) -> bytes:
        """The parameter's data; KeyError if it is not one of ours."""
        if param == PARAM_PORT:
            return struct.pack("<H", port)
        return self.values[param]

    def set(self, param: int, data: bytes) -> int:
        """Store a parameter; the completion code (0 when stored)."""
        if param == PARAM_PORT or param in READ_ONLY_PARAMS:
            return CC_SOL_READ_ONLY
        current = self.values.get(param)
        if current is None:
            return CC_SOL_PARAM_NOT_SUPPORTED
        if len(data) < len(current):
            raise ValueError("parameter data too short")
        value = bytes(data[: len(current)])
        if param == PARAM_SET_IN_PROGRESS:
            state = value[0] & 0x03
            if state == 1 and current[0] & 0x03 == 1:
                return CC_SOL_SET_IN_PROGRESS
            value = bytes((0 if state == 2 else state,))  # commit write: done at once
        elif param in (PARAM_NV_BIT_RATE, PARAM_BIT_RATE) and value[0] & 0x0F not in (
            0,
            *BIT_RATES,
        ):
            raise ValueError("unknown bit rate")
        self.values[param] = value
        return 0

    @property
    def enabled(self) -> bool:
        return bool(self.values[PARAM_ENABLE][0] & 0x01)

    @property
    def force_encryption(self) -> bool:
        return bool(self.values[PARAM_AUTHENTICATION][0] & 0x80)

    @property
    def privilege(self) -> int:
        return self.values[PARAM_AUTHENTICATION][0] & 0x0F or 2

    @property
    def accumulate(self) -> tuple[float, int]:
        """(seconds to gather characters before sending, characters that send at once)."""
        interval, threshold = self.values[PARAM_ACCUMULATE]
        return max(interval, 1) * 0.005, max(threshold, 1)

    @property
    def retry(self) -> tuple[int, float]:
        """(retransmissions after the first send, seconds between them)."""
        count, interval = self.values[PARAM_RETRY]
        return count & 0x07, max(interval, 1) * 0.01


# --- the machine's side --------------------------------------------------------


class SerialPort(Protocol):
    """A machine's serial port, as its BMC's SOL sees it.

    ``attach`` connects a listener to everything the machine prints from
    now on and returns what it printed recently (so a console that comes in
    late sees the boot); ``write`` is what was typed.  Listeners are called
    on the BMC's event loop.
    """

    def attach(self, listener: Callable[[bytes], None]) -> bytes: ...

    def detach(self, listener: Callable[[bytes], None]) -> None: ...

    def write(self, data: bytes) -> None: ...


class LoopbackPlug:
    """A loopback plug on the serial port: what is typed comes straight back.

    The default handler's port (a BMC without a machine), so that SOL can
    be tried and tested with nothing behind it.
    """

    def __init__(self, banner: bytes = b"") -> None:
        self.banner = banner
        self.listeners: list[Callable[[bytes], None]] = []

    def attach(self, listener: Callable[[bytes], None]) -> bytes:
        self.listeners.append(listener)
        return self.banner

    def detach(self, listener: Callable[[bytes], None]) -> None:
        if listener in self.listeners:
            self.listeners.remove(listener)

    def write(self, data: bytes) -> None:
        for listener in list(self.listeners):
            listener(data)
