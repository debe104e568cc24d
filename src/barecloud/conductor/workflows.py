"""Workflows as lists of named steps, run by the engine one at a time.

After every step the engine saves the index of the next one on the node row,
so a conductor that dies mid-way leaves a node whose progress is known.  A
step returning ``WAIT`` hands the node to the machine until it calls back
or the deadline passes; one returning an ``AgentCommand`` does the same with
work for the agent, whose report resumes (or fails) the workflow.  A step
with an ``event`` moves the node along the transition table and the workflow
goes on (undeploy becomes cleaning that way).  A step whose ``skip`` says so
is passed over (no ramdisk boot when cleaning erases nothing).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud import states
from barecloud.conductor import agent_tokens, batch_args
from barecloud.db import node_agents
from barecloud.db.models import Allocation, Node, NodeInventory, Port
from barecloud.db.transitions import note
from barecloud.drivers import hardware
from barecloud.drivers.base import WAIT, AgentCommand, NodeView, StepResult
from barecloud.errors import PermanentDriverError

# A deploy batch member's write alone over http, which the batch's gate may call
# instead of chaining it (conductor/batches.py).
HttpWrite = Callable[[], Awaitable[StepResult]]
# Rows other than the node's own a step saves in the transaction of its progress.
RowWriter = Callable[[AsyncSession, Node], Awaitable[None]]


@dataclass
class StepContext:
    node: NodeView
    args: dict[str, Any]
    power: Callable[[NodeView, str], Awaitable[str]]
    # Columns of the node row the step wants saved with its progress.
    updates: dict[str, Any] = field(default_factory=dict)
    # Other rows to write in that same transaction (ports found by inspection).
    writes: list[RowWriter] = field(default_factory=list)
    # A deploy batch member's write: the conductor's gate (conductor/batches.py).
    join: Callable[[NodeView, HttpWrite], Awaitable[StepResult]] | None = None

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
    skip: Callable[[StepContext], bool] | None = None


def _call(iface: str, method: str) -> StepFn:
    async def run(ctx: StepContext) -> StepResult:
        result: StepResult = await getattr(ctx.iface(iface), method)(ctx.node)
        return result

    return run


async def _tear_down(ctx: StepContext) -> StepResult:
    """The instance is gone once torn down: as Ironic's tear-down, before cleaning
    starts, ``instance_info`` is ``{}``, ``instance_uuid`` none and the node's
    allocation deleted, so the node can be allocated again once available."""
    await ctx.iface("deploy").tear_down(ctx.node)
    ctx.updates["instance_info"] = {}
    ctx.updates["instance_uuid"] = None
    ctx.writes.append(_deallocate)
    return None


async def _deallocate(s: AsyncSession, node: Node) -> None:
    await s.execute(delete(Allocation).where(Allocation.node_id == node.id))
    node.allocation_uuid = None


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


def _validate(*names: str) -> StepFn:
    """Verify checks what reaching the BMC needs; deploy also boot and deploy (ports, image)."""

    async def run(ctx: StepContext) -> StepResult:
        for name in names:
            ctx.iface(name).validate(ctx.node)
        return None

    return run


_BMC = ("power", "management")


async def _read_power(ctx: StepContext) -> StepResult:
    ctx.set_power(await ctx.iface("power").get_power_state(ctx.node))
    return None


async def _inspect(ctx: StepContext) -> StepResult:
    found = await ctx.iface("inspect").inspect(ctx.node)
    if found == WAIT or isinstance(found, AgentCommand):
        return found  # type: ignore[no-any-return]
    _apply_found(ctx, found)
    return None


async def _apply_inventory(ctx: StepContext) -> StepResult:
    """Turn the inventory the agent reported into properties and ports."""
    command = ctx.node.driver_internal_info.get("agent_command") or {}
    if command.get("name") != "get_inventory" or command.get("status") != "succeeded":
        raise PermanentDriverError("in-band inspection ended without an inventory")
    result = command.get("result") or {}
    inventory = result.get("inventory") or {}
    _apply_found(ctx, properties_of(inventory))
    ctx.writes.append(_inventory_keeper(inventory, result.get("plugin_data") or {}))
    return None


def _inventory_keeper(inventory: dict[str, Any], plugin_data: dict[str, Any]) -> RowWriter:
    """Keep what the agent reported, for ``GET /v1/nodes/{node}/inventory`` (1.81):
    the last inspection's, as Ironic's."""

    async def write(s: AsyncSession, node: Node) -> None:
        await s.execute(delete(NodeInventory).where(NodeInventory.node_id == node.id))
        s.add(NodeInventory(node_id=node.id, inventory=inventory, plugin_data=plugin_data))

    return write


# Ironic's reserved steps (conductor/steps.py), the conductor's own: power
# actions, and a pause of ``seconds`` (at most SERVICE_WAIT_MAX, Ironic's
# max_conductor_wait_step_seconds).
SERVICE_POWER = {"power_on": states.POWER_ON, "power_off": states.POWER_OFF,
                 "reboot": states.REBOOT}
SERVICE_WAIT_MAX = 30.0


async def _service_steps(ctx: StepContext) -> StepResult:
    """Run the requested service steps in order.  barecloud's interfaces have no
    service steps of their own, so only Ironic's reserved ones run; any other
    fails the service with its name, as Ironic's for a step the driver lacks
    (``service failed``; ``abort`` returns the node to ``active``)."""
    for step in ctx.args.get("service_steps") or []:
        name = str(step.get("step"))
        if name in SERVICE_POWER:
            ctx.set_power(await ctx.power(ctx.node, SERVICE_POWER[name]))
        elif name == "wait" and "seconds" in (step.get("args") or {}):
            await asyncio.sleep(min(float(step["args"]["seconds"]), SERVICE_WAIT_MAX))
        else:
            raise PermanentDriverError(
                f"Node {ctx.node.uuid} does not support this service step: "
                f"{step.get('interface')}.{name} (barecloud runs Ironic's reserved steps "
                f"{', '.join(sorted(SERVICE_POWER))} and wait with seconds only)")
    return None


def properties_of(inventory: dict[str, Any]) -> dict[str, Any]:
    """Ironic's node properties (and the MACs) from an agent's inventory."""
    found: dict[str, Any] = {}
    cpu = inventory.get("cpu") or {}
    if cpu.get("count"):
        found["cpus"] = int(cpu["count"])
    if cpu.get("architecture"):
        found["cpu_arch"] = str(cpu["architecture"])
    memory = inventory.get("memory") or {}
    if memory.get("physical_mb"):
        found["memory_mb"] = int(memory["physical_mb"])
    disks = [d for d in inventory.get("disks") or () if int(d.get("size") or 0) > 0]
    if disks:
        # Ironic's local_gb: the root disk less a GiB for partitioning.
        found["local_gb"] = max(0, int(disks[0]["size"]) // 2**30 - 1)
    found["macs"] = [i["mac_address"] for i in inventory.get("interfaces") or ()
                     if i.get("mac_address")]
    return found


def _apply_found(ctx: StepContext, found: dict[str, Any]) -> None:
    props = dict(ctx.node.properties)
    props.update({k: v for k, v in found.items() if k != "macs"})
    ctx.updates["properties"] = props
    macs = [str(m).strip().lower().replace("-", ":") for m in found.get("macs") or ()]
    if macs:
        ctx.writes.append(_port_enroller(macs))


_MAC = re.compile(r"^([0-9a-f]{2}:){5}[0-9a-f]{2}$")


def _port_enroller(macs: list[str]) -> RowWriter:
    """Create a port for each MAC inspection found that no node has yet.

    The first MAC (the NIC the service lists first) gets pxe_enabled.  A MAC
    already enrolled on another node is left there and noted as an error on
    this one: two nodes claiming a NIC is a cabling or inventory mistake.
    """

    async def write(s: AsyncSession, node: Node) -> None:
        valid = [m for m in dict.fromkeys(macs) if _MAC.match(m)]
        owners = dict((await s.execute(
            select(Port.address, Port.node_id).where(Port.address.in_(valid))
        )).tuples().all())
        added = []
        for index, mac in enumerate(valid):
            if mac not in owners:
                s.add(Port(address=mac, node_id=node.id, pxe_enabled=index == 0, extra={},
                           internal_info={}, local_link_connection={}))
                added.append(mac)
        skipped = [f"{m} (port of another node)" for m in valid
                   if owners.get(m, node.id) != node.id]
        skipped += [f"{m} (not a MAC address)" for m in dict.fromkeys(macs) if m not in valid]
        if added:
            s.add(note(node, f"inspection enrolled port(s) {', '.join(added)}",
                       event_type="inspect", conductor=node.reservation))
        if skipped:
            s.add(note(node, f"inspection did not enroll {'; '.join(skipped)}",
                       event_type="inspect", error=True, conductor=node.reservation))

    return write


async def _prepare_ramdisk(ctx: StepContext) -> StepResult:
    """A new agent token for each boot of the ramdisk: the last boot's agent is done.

    A boot interface that ``delivers_token`` writes it into its one-time boot
    script and lookup gives none; with another, the agent's first lookup gets one.
    """
    boot = ctx.iface("boot")
    if getattr(boot, "delivers_token", False):
        token = agent_tokens.new()
        await boot.prepare_ramdisk(replace(ctx.node, agent_token=token))
        ctx.updates["agent_token"] = agent_tokens.digest(token)
        ctx.writes.append(_token_delivered(True))
    else:
        await boot.prepare_ramdisk(ctx.node)
        ctx.updates["agent_token"] = None
        ctx.writes.append(_token_delivered(False))
    return None


def _token_delivered(delivered: bool) -> RowWriter:
    """The agent row's flag, saved with the step (the node row's JSON is not
    rewritten from the snapshot the workflow started with)."""

    async def write(s: AsyncSession, node: Node) -> None:
        await node_agents.write(s, node.id, token_delivered=delivered)

    return write


async def _clean_up_ramdisk(ctx: StepContext) -> StepResult:
    """The machine is off: its agent's token is of no more use to anyone."""
    await ctx.iface("boot").clean_up_ramdisk(ctx.node)
    ctx.updates["agent_token"] = None
    return None


def _no_erase(ctx: StepContext) -> bool:
    return bool(ctx.args.get("skip_erase"))


def _out_of_band(ctx: StepContext) -> bool:
    return not getattr(ctx.iface("inspect"), "in_band", False)


async def _set_power_target(ctx: StepContext) -> StepResult:
    ctx.set_power(await ctx.power(ctx.node, str(ctx.args["target"])))
    return None


async def _write_image(ctx: StepContext) -> StepResult:
    async def alone() -> StepResult:
        result: StepResult = await ctx.iface("deploy").write_image(ctx.node)
        return result

    if batch_args.batch_of(ctx.args) and ctx.join is not None:
        return await ctx.join(ctx.node, alone)
    return await alone()


async def _agent_up(ctx: StepContext) -> StepResult:
    return WAIT  # the agent's first heartbeat (with its callback URL) resumes


def _not_chained(ctx: StepContext) -> bool:
    """Only a chain member's agent must be up (and say where it serves) before the write."""
    return not batch_args.chained(ctx.args) or not getattr(ctx.iface("deploy"), "chains", False)


def _ramdisk(skip: Callable[[StepContext], bool] | None = None) -> tuple[Step, ...]:
    """Boot the agent: its script ready, the machine told to network-boot, restarted."""
    return (
        Step("prepare ramdisk", _prepare_ramdisk, skip=skip),
        Step("boot device pxe", _boot_device("pxe"), skip=skip),
        Step("power reboot", _power(states.REBOOT), skip=skip),
    )


def _shut_down(
    skip_agent: Callable[[StepContext], bool] | None = None, *, in_band: bool = False,
) -> tuple[Step, ...]:
    """The agent syncs and powers off; the BMC makes sure the machine is off.

    Deploy and clean ask the deploy interface (a fake one has no agent); in-band
    inspection always booted the agent, whatever the deploy interface.
    """
    return (
        Step("agent power off", _agent_power_off if in_band else _call("deploy", "shutdown"),
             skip=skip_agent),
        Step("power off", _power(states.POWER_OFF), skip=skip_agent if in_band else None),
    )


async def _agent_power_off(ctx: StepContext) -> StepResult:
    return AgentCommand("power_off")


CLEAN = (
    Step("ports to cleaning network", _call("network", "add_cleaning_network")),
    *_ramdisk(_no_erase),
    Step("erase disk", _call("deploy", "erase"), skip=_no_erase),
    *_shut_down(_no_erase),
    Step("ports off cleaning network", _call("network", "remove_cleaning_network")),
    Step("clean up ramdisk", _clean_up_ramdisk, skip=_no_erase),
)

WORKFLOWS: dict[str, tuple[Step, ...]] = {
    "verify": (Step("validate", _validate(*_BMC)), Step("read power state", _read_power)),
    "adopt": (Step("validate", _validate(*_BMC, "boot")),
              Step("read power state", _read_power)),
    "inspect": (
        Step("read power state", _read_power),
        *_ramdisk(_out_of_band),
        Step("inspect", _inspect),
        Step("apply inventory", _apply_inventory, skip=_out_of_band),
        *_shut_down(_out_of_band, in_band=True),
        Step("clean up ramdisk", _clean_up_ramdisk, skip=_out_of_band),
    ),
    "clean": CLEAN,
    "deploy": (
        Step("validate", _validate(*_BMC, "boot", "deploy", "network")),
        Step("ports to provisioning network", _call("network", "add_provisioning_network")),
        *_ramdisk(),
        Step("agent up", _agent_up, skip=_not_chained),
        Step("write image", _write_image),
        Step("write config drive", _call("deploy", "write_configdrive")),
        *_shut_down(),
        Step("ports off provisioning network", _call("network", "remove_provisioning_network")),
        Step("ports to tenant networks", _call("network", "configure_tenant_networks")),
        Step("clean up ramdisk", _clean_up_ramdisk),
        Step("prepare instance", _call("boot", "prepare_instance")),
        Step("boot device disk", _boot_device("disk")),
        Step("power on", _power(states.POWER_ON)),
    ),
    "undeploy": (
        Step("power off", _power(states.POWER_OFF)),
        Step("ports off tenant networks", _call("network", "unconfigure_tenant_networks")),
        Step("clean up instance", _call("boot", "clean_up_instance")),
        Step("tear down", _tear_down),
        Step("start cleaning", event="clean"),
        *CLEAN,
    ),
    "rescue": (
        *_ramdisk(),
        Step("rescue", _call("rescue", "rescue")),
    ),
    "unrescue": (
        Step("power off", _power(states.POWER_OFF)),
        Step("unrescue", _call("rescue", "unrescue")),
        Step("clean up ramdisk", _clean_up_ramdisk),
        Step("boot device disk", _boot_device("disk")),
        Step("power on", _power(states.POWER_ON)),
    ),
    "service": (Step("service steps", _service_steps),),
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
    "service": "service",
}

# The stage a step belongs to, for the node's clean_step / deploy_step fields.
STEP_FIELDS: dict[str, str] = {"deploy": "deploy_step", "clean": "clean_step",
                               "undeploy": "clean_step", "service": "service_step"}
