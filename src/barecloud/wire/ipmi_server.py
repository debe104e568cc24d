"""Many IPMI 2.0 (lanplus) BMCs in one asyncio event loop.

Why not pyghmi's emulator: it multiplexes with ``select()`` (about 1,000
sockets per process), takes a thread per process and has concurrency
defects (see LAB-NOTES).  Here every BMC is one UDP endpoint on the running
loop (epoll: no descriptor ceiling but ``RLIMIT_NOFILE``), so one process
serves thousands, and ``ipmitool -I lanplus`` talks to each as to a real
BMC: cipher suites 3 and 17, privilege levels, session sequence windows,
idle timeout, duplicate-request replay.

What a BMC *does* is up to its :class:`BmcHandler`; the default keeps power
and boot flags in memory, and the lab subclasses it to start and stop
machines.  Handlers are plain synchronous callbacks, as on a real BMC the
chassis command is acknowledged at once and its effect follows: a handler
that needs to do slow work schedules it (``asyncio.create_task``) and
returns.  Raise :class:`CommandRefused` to answer a completion code.

Run standalone (used by tests and benchmarks)::

    python -m barecloud.wire.ipmi_server --count 1000 --user admin --password secret

prints one JSON line ``{"ports": [...]}`` once every BMC listens, then
serves until SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import json
import logging
import os
import resource
import signal
import struct
import sys
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import cast

from barecloud.wire import ipmi
from barecloud.wire.ipmi import (
    BootOptions,
    ChassisStatus,
    CipherSuite,
    DeviceId,
    IpmiProtocolError,
    IpmiRequest,
    Packet,
    PayloadType,
    PowerAction,
    Privilege,
    SeqWindow,
    SessionKeys,
)

log = logging.getLogger(__name__)

Address = tuple[str, int]

# How long a repeated request (same rqSeq, command and data) is answered
# from the cache instead of being executed again: a retransmitted "power
# cycle" must not cycle the machine twice.
DUPLICATE_WINDOW = 5.0


def ipmi_guid(guid: uuid.UUID) -> bytes:
    """A GUID as IPMI sends it: the RFC 4122 bytes in reverse order [20.8]."""
    return guid.bytes[::-1]


class CommandRefused(Exception):
    """Raised by a handler to answer a non-zero completion code."""

    def __init__(self, code: int) -> None:
        super().__init__(ipmi.completion_text(code))
        self.code = code


class BmcHandler:
    """The machine behind one BMC; the default one only keeps state.

    Override the methods to drive a real (virtual) machine.  ``on_boot`` is
    called whenever the machine (re)starts, and clears one-time boot flags
    as firmware does after using them.
    """

    def __init__(self, power_on: bool = False, guid: uuid.UUID | None = None) -> None:
        self.power_on = power_on
        self.boot = BootOptions(valid=False)
        self.guid = guid or uuid.uuid4()
        self.boots = 0  # how many times the machine started: tests watch this

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
class _Session:
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
class _Command:
    privilege: Privilege
    run: Callable[[Bmc, _Session, IpmiRequest], bytes]


class Bmc(asyncio.DatagramProtocol):
    """One BMC: a UDP endpoint, its users, its sessions and its handler."""

    def __init__(
        self,
        server: BmcServer,
        handler: BmcHandler,
        users: Mapping[str, str],
        kg: bytes | None = None,
    ) -> None:
        self.server = server
        self.handler = handler
        self.users = {name.encode(): password.encode() for name, password in users.items()}
        self.kg = kg
        self.sessions: dict[int, _Session] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self.address: Address = ("", 0)
        # Boot option parameters other than the flags: kept, not acted on.
        self.boot_params: dict[int, bytes] = {
            ipmi.BOOT_PARAM_SET_IN_PROGRESS: b"\x00",
            ipmi.BOOT_PARAM_FLAG_VALID_CLEARING: b"\x00",
            ipmi.BOOT_PARAM_INFO_ACK: b"\x00\x00",
        }

    @property
    def port(self) -> int:
        return self.address[1]

    # --- asyncio.DatagramProtocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # (3.11's selector transport does not subclass DatagramTransport.)
        self.transport = cast(asyncio.DatagramTransport, transport)
        self.address = transport.get_extra_info("sockname")[:2]

    def datagram_received(self, data: bytes, addr: Address) -> None:
        try:
            self._dispatch(data, addr)
        except IpmiProtocolError as exc:
            log.debug("BMC %s: dropped a packet from %s: %s", self.port, addr, exc)
        except Exception:  # one bad packet must not take the BMC down
            log.exception("BMC %s: error on a packet from %s", self.port, addr)

    def error_received(self, exc: Exception) -> None:
        log.debug("BMC %s: %s", self.port, exc)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self.sessions.clear()

    # --- packets

    def _send(self, data: bytes, addr: Address) -> None:
        if self.transport is not None:
            self.transport.sendto(data, addr)

    def _dispatch(self, data: bytes, addr: Address) -> None:
        if ipmi.is_asf(data):
            mtype, tag, _ = ipmi.parse_asf(data)
            if mtype == ipmi.ASF_PING:
                self._send(ipmi.build_asf_pong(tag), addr)
            return
        pkt = ipmi.parse_packet(data)
        if pkt.session_id == 0:
            self._presession(pkt, addr)
        else:
            self._in_session(pkt, addr)

    def _presession(self, pkt: Packet, addr: Address) -> None:
        ptype = pkt.payload_type
        if ptype == PayloadType.IPMI:
            req = IpmiRequest.decode(pkt.payload)
            if req.netfn != ipmi.NETFN_APP or req.command not in (
                ipmi.CMD_GET_CHANNEL_AUTH_CAPABILITIES,
                ipmi.CMD_GET_CHANNEL_CIPHER_SUITES,
            ):
                raise IpmiProtocolError(f"sessionless netfn {req.netfn} cmd {req.command}")
            code, body = self._run(_SESSIONLESS[req.command], _NO_SESSION, req)
            msg = req.response(code, body).encode()
            if pkt.auth_type == ipmi.AUTH_TYPE_NONE:
                self._send(ipmi.build_v15_packet(msg), addr)
            else:
                self._send(ipmi.build_v20_packet(PayloadType.IPMI, msg), addr)
        elif ptype == PayloadType.OPEN_SESSION_REQUEST:
            self._open_session(ipmi.OpenSessionRequest.decode(pkt.payload), addr)
        elif ptype == PayloadType.RAKP1:
            self._rakp1(ipmi.Rakp1.decode(pkt.payload), addr)
        elif ptype == PayloadType.RAKP3:
            self._rakp3(ipmi.Rakp3.decode(pkt.payload), addr)
        else:
            raise IpmiProtocolError(f"unexpected pre-session payload type {ptype:#x}")

    def _open_session(self, req: ipmi.OpenSessionRequest, addr: Address) -> None:
        now = self.server.now()
        for s in self.sessions.values():
            if s.addr == addr and s.console_sid == req.console_sid and s.state == "open":
                self._send(s.open_response, addr)  # a retransmitted request
                return
        suite = ipmi.suite_for(req.auth, req.integrity, req.confidentiality)
        status = ipmi.STATUS_OK
        privilege = req.privilege or Privilege.ADMINISTRATOR
        if suite is None or suite.id not in self.server.cipher_suites:
            status = ipmi.STATUS_NO_CIPHER_SUITE
        elif privilege > Privilege.OEM:
            status = ipmi.STATUS_INVALID_ROLE
        elif privilege > Privilege.ADMINISTRATOR:
            status = ipmi.STATUS_UNAUTHORIZED_ROLE
        else:
            self.server.expire(self, now)
            if len(self.sessions) >= self.server.max_sessions:
                status = ipmi.STATUS_NO_RESOURCES
        if status != ipmi.STATUS_OK or suite is None:
            rsp = ipmi.OpenSessionResponse(req.tag, status, 0, req.console_sid)
            self._send(ipmi.build_v20_packet(PayloadType.OPEN_SESSION_RESPONSE, rsp.encode()), addr)
            return
        bmc_sid = ipmi.random_session_id()
        while bmc_sid in self.sessions:
            bmc_sid = ipmi.random_session_id()
        rsp = ipmi.OpenSessionResponse(
            req.tag, 0, privilege, req.console_sid, bmc_sid,
            suite.auth, suite.integrity, suite.confidentiality,
        )  # fmt: skip
        packet = ipmi.build_v20_packet(PayloadType.OPEN_SESSION_RESPONSE, rsp.encode())
        self.sessions[bmc_sid] = _Session(bmc_sid, req.console_sid, addr, suite, packet, now)
        self._send(packet, addr)

    def _rakp1(self, msg: ipmi.Rakp1, addr: Address) -> None:
        s = self.sessions.get(msg.bmc_sid)
        if s is None or s.addr != addr or s.state == "active":
            self._rakp2_error(msg.tag, ipmi.STATUS_INVALID_SESSION_ID, 0, addr)
            return
        if s.state == "rakp2" and msg.rm == s.rm:
            self._send(s.rakp2, addr)  # a retransmitted RAKP1
            return
        privilege = msg.role & 0x0F
        status = ipmi.STATUS_OK
        password = self.users.get(msg.username)
        if not Privilege.CALLBACK <= privilege <= Privilege.OEM:
            status = ipmi.STATUS_INVALID_ROLE
        elif len(msg.username) > 16:
            status = ipmi.STATUS_INVALID_NAME_LENGTH
        elif password is None:
            status = ipmi.STATUS_UNAUTHORIZED_NAME
        elif privilege > Privilege.ADMINISTRATOR:
            status = ipmi.STATUS_UNAUTHORIZED_ROLE
        if status != ipmi.STATUS_OK or password is None:
            del self.sessions[s.bmc_sid]  # a failed RAKP ends the session attempt
            self._rakp2_error(msg.tag, status, s.console_sid, addr)
            return
        s.state, s.rm, s.rc, s.role, s.username, s.kuid = (
            "rakp2", msg.rm, os.urandom(16), msg.role, msg.username, password,
        )  # fmt: skip
        s.max_privilege = privilege
        s.last_seen = self.server.now()
        guid = ipmi_guid(self.handler.guid)
        code = ipmi.rakp2_auth_code(
            s.suite, password, s.console_sid, s.bmc_sid, s.rm, s.rc, guid, s.role, s.username
        )
        rsp = ipmi.Rakp2(msg.tag, 0, s.console_sid, s.rc, guid, code)
        s.rakp2 = ipmi.build_v20_packet(PayloadType.RAKP2, rsp.encode())
        self._send(s.rakp2, addr)

    def _rakp2_error(self, tag: int, status: int, console_sid: int, addr: Address) -> None:
        rsp = ipmi.Rakp2(tag, status, console_sid)
        self._send(ipmi.build_v20_packet(PayloadType.RAKP2, rsp.encode()), addr)

    def _rakp3(self, msg: ipmi.Rakp3, addr: Address) -> None:
        s = self.sessions.get(msg.bmc_sid)
        if s is None or s.addr != addr:
            rsp = ipmi.Rakp4(msg.tag, ipmi.STATUS_INVALID_SESSION_ID, 0)
            self._send(ipmi.build_v20_packet(PayloadType.RAKP4, rsp.encode()), addr)
            return
        if s.state == "active" and s.rakp4:
            self._send(s.rakp4, addr)  # a retransmitted RAKP3
            return
        if s.state != "rakp2":
            return
        if msg.status != ipmi.STATUS_OK:
            # The console refused our RAKP2 (e.g. its password differs).
            del self.sessions[s.bmc_sid]
            return
        expected = ipmi.rakp3_auth_code(s.suite, s.kuid, s.rc, s.console_sid, s.role, s.username)
        if not hmac.compare_digest(expected, msg.auth_code):
            del self.sessions[s.bmc_sid]
            rsp = ipmi.Rakp4(msg.tag, ipmi.STATUS_INVALID_INTEGRITY, s.console_sid)
            self._send(ipmi.build_v20_packet(PayloadType.RAKP4, rsp.encode()), addr)
            return
        kg = self.kg or s.kuid
        s.keys = ipmi.derive_keys(s.suite, kg, s.rm, s.rc, s.role, s.username)
        s.state = "active"
        s.privilege = min(Privilege.USER, s.max_privilege)  # raise with Set Session Privilege
        s.last_seen = self.server.now()
        icv = ipmi.rakp4_icv(s.suite, s.keys.sik, s.rm, s.bmc_sid, ipmi_guid(self.handler.guid))
        rsp = ipmi.Rakp4(msg.tag, 0, s.console_sid, icv)
        s.rakp4 = ipmi.build_v20_packet(PayloadType.RAKP4, rsp.encode())
        self._send(s.rakp4, addr)

    def _in_session(self, pkt: Packet, addr: Address) -> None:
        s = self.sessions.get(pkt.session_id)
        if s is None or s.state != "active" or s.keys is None:
            # Real BMCs are silent here; the console notices by timing out.
            raise IpmiProtocolError(f"no active session {pkt.session_id:#x}")
        if s.addr != addr:
            raise IpmiProtocolError(f"session {pkt.session_id:#x} from another address")
        payload = ipmi.open_packet(pkt, s.keys)
        if not s.window.accept(pkt.seq):
            raise IpmiProtocolError(f"replayed or stale session sequence {pkt.seq}")
        now = self.server.now()
        s.last_seen = now
        if pkt.payload_type != PayloadType.IPMI:
            raise IpmiProtocolError(f"payload type {pkt.payload_type:#x} not supported")
        req = IpmiRequest.decode(payload)
        key = (req.seq, req.netfn, req.command, req.data)
        if key == s.last_request and now - s.last_request_at < DUPLICATE_WINDOW:
            msg = s.last_response  # a retransmission: answer again, do not act again
        else:
            command = _COMMANDS.get((req.netfn, req.command))
            if command is None:
                code, body = ipmi.CC_INVALID_COMMAND, b""
            elif s.privilege < command.privilege:
                code, body = ipmi.CC_INSUFFICIENT_PRIVILEGE, b""
            else:
                code, body = self._run(command, s, req)
            msg = req.response(code, body).encode()
            s.last_request, s.last_response, s.last_request_at = key, msg, now
        packet = ipmi.build_v20_packet(PayloadType.IPMI, msg, s.console_sid, s.next_seq(), s.keys)
        self._send(packet, addr)
        if s.state == "closed":
            self.sessions.pop(s.bmc_sid, None)

    def _run(self, command: _Command, s: _Session, req: IpmiRequest) -> tuple[int, bytes]:
        try:
            return ipmi.CC_OK, command.run(self, s, req)
        except CommandRefused as exc:
            return exc.code, b""
        except (IndexError, ValueError, IpmiProtocolError):
            return ipmi.CC_INVALID_DATA, b""
        except Exception:
            log.exception(
                "BMC %s: handler failed on netfn %s cmd %s", self.port, req.netfn, req.command
            )
            return ipmi.CC_UNSPECIFIED, b""


# Stands in for the session of sessionless commands, which never touch it.
_NO_SESSION = _Session(0, 0, ("", 0), ipmi.CIPHER_SUITES[3], b"", 0.0)


# --- commands -----------------------------------------------------------------


def _auth_caps(bmc: Bmc, s: _Session, req: IpmiRequest) -> bytes:
    if len(req.data) < 2:
        raise CommandRefused(ipmi.CC_REQUEST_LENGTH_INVALID)
    if req.data[1] & 0x0F > Privilege.OEM:
        raise CommandRefused(ipmi.CC_INVALID_DATA)
    extended = bool(req.data[0] & 0x80)
    return ipmi.ChannelAuthCapabilities(auth_types=0x80 if extended else 0x00).encode()


def _cipher_suites(bmc: Bmc, s: _Session, req: IpmiRequest) -> bytes:
    if len(req.data) < 3:
        raise CommandRefused(ipmi.CC_REQUEST_LENGTH_INVALID)
    index = req.data[2] & 0x3F
    records = ipmi.cipher_suite_records(sorted(bmc.server.cipher_suites))
    return b"\x01" + records[16 * index : 16 * index + 16]


def _set_privilege(bmc: Bmc, s: _Session, req: IpmiRequest) -> bytes:
    wanted = req.data[0] & 0x0F
    if wanted:
        if wanted > s.max_privilege:
            raise CommandRefused(0x81)  # exceeds the limit set at session set-up
        if wanted < Privilege.USER:
            raise CommandRefused(0x80)  # "requested level not available for this user"
        s.privilege = wanted
    return bytes((s.privilege,))


def _close_session(bmc: Bmc, s: _Session, req: IpmiRequest) -> bytes:
    (sid,) = struct.unpack_from("<I", req.data)
    if sid == s.bmc_sid:
        s.state = "closed"  # removed after the response is sent
    elif sid in bmc.sessions and s.privilege >= Privilege.ADMINISTRATOR:
        del bmc.sessions[sid]
    elif sid in bmc.sessions:
        raise CommandRefused(ipmi.CC_INSUFFICIENT_PRIVILEGE)
    else:
        raise CommandRefused(ipmi.CC_INVALID_SESSION_ID)
    return b""


def _device_id(bmc: Bmc, s: _Session, req: IpmiRequest) -> bytes:
    return bmc.handler.device_id().encode()


def _self_test(bmc: Bmc, s: _Session, req: IpmiRequest) -> bytes:
    return b"\x55\x00"  # "no error, all self tests passed"


def _guid(bmc: Bmc, s: _Session, req: IpmiRequest) -> bytes:
    return ipmi_guid(bmc.handler.guid)


def _chassis_status(bmc: Bmc, s: _Session, req: IpmiRequest) -> bytes:
    return ChassisStatus(bmc.handler.power_state()).encode()


def _chassis_control(bmc: Bmc, s: _Session, req: IpmiRequest) -> bytes:
    bmc.handler.chassis_control(PowerAction.from_code(req.data[0] & 0x0F))
    return b""


def _set_boot_options(bmc: Bmc, s: _Session, req: IpmiRequest) -> bytes:
    param = req.data[0] & 0x7F
    value = bytes(req.data[1:])
    if param == ipmi.BOOT_PARAM_BOOT_FLAGS:
        if len(value) < 5:
            raise CommandRefused(ipmi.CC_REQUEST_LENGTH_INVALID)
        bmc.handler.set_boot_options(BootOptions.decode(value))
    elif param in bmc.boot_params:
        if len(value) < len(bmc.boot_params[param]):
            raise CommandRefused(ipmi.CC_REQUEST_LENGTH_INVALID)
        bmc.boot_params[param] = value[: len(bmc.boot_params[param])]
    else:
        raise CommandRefused(ipmi.CC_PARAM_NOT_SUPPORTED)
    return b""


def _get_boot_options(bmc: Bmc, s: _Session, req: IpmiRequest) -> bytes:
    param = req.data[0] & 0x7F
    if param == ipmi.BOOT_PARAM_BOOT_FLAGS:
        value = bmc.handler.boot_options().encode()
    elif param in bmc.boot_params:
        value = bmc.boot_params[param]
    else:
        raise CommandRefused(ipmi.CC_PARAM_NOT_SUPPORTED)
    return bytes((0x01, param)) + value  # parameter version 1, valid/unlocked


_SESSIONLESS = {
    ipmi.CMD_GET_CHANNEL_AUTH_CAPABILITIES: _Command(Privilege.CALLBACK, _auth_caps),
    ipmi.CMD_GET_CHANNEL_CIPHER_SUITES: _Command(Privilege.CALLBACK, _cipher_suites),
}
# Minimum privilege per command, from the spec's command table [Appendix G].
_COMMANDS: dict[tuple[int, int], _Command] = {
    (ipmi.NETFN_APP, ipmi.CMD_GET_CHANNEL_AUTH_CAPABILITIES): _SESSIONLESS[0x38],
    (ipmi.NETFN_APP, ipmi.CMD_GET_CHANNEL_CIPHER_SUITES): _SESSIONLESS[0x54],
    (ipmi.NETFN_APP, ipmi.CMD_SET_SESSION_PRIVILEGE_LEVEL): _Command(
        Privilege.USER, _set_privilege
    ),
    (ipmi.NETFN_APP, ipmi.CMD_CLOSE_SESSION): _Command(Privilege.CALLBACK, _close_session),
    (ipmi.NETFN_APP, ipmi.CMD_GET_DEVICE_ID): _Command(Privilege.USER, _device_id),
    (ipmi.NETFN_APP, ipmi.CMD_GET_SELF_TEST_RESULTS): _Command(Privilege.USER, _self_test),
    (ipmi.NETFN_APP, ipmi.CMD_GET_DEVICE_GUID): _Command(Privilege.USER, _guid),
    (ipmi.NETFN_APP, ipmi.CMD_GET_SYSTEM_GUID): _Command(Privilege.USER, _guid),
    (ipmi.NETFN_CHASSIS, ipmi.CMD_GET_CHASSIS_STATUS): _Command(Privilege.USER, _chassis_status),
    (ipmi.NETFN_CHASSIS, ipmi.CMD_CHASSIS_CONTROL): _Command(Privilege.OPERATOR, _chassis_control),
    (ipmi.NETFN_CHASSIS, ipmi.CMD_SET_SYSTEM_BOOT_OPTIONS): _Command(
        Privilege.OPERATOR, _set_boot_options
    ),
    (ipmi.NETFN_CHASSIS, ipmi.CMD_GET_SYSTEM_BOOT_OPTIONS): _Command(
        Privilege.OPERATOR, _get_boot_options
    ),
}


# --- the server -----------------------------------------------------------------


class BmcServer:
    """Hosts any number of BMCs on the running event loop.

    ``idle_timeout`` ends sessions nobody used for that long (the spec's
    default is 60 s); ``max_sessions`` per BMC answers "insufficient
    resources" beyond it, as real BMCs (4 to 30 sessions) do.
    """

    def __init__(
        self,
        *,
        idle_timeout: float = 60.0,
        max_sessions: int = 32,
        cipher_suites: Iterable[int] = (3, 17),
    ) -> None:
        self.idle_timeout = idle_timeout
        self.max_sessions = max_sessions
        self.cipher_suites = frozenset(cipher_suites)
        for sid in self.cipher_suites:
            ipmi.cipher_suite(sid)  # reject unknown suites early
        self.bmcs: list[Bmc] = []
        self._sweeper: asyncio.Task[None] | None = None

    def now(self) -> float:
        return asyncio.get_running_loop().time()

    async def add(
        self,
        handler: BmcHandler,
        users: Mapping[str, str],
        host: str = "127.0.0.1",
        port: int = 0,
        kg: bytes | None = None,
    ) -> Bmc:
        """Start one BMC listening on ``host:port`` (0: any free port)."""
        loop = asyncio.get_running_loop()
        bmc = Bmc(self, handler, users, kg)
        await loop.create_datagram_endpoint(lambda: bmc, local_addr=(host, port))
        self.bmcs.append(bmc)
        if self._sweeper is None:
            self._sweeper = loop.create_task(self._sweep())
        return bmc

    def remove(self, bmc: Bmc) -> None:
        bmc.close()
        self.bmcs.remove(bmc)

    def expire(self, bmc: Bmc, now: float) -> None:
        dead = [sid for sid, s in bmc.sessions.items() if now - s.last_seen > self.idle_timeout]
        for sid in dead:
            del bmc.sessions[sid]

    async def _sweep(self) -> None:
        period = max(0.1, min(self.idle_timeout / 4, 10.0))
        while True:
            await asyncio.sleep(period)
            now = self.now()
            for bmc in self.bmcs:
                if bmc.sessions:
                    self.expire(bmc, now)

    async def close(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        for bmc in self.bmcs:
            bmc.close()
        self.bmcs.clear()


def raise_open_files_limit(wanted: int) -> int:
    """Lift the soft RLIMIT_NOFILE towards ``wanted`` (capped by the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


async def _serve(args: argparse.Namespace) -> None:
    raise_open_files_limit(args.count + 256)
    server = BmcServer(idle_timeout=args.idle_timeout, max_sessions=args.max_sessions)
    users = {args.user: args.password}
    for i in range(args.count):
        port = args.base_port + i if args.base_port else 0
        await server.add(BmcHandler(), users, args.host, port)
    print(json.dumps({"ports": [b.port for b in server.bmcs]}), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.close()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Serve N lab BMCs (IPMI 2.0 lanplus).")
    parser.add_argument("--count", type=int, default=1)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--base-port", type=int, default=0, help="0: free ports")
    parser.add_argument("--user", default="admin")
    parser.add_argument("--password", default=os.environ.get("BMC_PASSWORD", "password"))
    parser.add_argument("--idle-timeout", type=float, default=60.0)
    parser.add_argument("--max-sessions", type=int, default=32)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.debug else logging.WARNING, stream=sys.stderr)
    asyncio.run(_serve(args))


if __name__ == "__main__":
    main()
