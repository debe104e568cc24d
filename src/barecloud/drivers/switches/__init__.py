"""Switch drivers: make a switch port an access port of a tenant's segment.

``switch_driver(name, settings)`` gives the driver of a switch of the
``switches`` setting; see docs/design/networking.md and each driver's module
for its options (``linux-bridge``, ``openvswitch``, ``generic-ssh``, ``fake``).

The registry is imported on first use, not here: it loads the service's
settings (pydantic, some 0.2 s), which code that needs only the types above
(``drivers/base.py``) does without.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from barecloud.drivers.switches.base import (
    HostPlug,
    NetworkType,
    PortCounters,
    Segment,
    SwitchDriver,
)

if TYPE_CHECKING:
    from barecloud.config import Settings


def switch_driver(name: str, settings: Settings) -> SwitchDriver:
    """The running loop's (cached) driver for switch ``name`` of ``settings.switches``."""
    from barecloud.drivers.switches import registry

    return registry.switch_driver(name, settings)


def build(name: str, config: Mapping[str, Any]) -> SwitchDriver:
    """A new, uncached driver for switch ``name`` from its options ``config``."""
    from barecloud.drivers.switches import registry

    return registry.build(name, config)


async def close_all() -> None:
    """Close every switch driver the running loop built."""
    from barecloud.drivers.switches import registry

    await registry.close_all()


__all__ = [
    "HostPlug",
    "NetworkType",
    "PortCounters",
    "Segment",
    "SwitchDriver",
    "build",
    "close_all",
    "switch_driver",
]
