"""Driver interfaces as Protocols, and what drivers see of a node.

The settings each driver declares are in drivers/settings.py.

Drivers see a :class:`NodeView` snapshot, never a database session: the
conductor decides what to persist from what they return.  That keeps hardware
I/O outside database transactions and lets the same driver run in any process.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from barecloud.drivers.settings import Setting
from barecloud.drivers.switches.base import Segment

INTERFACE_TYPES = (
    "bios", "boot", "console", "deploy", "firmware", "inspect", "management", "network",
    "power", "raid", "rescue", "storage", "vendor",
)

BOOT_DEVICES = ("pxe", "disk", "cdrom", "bios", "safe")


@dataclass(frozen=True, slots=True)
class PortView:
    address: str
    pxe_enabled: bool
    local_link_connection: dict[str, Any]
    physical_network: str | None = None
    # tenant_vif_port_id and tenant_segment (a Segment's fields) once a
    # server's Neutron port is attached to this NIC; see networking.md.
    internal_info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NodeView:
    uuid: str
    name: str | None
    driver: str
    # Secrets opened (drivers/..., db/sealed.py): never in a repr, so never in a log.
    driver_info: dict[str, Any] = field(repr=False)
    driver_internal_info: dict[str, Any]
    properties: dict[str, Any]
    instance_info: dict[str, Any]
    power_state: str | None
    provision_state: str
    ports: tuple[PortView, ...] = ()
    workflow_args: dict[str, Any] = field(default_factory=dict)
    # The secret the agent of this ramdisk boot proves itself with: set only for
    # prepare_ramdisk, which puts it in the boot script (the node row keeps a digest).
    agent_token: str | None = field(default=None, repr=False)
    # The operator's segments by role ("provisioning", "cleaning"), filled in
    # for nodes whose network interface moves switch ports.
    networks: dict[str, Segment | None] = field(default_factory=dict)


# What a step that starts work on the machine returns when it must wait for
# the machine to call back (agent heartbeat) before the workflow goes on.
WAIT: Literal["wait"] = "wait"


@dataclass(frozen=True, slots=True)
class AgentCommand:
    """Work for the agent on the machine: the engine stores it and waits.

    The agent pulls it (the conductor never connects to a machine) and its
    report resumes or fails the workflow; see docs/design/provisioning.md.
    """

    name: str
    params: dict[str, Any] = field(default_factory=dict)

    def issued(self, at: str) -> dict[str, Any]:
        """The ``agent_command`` record a node keeps for it: pending, with a fresh id."""
        return {"id": str(uuid.uuid4()), "name": self.name, "params": self.params,
                "status": "pending", "issued_at": at}


StepResult = Literal["wait"] | AgentCommand | None


class Interface(Protocol):
    settings: ClassVar[tuple[Setting, ...]]

    def validate(self, node: NodeView) -> None:
        """Raise InvalidParameter if ``node`` lacks what this interface needs."""


@runtime_checkable
class PowerInterface(Interface, Protocol):
    async def get_power_state(self, node: NodeView) -> str: ...

    async def set_power_state(self, node: NodeView, target: str, timeout: float | None) -> str:
        """Apply ``target`` (a states.POWER_* value) and return the resulting state."""
        ...


@runtime_checkable
class ManagementInterface(Interface, Protocol):
    async def set_boot_device(self, node: NodeView, device: str, persistent: bool) -> None: ...

    async def get_boot_device(self, node: NodeView) -> dict[str, Any]: ...


@runtime_checkable
class BootInterface(Interface, Protocol):
    async def prepare_ramdisk(self, node: NodeView) -> None: ...

    async def clean_up_ramdisk(self, node: NodeView) -> None: ...

    async def prepare_instance(self, node: NodeView) -> None: ...

    async def clean_up_instance(self, node: NodeView) -> None: ...


@runtime_checkable
class DeployInterface(Interface, Protocol):
    async def write_image(self, node: NodeView) -> StepResult: ...

    async def write_configdrive(self, node: NodeView) -> StepResult:
        """Write ``node.workflow_args["configdrive"]``, if the request gave one."""
        ...

    async def shutdown(self, node: NodeView) -> StepResult:
        """Have the machine stop cleanly (the BMC powers it off right after)."""
        ...

    async def erase(self, node: NodeView) -> StepResult:
        """Erase the disks: ``quick`` or ``full`` by ``node.workflow_args``."""
        ...

    async def tear_down(self, node: NodeView) -> None: ...


@runtime_checkable
class NetworkInterface(Interface, Protocol):
    async def add_provisioning_network(self, node: NodeView) -> None: ...

    async def remove_provisioning_network(self, node: NodeView) -> None: ...

    async def add_cleaning_network(self, node: NodeView) -> None: ...

    async def remove_cleaning_network(self, node: NodeView) -> None: ...

    async def configure_tenant_networks(self, node: NodeView) -> None: ...

    async def unconfigure_tenant_networks(self, node: NodeView) -> None: ...


@runtime_checkable
class ConsoleInterface(Interface, Protocol):
    async def start_console(self, node: NodeView) -> None: ...

    async def stop_console(self, node: NodeView) -> None: ...

    async def get_console(self, node: NodeView) -> dict[str, Any]: ...


@runtime_checkable
class InspectInterface(Interface, Protocol):
    async def inspect(self, node: NodeView) -> dict[str, Any] | Literal["wait"] | AgentCommand:
        """Return discovered properties (and ``"macs"``), WAIT, or work for the agent.

        An implementation with ``in_band = True`` has the workflow boot the
        agent first and returns the command that reads the inventory.
        """
        ...


@runtime_checkable
class RaidInterface(Interface, Protocol):
    def logical_disk_properties(self) -> dict[str, str]:
        """What a logical disk of a target RAID configuration may say, described."""
        ...

    def validate_raid_config(self, config: dict[str, Any]) -> None:
        """Raise InvalidParameter if ``config`` is not a RAID configuration it takes."""
        ...


@runtime_checkable
class RescueInterface(Interface, Protocol):
    async def rescue(self, node: NodeView) -> StepResult: ...

    async def unrescue(self, node: NodeView) -> None: ...
