"""What a lab BMC answers: the machine behind it (:class:`BmcHandler`) and its commands.

Handlers are plain synchronous callbacks: as on a real BMC the chassis
command is acknowledged at once and its effect follows, so a handler that
needs slow work schedules it (``asyncio.create_task``) and returns.  Raise
:class:`CommandRefused` to answer a completion code.  The session set-up
and packet handling that lead here are in ``server``.
"""

from __future__ import annotations

import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

from barecloud.wire.ipmi.commands import (
    BOOT_PARAM_BOOT_FLAGS,
    CMD_CHASSIS_CONTROL,
    CMD_CLOSE_SESSION,
    CMD_GET_CHANNEL_AUTH_CAPABILITIES,
    CMD_GET_CHANNEL_CIPHER_SUITES,
    CMD_GET_CHASSIS_STATUS,
    CMD_GET_DEVICE_GUID,
    CMD_GET_DEVICE_ID,
    CMD_GET_SELF_TEST_RESULTS,
    CMD_GET_SYSTEM_BOOT_OPTIONS,
    CMD_GET_SYSTEM_GUID,
    CMD_SET_SESSION_PRIVILEGE_LEVEL,
    CMD_SET_SYSTEM_BOOT_OPTIONS,
    NETFN_APP,
    NETFN_CHASSIS,
    BootOptions,
    ChannelAuthCapabilities,
    ChassisStatus,
    DeviceId,
    PowerAction,
    cipher_suite_records,
)
from barecloud.wire.ipmi.crypto import CIPHER_SUITES, CipherSuite, SessionKeys
from barecloud.wire.ipmi.errors import (
    CC_INSUFFICIENT_PRIVILEGE,
    CC_INVALID_DATA,
    CC_INVALID_SESSION_ID,
    CC_PARAM_NOT_SUPPORTED,
    CC_REQUEST_LENGTH_INVALID,
    completion_text,
)
from barecloud.wire.ipmi.framing import IpmiRequest
from barecloud.wire.ipmi.session import Privilege, SeqWindow
from barecloud.wire.ipmi.sol import LoopbackPlug, SerialPort

Address = tuple[str, int]


def ipmi_guid(guid: uuid.UUID) -> bytes:
    """A GUID as IPMI sends it: the RFC 4122 bytes in reverse order [20.8]."""
    return guid.bytes[::-1]


class CommandRefused(Exception):
    """Raised by a handler to answer a non-zero completion code."""

    def __init__(self, code: int) -> None:
        super().__init__(completion_text(code))
        self.code = code


class BmcHandler:
    """The machine behind one BMC; the default one only keeps state.

    Override the methods to drive a real (virtual) machine.  ``on_boot`` is
    called whenever the machine (re)starts, and clears one-time boot flags
    as firmware does after using them.  ``serial_port`` is what Serial-over-LAN
    connects to (None: SOL disabled); here a loopback plug.
    """

    def __init__(self, power_on: bool = False, guid: uuid.UUID | None = None) -> None:
        self.power_on = power_on
        self.boot = BootOptions(valid=False)
        self.guid = guid or uuid.uuid4()
        self.boots = 0  # how many times the machine started: tests watch this
        self.serial: SerialPort | None = LoopbackPlug()

    def serial_port(self) -> SerialPort | None:
        return self.serial

    def power_state(self) -> bool:
        return self.power_on

    def chassis_control(self, action: PowerAction) -> None:
        if action in (PowerAction.OFF, PowerAction.SOFT):
            self.power_on = False
        elif action is PowerAction.ON:
            if not self.power_on:
                self.power_on = True
                self.on_boot()
        elif action is PowerAction.CYCLE:
            # From off, a cycle ends with the machine on, as most BMCs do.
            self.power_on = True
            self.on_boot()
        elif action is PowerAction.RESET and self.power_on:
            self.on_boot()
        # DIAG (NMI): nothing to do for a machine without an OS to interrupt.

    def on_boot(self) -> None:
        self.boots += 1
        if self.boot.valid and not self.boot.persistent:
            self.boot = BootOptions(valid=False)

    def boot_options(self) -> BootOptions:
        return self.boot

    def set_boot_options(self, options: BootOptions) -> None:
        self.boot = options

    def device_id(self) -> DeviceId:
        return DeviceId()


@dataclass(slots=True, eq=False)
class BmcSession:
    """One RMCP+ session: from Open Session to Close Session or idle timeout."""

    bmc_sid: int
    console_sid: int
    addr: Address
    suite: CipherSuite
    open_response: bytes  # replayed when the Open Session Request is retransmitted
    last_seen: float
    state: str = "open"  # open -> rakp2 -> active
    rm: bytes = b""
    rc: bytes = b""
    role: int = 0
    username: bytes = b""
    kuid: bytes = b""
    rakp2: bytes = b""  # replayed when RAKP1 is retransmitted
    rakp4: bytes = b""  # replayed when RAKP3 is retransmitted
    keys: SessionKeys | None = None
    max_privilege: int = Privilege.USER
    privilege: int = Privilege.USER
    out_seq: int = 0
    window: SeqWindow = field(default_factory=SeqWindow)
    last_request: tuple[int, int, int, bytes] | None = None
    last_response: bytes = b""
    last_request_at: float = 0.0

    def next_seq(self) -> int:
        self.out_seq = self.out_seq % 0xFFFFFFFF + 1
        return self.out_seq


@dataclass(frozen=True, slots=True)
class Command:
    privilege: Privilege
    run: Callable[[BmcState, BmcSession, IpmiRequest], bytes]


class BmcState(Protocol):
    """What commands see of a BMC (the BMC itself, :class:`~.server.Bmc`, runs them)."""

    handler: BmcHandler
    sessions: dict[int, BmcSession]
    boot_params: dict[int, bytes]

    @property
    def cipher_suites(self) -> frozenset[int]: ...


# Stands in for the session of sessionless commands, which never touch it.
NO_SESSION = BmcSession(0, 0, ("", 0), CIPHER_SUITES[3], b"", 0.0)


# --- commands -----------------------------------------------------------------


def _auth_caps(bmc: BmcState, s: BmcSession, req: IpmiRequest) -> bytes:
    if len(req.data) < 2:
        raise CommandRefused(CC_REQUEST_LENGTH_INVALID)
    if req.data[1] & 0x0F > Privilege.OEM:
        raise CommandRefused(CC_INVALID_DATA)
    extended = bool(req.data[0] & 0x80)
    return ChannelAuthCapabilities(auth_types=0x80 if extended else 0x00).encode()


def _cipher_suites(bmc: BmcState, s: BmcSession, req: IpmiRequest) -> bytes:
    if len(req.data) < 3:
        raise CommandRefused(CC_REQUEST_LENGTH_INVALID)
    index = req.data[2] & 0x3F
    records = cipher_suite_records(sorted(bmc.cipher_suites))
    return b"\x01" + records[16 * index : 16 * index + 16]


def _set_privilege(bmc: BmcState, s: BmcSession, req: IpmiRequest) -> bytes:
    wanted = req.data[0] & 0x0F
    if wanted:
        if wanted > s.max_privilege:
            raise CommandRefused(0x81)  # exceeds the limit set at session set-up
        if wanted < Privilege.USER:
            raise CommandRefused(0x80)  # "requested level not available for this user"
        s.privilege = wanted
    return bytes((s.privilege,))


def _close_session(bmc: BmcState, s: BmcSession, req: IpmiRequest) -> bytes:
    (sid,) = struct.unpack_from("<I", req.data)
    if sid == s.bmc_sid:
        s.state = "closed"  # removed after the response is sent
    elif sid in bmc.sessions and s.privilege >= Privilege.ADMINISTRATOR:
        del bmc.sessions[sid]
    elif sid in bmc.sessions:
        raise CommandRefused(CC_INSUFFICIENT_PRIVILEGE)
    else:
        raise CommandRefused(CC_INVALID_SESSION_ID)
    return b""


def _device_id(bmc: BmcState, s: BmcSession, req: IpmiRequest) -> bytes:
    return bmc.handler.device_id().encode()


def _self_test(bmc: BmcState, s: BmcSession, req: IpmiRequest) -> bytes:
    return b"\x55\x00"  # "no error, all self tests passed"


def _guid(bmc: BmcState, s: BmcSession, req: IpmiRequest) -> bytes:
    return ipmi_guid(bmc.handler.guid)


def _chassis_status(bmc: BmcState, s: BmcSession, req: IpmiRequest) -> bytes:
    return ChassisStatus(bmc.handler.power_state()).encode()


def _chassis_control(bmc: BmcState, s: BmcSession, req: IpmiRequest) -> bytes:
    bmc.handler.chassis_control(PowerAction.from_code(req.data[0] & 0x0F))
    return b""


def _set_boot_options(bmc: BmcState, s: BmcSession, req: IpmiRequest) -> bytes:
    param = req.data[0] & 0x7F
    value = bytes(req.data[1:])
    if param == BOOT_PARAM_BOOT_FLAGS:
        if len(value) < 5:
            raise CommandRefused(CC_REQUEST_LENGTH_INVALID)
        bmc.handler.set_boot_options(BootOptions.decode(value))
    elif param in bmc.boot_params:
        if len(value) < len(bmc.boot_params[param]):
            raise CommandRefused(CC_REQUEST_LENGTH_INVALID)
        bmc.boot_params[param] = value[: len(bmc.boot_params[param])]
    else:
        raise CommandRefused(CC_PARAM_NOT_SUPPORTED)
    return b""


def _get_boot_options(bmc: BmcState, s: BmcSession, req: IpmiRequest) -> bytes:
    param = req.data[0] & 0x7F
    if param == BOOT_PARAM_BOOT_FLAGS:
        value = bmc.handler.boot_options().encode()
    elif param in bmc.boot_params:
        value = bmc.boot_params[param]
    else:
        raise CommandRefused(CC_PARAM_NOT_SUPPORTED)
    return bytes((0x01, param)) + value  # parameter version 1, valid/unlocked


SESSIONLESS = {
    CMD_GET_CHANNEL_AUTH_CAPABILITIES: Command(Privilege.CALLBACK, _auth_caps),
    CMD_GET_CHANNEL_CIPHER_SUITES: Command(Privilege.CALLBACK, _cipher_suites),
}
# Minimum privilege per command, from the spec's command table [Appendix G].
COMMANDS: dict[tuple[int, int], Command] = {
    (NETFN_APP, CMD_GET_CHANNEL_AUTH_CAPABILITIES): SESSIONLESS[0x38],
    (NETFN_APP, CMD_GET_CHANNEL_CIPHER_SUITES): SESSIONLESS[0x54],
    (NETFN_APP, CMD_SET_SESSION_PRIVILEGE_LEVEL): Command(Privilege.USER, _set_privilege),
    (NETFN_APP, CMD_CLOSE_SESSION): Command(Privilege.CALLBACK, _close_session),
    (NETFN_APP, CMD_GET_DEVICE_ID): Command(Privilege.USER, _device_id),
    (NETFN_APP, CMD_GET_SELF_TEST_RESULTS): Command(Privilege.USER, _self_test),
    (NETFN_APP, CMD_GET_DEVICE_GUID): Command(Privilege.USER, _guid),
    (NETFN_APP, CMD_GET_SYSTEM_GUID): Command(Privilege.USER, _guid),
    (NETFN_CHASSIS, CMD_GET_CHASSIS_STATUS): Command(Privilege.USER, _chassis_status),
    (NETFN_CHASSIS, CMD_CHASSIS_CONTROL): Command(Privilege.OPERATOR, _chassis_control),
    (NETFN_CHASSIS, CMD_SET_SYSTEM_BOOT_OPTIONS): Command(Privilege.OPERATOR, _set_boot_options),
    (NETFN_CHASSIS, CMD_GET_SYSTEM_BOOT_OPTIONS): Command(Privilege.OPERATOR, _get_boot_options),
}
