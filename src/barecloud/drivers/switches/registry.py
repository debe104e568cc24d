"""Switch drivers by name: ``switch_driver(name, settings)`` builds, checks and caches them.

A switch is a setting (``switches = {NAME: {driver = ..., options}}``), so
its driver is built from that dict on first use and kept: a generic-ssh
driver holds a lock that serializes its sessions, a linux-bridge driver one
that serializes its ``ip`` commands, and both only work if everyone shares
the same instance.  Instances are per event loop (asyncio locks and SSH
connections belong to one loop; tests have a loop each) and are rebuilt when
the switch's options change.

Each driver declares its options as :class:`~barecloud.drivers.settings.Setting`
rows, so unknown keys (typos) and missing or mistyped values are refused
with a clear :class:`InvalidParameter` and secret values can be masked in
whatever shows a switch's configuration.
"""

from __future__ import annotations

import asyncio
import json
import weakref
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from barecloud.config import Settings
from barecloud.drivers.settings import Setting, typed
from barecloud.drivers.switches.base import SwitchDriver
from barecloud.errors import InvalidParameter

MASK = "******"


class SwitchDriverClass(Protocol):
    """What the registry needs of a driver class: its options and a constructor."""

    driver_name: str
    options: tuple[Setting, ...]

    def __call__(self, name: str, options: dict[str, Any]) -> SwitchDriver: ...


def _classes() -> dict[str, SwitchDriverClass]:
    # Imported on first use: a process that never drives a switch never loads
    # asyncssh (generic-ssh) or the bridge driver.
    from barecloud.drivers.switches.fake import FakeSwitch
    from barecloud.drivers.switches.generic_ssh.driver import GenericSshSwitch
    from barecloud.drivers.switches.linux_bridge import LinuxBridgeSwitch
    from barecloud.drivers.switches.openvswitch import OpenVSwitchSwitch

    return {c.driver_name: c for c in (LinuxBridgeSwitch, OpenVSwitchSwitch, GenericSshSwitch,
                                       FakeSwitch)}


def driver_names() -> tuple[str, ...]:
    return tuple(_classes())


def driver_options(driver: str) -> tuple[Setting, ...]:
    """The options a switch driver takes (for forms, validation and masking)."""
    classes = _classes()
    if driver not in classes:
        raise InvalidParameter(
            f"Unknown switch driver {driver!r}; known: {', '.join(sorted(classes))}."
        )
    return classes[driver].options


def _secret_value(value: Any) -> Any:
    """The plain value of a pydantic SecretStr (or anything alike), else ``value``."""
    getter = getattr(value, "get_secret_value", None)
    return getter() if callable(getter) else value


def read_options(switch: str, options: Iterable[Setting], config: Mapping[str, Any]
                 ) -> dict[str, Any]:
    """``config``'s values of ``options``, typed, defaults filled in.

    Refuses unknown keys (other than ``driver``), names every missing
    required one at once, and never echoes a secret value.
    """
    options = tuple(options)
    known = {s.name for s in options}
    unknown = sorted(set(config) - known - {"driver"})
    if unknown:
        raise InvalidParameter(
            f"Switch {switch!r}: unknown option(s) {', '.join(unknown)}; "
            f"the {config.get('driver')} driver takes {', '.join(sorted(known))}."
        )
    values = {k: _secret_value(v) for k, v in config.items()}
    missing = sorted(s.name for s in options
                     if s.required and values.get(s.name) in (None, "", []))
    if missing:
        raise InvalidParameter(f"Switch {switch!r}: missing option(s) {', '.join(missing)}.")
    return typed(options, values, lambda s: f"Switch {switch!r}: option {s.name}")


def masked(config: Mapping[str, Any]) -> dict[str, Any]:
    """A switch's configuration fit to show: secret option values are ``******``."""
    try:
        options = driver_options(str(config.get("driver")))
    except InvalidParameter:
        options = ()
    secret = {s.name for s in options if s.secret} | {"password"}
    return {k: (MASK if k in secret and v not in (None, "") else v) for k, v in config.items()}


def _fingerprint(config: Mapping[str, Any]) -> str:
    return json.dumps({k: _secret_value(v) for k, v in config.items()},
                      sort_keys=True, default=str)


# loop -> switch name -> (options fingerprint, driver)
_DRIVERS: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[str, tuple[str, SwitchDriver]]
] = weakref.WeakKeyDictionary()
# Drivers replaced after an options change, closed by close_all().
_RETIRED: weakref.WeakKeyDictionary[
    asyncio.AbstractEventLoop, list[SwitchDriver]
] = weakref.WeakKeyDictionary()


def build(name: str, config: Mapping[str, Any]) -> SwitchDriver:
    """A new driver for switch ``name`` configured by ``config`` (not cached)."""
    if not isinstance(config, Mapping):
        raise InvalidParameter(f"Switch {name!r}: its setting must be a table of options.")
    driver = config.get("driver")
    if not driver:
        raise InvalidParameter(
            f"Switch {name!r}: missing option driver ({', '.join(sorted(_classes()))})."
        )
    classes = _classes()
    if driver not in classes:
        raise InvalidParameter(
            f"Switch {name!r}: unknown driver {driver!r}; known: {', '.join(sorted(classes))}."
        )
    cls = classes[str(driver)]
    return cls(name, read_options(name, cls.options, config))


def switch_driver(name: str, settings: Settings) -> SwitchDriver:
    """The running loop's driver for switch ``name`` of ``settings.switches``."""
    config = settings.switches.get(name)
    if config is None:
        known = ", ".join(sorted(settings.switches)) or "none"
        raise InvalidParameter(f"Unknown switch {name!r} (configured switches: {known}).")
    loop = asyncio.get_running_loop()
    drivers = _DRIVERS.setdefault(loop, {})
    fingerprint = _fingerprint(config)
    cached = drivers.get(name)
    if cached is not None and cached[0] == fingerprint:
        return cached[1]
    driver = build(name, config)
    if cached is not None:
        _RETIRED.setdefault(loop, []).append(cached[1])
    drivers[name] = (fingerprint, driver)
    return driver


async def close_all() -> None:
    """Close every driver the running loop built (on shutdown, and after each test)."""
    loop = asyncio.get_running_loop()
    drivers = [d for _, d in _DRIVERS.pop(loop, {}).values()] + _RETIRED.pop(loop, [])
    await asyncio.gather(*(d.close() for d in drivers), return_exceptions=True)


# --- the process's switches, for callers that have no Settings at hand -------------

_CONFIGURED: dict[str, Settings] = {}


def configure(settings: Settings) -> None:
    """Make ``settings.switches`` the switches :func:`switch` and :func:`check_switch` use.

    Called once at start-up by whatever owns the Settings (serve, conductor),
    so drivers deep in a workflow (the ``neutron`` network interface, the
    top-talker sampler) can name a switch without carrying the settings.
    """
    _CONFIGURED["settings"] = settings


def _configured() -> Settings:
    settings = _CONFIGURED.get("settings")
    if settings is None:
        raise InvalidParameter("No switches are configured (registry.configure was not called).")
    return settings


def switch(name: str) -> SwitchDriver:
    """The running loop's driver for switch ``name`` of the configured settings."""
    return switch_driver(name, _configured())


def check_switch(name: str) -> None:
    """Raise InvalidParameter unless switch ``name`` is configured and its options are valid."""
    settings = _configured()
    config = settings.switches.get(name)
    if config is None:
        known = ", ".join(sorted(settings.switches)) or "none"
        raise InvalidParameter(f"Unknown switch {name!r} (configured switches: {known}).")
    build(name, config)
