"""The commands the conductor sends, by name: what each does and returns.

See the command table in docs/design/provisioning.md.  A command either
returns its result or raises :class:`CommandError` with the message the
operator will see as the node's ``last_error``.  ``power_off`` and
``reboot`` return an action to run after their success has been reported.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NoReturn

from barecloud.agent import configdrive, erase, image, power
from barecloud.agent.hardware import Hardware, HardwareError

Progress = Callable[[int, int | None], None]


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
    disk = context.hardware.disk(_optional_str(params.get("disk")))
    result = image.write_image(
        url, disk.path,
        os_hash_algo=str(params.get("os_hash_algo") or "sha512"),
        os_hash_value=_optional_str(params.get("os_hash_value")),
        size=int(size) if size is not None else None,
        progress=context.progress)
    return Outcome(result)


def _write_configdrive(params: Mapping[str, Any], context: Context) -> Outcome:
    disk = context.hardware.disk(_optional_str(params.get("disk")))
    iso = configdrive.image_from_params(params)
    return Outcome(configdrive.write(disk.path, iso))


def _erase(params: Mapping[str, Any], context: Context) -> Outcome:
    mode = str(params.get("mode") or "quick")
    if mode not in ("quick", "full"):
        raise CommandError(f"erase mode must be 'quick' or 'full', not {mode!r}")
    if not context.hardware.disks:
        raise CommandError("the machine has no disk")
    total = 0
    for disk in context.hardware.disks:
        total += int(erase.erase(disk.path, mode, context.progress)["bytes"])
    return Outcome({"mode": mode, "bytes": total})


def _power_off(params: Mapping[str, Any], context: Context) -> Outcome:
    return Outcome({}, functools.partial(power.power_off, context.hardware.platform))


def _reboot(params: Mapping[str, Any], context: Context) -> Outcome:
    return Outcome({}, functools.partial(power.reboot, context.hardware.platform))


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
