"""``fake-hardware``: interfaces that succeed at once, after delays, or fail on demand.

They ship in the product so the whole stack runs with no hardware.  Each
node's "machine" (power state, boot device, disk) lives in :data:`MACHINES`
of the process running the conductor.  ``driver_info`` steers them:

- ``fake_delay``: seconds every operation takes (default 0);
- ``fake_fail``: operations that fail, comma-separated: power, management,
  boot, deploy, clean, inspect, rescue, network, validate, shutdown;
- ``fake_busy``: how many power operations answer "no free session" (a
  retryable error, after ``fake_busy_after`` seconds, default 0.2) before
  the machine answers again, as a BMC whose sessions are all taken;
- ``fake_callback``: when true, writing the image, erasing, inspecting and
  rescuing wait for a heartbeat like a real agent would
  (``POST /v1/heartbeat/{node}``).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from barecloud import states
from barecloud.drivers import raid
from barecloud.drivers.base import WAIT, NodeView, StepResult
from barecloud.drivers.settings import Setting
from barecloud.errors import InvalidParameter, PermanentDriverError, RetryableDriverError

FAKE_SETTINGS = (
    Setting("fake_delay", "Seconds every fake operation takes.", type="number", default=0),
    Setting(
        "fake_fail",
        "Comma-separated operations that fail: power, management, boot, deploy, clean, "
        "inspect, rescue, network, validate, shutdown.",
    ),
    Setting(
        "fake_callback",
        "Wait for an agent heartbeat when writing the image, erasing, inspecting or "
        "rescuing.",
        type="boolean",
        default=False,
    ),
    Setting("fake_busy", "How many power operations are refused as retryable (no free "
            "session) first.", type="number", default=0),
    Setting("fake_busy_after", "Seconds a refused power operation asks to wait.",
            type="number", default=0.2),
    Setting("fake_password", "A secret, to show that secrets are masked.", secret=True),
)


@dataclass
class FakeMachine:
    power_state: str = states.POWER_OFF
    boot_device: str = "disk"
    persistent: bool = True
    image: str | None = None
    log: list[str] = field(default_factory=list)
    refused: int = 0  # power operations refused so far (``fake_busy``)


MACHINES: dict[str, FakeMachine] = {}


def machine(node: NodeView) -> FakeMachine:
    return MACHINES.setdefault(node.uuid, FakeMachine())


def _delay(node: NodeView) -> float:
    try:
        return float(node.driver_info.get("fake_delay") or 0)
    except (TypeError, ValueError):
        return 0.0


def _number(node: NodeView, key: str, default: float) -> float:
    try:
        return float(node.driver_info.get(key) or default)
    except (TypeError, ValueError):
        return default


def _fails(node: NodeView, op: str) -> bool:
    spec = node.driver_info.get("fake_fail") or ""
    ops = spec if isinstance(spec, list) else str(spec).split(",")
    return op in {o.strip() for o in ops}


def _callback(node: NodeView) -> bool:
    value = node.driver_info.get("fake_callback", False)
    return value is True or str(value).lower() in ("1", "true", "yes")


class _InFlight:
    """How many fake power actions run at once, and the most seen (the power window)."""

    def __init__(self) -> None:
        self.now = self.peak = 0


POWER_ACTIONS = _InFlight()


async def _act(node: NodeView, op: str, what: str) -> FakeMachine:
    delay = _delay(node)
    if delay > 0:
        counting = what.startswith("set power")
        if counting:
            POWER_ACTIONS.now += 1
            POWER_ACTIONS.peak = max(POWER_ACTIONS.peak, POWER_ACTIONS.now)
        try:
            await asyncio.sleep(delay)
        finally:
            if counting:
                POWER_ACTIONS.now -= 1
    if _fails(node, op):
        raise PermanentDriverError(f"fake-hardware: {what} failed as requested (fake_fail={op})")
    m = machine(node)
    if op == "power" and m.refused < _number(node, "fake_busy", 0):
        m.refused += 1
        raise RetryableDriverError(f"fake-hardware: {what}: no free session (fake_busy)",
                                   _number(node, "fake_busy_after", 0.2))
    m.log.append(what)
    return m


class _FakeBase:
    settings: ClassVar[tuple[Setting, ...]] = FAKE_SETTINGS

    def validate(self, node: NodeView) -> None:
        if _fails(node, "validate"):
            raise InvalidParameter("fake-hardware: validation failed as requested")
        delay = node.driver_info.get("fake_delay")
        if delay is not None:
            try:
                float(delay)
            except (TypeError, ValueError):
                raise InvalidParameter(
                    f"fake_delay must be a number of seconds, not {delay!r}"
                ) from None


class FakePower(_FakeBase):
    async def get_power_state(self, node: NodeView) -> str:
        return (await _act(node, "power", "get power state")).power_state

    async def set_power_state(self, node: NodeView, target: str, timeout: float | None) -> str:
        m = await _act(node, "power", f"set power {target}")
        m.power_state = states.POWER_RESULT[target]
        return m.power_state


class FakeManagement(_FakeBase):
    async def set_boot_device(self, node: NodeView, device: str, persistent: bool) -> None:
        m = await _act(node, "management", f"set boot device {device}")
        m.boot_device, m.persistent = device, persistent

    async def get_boot_device(self, node: NodeView) -> dict[str, Any]:
        m = await _act(node, "management", "get boot device")
        return {"boot_device": m.boot_device, "persistent": m.persistent}


class FakeBoot(_FakeBase):
    async def prepare_ramdisk(self, node: NodeView) -> None:
        await _act(node, "boot", "prepare ramdisk")

    async def clean_up_ramdisk(self, node: NodeView) -> None:
        await _act(node, "boot", "clean up ramdisk")

    async def prepare_instance(self, node: NodeView) -> None:
        await _act(node, "boot", "prepare instance")

    async def clean_up_instance(self, node: NodeView) -> None:
        await _act(node, "boot", "clean up instance")


class FakeDeploy(_FakeBase):
    async def write_image(self, node: NodeView) -> StepResult:
        m = await _act(node, "deploy", "write image")
        m.image = str(node.instance_info.get("image_source") or "fake-image")
        return WAIT if _callback(node) else None

    async def write_configdrive(self, node: NodeView) -> StepResult:
        given = node.workflow_args.get("configdrive") is not None
        await _act(node, "deploy", "write config drive" if given else "no config drive")
        return None

    async def shutdown(self, node: NodeView) -> StepResult:
        await _act(node, "shutdown", "shut down")  # the BMC powers the machine off next
        return None

    async def erase(self, node: NodeView) -> StepResult:
        m = await _act(node, "clean", "erase disk")
        m.image = None
        return WAIT if _callback(node) else None

    async def tear_down(self, node: NodeView) -> None:
        await _act(node, "deploy", "tear down")


class FakeNetwork(_FakeBase):
    async def add_provisioning_network(self, node: NodeView) -> None:
        await _act(node, "network", "ports to provisioning network")

    async def remove_provisioning_network(self, node: NodeView) -> None:
        await _act(node, "network", "ports off provisioning network")

    async def add_cleaning_network(self, node: NodeView) -> None:
        await _act(node, "network", "ports to cleaning network")

    async def remove_cleaning_network(self, node: NodeView) -> None:
        await _act(node, "network", "ports off cleaning network")

    async def configure_tenant_networks(self, node: NodeView) -> None:
        await _act(node, "network", "ports to tenant networks")

    async def unconfigure_tenant_networks(self, node: NodeView) -> None:
        await _act(node, "network", "ports off tenant networks")


class FakeConsole(_FakeBase):
    async def start_console(self, node: NodeView) -> None:
        await _act(node, "console", "start console")

    async def stop_console(self, node: NodeView) -> None:
        await _act(node, "console", "stop console")

    async def get_console(self, node: NodeView) -> dict[str, Any]:
        return {"type": "none", "url": None}


class FakeInspect(_FakeBase):
    async def inspect(self, node: NodeView) -> dict[str, Any] | Literal["wait"]:
        await _act(node, "inspect", "inspect")
        if _callback(node):
            return WAIT  # an agent in the ramdisk would post the inventory
        return {"cpus": 4, "cpu_arch": "x86_64", "memory_mb": 8192, "local_gb": 40}


class FakeRescue(_FakeBase):
    async def rescue(self, node: NodeView) -> StepResult:
        await _act(node, "rescue", "rescue")
        return WAIT if _callback(node) else None

    async def unrescue(self, node: NodeView) -> None:
        await _act(node, "rescue", "unrescue")


class FakeBios(_FakeBase):
    """Ironic's ``fake`` BIOS: no settings to cache or apply on a fake machine."""


class FakeFirmware(_FakeBase):
    """Ironic's ``fake`` firmware: no components to cache or update."""


class FakeVendor(_FakeBase):
    """Ironic's ``fake`` vendor interface: no passthru methods are served."""


class FakeStorage(_FakeBase):
    """Ironic's ``fake`` storage: volumes are recorded, nothing is attached."""


class FakeRaid(_FakeBase):
    """Ironic's ``fake`` RAID: a target configuration is checked and recorded; the
    fake machine has no controller to build it on."""

    def logical_disk_properties(self) -> dict[str, str]:
        return raid.logical_disk_properties()

    def validate_raid_config(self, config: dict[str, Any]) -> None:
        raid.validate(config)
