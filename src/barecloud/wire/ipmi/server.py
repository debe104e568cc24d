"""Many IPMI 2.0 (lanplus) BMCs in one asyncio event loop.

Why not pyghmi's emulator: it multiplexes with ``select()`` (about 1,000
sockets per process), takes a thread per process and has concurrency
defects (see LAB-NOTES).  Here every BMC is one UDP endpoint on the running
loop (epoll: no descriptor ceiling but ``RLIMIT_NOFILE``), so one process
serves thousands, and ``ipmitool -I lanplus`` talks to each as to a real
BMC: cipher suites 3 and 17, privilege levels, session sequence windows,
idle timeout, duplicate-request replay.

What a BMC *does* is up to its :class:`~.handlers.BmcHandler`; the default
keeps power and boot flags in memory, and the lab subclasses it to start and
stop machines.  This module holds the packets and sessions that lead there.

Run standalone (used by tests and benchmarks)::

    python -m barecloud.wire.ipmi.server --count 1000 --user admin --password secret

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
import sys
from collections.abc import Iterable, Mapping
from typing import cast

from barecloud.wire.ipmi.commands import (
    BOOT_PARAM_FLAG_VALID_CLEARING,
    BOOT_PARAM_INFO_ACK,
    BOOT_PARAM_SET_IN_PROGRESS,
    CMD_GET_CHANNEL_AUTH_CAPABILITIES,
    CMD_GET_CHANNEL_CIPHER_SUITES,
    NETFN_APP,
)
from barecloud.wire.ipmi.crypto import (
    cipher_suite,
    derive_keys,
    rakp2_auth_code,
    rakp3_auth_code,
    rakp4_icv,
    suite_for,
)
from barecloud.wire.ipmi.errors import (
    CC_INSUFFICIENT_PRIVILEGE,
    CC_INVALID_COMMAND,
    CC_INVALID_DATA,
    CC_OK,
    CC_UNSPECIFIED,
    STATUS_INVALID_INTEGRITY,
    STATUS_INVALID_NAME_LENGTH,
    STATUS_INVALID_ROLE,
    STATUS_INVALID_SESSION_ID,
    STATUS_NO_CIPHER_SUITE,
    STATUS_NO_RESOURCES,
    STATUS_OK,
    STATUS_UNAUTHORIZED_NAME,
    STATUS_UNAUTHORIZED_ROLE,
    IpmiProtocolError,
)
from barecloud.wire.ipmi.framing import (
    ASF_PING,
    AUTH_TYPE_NONE,
    IpmiRequest,
    Packet,
    PayloadType,
    build_asf_pong,
    build_v15_packet,
    build_v20_packet,
    is_asf,
    open_packet,
    parse_asf,
    parse_packet,
)
from barecloud.wire.ipmi.handlers import (
    COMMANDS,
    NO_SESSION,
    SESSIONLESS,
    Address,
    BmcHandler,
    BmcSession,
    Command,
    CommandRefused,
    ipmi_guid,
)
from barecloud.wire.ipmi.session import (
    OpenSessionRequest,
    OpenSessionResponse,
    Privilege,
    Rakp1,
    Rakp2,
    Rakp3,
    Rakp4,
    random_session_id,
)
from barecloud.wire.ipmi.sol import SolConfig, SolPacket
from barecloud.wire.ipmi.sol_bmc import SOL_COMMANDS, SolSession

log = logging.getLogger(__name__)

# How long a repeated request (same rqSeq, command and data) is answered
# from the cache instead of being executed again: a retransmitted "power
# cycle" must not cycle the machine twice.
DUPLICATE_WINDOW = 5.0
_COMMANDS = {**COMMANDS, **SOL_COMMANDS}


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
        self.sessions: dict[int, BmcSession] = {}
        self.transport: asyncio.DatagramTransport | None = None
        self.address: Address = ("", 0)
        # Boot option parameters other than the flags: kept, not acted on.
        self.boot_params: dict[int, bytes] = {
            BOOT_PARAM_SET_IN_PROGRESS: b"\x00",
            BOOT_PARAM_FLAG_VALID_CLEARING: b"\x00",
            BOOT_PARAM_INFO_ACK: b"\x00\x00",
        }
        self.sol: SolSession | None = None  # the active Serial-over-LAN payload (sol_bmc)
        self.sol_config = SolConfig()

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def cipher_suites(self) -> frozenset[int]:
        return self.server.cipher_suites

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
        self.end_sol()
        if self.transport is not None:
            self.transport.close()
        self.sessions.clear()

    # --- Serial-over-LAN (sol_bmc)

    def start_sol(self, session: BmcSession, encrypt: bool) -> None:
        """Activate SOL in ``session``; it starts once the activation is answered."""
        port = self.handler.serial_port()
        if port is None:
            raise CommandRefused(0x81)  # "payload type disabled"

        def send(payload: bytes) -> None:
            packet = build_v20_packet(
                PayloadType.SOL, payload, session.console_sid, session.next_seq(),
                session.keys, encrypt,
            )  # fmt: skip
            self._send(packet, session.addr)

        def alive() -> bool:
            return self.sessions.get(session.bmc_sid) is session and session.state == "active"

        self.sol = SolSession(session, port, self.sol_config, send, alive)
        asyncio.get_running_loop().call_soon(self.sol.start)

    def end_sol(self, notify: bool = False) -> None:
        sol, self.sol = self.sol, None
        if sol is not None:
            sol.stop(notify)

    # --- packets

    def _send(self, data: bytes, addr: Address) -> None:
        if self.transport is not None:
            self.transport.sendto(data, addr)

    def _dispatch(self, data: bytes, addr: Address) -> None:
        if is_asf(data):
            mtype, tag, _ = parse_asf(data)
            if mtype == ASF_PING:
                self._send(build_asf_pong(tag), addr)
            return
        pkt = parse_packet(data)
        if pkt.session_id == 0:
            self._presession(pkt, addr)
        else:
            self._in_session(pkt, addr)

    def _presession(self, pkt: Packet, addr: Address) -> None:
        ptype = pkt.payload_type
        if ptype == PayloadType.IPMI:
            req = IpmiRequest.decode(pkt.payload)
            if req.netfn != NETFN_APP or req.command not in (
                CMD_GET_CHANNEL_AUTH_CAPABILITIES,
                CMD_GET_CHANNEL_CIPHER_SUITES,
            ):
                raise IpmiProtocolError(f"sessionless netfn {req.netfn} cmd {req.command}")
            code, body = self._run(SESSIONLESS[req.command], NO_SESSION, req)
            msg = req.response(code, body).encode()
            if pkt.auth_type == AUTH_TYPE_NONE:
                self._send(build_v15_packet(msg), addr)
            else:
                self._send(build_v20_packet(PayloadType.IPMI, msg), addr)
        elif ptype == PayloadType.OPEN_SESSION_REQUEST:
            self._open_session(OpenSessionRequest.decode(pkt.payload), addr)
        elif ptype == PayloadType.RAKP1:
            self._rakp1(Rakp1.decode(pkt.payload), addr)
        elif ptype == PayloadType.RAKP3:
            self._rakp3(Rakp3.decode(pkt.payload), addr)
        else:
            raise IpmiProtocolError(f"unexpected pre-session payload type {ptype:#x}")

    def _open_session(self, req: OpenSessionRequest, addr: Address) -> None:
        now = self.server.now()
        for s in self.sessions.values():
            if s.addr == addr and s.console_sid == req.console_sid and s.state == "open":
                self._send(s.open_response, addr)  # a retransmitted request
                return
        suite = suite_for(req.auth, req.integrity, req.confidentiality)
        status = STATUS_OK
        privilege = req.privilege or Privilege.ADMINISTRATOR
        if suite is None or suite.id not in self.server.cipher_suites:
            status = STATUS_NO_CIPHER_SUITE
        elif privilege > Privilege.OEM:
            status = STATUS_INVALID_ROLE
        elif privilege > Privilege.ADMINISTRATOR:
            status = STATUS_UNAUTHORIZED_ROLE
        else:
            self.server.expire(self, now)
            if len(self.sessions) >= self.server.max_sessions:
                status = STATUS_NO_RESOURCES
        if status != STATUS_OK or suite is None:
            rsp = OpenSessionResponse(req.tag, status, 0, req.console_sid)
            self._send(build_v20_packet(PayloadType.OPEN_SESSION_RESPONSE, rsp.encode()), addr)
            return
        bmc_sid = random_session_id()
        while bmc_sid in self.sessions:
            bmc_sid = random_session_id()
        rsp = OpenSessionResponse(
            req.tag, 0, privilege, req.console_sid, bmc_sid,
            suite.auth, suite.integrity, suite.confidentiality,
        )  # fmt: skip
        packet = build_v20_packet(PayloadType.OPEN_SESSION_RESPONSE, rsp.encode())
        self.sessions[bmc_sid] = BmcSession(bmc_sid, req.console_sid, addr, suite, packet, now)
        self._send(packet, addr)

    def _rakp1(self, msg: Rakp1, addr: Address) -> None:
        s = self.sessions.get(msg.bmc_sid)
        if s is None or s.addr != addr or s.state == "active":
            self._rakp2_error(msg.tag, STATUS_INVALID_SESSION_ID, 0, addr)
            return
        if s.state == "rakp2" and msg.rm == s.rm:
            self._send(s.rakp2, addr)  # a retransmitted RAKP1
            return
        privilege = msg.role & 0x0F
        status = STATUS_OK
        password = self.users.get(msg.username)
        if not Privilege.CALLBACK <= privilege <= Privilege.OEM:
            status = STATUS_INVALID_ROLE
        elif len(msg.username) > 16:
            status = STATUS_INVALID_NAME_LENGTH
        elif password is None:
            status = STATUS_UNAUTHORIZED_NAME
        elif privilege > Privilege.ADMINISTRATOR:
            status = STATUS_UNAUTHORIZED_ROLE
        if status != STATUS_OK or password is None:
            del self.sessions[s.bmc_sid]  # a failed RAKP ends the session attempt
            self._rakp2_error(msg.tag, status, s.console_sid, addr)
            return
        s.state, s.rm, s.rc, s.role, s.username, s.kuid = (
            "rakp2", msg.rm, os.urandom(16), msg.role, msg.username, password,
        )  # fmt: skip
        s.max_privilege = privilege
        s.last_seen = self.server.now()
        guid = ipmi_guid(self.handler.guid)
        code = rakp2_auth_code(
            s.suite, password, s.console_sid, s.bmc_sid, s.rm, s.rc, guid, s.role, s.username
        )
        rsp = Rakp2(msg.tag, 0, s.console_sid, s.rc, guid, code)
        s.rakp2 = build_v20_packet(PayloadType.RAKP2, rsp.encode())
        self._send(s.rakp2, addr)

    def _rakp2_error(self, tag: int, status: int, console_sid: int, addr: Address) -> None:
        rsp = Rakp2(tag, status, console_sid)
        self._send(build_v20_packet(PayloadType.RAKP2, rsp.encode()), addr)

    def _rakp3(self, msg: Rakp3, addr: Address) -> None:
        s = self.sessions.get(msg.bmc_sid)
        if s is None or s.addr != addr:
            rsp = Rakp4(msg.tag, STATUS_INVALID_SESSION_ID, 0)
            self._send(build_v20_packet(PayloadType.RAKP4, rsp.encode()), addr)
            return
        if s.state == "active" and s.rakp4:
            self._send(s.rakp4, addr)  # a retransmitted RAKP3
            return
        if s.state != "rakp2":
            return
        if msg.status != STATUS_OK:
            # The console refused our RAKP2 (e.g. its password differs).
            del self.sessions[s.bmc_sid]
            return
        expected = rakp3_auth_code(s.suite, s.kuid, s.rc, s.console_sid, s.role, s.username)
        if not hmac.compare_digest(expected, msg.auth_code):
            del self.sessions[s.bmc_sid]
            rsp = Rakp4(msg.tag, STATUS_INVALID_INTEGRITY, s.console_sid)
            self._send(build_v20_packet(PayloadType.RAKP4, rsp.encode()), addr)
            return
        kg = self.kg or s.kuid
        s.keys = derive_keys(s.suite, kg, s.rm, s.rc, s.role, s.username)
        s.state = "active"
        s.privilege = min(Privilege.USER, s.max_privilege)  # raise with Set Session Privilege
        s.last_seen = self.server.now()
        icv = rakp4_icv(s.suite, s.keys.sik, s.rm, s.bmc_sid, ipmi_guid(self.handler.guid))
        rsp = Rakp4(msg.tag, 0, s.console_sid, icv)
        s.rakp4 = build_v20_packet(PayloadType.RAKP4, rsp.encode())
        self._send(s.rakp4, addr)

    def _in_session(self, pkt: Packet, addr: Address) -> None:
        s = self.sessions.get(pkt.session_id)
        if s is None or s.state != "active" or s.keys is None:
            # Real BMCs are silent here; the console notices by timing out.
            raise IpmiProtocolError(f"no active session {pkt.session_id:#x}")
        if s.addr != addr:
            raise IpmiProtocolError(f"session {pkt.session_id:#x} from another address")
        payload = open_packet(pkt, s.keys)
        if not s.window.accept(pkt.seq):
            raise IpmiProtocolError(f"replayed or stale session sequence {pkt.seq}")
        now = self.server.now()
        s.last_seen = now
        if pkt.payload_type == PayloadType.SOL:
            if self.sol is None or self.sol.session is not s:
                raise IpmiProtocolError("SOL packet in a session without SOL")
            self.sol.received(SolPacket.decode(payload))
            return
        if pkt.payload_type != PayloadType.IPMI:
            raise IpmiProtocolError(f"payload type {pkt.payload_type:#x} not supported")
        req = IpmiRequest.decode(payload)
        key = (req.seq, req.netfn, req.command, req.data)
        if key == s.last_request and now - s.last_request_at < DUPLICATE_WINDOW:
            msg = s.last_response  # a retransmission: answer again, do not act again
        else:
            command = _COMMANDS.get((req.netfn, req.command))
            if command is None:
                code, body = CC_INVALID_COMMAND, b""
            elif s.privilege < command.privilege:
                code, body = CC_INSUFFICIENT_PRIVILEGE, b""
            else:
                code, body = self._run(command, s, req)
            msg = req.response(code, body).encode()
            s.last_request, s.last_response, s.last_request_at = key, msg, now
        packet = build_v20_packet(PayloadType.IPMI, msg, s.console_sid, s.next_seq(), s.keys)
        self._send(packet, addr)
        if s.state == "closed":
            self.sessions.pop(s.bmc_sid, None)
        if self.sol is not None and self.sessions.get(self.sol.session.bmc_sid) is None:
            self.end_sol()  # its session was closed

    def _run(self, command: Command, s: BmcSession, req: IpmiRequest) -> tuple[int, bytes]:
        try:
            return CC_OK, command.run(self, s, req)
        except CommandRefused as exc:
            return exc.code, b""
        except (IndexError, ValueError, IpmiProtocolError):
            return CC_INVALID_DATA, b""
        except Exception:
            log.exception(
                "BMC %s: handler failed on netfn %s cmd %s", self.port, req.netfn, req.command
            )
            return CC_UNSPECIFIED, b""


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
            cipher_suite(sid)  # reject unknown suites early
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
        if bmc.sol is not None and bmc.sol.session.bmc_sid in dead:
            bmc.end_sol()

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
