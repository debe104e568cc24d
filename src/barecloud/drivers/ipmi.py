"""``ipmitool`` power and management over IPMI 2.0 lanplus (:mod:`barecloud.wire`).

Named ``ipmitool`` like Ironic's interfaces because they mean the same
commands (``power status|on|off|cycle|soft``, ``chassis bootdev``), but no
``ipmitool`` process runs: an ipmitool call costs 30-60 ms of session set-up,
while a status query on a session kept open in :class:`IpmiPool` is one round
trip.  A power sync over thousands of BMCs therefore reuses sessions, and
since every call has its own deadline and no lock is shared between BMCs,
one dead BMC costs its own timeout and nothing else.

Errors say which BMC (address and port) and never the password: wrong
credentials are permanent, silence is a retryable :class:`HardwareTimeout`.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import weakref
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

from barecloud import states
from barecloud.drivers import common
from barecloud.drivers.base import BOOT_DEVICES, NodeView
from barecloud.drivers.settings import Setting, scrub
from barecloud.errors import (
    Conflict,
    DriverError,
    HardwareTimeout,
    InvalidParameter,
    PermanentDriverError,
    RetryableDriverError,
)
from barecloud.wire.ipmi.client import IpmiSession
from barecloud.wire.ipmi.commands import BootDevice, PowerAction
from barecloud.wire.ipmi.errors import (
    STATUS_INVALID_ROLE,
    STATUS_UNAUTHORIZED_ROLE,
    IpmiAuthError,
    IpmiCommandError,
    IpmiError,
    IpmiSessionError,
    IpmiTimeout,
    completion_text,
)
from barecloud.wire.ipmi.pool import BmcTarget, IpmiPool
from barecloud.wire.ipmi.sol_client import SolConsole

log = logging.getLogger(__name__)

SOL_ALREADY_ACTIVE = 0x80  # Activate Payload: the payload is active in another session
T = TypeVar("T")

SETTINGS = (
    Setting("ipmi_address", "IP address or host name of the BMC.", required=True),
    Setting("ipmi_port", "UDP port of the BMC's RMCP+ service.", type="integer", default=623),
    Setting("ipmi_username", "BMC user name (empty: the anonymous user).", default=""),
    Setting("ipmi_password", "BMC password.", secret=True, default=""),
    Setting("ipmi_cipher_suite", "RMCP+ cipher suite: 3 (SHA1, AES) or 17 (SHA256, AES).",
            type="integer", default=3),
    Setting("ipmi_timeout", "Seconds one IPMI call may take, log-in and retransmissions "
            "included.", type="number", default=5.0),
    Setting("ipmi_retries", "Retransmissions of an unanswered IPMI request within "
            "ipmi_timeout.", type="integer", default=3),
    Setting("ipmi_power_timeout", "Seconds to wait for the BMC to report a requested power "
            "state (Ironic's power_state_change_timeout).", type="number", default=60.0),
)
MANAGEMENT_SETTINGS = (*SETTINGS, common.BOOT_MODE_SETTING)

# Calls in flight per pool; power sync bounds itself further (power_sync_workers).
POOL_CONCURRENCY = 256

# Completion codes worth trying again later: the BMC is busy, not refusing.
_RETRYABLE_CODES = frozenset({0xC0, 0xC3, 0xD2, 0xFF})
CC_NOT_IN_PRESENT_STATE = 0xD5


@dataclass(frozen=True, slots=True)
class _Bmc:
    """A node's parsed IPMI settings."""

    target: BmcTarget
    timeout: float
    retries: int
    power_timeout: float
    password: str = field(repr=False)

    @property
    def where(self) -> str:
        return f"{self.target.host}:{self.target.port}"


def _bmc(node: NodeView) -> _Bmc:
    v = common.read_settings(node, SETTINGS, "IPMI")
    if not 0 < v["ipmi_port"] < 65536:
        raise InvalidParameter(f"driver_info/ipmi_port must be 1-65535, not {v['ipmi_port']}.")
    if v["ipmi_cipher_suite"] not in (3, 17):
        raise InvalidParameter(
            f"driver_info/ipmi_cipher_suite must be 3 or 17, not {v['ipmi_cipher_suite']}."
        )
    if v["ipmi_timeout"] <= 0 or v["ipmi_power_timeout"] <= 0:
        raise InvalidParameter("driver_info/ipmi_timeout and ipmi_power_timeout must be "
                               "positive numbers of seconds.")
    if not 0 <= v["ipmi_retries"] <= 10:
        raise InvalidParameter(f"driver_info/ipmi_retries must be 0-10, not {v['ipmi_retries']}.")
    if len(v["ipmi_username"].encode()) > 16:
        raise InvalidParameter("driver_info/ipmi_username is longer than IPMI's 16 bytes.")
    if len(v["ipmi_password"].encode()) > 20:
        raise InvalidParameter("driver_info/ipmi_password is longer than IPMI 2.0's 20 bytes.")
    target = BmcTarget(v["ipmi_address"].strip(), v["ipmi_port"], v["ipmi_username"],
                       v["ipmi_password"], v["ipmi_cipher_suite"])
    return _Bmc(target, v["ipmi_timeout"], v["ipmi_retries"], v["ipmi_power_timeout"],
                v["ipmi_password"])


# --- the serial console ----------------------------------------------------------------


class SerialConsole:
    """A node's serial console over IPMI Serial-over-LAN, in an RMCP+ session of its
    own: an active SOL payload holds its session (no re-login, no pool sharing)."""

    def __init__(self, session: IpmiSession, console: SolConsole) -> None:
        self.session, self.console = session, console

    async def read(self) -> bytes:
        """What the machine printed; b"" once the console has ended."""
        try:
            return await self.console.read()
        except IpmiError:
            return b""

    async def write(self, data: bytes) -> None:
        await self.console.write(data)

    async def close(self) -> None:
        try:
            await self.console.close()
        except IpmiError as exc:  # the BMC went: nothing to deactivate
            log.info("serial console of %s: %s", self.session, exc)
        finally:
            await self.session.close()


async def open_serial_console(node: NodeView) -> SerialConsole:
    """The node's SOL console, activated; Conflict when another console has it,
    HardwareTimeout when the BMC does not answer."""
    bmc = _bmc(node)
    session = IpmiSession(bmc.target.host, bmc.target.port, bmc.target.username, bmc.password,
                          cipher_suite=bmc.target.cipher_suite, timeout=bmc.timeout,
                          retries=bmc.retries)
    console = session.sol()
    try:
        await console.activate()
    except IpmiCommandError as exc:
        await session.close()
        if exc.code == SOL_ALREADY_ACTIVE:
            raise Conflict(f"The serial console of node {node.uuid} is in use by another "
                           "session (IPMI SOL is one session at a time).") from None
        raise PermanentDriverError(f"BMC {bmc.where} refused Serial-over-LAN: {exc}") from None
    except IpmiError as exc:
        await session.close()
        raise HardwareTimeout(f"BMC {bmc.where}: no Serial-over-LAN: {exc}") from None
    return SerialConsole(session, console)


# --- sessions kept open, per event loop ---------------------------------------------

# Sessions belong to the loop that opened their sockets, so each loop has its
# own pools (a process has one; tests have one per test).  A pool has one
# timeout and retry count, so nodes with other ipmi_timeout/ipmi_retries get
# a pool of their own: in practice a fleet shares the defaults and one pool.
_POOLS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[float, int], IpmiPool]
] = weakref.WeakKeyDictionary()

# Keep-alives of pools made from now on (settings ipmi_keepalive_interval and
# ipmi_session_max_idle; the conductor sets them).
_KEEPALIVE = {"keepalive_interval": 20.0, "max_idle": 300.0}


def configure(keepalive_interval: float, session_max_idle: float) -> None:
    """How pools made from now on keep their sessions alive (0: they do not)."""
    _KEEPALIVE.update(keepalive_interval=keepalive_interval, max_idle=session_max_idle)


def pool(timeout: float = 5.0, retries: int = 3) -> IpmiPool:
    """The running loop's pool for calls with this timeout and retry count."""
    pools = _POOLS.setdefault(asyncio.get_running_loop(), {})
    key = (timeout, retries)
    if key not in pools:
        pools[key] = IpmiPool(concurrency=POOL_CONCURRENCY, timeout=timeout, retries=retries,
                              **_KEEPALIVE)
    return pools[key]


def pools() -> list[IpmiPool]:
    """The running loop's pools (for tests, benchmarks and metrics)."""
    return list(_POOLS.get(asyncio.get_running_loop(), {}).values())


def open_sessions() -> int:
    """How many BMC sessions the running loop keeps (for tests and metrics)."""
    return sum(len(p) for p in _POOLS.get(asyncio.get_running_loop(), {}).values())


def session_of(node: NodeView) -> IpmiSession:
    """The node's pooled session (tests look at its ``logins``)."""
    bmc = _bmc(node)
    return pool(bmc.timeout, bmc.retries).session(bmc.target)


async def close_sessions() -> None:
    """Log out of every BMC this loop has a session with (on shutdown)."""
    pools = _POOLS.pop(asyncio.get_running_loop(), {})
    await asyncio.gather(*(p.close() for p in pools.values()))


# --- errors ---------------------------------------------------------------------------

def _driver_error(bmc: _Bmc, what: str, exc: Exception) -> DriverError:
    """Our error for an IPMI failure: which BMC, why, whether to retry; no password."""
    detail = str(exc).removeprefix(f"{bmc.target.username}@{bmc.where}: ")
    user = f"user {bmc.target.username!r}" if bmc.target.username else "the anonymous user"
    if isinstance(exc, IpmiAuthError):
        if exc.status in (STATUS_INVALID_ROLE, STATUS_UNAUTHORIZED_ROLE) or (
            exc.status is None
        ):
            why = f"{user} may not have ADMINISTRATOR privilege"
        else:
            why = "wrong password or unauthorized name"
        err: DriverError = PermanentDriverError(
            f"IPMI authentication to {bmc.where} failed: {why} ({user}; {detail})"
        )
    elif isinstance(exc, IpmiTimeout):
        err = HardwareTimeout(f"IPMI {what} on {bmc.where} timed out: {detail}")
    elif isinstance(exc, IpmiSessionError):
        if exc.status in (0x01, 0x0B):  # the BMC has no free session: later
            err = RetryableDriverError(f"IPMI {what} on {bmc.where}: {detail}", 5.0)
        else:
            err = PermanentDriverError(f"IPMI session to {bmc.where} refused: {detail}")
    elif isinstance(exc, IpmiCommandError):
        text = f"IPMI {what} on {bmc.where} failed: {completion_text(exc.code)}"
        err = (RetryableDriverError(text) if exc.code in _RETRYABLE_CODES
               else PermanentDriverError(text))
    elif isinstance(exc, socket.gaierror):
        err = RetryableDriverError(
            f"IPMI {what}: cannot resolve BMC address {bmc.target.host!r}: {exc.strerror}", 10.0
        )
    else:  # garbled answers (IpmiProtocolError), socket errors: may pass
        err = RetryableDriverError(f"IPMI {what} on {bmc.where} failed: {detail}")
    err.message = scrub(err.message, bmc.password)
    err.args = (err.message,)
    return err


async def _call(bmc: _Bmc, what: str, call: Callable[[IpmiSession], Awaitable[T]]) -> T:
    try:
        return await pool(bmc.timeout, bmc.retries).run(bmc.target, call)
    except (IpmiError, OSError) as exc:
        err = _driver_error(bmc, what, exc)
        log.debug("%s", err.message)
        raise err from None


# --- the interfaces -----------------------------------------------------------------

class _IpmiBase:
    settings: ClassVar[tuple[Setting, ...]] = SETTINGS

    def validate(self, node: NodeView) -> None:
        _bmc(node)


async def _is_on(bmc: _Bmc) -> bool:
    return await _call(bmc, "power status", lambda s: s.get_power())


class IpmitoolPower(_IpmiBase):
    """Power as ``ipmitool power``; every change waits until the BMC reports it."""

    async def get_power_state(self, node: NodeView) -> str:
        return states.POWER_ON if await _is_on(_bmc(node)) else states.POWER_OFF

    async def set_power_state(self, node: NodeView, target: str, timeout: float | None) -> str:
        bmc = _bmc(node)
        wait = common.power_timeout(node, timeout, bmc.power_timeout)
        if target == states.POWER_ON:
            await self._act(bmc, PowerAction.ON)
        elif target == states.POWER_OFF:
            await self._act(bmc, PowerAction.OFF)
        elif target == states.REBOOT:
            await self._reboot(bmc)
        elif target == states.SOFT_POWER_OFF:
            if await _is_on(bmc):
                await self._act(bmc, PowerAction.SOFT)
        elif target == states.SOFT_REBOOT:
            if await _is_on(bmc):
                await self._act(bmc, PowerAction.SOFT)
                await self._wait(bmc, False, wait, target)
            await self._act(bmc, PowerAction.ON)
        else:
            raise InvalidParameter(f"Unsupported power state target {target!r}.")
        result = states.POWER_RESULT[target]
        await self._wait(bmc, result == states.POWER_ON, wait, target)
        return result

    async def _act(self, bmc: _Bmc, action: PowerAction) -> None:
        log.debug("IPMI power %s on %s", action, bmc.where)
        await _call(bmc, f"power {action}", lambda s: s.set_power(action))

    async def _reboot(self, bmc: _Bmc) -> None:
        """``power cycle`` if on (the BMC keeps it off long enough), ``power on`` if off."""

        async def cycle(s: IpmiSession) -> None:
            if not await s.get_power():
                await s.set_power(PowerAction.ON)
                return
            try:
                await s.set_power(PowerAction.CYCLE)
            except IpmiCommandError as exc:
                # Went off between the two calls: a cycle is refused when off.
                if exc.code != CC_NOT_IN_PRESENT_STATE:
                    raise
                await s.set_power(PowerAction.ON)

        await _call(bmc, "power cycle", cycle)

    async def _wait(self, bmc: _Bmc, on: bool, timeout: float, target: str) -> None:
        async def reached() -> bool:
            return await _is_on(bmc) == on

        await common.wait_until(
            reached, timeout,
            lambda: (f"IPMI power action {target!r} on {bmc.where}: the BMC did not report "
                     f"power {'on' if on else 'off'} within {timeout:g} s"),
        )


_DEVICES = {d: BootDevice(d) for d in BOOT_DEVICES}


class IpmitoolManagement(_IpmiBase):
    """Boot device as ``ipmitool chassis bootdev DEV [options=persistent,efiboot]``."""

    settings: ClassVar[tuple[Setting, ...]] = MANAGEMENT_SETTINGS

    def validate(self, node: NodeView) -> None:
        _bmc(node)
        common.boot_mode(node)

    async def set_boot_device(self, node: NodeView, device: str, persistent: bool) -> None:
        if device not in _DEVICES:
            raise InvalidParameter(
                f"Invalid boot device {device!r}; supported: {', '.join(BOOT_DEVICES)}."
            )
        bmc = _bmc(node)
        uefi = common.boot_mode(node) == "uefi"
        await _call(bmc, f"chassis bootdev {device}",
                    lambda s: s.set_boot_device(_DEVICES[device], persistent, uefi))

    async def get_boot_device(self, node: NodeView) -> dict[str, Any]:
        bmc = _bmc(node)
        flags = await _call(bmc, "chassis bootparam get 5", lambda s: s.get_boot_device())
        if not flags.valid or flags.device is BootDevice.NONE:
            # No override: the firmware follows its own order (Ironic says None).
            return {"boot_device": None, "persistent": None}
        return {"boot_device": str(flags.device), "persistent": flags.persistent,
                "boot_mode": "uefi" if flags.uefi else "bios"}
