"""``redfish`` power, management and out-of-band inspection over async HTTP.

One ``httpx.AsyncClient`` per BMC base URL (per event loop) keeps its
connections alive between calls, so a power sync over a fleet costs one
request per node, and a slow BMC only holds its own connections.  Requests
use HTTP basic auth, or a Redfish session (``redfish_auth_type``): the
token is kept per BMC and user and renewed once when a request answers 401.

Errors name the URL and never the password: 401 is permanent (wrong
credentials), silence or a refused connection is a retryable
:class:`HardwareTimeout`, any other error status is a :class:`DriverError`
carrying the service's own Redfish message.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import ssl
import weakref
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import httpx

from barecloud import states
from barecloud.drivers import common
from barecloud.drivers.base import BOOT_DEVICES, NodeView
from barecloud.drivers.settings import Setting, parse_bool, scrub
from barecloud.errors import (
    DriverError,
    HardwareTimeout,
    InvalidParameter,
    PermanentDriverError,
    RetryableDriverError,
)

log = logging.getLogger(__name__)

SETTINGS = (
    Setting("redfish_address", "URL of the Redfish service, e.g. https://10.0.0.5 "
            "(https:// is assumed without a scheme).", required=True),
    Setting("redfish_system_id", "Path of the ComputerSystem, e.g. /redfish/v1/Systems/1.",
            required=True),
    Setting("redfish_username", "User name for the Redfish service.", default=""),
    Setting("redfish_password", "Password for the Redfish service.", secret=True, default=""),
    Setting("redfish_verify_ca", "Verify the service's TLS certificate: true, false, or the "
            "path of a CA bundle.", type="boolean", default=True),
    Setting("redfish_auth_type", "basic (credentials on every request) or session "
            "(log in once, then an X-Auth-Token).", default="basic"),
    Setting("redfish_timeout", "Seconds one Redfish request may take.", type="number",
            default=10.0),
    Setting("redfish_power_timeout", "Seconds to wait for the system to report a requested "
            "power state.", type="number", default=60.0),
)
MANAGEMENT_SETTINGS = (*SETTINGS, common.BOOT_MODE_SETTING)
AUTH_TYPES = ("basic", "session")

_TARGETS = {"pxe": "Pxe", "disk": "Hdd", "cdrom": "Cd", "bios": "BiosSetup"}
_DEVICES = {v: k for k, v in _TARGETS.items()}
_MODES = {"uefi": "UEFI", "bios": "Legacy"}
# Redfish InstructionSet -> the cpu_arch names Ironic and Nova use.
_ARCHES = {"x86": "i686", "x86-64": "x86_64", "IA-64": "ia64", "ARM-A32": "arm",
           "ARM-A64": "aarch64", "MIPS32": "mips", "MIPS64": "mips64",
           "PowerISA": "ppc64le"}
GIB = 1024**3


@dataclass(frozen=True, slots=True)
class _Conf:
    base: str  # scheme://host[:port]
    system: str  # /redfish/v1/Systems/1
    username: str
    password: str = field(repr=False)
    verify: bool | str
    auth_type: str
    timeout: float
    power_timeout: float

    @property
    def url(self) -> str:
        return self.base + self.system

    @property
    def user_key(self) -> tuple[str, str, str]:
        """Who a session token belongs to; a changed password invalidates it."""
        digest = hashlib.sha256(self.password.encode()).hexdigest()
        return self.base, self.username, digest


def _conf(node: NodeView) -> _Conf:
    info = node.driver_info
    verify_raw = info.get("redfish_verify_ca", True)
    flag = parse_bool(verify_raw)
    # A CA bundle path is not a boolean: read the rest with verify_ca left out.
    v = common.read_settings(
        node if flag is not None else _without(node, "redfish_verify_ca"), SETTINGS, "Redfish"
    )
    verify: bool | str = flag if flag is not None else str(verify_raw)
    if isinstance(verify, str) and not Path(verify).exists():
        raise InvalidParameter(
            f"driver_info/redfish_verify_ca must be a boolean or an existing CA bundle path, "
            f"not {verify!r}."
        )
    address = v["redfish_address"].strip().rstrip("/")
    if "://" not in address:
        address = "https://" + address
    parts = urlsplit(address)
    if parts.username or parts.password:  # checked first: the URL is not echoed then
        raise InvalidParameter("driver_info/redfish_address must not carry credentials: use "
                               "redfish_username and redfish_password.")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidParameter(f"driver_info/redfish_address is not an http(s) URL: {address!r}.")
    system = "/" + v["redfish_system_id"].strip().strip("/")
    if v["redfish_auth_type"] not in AUTH_TYPES:
        raise InvalidParameter(f"driver_info/redfish_auth_type must be basic or session, not "
                               f"{v['redfish_auth_type']!r}.")
    if v["redfish_timeout"] <= 0 or v["redfish_power_timeout"] <= 0:
        raise InvalidParameter("driver_info/redfish_timeout and redfish_power_timeout must be "
                               "positive numbers of seconds.")
    # Redfish links are absolute paths (/redfish/v1/...): the base is scheme and host only.
    return _Conf(f"{parts.scheme}://{parts.netloc}", system, v["redfish_username"],
                 v["redfish_password"], verify, v["redfish_auth_type"], v["redfish_timeout"],
                 v["redfish_power_timeout"])


def _without(node: NodeView, key: str) -> NodeView:
    return replace(node, driver_info={k: v for k, v in node.driver_info.items() if k != key})


# --- HTTP clients and sessions, per event loop ---------------------------------------------

# Requests in flight per Redfish service, all kept alive.  Callers over the
# bound wait in a semaphore, not in httpcore's pool queue: that queue is
# rescanned whenever a connection frees (quadratic when a sweep sends many
# systems of one service at once), and time spent in it counts against the
# request's timeout, so a healthy system queued behind silent ones could time
# out.
CONNECTIONS_PER_SERVICE = 16


class _Transport:
    """The running loop's clients (one per base URL and TLS policy) and session tokens."""

    def __init__(self) -> None:
        self.clients: dict[tuple[str, bool | str], httpx.AsyncClient] = {}
        self.slots: dict[tuple[str, bool | str], asyncio.Semaphore] = {}
        # One TLS context per policy: building one loads the CA bundle (~25 ms
        # of CPU), which a fleet with a Redfish service per machine would pay
        # once per BMC.
        self.contexts: dict[bool | str, ssl.SSLContext] = {}
        # user key -> (token, session URL to DELETE on close)
        self.tokens: dict[tuple[str, str, str], tuple[str, str | None]] = {}
        self.logins: dict[tuple[str, str, str], asyncio.Lock] = {}

    def client(self, conf: _Conf) -> httpx.AsyncClient:
        key = (conf.base, conf.verify)
        client = self.clients.get(key)
        if client is None:
            client = httpx.AsyncClient(
                base_url=conf.base, verify=self._tls(conf.verify),
                headers={"Accept": "application/json", "OData-Version": "4.0"},
                limits=httpx.Limits(max_connections=CONNECTIONS_PER_SERVICE,
                                    max_keepalive_connections=CONNECTIONS_PER_SERVICE),
            )
            self.clients[key] = client
        return client

    def slot(self, conf: _Conf) -> asyncio.Semaphore:
        """Hold it around a request to the service (see CONNECTIONS_PER_SERVICE)."""
        key = (conf.base, conf.verify)
        slot = self.slots.get(key)
        if slot is None:
            slot = self.slots[key] = asyncio.Semaphore(CONNECTIONS_PER_SERVICE)
        return slot

    def _tls(self, verify: bool | str) -> ssl.SSLContext:
        context = self.contexts.get(verify)
        if context is None:
            context = httpx.create_ssl_context(verify=verify) if isinstance(verify, bool) else (
                ssl.create_default_context(
                    cafile=verify if Path(verify).is_file() else None,
                    capath=verify if Path(verify).is_dir() else None,
                )
            )
            self.contexts[verify] = context
        return context


_TRANSPORTS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Transport] = (
    weakref.WeakKeyDictionary()
)


def _transport() -> _Transport:
    return _TRANSPORTS.setdefault(asyncio.get_running_loop(), _Transport())


async def close_clients() -> None:
    """Log out of Redfish sessions and close the running loop's HTTP clients (on shutdown).

    BMCs allow few sessions (often 4-16); one left behind by every restart
    would lock operators out until it times out.
    """
    transport = _TRANSPORTS.pop(asyncio.get_running_loop(), None)
    if transport is None:
        return

    async def logout(base: str, token: str, location: str | None) -> None:
        client = next((c for (b, _), c in transport.clients.items() if b == base), None)
        if client is not None and location:
            with contextlib.suppress(httpx.HTTPError):
                await client.delete(location, headers={"X-Auth-Token": token}, timeout=2.0)

    await asyncio.gather(*(logout(key[0], token, location)
                           for key, (token, location) in transport.tokens.items()))
    await asyncio.gather(*(c.aclose() for c in transport.clients.values()))


def _redfish_message(response: httpx.Response) -> str:
    """The error a Redfish service put in its body, else the HTTP reason."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        texts = [str(i["Message"]) for i in err.get("@Message.ExtendedInfo") or []
                 if isinstance(i, dict) and i.get("Message")]
        if not texts and err.get("message"):
            texts = [str(err["message"])]
        if texts:
            return "; ".join(texts)
    return response.reason_phrase or "error"


async def _request(
    conf: _Conf, method: str, path: str, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    """One Redfish request; the JSON answer ({} if none), or our error for the failure."""
    transport = _transport()
    url = path if path.startswith("http") else conf.base + path
    for attempt in (1, 2):
        headers: dict[str, str] = {}
        auth: httpx.Auth | None = None
        if conf.auth_type == "session" and conf.username:
            headers["X-Auth-Token"] = (await _token(conf, transport))[0]
        elif conf.username:
            auth = httpx.BasicAuth(conf.username, conf.password)
        try:
            async with transport.slot(conf):
                response = await transport.client(conf).request(
                    method, url, json=body, headers=headers, auth=auth, timeout=conf.timeout
                )
        except httpx.TimeoutException:
            raise HardwareTimeout(
                f"Redfish {method} {url}: no answer within {conf.timeout:g} s"
            ) from None
        except httpx.ConnectError as exc:
            text = scrub(str(exc), conf.password)
            if "CERTIFICATE_VERIFY_FAILED" in text:
                raise PermanentDriverError(
                    f"Redfish {conf.base}: TLS certificate not trusted ({text}); set "
                    "redfish_verify_ca to a CA bundle, or false"
                ) from None
            raise HardwareTimeout(f"Redfish {method} {url}: cannot connect ({text})") from None
        except httpx.HTTPError as exc:
            raise RetryableDriverError(
                f"Redfish {method} {url} failed: {scrub(str(exc), conf.password)}"
            ) from None
        if response.status_code == 401:
            if conf.auth_type == "session" and attempt == 1:
                transport.tokens.pop(conf.user_key, None)  # expired: log in again
                continue
            raise PermanentDriverError(
                f"Redfish authentication to {conf.base} failed: wrong user name or password "
                f"(HTTP 401 for user {conf.username!r})"
            )
        if response.status_code >= 400:
            text = (f"Redfish {method} {url} failed: HTTP {response.status_code}: "
                    f"{scrub(_redfish_message(response), conf.password)}")
            if response.status_code in (429, 503):
                raise RetryableDriverError(text, _retry_after(response))
            raise DriverError(text)
        if not response.content:
            return {}
        try:
            data = response.json()
        except ValueError:
            raise RetryableDriverError(f"Redfish {method} {url}: the answer is not JSON") from None
        return data if isinstance(data, dict) else {}
    raise AssertionError("unreachable")  # pragma: no cover


def _retry_after(response: httpx.Response) -> float:
    try:
        return max(1.0, float(response.headers.get("Retry-After", "5")))
    except ValueError:
        return 5.0


async def _token(conf: _Conf, transport: _Transport) -> tuple[str, str | None]:
    """The session for this BMC and user, logging in once for all waiting callers."""
    key = conf.user_key
    session = transport.tokens.get(key)
    if session:
        return session
    lock = transport.logins.setdefault(key, asyncio.Lock())
    async with lock:
        session = transport.tokens.get(key)
        if session:
            return session
        client = transport.client(conf)
        url = conf.base + "/redfish/v1/SessionService/Sessions"
        try:
            async with transport.slot(conf):
                response = await client.post(
                    url, json={"UserName": conf.username, "Password": conf.password},
                    timeout=conf.timeout,
                )
        except httpx.TimeoutException:
            raise HardwareTimeout(f"Redfish POST {url}: no answer within {conf.timeout:g} s"
                                  ) from None
        except httpx.HTTPError as exc:
            raise HardwareTimeout(f"Redfish POST {url}: cannot connect "
                                  f"({scrub(str(exc), conf.password)})") from None
        if response.status_code in (400, 401, 403):
            raise PermanentDriverError(
                f"Redfish authentication to {conf.base} failed: wrong user name or password "
                f"(HTTP {response.status_code} creating a session for user {conf.username!r})"
            )
        token = str(response.headers.get("X-Auth-Token") or "")
        if response.status_code >= 300 or not token:
            raise DriverError(
                f"Redfish POST {url} failed: HTTP {response.status_code}: "
                f"{scrub(_redfish_message(response), conf.password)}"
            )
        session = (token, response.headers.get("Location"))
        transport.tokens[key] = session
        return session


# --- the interfaces ------------------------------------------------------------------------

class _RedfishBase:
    settings: ClassVar[tuple[Setting, ...]] = SETTINGS

    def validate(self, node: NodeView) -> None:
        _conf(node)


_RESET_DEFAULT = "/Actions/ComputerSystem.Reset"


class RedfishPower(_RedfishBase):
    """Power with ComputerSystem.Reset; every change waits until PowerState says so."""

    async def get_power_state(self, node: NodeView) -> str:
        conf = _conf(node)
        return _power_of(await _request(conf, "GET", conf.system))

    async def set_power_state(self, node: NodeView, target: str, timeout: float | None) -> str:
        conf = _conf(node)
        wait = common.power_timeout(node, timeout, conf.power_timeout)
        system = await _request(conf, "GET", conf.system)
        on = system.get("PowerState") in ("On", "PoweringOn")
        allowed = _allowed_resets(system)
        if target == states.POWER_ON:
            await self._reset(conf, system, "On")
        elif target == states.POWER_OFF:
            await self._reset(conf, system, "ForceOff")
        elif target in (states.REBOOT, states.SOFT_REBOOT):
            restart = "ForceRestart" if target == states.REBOOT else "GracefulRestart"
            off = "ForceOff" if target == states.REBOOT else "GracefulShutdown"
            if not on:
                await self._reset(conf, system, "On")
            elif allowed is None or restart in allowed:
                await self._reset(conf, system, restart)
            else:  # no restart offered: off, wait, on
                await self._reset(conf, system, off)
                await self._wait(conf, "Off", wait, target)
                await self._reset(conf, system, "On")
        elif target == states.SOFT_POWER_OFF:
            if on:
                await self._reset(conf, system, "GracefulShutdown")
        else:
            raise InvalidParameter(f"Unsupported power state target {target!r}.")
        result = states.POWER_RESULT[target]
        await self._wait(conf, "On" if result == states.POWER_ON else "Off", wait, target)
        return result

    async def _reset(self, conf: _Conf, system: dict[str, Any], reset_type: str) -> None:
        action = (system.get("Actions") or {}).get("#ComputerSystem.Reset") or {}
        target = action.get("target") or conf.system + _RESET_DEFAULT
        log.debug("Redfish reset %s on %s", reset_type, conf.url)
        await _request(conf, "POST", target, {"ResetType": reset_type})

    async def _wait(self, conf: _Conf, want: str, timeout: float, target: str) -> None:
        async def reached() -> bool:
            return (await _request(conf, "GET", conf.system)).get("PowerState") == want

        await common.wait_until(
            reached, timeout,
            lambda: (f"Redfish power action {target!r} on {conf.url}: PowerState did not "
                     f"become {want} within {timeout:g} s"),
        )


def _power_of(system: dict[str, Any]) -> str:
    state = system.get("PowerState")
    if state in ("On", "PoweringOn"):
        return states.POWER_ON
    if state in ("Off", "PoweringOff"):
        return states.POWER_OFF
    raise DriverError(f"Redfish system answered an unknown PowerState {state!r}")


def _allowed_resets(system: dict[str, Any]) -> list[str] | None:
    action = (system.get("Actions") or {}).get("#ComputerSystem.Reset") or {}
    allowed = action.get("ResetType@Redfish.AllowableValues")
    return [str(a) for a in allowed] if isinstance(allowed, list) else None


class RedfishManagement(_RedfishBase):
    """Boot device as the system's BootSourceOverride (target, enabled, mode)."""

    settings: ClassVar[tuple[Setting, ...]] = MANAGEMENT_SETTINGS

    def validate(self, node: NodeView) -> None:
        _conf(node)
        common.boot_mode(node)

    async def set_boot_device(self, node: NodeView, device: str, persistent: bool) -> None:
        if device not in _TARGETS:
            raise InvalidParameter(
                f"Invalid boot device {device!r} for Redfish; supported: "
                f"{', '.join(d for d in BOOT_DEVICES if d in _TARGETS)}."
            )
        conf = _conf(node)
        mode = common.boot_mode(node)
        system = await _request(conf, "GET", conf.system)
        boot = system.get("Boot") or {}
        allowed = boot.get("BootSourceOverrideTarget@Redfish.AllowableValues")
        if isinstance(allowed, list) and _TARGETS[device] not in allowed:
            raise PermanentDriverError(
                f"Redfish system {conf.url} cannot boot from {_TARGETS[device]}; it offers "
                f"{', '.join(map(str, allowed))}"
            )
        change: dict[str, Any] = {
            "BootSourceOverrideTarget": _TARGETS[device],
            "BootSourceOverrideEnabled": "Continuous" if persistent else "Once",
        }
        # Only services that show the mode accept it being set.
        if "BootSourceOverrideMode" in boot:
            change["BootSourceOverrideMode"] = _MODES[mode]
        await _request(conf, "PATCH", conf.system, {"Boot": change})

    async def get_boot_device(self, node: NodeView) -> dict[str, Any]:
        conf = _conf(node)
        boot = (await _request(conf, "GET", conf.system)).get("Boot") or {}
        enabled = boot.get("BootSourceOverrideEnabled")
        target = boot.get("BootSourceOverrideTarget")
        if enabled in (None, "Disabled") or target in (None, "None"):
            return {"boot_device": None, "persistent": None}
        out: dict[str, Any] = {"boot_device": _DEVICES.get(str(target), str(target)),
                               "persistent": enabled == "Continuous"}
        if boot.get("BootSourceOverrideMode") in ("UEFI", "Legacy"):
            out["boot_mode"] = "uefi" if boot["BootSourceOverrideMode"] == "UEFI" else "bios"
        return out


class RedfishInspect(_RedfishBase):
    """Out-of-band inspection: what the BMC knows of CPUs, memory, disks and NICs.

    No agent boots: properties come from the system's summaries and
    collections, and every NIC's MAC is returned for the conductor to
    enroll as a port.  ``cpus`` counts hardware threads (what a flavor's
    vCPUs map to), else the summary's logical or physical count;
    ``local_gb`` is the largest present disk in whole GiB.
    """

    async def inspect(self, node: NodeView) -> dict[str, Any] | Literal["wait"]:
        conf = _conf(node)
        system = await _request(conf, "GET", conf.system)
        processors, disks, macs = await asyncio.gather(
            _members(conf, system, "Processors"), _disk_sizes(conf, system),
            _macs(conf, system),
        )
        found: dict[str, Any] = {}
        threads = sum(int(p.get("TotalThreads") or 0) for p in processors)
        summary = system.get("ProcessorSummary") or {}
        cpus = threads or summary.get("LogicalProcessorCount") or summary.get("Count")
        if cpus:
            found["cpus"] = int(cpus)
        for p in processors:
            arch = _ARCHES.get(str(p.get("InstructionSet")))
            if arch:
                found["cpu_arch"] = arch
                break
        memory = (system.get("MemorySummary") or {}).get("TotalSystemMemoryGiB")
        if memory:
            found["memory_mb"] = int(float(memory) * 1024)
        if disks:
            found["local_gb"] = max(disks) // GIB
        found["macs"] = macs
        missing = [k for k in ("cpus", "cpu_arch", "memory_mb", "local_gb") if k not in found]
        if missing:
            log.warning("Redfish inspection of %s found no %s", conf.url, ", ".join(missing))
        return found


async def _members(conf: _Conf, parent: dict[str, Any], name: str) -> list[dict[str, Any]]:
    """The members of the collection ``parent[name]`` links to (none if no link)."""
    link = (parent.get(name) or {}).get("@odata.id")
    if not link:
        return []
    collection = await _request(conf, "GET", link)
    paths = [m["@odata.id"] for m in collection.get("Members") or []
             if isinstance(m, dict) and m.get("@odata.id")]
    return list(await asyncio.gather(*(_request(conf, "GET", p) for p in paths)))


def _present(resource: dict[str, Any]) -> bool:
    return (resource.get("Status") or {}).get("State") != "Absent"


async def _disk_sizes(conf: _Conf, system: dict[str, Any]) -> list[int]:
    """Sizes in bytes of the drives under Storage, or SimpleStorage on older services."""
    sizes: list[int] = []
    for storage in await _members(conf, system, "Storage"):
        links = [d["@odata.id"] for d in storage.get("Drives") or []
                 if isinstance(d, dict) and d.get("@odata.id")]
        drives = await asyncio.gather(*(_request(conf, "GET", link) for link in links))
        sizes += [int(d["CapacityBytes"]) for d in drives
                  if d.get("CapacityBytes") and _present(d)]
    if not sizes:
        for simple in await _members(conf, system, "SimpleStorage"):
            sizes += [int(d["CapacityBytes"]) for d in simple.get("Devices") or []
                      if isinstance(d, dict) and d.get("CapacityBytes") and _present(d)]
    return sizes


async def _macs(conf: _Conf, system: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for nic in await _members(conf, system, "EthernetInterfaces"):
        mac = nic.get("MACAddress") or nic.get("PermanentMACAddress")
        if mac and _present(nic):
            mac = str(mac).strip().lower().replace("-", ":")
            if mac not in out:
                out.append(mac)
    return out
