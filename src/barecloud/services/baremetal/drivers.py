"""Drivers (hardware types) as the API shows them, and their settings."""

from __future__ import annotations

from typing import Any

from barecloud.drivers import hardware
from barecloud.drivers.base import INTERFACE_TYPES
from barecloud.errors import NotFound
from barecloud.services.context import Runtime


async def list_drivers(rt: Runtime) -> list[dict[str, Any]]:
    from barecloud.conductor.recovery import live_conductors

    hosts = sorted(h for h, _ in await live_conductors(
        rt.db, rt.settings.conductor_heartbeat_timeout))
    out = []
    for name, hw in sorted(hardware.HARDWARE_TYPES.items()):
        info: dict[str, Any] = {"name": name, "hosts": hosts, "type": "dynamic"}
        for iface in INTERFACE_TYPES:
            info[f"default_{iface}_interface"] = hw.default(iface)
            info[f"enabled_{iface}_interfaces"] = list(hw.supported[iface])
        out.append(info)
    return out


async def get_driver(rt: Runtime, name: str) -> dict[str, Any]:
    for d in await list_drivers(rt):
        if d["name"] == name:
            return d
    raise NotFound(f"Could not find the following driver(s) or hardware type(s): {name}.")


def properties(name: str) -> dict[str, str]:
    if name not in hardware.HARDWARE_TYPES:
        raise NotFound(f"Could not find the following driver(s) or hardware type(s): {name}.")
    out = {}
    for key, s in sorted(hardware.settings_of(name).items()):
        flags = []
        if s.required:
            flags.append("Required.")
        if s.secret:
            flags.append("Secret.")
        out[key] = " ".join([s.description, *flags])
    return out


def schema(name: str) -> list[dict[str, Any]]:
    """The settings as structured data, for forms in the CLI and UI."""
    if name not in hardware.HARDWARE_TYPES:
        raise NotFound(f"Could not find the following driver(s) or hardware type(s): {name}.")
    return [
        {"name": s.name, "description": s.description, "required": s.required,
         "secret": s.secret, "type": s.type, "default": s.default}
        for s in hardware.settings_of(name).values()
    ]
