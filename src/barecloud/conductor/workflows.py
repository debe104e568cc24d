"""Workflows as lists of named steps, run by the engine one at a time.

After every step the engine saves the index of the next one on the node row,
so a conductor that dies mid-way leaves a node whose progress is known.  A
step returning ``WAIT`` hands the node to the machine (an agent) until it
calls back or the deadline passes; a step with an ``event`` moves the node
along the transition table and the workflow goes on (undeploy becomes
cleaning that way).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from barecloud import states
from barecloud.drivers import hardware
from barecloud.drivers.base import WAIT, NodeView, StepResult


@dataclass
class StepContext:
    node: NodeView
    args: dict[str, Any]
    power: Callable[[NodeView, str], Awaitable[str]]
    # Columns of the node row the step wants saved with its progress.
    updates: dict[str, Any] = field(default_factory=dict)

    def iface(self, name: str) -> Any:
        impl = self.node.driver_internal_info.get("interfaces", {}).get(name)
        hw = hardware.hardware_type(self.node.driver)
        return hardware.interface(name, hw.check(name, impl))

    def set_power(self, state: str) -> None:
        self.updates["power_state"] = state
        self.node = replace(self.node, power_state=state)


StepFn = Callable[[StepContext], Awaitable[StepResult]]


@dataclass(frozen=True)
class Step:
    name: str
    run: StepFn | None = None
    # A transition step: apply this event instead of calling hardware.
    event: str | None = None


def _call(iface: str, method: str) -> StepFn:
    async def run(ctx: StepContext) -> StepResult:
        result: StepResult = await getattr(ctx.iface(iface), method)(ctx.node)
        return result

    return run


def _power(target: str) -> StepFn:
    async def run(ctx: StepContext) -> StepResult:
        ctx.set_power(await ctx.power(ctx.node, target))
        return None

    return run


def _boot_device(device: str) -> StepFn:
    async def run(ctx: StepContext) -> StepResult:
        await ctx.iface("management").set_boot_device(ctx.node, device, device == "disk")
        return None

    return run


async def _validate(ctx: StepContext) -> StepResult:
    for name in ("power", "management", "boot", "deploy"):
        ctx.iface(name).validate(ctx.node)
    return None


async def _read_power(ctx: StepContext) -> StepResult:
    ctx.set_power(await ctx.iface("power").get_power_state(ctx.node))
    return None


async def _inspect(ctx: StepContext) -> StepResult:
    found = await ctx.iface("inspect").inspect(ctx.node)
    if found == WAIT:
        return WAIT
    props = dict(ctx.node.properties)
    props.update({k: v for k, v in found.items() if k != "macs"})
    ctx.updates["properties"] = props
    return None


async def _erase(ctx: StepContext) -> StepResult:
    if ctx.args.get("skip_erase"):
        return None
    result: StepResult = await ctx.iface("deploy").erase(ctx.node)
    return result


async def _set_power_target(ctx: StepContext) -> StepResult:
    ctx.set_power(await ctx.power(ctx.node, str(ctx.args["target"])))
    return None


CLEAN = (
    Step("ports to cleaning network", _call("network", "add_cleaning_network")),
    Step("prepare ramdisk", _call("boot", "prepare_ramdisk")),
    Step("boot device pxe", _boot_device("pxe")),
    Step("power reboot", _power(states.REBOOT)),
    Step("erase disk", _erase),
    Step("power off", _power(states.POWER_OFF)),
    Step("ports off cleaning network", _call("network", "remove_cleaning_network")),
    Step("clean up ramdisk", _call("boot", "clean_up_ramdisk")),
)

WORKFLOWS: dict[str, tuple[Step, ...]] = {
    "verify": (Step("validate", _validate), Step("read power state", _read_power)),
    "adopt": (Step("validate", _validate), Step("read power state", _read_power)),
    "inspect": (Step("read power state", _read_power), Step("inspect", _inspect)),
    "clean": CLEAN,
    "deploy": (
        Step("validate", _validate),
        Step("ports to provisioning network", _call("network", "add_provisioning_network")),
        Step("prepare ramdisk", _call("boot", "prepare_ramdisk")),
        Step("boot device pxe", _boot_device("pxe")),
        Step("power reboot", _power(states.REBOOT)),
        Step("write image", _call("deploy", "write_image")),
        Step("power off", _power(states.POWER_OFF)),
        Step("ports off provisioning network", _call("network", "remove_provisioning_network")),
        Step("ports to tenant networks", _call("network", "configure_tenant_networks")),
        Step("clean up ramdisk", _call("boot", "clean_up_ramdisk")),
        Step("prepare instance", _call("boot", "prepare_instance")),
        Step("boot device disk", _boot_device("disk")),
        Step("power on", _power(states.POWER_ON)),
    ),
    "undeploy": (
        Step("power off", _power(states.POWER_OFF)),
        Step("ports off tenant networks", _call("network", "unconfigure_tenant_networks")),
        Step("clean up instance", _call("boot", "clean_up_instance")),
        Step("tear down", _call("deploy", "tear_down")),
        Step("start cleaning", event="clean"),
        *CLEAN,
    ),
    "rescue": (
        Step("prepare ramdisk", _call("boot", "prepare_ramdisk")),
        Step("boot device pxe", _boot_device("pxe")),
        Step("power reboot", _power(states.REBOOT)),
        Step("rescue", _call("rescue", "rescue")),
    ),
    "unrescue": (
        Step("power off", _power(states.POWER_OFF)),
        Step("unrescue", _call("rescue", "unrescue")),
        Step("clean up ramdisk", _call("boot", "clean_up_ramdisk")),
        Step("boot device disk", _boot_device("disk")),
        Step("power on", _power(states.POWER_ON)),
    ),
    # Power actions change no provision state: the engine ends them without
    # an event.
    "power": (Step("set power state", _set_power_target),),
}

# Which workflow each user event starts.
EVENT_WORKFLOWS: dict[str, str] = {
    "manage": "verify",
    "provide": "clean",
    "clean": "clean",
    "inspect": "inspect",
    "deploy": "deploy",
    "rebuild": "deploy",
    "delete": "undeploy",
    "rescue": "rescue",
    "unrescue": "unrescue",
    "adopt": "adopt",
}

# The stage a step belongs to, for the node's clean_step / deploy_step fields.
STEP_FIELDS: dict[str, str] = {"deploy": "deploy_step", "clean": "clean_step",
                               "undeploy": "clean_step"}
