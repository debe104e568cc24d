"""An asyncio IPMI 2.0 (lanplus) client: thousands of BMC sessions in one loop.

Why not pyghmi or ipmitool: pyghmi needs a thread per call in flight and
logs in in 5-12 ms; an ``ipmitool`` process costs 30-60 ms per call.  Here a
session is a UDP socket and a few small objects, a login is four round
trips, and a status query on an open session is one.

Timing model: ``timeout`` is the deadline of one public call, whatever it
needs (a login, a privilege raise, the command).  Inside it each exchange
is retransmitted ``retries`` times with doubling intervals, the first being
``timeout / (2 ** (retries + 1) - 1)``, so all attempts of one exchange fit
the deadline exactly.  A call never takes longer than ``timeout``; when it
runs out it raises :class:`IpmiTimeout`.

Sessions die on the BMC side without notice (idle timeout, BMC reset): a
command that goes unanswered twice on an established session, or a session
idle longer than ``idle_relogin``, is given up and a new one logged in,
within the same deadline.  A command repeated after such a re-login may
have run once already: on/off are idempotent, cycle/reset are not.

BMCs end sessions idle for 60 s (the spec's inactivity timeout; some 30 s),
so a pool can keep its sessions alive (``keepalive_interval``): each open
session is visited once per interval, in a fixed order spread evenly over
it, and sent Get Device ID (User privilege, read-only; what pyghmi and
ipmitool send) unless it answered in the last quarter interval.  A session
then idles at most 1.25 intervals; one the BMC no longer answers is dropped,
and one no call used for ``max_idle`` (its node deleted, moved to another
conductor, its address changed) is logged out instead of kept.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hmac
import os
import struct
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from barecloud.wire import ipmi
from barecloud.wire.ipmi import (
    BootDevice,
    BootOptions,
    ChassisStatus,
    DeviceId,
    IpmiAuthError,
    IpmiCommandError,
    IpmiError,
    IpmiProtocolError,
    IpmiResponse,
    IpmiSessionError,
    IpmiTimeout,
    Packet,
    PayloadType,
    PowerAction,
    Privilege,
    SeqWindow,
    SessionKeys,
)

T = TypeVar("T")

_NAME_ONLY_LOOKUP = 0x10  # RAKP1 role bit 4: find the user by name alone, as ipmitool does
_AUTH_FAILURES = {
    ipmi.STATUS_INVALID_ROLE,
    ipmi.STATUS_UNAUTHORIZED_ROLE,
    ipmi.STATUS_INVALID_NAME_LENGTH,
    ipmi.STATUS_UNAUTHORIZED_NAME,
    ipmi.STATUS_INVALID_INTEGRITY,
}


class _Silence(Exception):
    """An attempt got no answer before its retransmission timer fired."""


def _silence(fut: asyncio.Future[Any]) -> None:
    if not fut.done():
        fut.set_exception(_Silence())


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, session: IpmiSession) -> None:
        self.session = session

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.session._received(data)

    def error_received(self, exc: Exception) -> None:
        self.session._refused = exc  # ICMP port unreachable: said on timeout


class IpmiSession:
    """One RMCP+ session to one BMC, logged in on first use and kept open.

    Calls on one session are serialized (BMCs handle one request per session
    at a time); use one session per BMC and many sessions for parallelism.
    """

    def __init__(
        self,
        host: str,
        port: int = 623,
        username: str = "",
        password: str = "",
        *,
        cipher_suite: int = 3,
        timeout: float = 5.0,
        retries: int = 3,
        kg: bytes | None = None,
        privilege: Privilege = Privilege.ADMINISTRATOR,
        idle_relogin: float = 45.0,
        check_auth_caps: bool = True,
    ) -> None:
        self.host = host
        self.port = port
        self.username = username.encode()
        self._kuid = password.encode()
        if len(self.username) > 16:
            raise ValueError("IPMI user names have at most 16 bytes")
        if len(self._kuid) > 20:
            raise ValueError("IPMI 2.0 passwords have at most 20 bytes")
        if timeout <= 0 or retries < 0:
            raise ValueError("timeout must be positive and retries not negative")
        self.suite = ipmi.cipher_suite(cipher_suite)
        self.timeout = timeout
        self.retries = retries
        self.kg = kg
        self.privilege = privilege
        self.idle_relogin = idle_relogin
        self.check_auth_caps = check_auth_caps
        self._first_interval = timeout / (2 ** (retries + 1) - 1)
        self._lock = asyncio.Lock()
        self._transport: asyncio.DatagramTransport | None = None
        self._pending: tuple[Callable[[Packet], Any], asyncio.Future[Any]] | None = None
        self._refused: Exception | None = None
        self._tag = 0
        self._rq_seq = 0
        # The established session, if any.
        self._keys: SessionKeys | None = None
        self._bmc_sid = 0
        self._console_sid = 0
        self._out_seq = 0
        self._window = SeqWindow()
        self._session_privilege = Privilege.USER
        self._last_rx = 0.0
        self.logins = 0  # how many times this session logged in: re-logins show here
        self.keepalives = 0  # keep-alive requests the BMC answered

    def __repr__(self) -> str:
        return f"<IpmiSession {self.username.decode()}@{self.host}:{self.port}>"

    async def __aenter__(self) -> IpmiSession:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    @property
    def logged_in(self) -> bool:
        return self._keys is not None

    @property
    def last_answer(self) -> float:
        """Loop time of the BMC's last answer in this session (0: none yet)."""
        return self._last_rx

    # --- public calls ------------------------------------------------------

    async def login(self) -> None:
        """Log in now rather than on the first command."""
        async with self._lock:
            if self._keys is None:
                await self._login(self._deadline())

    async def get_power(self) -> bool:
        """True if the chassis power is on."""
        return (await self.chassis_status()).power_on

    async def chassis_status(self) -> ChassisStatus:
        data = await self.raw(ipmi.NETFN_CHASSIS, ipmi.CMD_GET_CHASSIS_STATUS)
        return ChassisStatus.decode(data)

    async def set_power(self, action: PowerAction | str) -> None:
        """Chassis Control: on, off, cycle, reset (hard), soft (ACPI shutdown), diag (NMI).

        Returns when the BMC accepted the request; the machine may take
        a while to get there (poll :meth:`get_power`).
        """
        code = PowerAction(action).code
        await self.raw(
            ipmi.NETFN_CHASSIS, ipmi.CMD_CHASSIS_CONTROL, bytes((code,)), Privilege.OPERATOR
        )

    async def set_boot_device(
        self, device: BootDevice | str, persistent: bool = False, uefi: bool = False
    ) -> None:
        """Set the boot flags (parameter 5), for the next boot only unless ``persistent``."""
        options = BootOptions(BootDevice(device), persistent, uefi, valid=True)
        await self.raw(
            ipmi.NETFN_CHASSIS,
            ipmi.CMD_SET_SYSTEM_BOOT_OPTIONS,
            bytes((ipmi.BOOT_PARAM_BOOT_FLAGS,)) + options.encode(),
            Privilege.OPERATOR,
        )

    async def get_boot_device(self) -> BootOptions:
        """The boot flags; ``valid`` false means the firmware will ignore them."""
        data = await self.raw(
            ipmi.NETFN_CHASSIS,
            ipmi.CMD_GET_SYSTEM_BOOT_OPTIONS,
            bytes((ipmi.BOOT_PARAM_BOOT_FLAGS, 0, 0)),
            Privilege.OPERATOR,
        )
        if len(data) < 7 or data[1] & 0x7F != ipmi.BOOT_PARAM_BOOT_FLAGS:
            raise IpmiProtocolError("Get System Boot Options answered another parameter")
        return BootOptions.decode(data[2:7])

    async def device_id(self) -> DeviceId:
        return DeviceId.decode(await self.raw(ipmi.NETFN_APP, ipmi.CMD_GET_DEVICE_ID))

    async def raw(
        self,
        netfn: int,
        command: int,
        data: bytes = b"",
        privilege: Privilege = Privilege.USER,
    ) -> bytes:
        """Send any command in the session; the response data after the completion code.

        ``privilege`` is what the command needs: the session is raised to
        it (up to ``self.privilege``) first.  A non-zero completion code
        raises :class:`IpmiCommandError`.
        """
        rsp = await self._command(netfn, command, data, privilege)
        if rsp.code != ipmi.CC_OK:
            raise IpmiCommandError(netfn, command, rsp.code)
        return rsp.data

    async def keepalive(self) -> bool:
        """Get Device ID on the open session, so that the BMC does not end it as idle.

        Never logs in: a session not logged in, or in use, has nothing to keep.
        Any answer, even an error code, proves the session alive.  False: the
        BMC did not answer two attempts (or the session was already past
        ``idle_relogin``), and the session was forgotten.
        """
        if self._keys is None or self._lock.locked():
            return True
        async with self._lock:  # free: taken at once, no other call slips in
            loop = asyncio.get_running_loop()
            if loop.time() - self._last_rx > self.idle_relogin:
                self._forget(close_socket=True)
                return False
            try:
                await self._request(
                    ipmi.NETFN_APP, ipmi.CMD_GET_DEVICE_ID, b"", self._deadline(), attempts=2
                )
            except (_Silence, IpmiError, OSError):
                self._forget(close_socket=True)
                return False
            self.keepalives += 1
            return True

    async def close(self) -> None:
        """Close the session at the BMC (best effort, briefly) and the socket."""
        async with self._lock:
            if self._keys is not None:
                loop = asyncio.get_running_loop()
                deadline = loop.time() + min(self.timeout, 1.0)
                # Best effort: the BMC forgets it at its idle timeout anyway.
                with contextlib.suppress(IpmiError):
                    await self._request(
                        ipmi.NETFN_APP,
                        ipmi.CMD_CLOSE_SESSION,
                        struct.pack("<I", self._bmc_sid),
                        deadline,
                    )
            self._forget(close_socket=True)

    # --- the session machinery ----------------------------------------------

    def _deadline(self) -> float:
        return asyncio.get_running_loop().time() + self.timeout

    async def _command(
        self, netfn: int, command: int, data: bytes, privilege: Privilege
    ) -> IpmiResponse:
        if privilege > self.privilege:
            raise ValueError(
                f"command needs {privilege.name}, session is for {self.privilege.name}"
            )
        loop = asyncio.get_running_loop()
        deadline = self._deadline()
        async with self._lock:
            while True:
                fresh = False
                if self._keys is None or loop.time() - self._last_rx > self.idle_relogin:
                    await self._login(deadline)
                    fresh = True
                # Once the session was proven alive in this call, wait for the
                # deadline; otherwise two silent attempts mean it is gone.
                attempts = None if fresh else 2
                try:
                    if self._session_privilege < privilege:
                        await self._raise_privilege(deadline, attempts)
                    return await self._request(netfn, command, data, deadline, attempts)
                except _Silence:
                    self._forget(close_socket=True)  # lost at the BMC: log in again

    async def _raise_privilege(self, deadline: float, attempts: int | None) -> None:
        rsp = await self._request(
            ipmi.NETFN_APP,
            ipmi.CMD_SET_SESSION_PRIVILEGE_LEVEL,
            bytes((self.privilege,)),
            deadline,
            attempts,
        )
        if rsp.code != ipmi.CC_OK:
            raise IpmiAuthError(
                f"{self._where()}: Set Session Privilege Level {self.privilege.name}: "
                f"{ipmi.completion_text(rsp.code)}"
            )
        self._session_privilege = self.privilege

    async def _request(
        self,
        netfn: int,
        command: int,
        data: bytes,
        deadline: float,
        attempts: int | None = None,
    ) -> IpmiResponse:
        keys = self._keys
        assert keys is not None
        self._rq_seq = (self._rq_seq + 1) & 0x3F
        msg = ipmi.IpmiRequest(netfn, command, data, self._rq_seq).encode()
        rq_seq, console_sid = self._rq_seq, self._console_sid

        def build() -> bytes:
            self._out_seq = self._out_seq % 0xFFFFFFFF + 1
            return ipmi.build_v20_packet(PayloadType.IPMI, msg, self._bmc_sid, self._out_seq, keys)

        def match(pkt: Packet) -> IpmiResponse | None:
            if pkt.session_id != console_sid or pkt.payload_type != PayloadType.IPMI:
                return None
            payload = ipmi.open_packet(pkt, keys)
            if not self._window.accept(pkt.seq):
                return None
            rsp = IpmiResponse.decode(payload)
            if rsp.netfn != netfn | 1 or rsp.command != command or rsp.seq != rq_seq:
                return None
            self._last_rx = asyncio.get_running_loop().time()
            return rsp

        what = f"netfn 0x{netfn:02x} cmd 0x{command:02x}"
        return await self._exchange(build, match, deadline, what, attempts)

    async def _login(self, deadline: float) -> None:
        """Channel auth caps (optional), Open Session, RAKP 1-4 [13.14-13.22]."""
        self._forget(close_socket=True)  # a fresh source port: no stale packets
        await self._open_socket()
        suite = self.suite
        if self.check_auth_caps:
            caps = await self._auth_caps(deadline)
            if not caps.supports_ipmi20:
                raise IpmiSessionError(f"{self._where()}: the BMC does not offer IPMI 2.0 (RMCP+)")

        console_sid = ipmi.random_session_id()
        tag = self._next_tag()
        open_req = ipmi.OpenSessionRequest(
            tag, self.privilege, console_sid, suite.auth, suite.integrity, suite.confidentiality
        )
        opened = await self._presession(
            PayloadType.OPEN_SESSION_REQUEST,
            open_req.encode(),
            PayloadType.OPEN_SESSION_RESPONSE,
            ipmi.OpenSessionResponse.decode,
            tag,
            deadline,
            "Open Session",
        )
        if opened.status != ipmi.STATUS_OK:
            self._fail("Open Session", opened.status)
        if opened.console_sid != console_sid:
            raise IpmiProtocolError(f"{self._where()}: Open Session answered another session")
        chosen = ipmi.suite_for(opened.auth, opened.integrity, opened.confidentiality)
        if chosen != suite:
            raise IpmiSessionError(
                f"{self._where()}: asked for cipher suite {suite.id}, the BMC chose algorithms "
                f"auth {opened.auth} integrity {opened.integrity} "
                f"confidentiality {opened.confidentiality}"
            )
        bmc_sid = opened.bmc_sid

        rm = os.urandom(16)
        role = _NAME_ONLY_LOOKUP | self.privilege
        tag = self._next_tag()
        rakp2 = await self._presession(
            PayloadType.RAKP1,
            ipmi.Rakp1(tag, bmc_sid, rm, role, self.username).encode(),
            PayloadType.RAKP2,
            ipmi.Rakp2.decode,
            tag,
            deadline,
            "RAKP1",
        )
        if rakp2.status != ipmi.STATUS_OK:
            self._fail("RAKP2", rakp2.status)
        expected = ipmi.rakp2_auth_code(
            suite, self._kuid, console_sid, bmc_sid, rm, rakp2.rc, rakp2.guid, role, self.username
        )
        tag = self._next_tag()
        if not hmac.compare_digest(expected, rakp2.auth_code):
            # Tell the BMC, so it frees the half-open session at once.
            refusal = ipmi.Rakp3(tag, ipmi.STATUS_INVALID_INTEGRITY, bmc_sid)
            self._send(ipmi.build_v20_packet(PayloadType.RAKP3, refusal.encode()))
            raise IpmiAuthError(
                f"{self._where()}: RAKP2: {ipmi.status_text(ipmi.STATUS_INVALID_INTEGRITY)}: "
                "the BMC proved a different password (wrong password or unauthorized name)",
                ipmi.STATUS_INVALID_INTEGRITY,
            )
        keys = ipmi.derive_keys(suite, self.kg or self._kuid, rm, rakp2.rc, role, self.username)
        code = ipmi.rakp3_auth_code(suite, self._kuid, rakp2.rc, console_sid, role, self.username)
        rakp4 = await self._presession(
            PayloadType.RAKP3,
            ipmi.Rakp3(tag, 0, bmc_sid, code).encode(),
            PayloadType.RAKP4,
            ipmi.Rakp4.decode,
            tag,
            deadline,
            "RAKP3",
        )
        if rakp4.status != ipmi.STATUS_OK:
            self._fail("RAKP4", rakp4.status)
        icv = ipmi.rakp4_icv(suite, keys.sik, rm, bmc_sid, rakp2.guid)
        if not hmac.compare_digest(icv, rakp4.icv[: suite.icv_len]):
            raise IpmiAuthError(
                f"{self._where()}: RAKP4: {ipmi.status_text(ipmi.STATUS_INVALID_INTEGRITY)} "
                "(wrong Kg?)",
                ipmi.STATUS_INVALID_INTEGRITY,
            )
        self._keys = keys
        self._bmc_sid = bmc_sid
        self._console_sid = console_sid
        self._out_seq = 0
        self._window = SeqWindow()
        # Sessions start at User level; operator commands raise it lazily, so
        # a status sweep costs no Set Session Privilege Level round trip.
        self._session_privilege = min(Privilege.USER, self.privilege)
        self._last_rx = asyncio.get_running_loop().time()
        self.logins += 1

    def _fail(self, step: str, status: int) -> None:
        error = IpmiAuthError if status in _AUTH_FAILURES else IpmiSessionError
        raise error(f"{self._where()}: {step}: {ipmi.status_text(status)}", status)

    async def _auth_caps(self, deadline: float) -> ipmi.ChannelAuthCapabilities:
        self._rq_seq = (self._rq_seq + 1) & 0x3F
        rq_seq = self._rq_seq
        msg = ipmi.IpmiRequest(
            ipmi.NETFN_APP,
            ipmi.CMD_GET_CHANNEL_AUTH_CAPABILITIES,
            bytes((0x8E, self.privilege)),  # bit 7: IPMI v2.0 data; channel E: this one
            rq_seq,
        ).encode()
        packet = ipmi.build_v15_packet(msg)

        def match(pkt: Packet) -> IpmiResponse | None:
            if pkt.session_id != 0 or pkt.payload_type != PayloadType.IPMI or pkt.authenticated:
                return None
            rsp = IpmiResponse.decode(pkt.payload)
            if rsp.command != ipmi.CMD_GET_CHANNEL_AUTH_CAPABILITIES or rsp.seq != rq_seq:
                return None
            return rsp

        rsp = await self._exchange(lambda: packet, match, deadline, "Get Channel Auth Capabilities")
        if rsp.code != ipmi.CC_OK:
            raise IpmiSessionError(
                f"{self._where()}: Get Channel Authentication Capabilities: "
                f"{ipmi.completion_text(rsp.code)}"
            )
        return ipmi.ChannelAuthCapabilities.decode(rsp.data)

    async def _presession(
        self,
        send_type: PayloadType,
        payload: bytes,
        answer_type: PayloadType,
        decode: Callable[[bytes], T],
        tag: int,
        deadline: float,
        what: str,
    ) -> T:
        packet = ipmi.build_v20_packet(send_type, payload)

        def match(pkt: Packet) -> T | None:
            if pkt.session_id != 0 or pkt.payload_type != answer_type or not pkt.payload:
                return None
            if pkt.payload[0] != tag:
                return None  # an answer to an earlier attempt
            return decode(pkt.payload)

        return await self._exchange(lambda: packet, match, deadline, what)

    async def _exchange(
        self,
        build: Callable[[], bytes],
        match: Callable[[Packet], T | None],
        deadline: float,
        what: str,
        attempts: int | None = None,
    ) -> T:
        """Send and wait for the matching answer, retransmitting with backoff.

        Raises :class:`IpmiTimeout` at the deadline, or :class:`_Silence`
        after ``attempts`` unanswered sends (the caller decides what next).
        """
        loop = asyncio.get_running_loop()
        interval = self._first_interval
        sent = 0
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise IpmiTimeout(self._timeout_message(what))
            fut: asyncio.Future[T] = loop.create_future()
            self._pending = (match, fut)
            self._send(build())
            sent += 1
            timer = loop.call_later(min(interval, remaining), _silence, fut)
            try:
                return await fut
            except _Silence:
                if attempts is not None and sent >= attempts:
                    raise
                interval *= 2
            finally:
                timer.cancel()
                self._pending = None

    def _received(self, data: bytes) -> None:
        pending = self._pending
        if pending is None:
            return  # late duplicate, or nothing asked
        match, fut = pending
        try:
            result = match(ipmi.parse_packet(data))
        except IpmiProtocolError:
            return  # forged, corrupt or foreign: drop, as the spec asks
        if result is not None and not fut.done():
            fut.set_result(result)

    async def _open_socket(self) -> None:
        if self._transport is None:
            self._refused = None
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self), remote_addr=(self.host, self.port)
            )
            self._transport = transport

    def _send(self, data: bytes) -> None:
        assert self._transport is not None
        self._transport.sendto(data)

    def _forget(self, close_socket: bool) -> None:
        self._keys = None
        self._bmc_sid = self._console_sid = 0
        self._session_privilege = Privilege.USER
        if close_socket and self._transport is not None:
            self._transport.close()
            self._transport = None

    def _next_tag(self) -> int:
        self._tag = (self._tag + 1) & 0xFF
        return self._tag

    def _where(self) -> str:
        return f"{self.username.decode()}@{self.host}:{self.port}"

    def _timeout_message(self, what: str) -> str:
        why = " (port unreachable)" if isinstance(self._refused, ConnectionRefusedError) else ""
        return f"{self._where()}: {what}: no answer within {self.timeout:g}s{why}"


class _Limiter:
    """A FIFO counting semaphore whose release is O(1).

    Python 3.11's ``asyncio.Semaphore`` rescans woken waiters on every
    release; with 10,000 calls queued behind 256 slots that shows up.
    """

    def __init__(self, slots: int) -> None:
        self._free = slots
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    async def __aenter__(self) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        fut = asyncio.get_running_loop().create_future()
        self._waiters.append(fut)
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self._release()  # handed a slot, then cancelled: pass it on
            raise

    async def __aexit__(self, *exc: object) -> None:
        self._release()

    def _release(self) -> None:
        while self._waiters:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)  # the slot goes straight to the next waiter
                return
        self._free += 1


@dataclass(frozen=True, slots=True)
class BmcTarget:
    """Where a BMC is and how to log in to it."""

    host: str
    port: int = 623
    username: str = ""
    password: str = field(default="", repr=False)
    cipher_suite: int = 3

    @property
    def key(self) -> tuple[str, int, str]:
        return self.host, self.port, self.username


@dataclass(slots=True)
class _Entry:
    target: BmcTarget
    session: IpmiSession
    used: float  # loop time of the last call on it (keep-alives do not count)


class IpmiPool:
    """Sessions kept open per (host, port, user), and a bound on calls in flight.

    A power-state sweep over N BMCs is then N status round trips on open
    sessions, ``concurrency`` at a time.  Each open session holds one socket:
    N BMCs need ``RLIMIT_NOFILE`` above N.  With ``keepalive_interval`` > 0 a
    background task keeps idle sessions open (see the module's docstring):
    N / ``keepalive_interval`` requests per second at most, evenly spread,
    sharing the ``concurrency`` bound with calls.
    """

    def __init__(
        self,
        *,
        concurrency: int = 256,
        timeout: float = 5.0,
        retries: int = 3,
        idle_relogin: float = 45.0,
        keepalive_interval: float = 0.0,
        max_idle: float = 300.0,
    ) -> None:
        if keepalive_interval < 0 or max_idle <= 0:
            raise ValueError("keepalive_interval must not be negative, max_idle must be positive")
        self.timeout = timeout
        self.retries = retries
        self.idle_relogin = idle_relogin
        self.keepalive_interval = keepalive_interval
        self.max_idle = max_idle
        self._limit = _Limiter(concurrency)
        self._sessions: dict[tuple[str, int, str], _Entry] = {}
        self._closing: set[asyncio.Task[None]] = set()
        # The keep-alive hand: every session's key once, visited in this order.
        self._ring: collections.deque[tuple[str, int, str]] = collections.deque()
        self._ringed: set[tuple[str, int, str]] = set()
        self._keeper: asyncio.Task[None] | None = None
        self._pings: set[asyncio.Task[None]] = set()
        self.keepalives = 0  # keep-alives the BMCs answered
        self.dropped = 0  # sessions given up because the BMC stopped answering them
        self.expired = 0  # sessions logged out because no call used them for max_idle

    def __len__(self) -> int:
        return len(self._sessions)

    def session(self, target: BmcTarget) -> IpmiSession:
        """The open (or to-be-opened) session for ``target``."""
        return self._entry(target).session

    def _entry(self, target: BmcTarget) -> _Entry:
        entry = self._sessions.get(target.key)
        if entry is not None and entry.target == target:
            return entry
        if entry is not None:  # password or cipher suite changed
            self._close_later(entry.session)
        session = IpmiSession(
            target.host,
            target.port,
            target.username,
            target.password,
            cipher_suite=target.cipher_suite,
            timeout=self.timeout,
            retries=self.retries,
            idle_relogin=self.idle_relogin,
        )
        loop = asyncio.get_running_loop()
        entry = self._sessions[target.key] = _Entry(target, session, loop.time())
        if target.key not in self._ringed:
            self._ringed.add(target.key)
            self._ring.append(target.key)
        if self.keepalive_interval > 0 and self._keeper is None:
            self._keeper = loop.create_task(self._keep_alive(), name="ipmi-keepalive")
        return entry

    async def run(self, target: BmcTarget, call: Callable[[IpmiSession], Awaitable[T]]) -> T:
        """Run ``call`` on the target's session, within the concurrency bound."""
        async with self._limit:
            entry = self._entry(target)
            entry.used = asyncio.get_running_loop().time()
            return await call(entry.session)

    async def get_power(self, target: BmcTarget) -> bool:
        return await self.run(target, lambda s: s.get_power())

    async def set_power(self, target: BmcTarget, action: PowerAction | str) -> None:
        await self.run(target, lambda s: s.set_power(action))

    async def set_boot_device(
        self,
        target: BmcTarget,
        device: BootDevice | str,
        persistent: bool = False,
        uefi: bool = False,
    ) -> None:
        await self.run(target, lambda s: s.set_boot_device(device, persistent, uefi))

    async def get_boot_device(self, target: BmcTarget) -> BootOptions:
        return await self.run(target, lambda s: s.get_boot_device())

    async def discard(self, target: BmcTarget) -> None:
        """Close and forget the session (e.g. the node was deleted)."""
        entry = self._sessions.pop(target.key, None)
        if entry is not None:
            await entry.session.close()

    async def close(self) -> None:
        """Stop the keep-alives; close every session, ``concurrency`` at a time."""
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, *self._pings, return_exceptions=True)
            self._keeper = None
        sessions = [e.session for e in self._sessions.values()]
        self._sessions.clear()
        self._ring.clear()
        self._ringed.clear()

        async def close_one(s: IpmiSession) -> None:
            async with self._limit:
                await s.close()

        await asyncio.gather(*(close_one(s) for s in sessions))
        if self._closing:
            await asyncio.gather(*self._closing)

    def _close_later(self, session: IpmiSession) -> None:
        task = asyncio.get_running_loop().create_task(session.close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    # --- keep-alives ----------------------------------------------------------

    async def _keep_alive(self) -> None:
        """Turn the hand: each session once per interval, a slice every tick."""
        loop = asyncio.get_running_loop()
        interval = self.keepalive_interval
        tick = min(1.0, interval / 10)
        owed = 0.0
        last = loop.time()
        while True:
            await asyncio.sleep(tick)
            now = loop.time()
            owed += len(self._ring) * (now - last) / interval
            last = now
            for _ in range(min(int(owed), len(self._ring))):
                owed -= 1
                self._visit(self._ring.popleft(), now)
            owed = min(owed, 1.0)  # a ring that shrank owes no burst later

    def _visit(self, key: tuple[str, int, str], now: float) -> None:
        entry = self._sessions.get(key)
        if entry is None:  # discarded or dropped: it leaves the ring
            self._ringed.discard(key)
            return
        if now - entry.used > self.max_idle:
            del self._sessions[key]
            self._ringed.discard(key)
            self.expired += 1
            self._close_later(entry.session)  # log out: the BMC has few sessions
            return
        self._ring.append(key)
        session = entry.session
        if session.logged_in and now - session.last_answer >= self.keepalive_interval / 4:
            task = asyncio.get_running_loop().create_task(self._ping(key, entry))
            self._pings.add(task)
            task.add_done_callback(self._pings.discard)

    async def _ping(self, key: tuple[str, int, str], entry: _Entry) -> None:
        session = entry.session
        async with self._limit:
            answered = session.keepalives
            alive = await session.keepalive()
            self.keepalives += session.keepalives - answered
        if not alive and self._sessions.get(key) is entry:
            del self._sessions[key]  # its next call makes a new session and logs in
            self.dropped += 1
