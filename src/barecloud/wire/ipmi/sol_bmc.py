"""The BMC end of Serial-over-LAN: the payload commands and one active SOL session.

One SOL instance per BMC (most real BMCs have one): a second Activate
Payload is answered 0x80 "already active", as ipmitool expects.  While
active, what the machine's serial port prints goes to the console in
numbered packets, one in flight at a time, resent every retry interval
until acknowledged (a partial ACK resends the rest, a NACK waits a retry
interval first) and dropped after the retry count, as the specification
says [15.9]; what the console types goes to the port once per packet
sequence (a retransmitted packet is acknowledged again, not typed again).

The packets travel in the session that activated the payload, sealed as
that session is; the session's end (Close Session, idle timeout, lost
credentials) ends the SOL session too.
"""

from __future__ import annotations

import asyncio
import struct
from collections.abc import Callable
from typing import Protocol, cast

from barecloud.wire.ipmi.commands import NETFN_APP
from barecloud.wire.ipmi.errors import (
    CC_INSUFFICIENT_PRIVILEGE,
    CC_INVALID_DATA,
    CC_REQUEST_LENGTH_INVALID,
)
from barecloud.wire.ipmi.framing import IpmiRequest
from barecloud.wire.ipmi.handlers import BmcSession, BmcState, Command, CommandRefused
from barecloud.wire.ipmi.session import Privilege
from barecloud.wire.ipmi.sol import (
    AUX_ENCRYPT,
    CC_NEEDS_ENCRYPTION,
    CC_PAYLOAD_ACTIVE,
    CC_PAYLOAD_DISABLED,
    CC_SOL_PARAM_NOT_SUPPORTED,
    CHANNEL_CURRENT,
    CHANNEL_LAN,
    CMD_ACTIVATE_PAYLOAD,
    CMD_DEACTIVATE_PAYLOAD,
    CMD_GET_CHANNEL_PAYLOAD_SUPPORT,
    CMD_GET_PAYLOAD_ACTIVATION_STATUS,
    CMD_GET_PAYLOAD_INSTANCE_INFO,
    CMD_GET_SOL_CONFIG,
    CMD_SET_SOL_CONFIG,
    MAX_CHARS,
    NETFN_TRANSPORT,
    PARAM_REVISION,
    PAYLOAD_SOL,
    SOL_DEACTIVATING,
    SOL_HEADER,
    SOL_INSTANCES,
    PayloadActivation,
    SerialPort,
    SolConfig,
    SolPacket,
    next_sol_seq,
)

# What the BMC keeps of output the console has not taken yet: beyond it the
# oldest characters go, as a UART's buffer overruns.
MAX_PENDING = 64 * 1024


class SolHost(BmcState, Protocol):
    """What the SOL commands see of a BMC (server.Bmc)."""

    sol: SolSession | None
    sol_config: SolConfig

    @property
    def port(self) -> int: ...

    def start_sol(self, session: BmcSession, encrypt: bool) -> None: ...

    def end_sol(self, notify: bool = False) -> None: ...


class SolSession:
    """The activated SOL payload of one BMC: serial port <-> one RMCP+ session."""

    def __init__(
        self,
        session: BmcSession,
        port: SerialPort,
        config: SolConfig,
        send: Callable[[bytes], None],
        alive: Callable[[], bool],
    ) -> None:
        self.session = session
        self.port = port
        self.config = config
        self._send = send
        self._alive = alive
        self._pending = bytearray()  # printed, not yet in a packet
        self._inflight: SolPacket | None = None
        self._tries = 0
        self._seq = 0
        self._last_in = 0  # sequence of the console's last packet taken
        self._timer: asyncio.TimerHandle | None = None
        self._flush: asyncio.TimerHandle | None = None
        self.active = False
        self.sent = 0  # packets sent, retransmissions included: tests watch these
        self.retransmits = 0

    def start(self) -> None:
        """Attach to the serial port; what it printed recently goes first."""
        if self.active or not self._alive():
            return
        self.active = True
        tail = self.port.attach(self._output)
        if tail:
            self._output(tail)

    def stop(self, notify: bool = False) -> None:
        """Detach; with ``notify``, tell the console (its session lives on)."""
        if self.active:
            self.port.detach(self._output)
        self.active = False
        for timer in (self._timer, self._flush):
            if timer is not None:
                timer.cancel()
        self._timer = self._flush = None
        self._inflight = None
        self._pending.clear()
        if notify and self._alive():
            self._send(SolPacket(status=SOL_DEACTIVATING).encode())

    # --- from the console

    def received(self, pkt: SolPacket) -> None:
        if not self.active:
            return
        inflight = self._inflight
        if pkt.ack and inflight is not None and pkt.ack == inflight.seq:
            self._acknowledged(inflight, pkt)
        if pkt.seq:
            if pkt.seq != self._last_in:
                self._last_in = pkt.seq
                if pkt.data:
                    self.port.write(pkt.data)
            # (a retransmission: acknowledged again, not typed again)
            self._send(SolPacket(ack=pkt.seq, accepted=len(pkt.data)).encode())

    def _acknowledged(self, inflight: SolPacket, ack: SolPacket) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._inflight = None
        accepted = min(ack.accepted, len(inflight.data))
        rest = inflight.data[accepted:]
        if rest:
            self._pending[:0] = rest
        if ack.nack:
            # The console cannot take characters now: try again a retry interval later.
            loop = asyncio.get_running_loop()
            self._timer = loop.call_later(self.config.retry[1], self._next)
        else:
            self._next()

    # --- to the console

    def _output(self, data: bytes) -> None:
        if not self.active:
            return
        self._pending += data
        if len(self._pending) > MAX_PENDING:
            del self._pending[: len(self._pending) - MAX_PENDING]
        if self._inflight is not None or self._timer is not None:
            return  # sent when the packet in flight is acknowledged
        interval, threshold = self.config.accumulate
        if len(self._pending) >= threshold:
            self._next()
        elif self._flush is None:
            self._flush = asyncio.get_running_loop().call_later(interval, self._next)

    def _next(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        self._timer = None
        if not self.active or self._inflight is not None or not self._pending:
            return
        chunk = bytes(self._pending[:MAX_CHARS])
        del self._pending[:MAX_CHARS]
        self._seq = next_sol_seq(self._seq)
        self._inflight = SolPacket(self._seq, data=chunk)
        self._tries = 0
        self._transmit()

    def _transmit(self) -> None:
        inflight = self._inflight
        if inflight is None or not self.active:
            return
        if not self._alive():
            self.stop()
            return
        self._send(inflight.encode())
        self.sent += 1
        loop = asyncio.get_running_loop()
        self._timer = loop.call_later(self.config.retry[1], self._unanswered)

    def _unanswered(self) -> None:
        self._timer = None
        count, _ = self.config.retry
        self._tries += 1
        if self._tries > count:
            self._inflight = None  # given up: those characters are lost, as on the wire
            self._next()
            return
        self.retransmits += 1
        self._transmit()


# --- commands --------------------------------------------------------------------


def _host(bmc: BmcState) -> SolHost:
    return cast(SolHost, bmc)


def _payload_support(bmc: BmcState, s: BmcSession, req: IpmiRequest) -> bytes:
    if req.data and req.data[0] & 0x0F not in (CHANNEL_LAN, CHANNEL_CURRENT):
        raise CommandRefused(CC_INVALID_DATA)
    # IPMI and SOL; session set-up payloads 0x10-0x15; no OEM payloads.
    return bytes((0x03, 0x00, 0x3F, 0x00, 0x00, 0x00, 0x00, 0x00))


def _check_sol(data: bytes, length: int) -> int:
    if len(data) < length:
        raise CommandRefused(CC_REQUEST_LENGTH_INVALID)
    if data[0] & 0x3F != PAYLOAD_SOL:
        raise CommandRefused(CC_PAYLOAD_DISABLED)  # the only payload one can activate
    instance = data[1] & 0x0F if length > 1 else 1
    if not 1 <= instance <= SOL_INSTANCES:
        raise CommandRefused(CC_INVALID_DATA)
    return instance


def _activate(bmc: BmcState, s: BmcSession, req: IpmiRequest) -> bytes:
    host = _host(bmc)
    _check_sol(req.data, 6)
    config = host.sol_config
    if not config.enabled:
        raise CommandRefused(CC_PAYLOAD_DISABLED)
    if s.privilege < config.privilege:
        raise CommandRefused(CC_INSUFFICIENT_PRIVILEGE)
    if host.sol is not None:
        raise CommandRefused(CC_PAYLOAD_ACTIVE)
    encrypt = bool(req.data[2] & AUX_ENCRYPT)
    if config.force_encryption and not encrypt:
        raise CommandRefused(CC_NEEDS_ENCRYPTION)
    host.start_sol(s, encrypt)
    size = SOL_HEADER + MAX_CHARS
    return PayloadActivation(size, size, host.port).encode()


def _deactivate(bmc: BmcState, s: BmcSession, req: IpmiRequest) -> bytes:
    host = _host(bmc)
    _check_sol(req.data, 2)
    sol = host.sol
    if sol is None:
        raise CommandRefused(CC_PAYLOAD_ACTIVE)  # "payload already deactivated"
    if sol.session is not s and s.privilege < Privilege.ADMINISTRATOR:
        raise CommandRefused(CC_INSUFFICIENT_PRIVILEGE)
    host.end_sol(notify=sol.session is not s)
    return b""


def _activation_status(bmc: BmcState, s: BmcSession, req: IpmiRequest) -> bytes:
    _check_sol(req.data, 1)
    active = 0x01 if _host(bmc).sol is not None else 0x00
    return bytes((SOL_INSTANCES, active, 0x00))


def _instance_info(bmc: BmcState, s: BmcSession, req: IpmiRequest) -> bytes:
    _check_sol(req.data, 2)
    sol = _host(bmc).sol
    if sol is None:
        return bytes(12)
    # The session it runs in, then the serial port number (one port: 1).
    return struct.pack("<I", sol.session.bmc_sid) + bytes((1,)) + bytes(7)


def _sol_channel(data: bytes, length: int) -> None:
    if len(data) < length:
        raise CommandRefused(CC_REQUEST_LENGTH_INVALID)
    if data[0] & 0x0F not in (CHANNEL_LAN, CHANNEL_CURRENT):
        raise CommandRefused(CC_INVALID_DATA)


def _get_sol_config(bmc: BmcState, s: BmcSession, req: IpmiRequest) -> bytes:
    _sol_channel(req.data, 2)
    host = _host(bmc)
    if req.data[0] & 0x80:
        return bytes((PARAM_REVISION,))  # the revision only
    try:
        return bytes((PARAM_REVISION,)) + host.sol_config.get(req.data[1], host.port)
    except KeyError:
        raise CommandRefused(CC_SOL_PARAM_NOT_SUPPORTED) from None


def _set_sol_config(bmc: BmcState, s: BmcSession, req: IpmiRequest) -> bytes:
    _sol_channel(req.data, 3)
    code = _host(bmc).sol_config.set(req.data[1], bytes(req.data[2:]))
    if code:
        raise CommandRefused(code)
    return b""


# Minimum privilege per command [Appendix G]; Activate Payload also needs the
# SOL privilege parameter (User by default).
SOL_COMMANDS: dict[tuple[int, int], Command] = {
    (NETFN_APP, CMD_GET_CHANNEL_PAYLOAD_SUPPORT): Command(Privilege.USER, _payload_support),
    (NETFN_APP, CMD_ACTIVATE_PAYLOAD): Command(Privilege.USER, _activate),
    (NETFN_APP, CMD_DEACTIVATE_PAYLOAD): Command(Privilege.USER, _deactivate),
    (NETFN_APP, CMD_GET_PAYLOAD_ACTIVATION_STATUS): Command(Privilege.USER, _activation_status),
    (NETFN_APP, CMD_GET_PAYLOAD_INSTANCE_INFO): Command(Privilege.USER, _instance_info),
    (NETFN_TRANSPORT, CMD_GET_SOL_CONFIG): Command(Privilege.USER, _get_sol_config),
    (NETFN_TRANSPORT, CMD_SET_SOL_CONFIG): Command(Privilege.ADMINISTRATOR, _set_sol_config),
}
