"""What the protocol drivers (ipmi, redfish) share: reading settings, boot mode, power waits.

Drivers read ``driver_info`` on every call rather than caching it: the
operator may patch it at any time, and parsing a dozen keys costs nothing
next to a network round trip.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from barecloud.drivers.base import NodeView
from barecloud.drivers.settings import Setting, typed
from barecloud.errors import HardwareTimeout, InvalidParameter


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
