"""The commands the conductor sends, by name: what each does and returns.

See the command table in docs/design/provisioning.md.  A command either
returns its result or raises :class:`CommandError` with the message the
operator will see as the node's ``last_error``.  ``power_off`` and
``reboot`` return an action to run after their success has been reported;
they first let the next machines of an image chain finish pulling from
this one (the service powers the machine off through its BMC once the
report is in).  A command that changes the disk first stops the chain
server from serving the image it held.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from barecloud.agent import chain, configdrive, erase, image, power
from barecloud.agent.hardware import Hardware, HardwareError

Progress = Callable[[int, int | None], None]

log = logging.getLogger(__name__)


class CommandError(Exception):
    """A command failed; the message says why, for the operator."""


@dataclass(frozen=True)
class Outcome:
    result: dict[str, Any]
    then: Callable[[], NoReturn] | None = None  # run once the success is reported


@dataclass(frozen=True)
class Context:
    hardware: Hardware
    boot_mac: str | None
    progress: Progress
    chain: chain.ChainServer | None = None  # serves written images to the next machine


Handler = Callable[[Mapping[str, Any], Context], Outcome]


def run(name: str, params: Mapping[str, Any], context: Context) -> Outcome:
    """Run command ``name``; raises :class:`CommandError` if it fails."""
    handler = HANDLERS.get(name)
    if handler is None:
        raise CommandError(f"unknown command {name!r} (this agent knows: "
                           f"{', '.join(sorted(HANDLERS))})")
    try:
        return handler(params, context)
    except CommandError:
        raise
    except (image.ImageError, configdrive.ConfigDriveError, HardwareError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    except OSError as exc:
        raise CommandError(f"{name}: {exc}") from None


def _get_inventory(params: Mapping[str, Any], context: Context) -> Outcome:
    return Outcome({"inventory": context.hardware.inventory(context.boot_mac)})


def _write_image(params: Mapping[str, Any], context: Context) -> Outcome:
    url = params.get("url")
    if not isinstance(url, str) or not url:
        raise CommandError("write_image needs 'url'")
    size = params.get("size")
    upstreams = params.get("upstreams") or []
    if not isinstance(upstreams, list) or not all(
            isinstance(u, str) and u.startswith("http://") for u in upstreams):
        raise CommandError("write_image 'upstreams' must be a list of http:// URLs")
    stall = params.get("stall_timeout")
    stall_timeout = float(stall) if stall is not None else image.STALL_TIMEOUT
    if stall_timeout <= 0:
        raise CommandError("write_image 'stall_timeout' must be positive")
    disk = context.hardware.disk(_optional_str(params.get("disk")))
    serving = _serving(params.get("serve"), context)
    _seal(context)
    result = image.write_image(
        url, disk.path,
        os_hash_algo=str(params.get("os_hash_algo") or "sha512"),
        os_hash_value=_optional_str(params.get("os_hash_value")),
        size=int(size) if size is not None else None,
        progress=context.progress, upstreams=upstreams, serve=serving,
        stall_timeout=stall_timeout)
    return Outcome(result)


def _serving(serve: Any, context: Context) -> chain.Serving | None:
    """``serve: {"token"}``: where the chain server is to serve the image."""
    if serve is None:
        return None
    token = serve.get("token") if isinstance(serve, dict) else None
    if not isinstance(token, str) or not chain.TOKEN.fullmatch(token):
        raise CommandError("write_image 'serve' needs a 'token' (letters, digits, '-._~')")
    if context.chain is None:
        log.warning("write_image: this agent has no chain server; not serving the image")
        return None
    return chain.Serving(context.chain, token)


def _seal(context: Context) -> None:
    """The disk is about to change: stop serving the image it holds."""
    if context.chain is not None:
        context.chain.seal()


def _write_configdrive(params: Mapping[str, Any], context: Context) -> Outcome:
    disk = context.hardware.disk(_optional_str(params.get("disk")))
    iso = configdrive.image_from_params(params)
    _seal(context)
    return Outcome(configdrive.write(disk.path, iso))


def _erase(params: Mapping[str, Any], context: Context) -> Outcome:
    mode = str(params.get("mode") or "quick")
    if mode not in ("quick", "full"):
        raise CommandError(f"erase mode must be 'quick' or 'full', not {mode!r}")
    if not context.hardware.disks:
        raise CommandError("the machine has no disk")
    _seal(context)
    total = 0
    for disk in context.hardware.disks:
        total += int(erase.erase(disk.path, mode, context.progress)["bytes"])
    return Outcome({"mode": mode, "bytes": total})


def _power_off(params: Mapping[str, Any], context: Context) -> Outcome:
    _drain(context)
    return Outcome({}, functools.partial(power.power_off, context.hardware.platform))


def _reboot(params: Mapping[str, Any], context: Context) -> Outcome:
    _drain(context)
    return Outcome({}, functools.partial(power.reboot, context.hardware.platform))


def _drain(context: Context) -> None:
    """Before the report: the service cuts the power through the BMC once it has it."""
    if context.chain is not None:
        context.chain.drain()


def _optional_str(value: Any) -> str | None:
    return str(value) if value not in (None, "") else None


HANDLERS: dict[str, Handler] = {
    "get_inventory": _get_inventory,
    "write_image": _write_image,
    "write_configdrive": _write_configdrive,
    "erase": _erase,
    "power_off": _power_off,
    "reboot": _reboot,
}
