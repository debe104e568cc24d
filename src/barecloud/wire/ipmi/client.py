"""An asyncio IPMI 2.0 (lanplus) client: thousands of BMC sessions in one loop.

Why not pyghmi or ipmitool: pyghmi needs a thread per call in flight and
logs in in 5-12 ms; an ``ipmitool`` process costs 30-60 ms per call.  Here a
session is a UDP socket and a few small objects, a login is four round
trips, and a status query on an open session is one.

``timeout`` is the deadline of one public call, whatever it needs (a login,
a privilege raise, the command); :mod:`.exchange` retransmits within it.

Sessions die on the BMC side without notice (idle timeout, BMC reset): a
command that goes unanswered twice on an established session, or a session
idle longer than ``idle_relogin``, is given up and a new one logged in,
within the same deadline.  A command repeated after such a re-login may
have run once already: on/off are idempotent, cycle/reset are not.

A pool of such sessions, kept alive, is in :mod:`barecloud.wire.ipmi.pool`;
Serial-over-LAN in a session (:meth:`IpmiSession.sol`) is in :mod:`.sol_client`.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import os
import struct
from collections.abc import Callable
from typing import TypeVar

from barecloud.wire.ipmi import crypto
from barecloud.wire.ipmi.commands import (
    BOOT_PARAM_BOOT_FLAGS,
    CMD_CHASSIS_CONTROL,
    CMD_CLOSE_SESSION,
    CMD_GET_CHANNEL_AUTH_CAPABILITIES,
    CMD_GET_CHASSIS_STATUS,
    CMD_GET_DEVICE_ID,
    CMD_GET_SYSTEM_BOOT_OPTIONS,
    CMD_SET_SESSION_PRIVILEGE_LEVEL,
    CMD_SET_SYSTEM_BOOT_OPTIONS,
    NETFN_APP,
    NETFN_CHASSIS,
    BootDevice,
    BootOptions,
    ChannelAuthCapabilities,
    ChassisStatus,
    DeviceId,
    PowerAction,
)
from barecloud.wire.ipmi.crypto import (
    SessionKeys,
    derive_keys,
    rakp2_auth_code,
    rakp3_auth_code,
    rakp4_icv,
    suite_for,
)
from barecloud.wire.ipmi.errors import (
    CC_OK,
    STATUS_INVALID_INTEGRITY,
    STATUS_INVALID_NAME_LENGTH,
    STATUS_INVALID_ROLE,
    STATUS_OK,
    STATUS_UNAUTHORIZED_NAME,
    STATUS_UNAUTHORIZED_ROLE,
    IpmiAuthError,
    IpmiCommandError,
    IpmiError,
    IpmiProtocolError,
    IpmiSessionError,
    completion_text,
    status_text,
)
from barecloud.wire.ipmi.exchange import Silence, UdpExchange
from barecloud.wire.ipmi.framing import (
    IpmiRequest,
    IpmiResponse,
    Packet,
    PayloadType,
    build_v15_packet,
    build_v20_packet,
    open_packet,
)
from barecloud.wire.ipmi.session import (
    OpenSessionRequest,
    OpenSessionResponse,
    Privilege,
    Rakp1,
    Rakp2,
    Rakp3,
    Rakp4,
    SeqWindow,
    random_session_id,
)
from barecloud.wire.ipmi.sol_client import SolConsole

T = TypeVar("T")

_NAME_ONLY_LOOKUP = 0x10  # RAKP1 role bit 4: find the user by name alone, as ipmitool does
_AUTH_FAILURES = {
    STATUS_INVALID_ROLE,
    STATUS_UNAUTHORIZED_ROLE,
    STATUS_INVALID_NAME_LENGTH,
    STATUS_UNAUTHORIZED_NAME,
    STATUS_INVALID_INTEGRITY,
}


class IpmiSession(UdpExchange):
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
        self.username = username.encode()
        self._kuid = password.encode()
        if len(self.username) > 16:
            raise ValueError("IPMI user names have at most 16 bytes")
        if len(self._kuid) > 20:
            raise ValueError("IPMI 2.0 passwords have at most 20 bytes")
        if timeout <= 0 or retries < 0:
            raise ValueError("timeout must be positive and retries not negative")
        self.suite = crypto.cipher_suite(cipher_suite)
        super().__init__(host, port, timeout, retries)
        self.kg = kg
        self.privilege = privilege
        self.idle_relogin = idle_relogin
        self.check_auth_caps = check_auth_caps
        self._lock = asyncio.Lock()
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
        self._sol_listener: Callable[[bytes | None], None] | None = None

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
        data = await self.raw(NETFN_CHASSIS, CMD_GET_CHASSIS_STATUS)
        return ChassisStatus.decode(data)

    async def set_power(self, action: PowerAction | str) -> None:
        """Chassis Control: on, off, cycle, reset (hard), soft (ACPI shutdown), diag (NMI).

        Returns when the BMC accepted the request; the machine may take
        a while to get there (poll :meth:`get_power`).
        """
        code = PowerAction(action).code
        await self.raw(NETFN_CHASSIS, CMD_CHASSIS_CONTROL, bytes((code,)), Privilege.OPERATOR)

    async def set_boot_device(
        self, device: BootDevice | str, persistent: bool = False, uefi: bool = False
    ) -> None:
        """Set the boot flags (parameter 5), for the next boot only unless ``persistent``."""
        options = BootOptions(BootDevice(device), persistent, uefi, valid=True)
        await self.raw(
            NETFN_CHASSIS,
            CMD_SET_SYSTEM_BOOT_OPTIONS,
            bytes((BOOT_PARAM_BOOT_FLAGS,)) + options.encode(),
            Privilege.OPERATOR,
        )

    async def get_boot_device(self) -> BootOptions:
        """The boot flags; ``valid`` false means the firmware will ignore them."""
        data = await self.raw(
            NETFN_CHASSIS,
            CMD_GET_SYSTEM_BOOT_OPTIONS,
            bytes((BOOT_PARAM_BOOT_FLAGS, 0, 0)),
            Privilege.OPERATOR,
        )
        if len(data) < 7 or data[1] & 0x7F != BOOT_PARAM_BOOT_FLAGS:
            raise IpmiProtocolError("Get System Boot Options answered another parameter")
        return BootOptions.decode(data[2:7])

    async def device_id(self) -> DeviceId:
        return DeviceId.decode(await self.raw(NETFN_APP, CMD_GET_DEVICE_ID))

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
        if rsp.code != CC_OK:
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
                await self._request(NETFN_APP, CMD_GET_DEVICE_ID, b"", self._deadline(), attempts=2)
            except (Silence, IpmiError, OSError):
                self._forget(close_socket=True)
                return False
            self.keepalives += 1
            return True

    def sol(
        self, instance: int = 1, *, retries: int = 7, retry_interval: float = 0.2
    ) -> SolConsole:
        """Serial-over-LAN in this session: ``async with session.sol() as console``.

        Activated on entry (logging in if needed), deactivated on exit.
        While it is active the session is the console's: it keeps it alive
        and must not be re-logged in (that would end the SOL payload).
        """
        return SolConsole(self, instance, retries=retries, retry_interval=retry_interval)

    # --- what SolConsole uses (its SolLink)

    def send_sol(self, payload: bytes, encrypt: bool = True) -> None:
        """Send one SOL payload in the open session (no answer awaited here)."""
        keys = self._keys
        if keys is None:
            raise IpmiSessionError(f"{self._where()}: no session for Serial-over-LAN")
        self._out_seq = self._out_seq % 0xFFFFFFFF + 1
        self._send(
            build_v20_packet(
                PayloadType.SOL, payload, self._bmc_sid, self._out_seq, keys, encrypt
            )
        )

    def listen_sol(self, listener: Callable[[bytes | None], None] | None) -> None:
        """Hand SOL payloads (checked and decrypted) to ``listener``; None when
        the session is lost.  ``None`` stops listening."""
        self._sol_listener = listener
        self._unsolicited = self._sol_packet if listener is not None else None

    def _sol_packet(self, pkt: Packet) -> None:
        keys, listener = self._keys, self._sol_listener
        if keys is None or listener is None or pkt.session_id != self._console_sid:
            return
        payload = open_packet(pkt, keys)
        if not self._window.accept(pkt.seq):
            return
        self._last_rx = asyncio.get_running_loop().time()
        listener(payload)

    async def close(self) -> None:
        """Close the session at the BMC (best effort, briefly) and the socket."""
        async with self._lock:
            if self._keys is not None:
                loop = asyncio.get_running_loop()
                deadline = loop.time() + min(self.timeout, 1.0)
                # Best effort: the BMC forgets it at its idle timeout anyway.
                with contextlib.suppress(IpmiError):
                    await self._request(
                        NETFN_APP,
                        CMD_CLOSE_SESSION,
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
                except Silence:
                    self._forget(close_socket=True)  # lost at the BMC: log in again

    async def _raise_privilege(self, deadline: float, attempts: int | None) -> None:
        rsp = await self._request(
            NETFN_APP,
            CMD_SET_SESSION_PRIVILEGE_LEVEL,
            bytes((self.privilege,)),
            deadline,
            attempts,
        )
        if rsp.code != CC_OK:
            raise IpmiAuthError(
                f"{self._where()}: Set Session Privilege Level {self.privilege.name}: "
                f"{completion_text(rsp.code)}"
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
        msg = IpmiRequest(netfn, command, data, self._rq_seq).encode()
        rq_seq, console_sid = self._rq_seq, self._console_sid

        def build() -> bytes:
            self._out_seq = self._out_seq % 0xFFFFFFFF + 1
            return build_v20_packet(PayloadType.IPMI, msg, self._bmc_sid, self._out_seq, keys)

        def match(pkt: Packet) -> IpmiResponse | None:
            if pkt.session_id != console_sid or pkt.payload_type != PayloadType.IPMI:
                return None
            payload = open_packet(pkt, keys)
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

        console_sid = random_session_id()
        tag = self._next_tag()
        open_req = OpenSessionRequest(
            tag, self.privilege, console_sid, suite.auth, suite.integrity, suite.confidentiality
        )
        opened = await self._presession(
            PayloadType.OPEN_SESSION_REQUEST,
            open_req.encode(),
            PayloadType.OPEN_SESSION_RESPONSE,
            OpenSessionResponse.decode,
            tag,
            deadline,
            "Open Session",
        )
        if opened.status != STATUS_OK:
            self._fail("Open Session", opened.status)
        if opened.console_sid != console_sid:
            raise IpmiProtocolError(f"{self._where()}: Open Session answered another session")
        chosen = suite_for(opened.auth, opened.integrity, opened.confidentiality)
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
            Rakp1(tag, bmc_sid, rm, role, self.username).encode(),
            PayloadType.RAKP2,
            Rakp2.decode,
            tag,
            deadline,
            "RAKP1",
        )
        if rakp2.status != STATUS_OK:
            self._fail("RAKP2", rakp2.status)
        expected = rakp2_auth_code(
            suite, self._kuid, console_sid, bmc_sid, rm, rakp2.rc, rakp2.guid, role, self.username
        )
        tag = self._next_tag()
        if not hmac.compare_digest(expected, rakp2.auth_code):
            # Tell the BMC, so it frees the half-open session at once.
            refusal = Rakp3(tag, STATUS_INVALID_INTEGRITY, bmc_sid)
            self._send(build_v20_packet(PayloadType.RAKP3, refusal.encode()))
            raise IpmiAuthError(
                f"{self._where()}: RAKP2: {status_text(STATUS_INVALID_INTEGRITY)}: "
                "the BMC proved a different password (wrong password or unauthorized name)",
                STATUS_INVALID_INTEGRITY,
            )
        keys = derive_keys(suite, self.kg or self._kuid, rm, rakp2.rc, role, self.username)
        code = rakp3_auth_code(suite, self._kuid, rakp2.rc, console_sid, role, self.username)
        rakp4 = await self._presession(
            PayloadType.RAKP3,
            Rakp3(tag, 0, bmc_sid, code).encode(),
            PayloadType.RAKP4,
            Rakp4.decode,
            tag,
            deadline,
            "RAKP3",
        )
        if rakp4.status != STATUS_OK:
            self._fail("RAKP4", rakp4.status)
        icv = rakp4_icv(suite, keys.sik, rm, bmc_sid, rakp2.guid)
        if not hmac.compare_digest(icv, rakp4.icv[: suite.icv_len]):
            raise IpmiAuthError(
                f"{self._where()}: RAKP4: {status_text(STATUS_INVALID_INTEGRITY)} (wrong Kg?)",
                STATUS_INVALID_INTEGRITY,
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
        raise error(f"{self._where()}: {step}: {status_text(status)}", status)

    async def _auth_caps(self, deadline: float) -> ChannelAuthCapabilities:
        self._rq_seq = (self._rq_seq + 1) & 0x3F
        rq_seq = self._rq_seq
        msg = IpmiRequest(
            NETFN_APP,
            CMD_GET_CHANNEL_AUTH_CAPABILITIES,
            bytes((0x8E, self.privilege)),  # bit 7: IPMI v2.0 data; channel E: this one
            rq_seq,
        ).encode()
        packet = build_v15_packet(msg)

        def match(pkt: Packet) -> IpmiResponse | None:
            if pkt.session_id != 0 or pkt.payload_type != PayloadType.IPMI or pkt.authenticated:
                return None
            rsp = IpmiResponse.decode(pkt.payload)
            if rsp.command != CMD_GET_CHANNEL_AUTH_CAPABILITIES or rsp.seq != rq_seq:
                return None
            return rsp

        rsp = await self._exchange(lambda: packet, match, deadline, "Get Channel Auth Capabilities")
        if rsp.code != CC_OK:
            raise IpmiSessionError(
                f"{self._where()}: Get Channel Authentication Capabilities: "
                f"{completion_text(rsp.code)}"
            )
        return ChannelAuthCapabilities.decode(rsp.data)

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
        packet = build_v20_packet(send_type, payload)

        def match(pkt: Packet) -> T | None:
            if pkt.session_id != 0 or pkt.payload_type != answer_type or not pkt.payload:
                return None
            if pkt.payload[0] != tag:
                return None  # an answer to an earlier attempt
            return decode(pkt.payload)

        return await self._exchange(lambda: packet, match, deadline, what)

    def _forget(self, close_socket: bool) -> None:
        listener, self._sol_listener, self._unsolicited = self._sol_listener, None, None
        if listener is not None:
            listener(None)  # the SOL payload died with the session
        self._keys = None
        self._bmc_sid = self._console_sid = 0
        self._session_privilege = Privilege.USER
        if close_socket:
            self._close_socket()

    def _next_tag(self) -> int:
        self._tag = (self._tag + 1) & 0xFF
        return self._tag

    def _where(self) -> str:
        return f"{self.username.decode()}@{self.host}:{self.port}"
