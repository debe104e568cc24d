"""What the protocol drivers (ipmi, redfish) share: reading settings, boot mode, power waits.

Drivers read ``driver_info`` on every call rather than caching it: the
operator may patch it at any time, and parsing a dozen keys costs nothing
next to a network round trip.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any

from barecloud.drivers.base import NodeView, Setting
from barecloud.errors import HardwareTimeout, InvalidParameter

_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off")


def parse_bool(value: Any) -> bool | None:
    """``value`` as a boolean, or None if it is not one."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    return None


def coerce(s: Setting, value: Any) -> Any:
    """``value`` as ``s.type``; ValueError or TypeError if it is not one.

    Lists also come as "a,b,c" (from an environment variable).
    """
    if s.type == "integer":
        if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
            raise ValueError
        return int(value)
    if s.type == "number":
        if isinstance(value, bool):
            raise ValueError
        number = float(value)
        if not math.isfinite(number):
            raise ValueError
        return number
    if s.type == "boolean":
        flag = parse_bool(value)
        if flag is None:
            raise ValueError
        return flag
    if s.type == "list":
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        if isinstance(value, list | tuple):
            return [str(item) for item in value]
        raise ValueError
    return value if isinstance(value, str) else str(value)


def read_settings(node: NodeView, settings: Iterable[Setting], what: str) -> dict[str, Any]:
    """The node's values of ``settings``, typed, defaults filled in.

    Raises InvalidParameter naming every missing required key at once (what
    ``GET /v1/nodes/{node}/validate`` shows), then the first badly typed one.
    Secret values are never echoed.
    """
    info = node.driver_info
    settings = tuple(settings)
    missing = sorted(s.name for s in settings
                     if s.required and info.get(s.name) in (None, ""))
    if missing:
        raise InvalidParameter(
            f"Missing the following {what} settings in node's driver_info: "
            f"{', '.join(missing)}."
        )
    return typed(settings, info, lambda s: f"driver_info/{s.name}")


def typed(settings: Iterable[Setting], values: Mapping[str, Any],
          where: Callable[[Setting], str]) -> dict[str, Any]:
    """Each setting's value in ``values``, typed, its default where missing.

    A value of the wrong type is an InvalidParameter "<where> must be a <type>"
    that shows the value, unless the setting is a secret.
    """
    out: dict[str, Any] = {}
    for s in settings:
        value = values.get(s.name)
        if value is None or value == "":
            out[s.name] = s.default
            continue
        try:
            out[s.name] = coerce(s, value)
        except (TypeError, ValueError):
            shown = "******" if s.secret else repr(value)
            raise InvalidParameter(
                f"{where(s)} must be {'an' if s.type == 'integer' else 'a'} {s.type}, "
                f"not {shown}."
            ) from None
    return out


BOOT_MODE_SETTING = Setting(
    "boot_mode",
    "Boot mode used when setting the boot device: uefi or bios. Default: the "
    "boot_mode capability in properties, else uefi.",
)
BOOT_MODES = ("uefi", "bios")


def boot_mode(node: NodeView) -> str:
    """uefi or bios: the ``boot_mode`` capability, else driver_info, else uefi (as Ironic)."""
    caps = node.properties.get("capabilities")
    mode: Any = None
    if isinstance(caps, dict):
        mode = caps.get("boot_mode")
    elif isinstance(caps, str):
        for item in caps.split(","):
            key, _, value = item.partition(":")
            if key.strip() == "boot_mode":
                mode = value.strip()
    if not mode:
        mode = node.driver_info.get("boot_mode") or "uefi"
    text = str(mode).lower()
    if text not in BOOT_MODES:
        raise InvalidParameter(f"Invalid boot mode {text!r}: uefi or bios.")
    return text


def power_timeout(node: NodeView, timeout: float | None, default: float) -> float:
    """Seconds to wait for a power state: the call's, the API request's, or the setting."""
    if timeout:
        return float(timeout)
    # A power request through the API carries its own timeout (microversion 1.27).
    requested = node.workflow_args.get("timeout") if node.workflow_args.get("target") else None
    if isinstance(requested, int | float) and not isinstance(requested, bool) and requested > 0:
        return float(requested)
    return default


async def wait_until(
    reached: Callable[[], Awaitable[bool]], timeout: float, failure: Callable[[], str]
) -> None:
    """Poll ``reached`` (at once, then backing off to 1 s) until true or ``timeout`` passes.

    The first poll comes right after the command because many BMCs apply
    it at once; the back-off keeps a slow machine from being hammered.
    The deadline is checked between polls, so one slow poll may overrun
    it by up to that poll's own timeout.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    delay = 0.05
    while not await reached():
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise HardwareTimeout(failure())
        await asyncio.sleep(min(delay, remaining))
        delay = min(delay * 1.5, 1.0)


def scrub(message: str, *secrets: str) -> str:
    """``message`` with every non-empty secret masked: belt and braces for error text."""
    for secret in sorted({s for s in secrets if s}, key=len, reverse=True):
        message = message.replace(secret, "******")
    return message
