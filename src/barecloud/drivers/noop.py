"""No-op implementations for optional interfaces a hardware type may leave out."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from barecloud.drivers.base import NodeView, StepResult
from barecloud.drivers.settings import Setting
from barecloud.errors import InvalidParameter


class _NoopBase:
    settings: ClassVar[tuple[Setting, ...]] = ()

    def validate(self, node: NodeView) -> None:
        return None


def unsupported(driver: str, extension: str) -> str:
    """Ironic's UnsupportedDriverExtension, the words of every ``no-*`` interface."""
    return f"Driver {driver} does not support {extension} (disabled or not implemented)."


class _Unsupported(_NoopBase):
    """An interface a hardware type leaves out (Ironic's ``FailMixin``): validating
    it, or anything it would do, is UnsupportedDriverExtension."""

    extension: ClassVar[str]
    supported: ClassVar[bool] = False

    def validate(self, node: NodeView) -> None:
        raise InvalidParameter(unsupported(node.driver, self.extension))


class NoBios(_Unsupported):
    extension = "bios"


class NoFirmware(_Unsupported):
    extension = "firmware"


class NoRaid(_Unsupported):
    extension = "raid"

    def logical_disk_properties(self) -> dict[str, str]:
        return {}

    def validate_raid_config(self, config: dict[str, Any]) -> None: ...


class NoVendor(_Unsupported):
    extension = "vendor"


class NoopStorage(_NoopBase):
    """``noop`` (Ironic's default): no remote volumes are attached or booted from."""


class NoopNetwork(_NoopBase):
    """``noop``: nothing to switch, and, as Ironic's, VIFs attached through the
    Bare Metal API are accepted and ignored (services/baremetal/vifs.py)."""

    async def add_provisioning_network(self, node: NodeView) -> None: ...
    async def remove_provisioning_network(self, node: NodeView) -> None: ...
    async def add_cleaning_network(self, node: NodeView) -> None: ...
    async def remove_cleaning_network(self, node: NodeView) -> None: ...
    async def configure_tenant_networks(self, node: NodeView) -> None: ...
    async def unconfigure_tenant_networks(self, node: NodeView) -> None: ...


class NoConsole(_NoopBase):
    async def start_console(self, node: NodeView) -> None:
        raise InvalidParameter("This node's console interface is 'no-console'.")

    async def stop_console(self, node: NodeView) -> None: ...

    async def get_console(self, node: NodeView) -> dict[str, Any]:
        return {"type": "none", "url": None}


class ServedConsole(_NoopBase):
    """A console the service itself carries (IPMI SOL to its websocket,
    services/baremetal/serial_console.py): the driver has nothing to start."""

    async def start_console(self, node: NodeView) -> None: ...

    async def stop_console(self, node: NodeView) -> None: ...

    async def get_console(self, node: NodeView) -> dict[str, Any]:
        return {"type": "websocket", "url": None}  # the service mints the URL


class NoInspect(_NoopBase):
    async def inspect(self, node: NodeView) -> dict[str, Any] | Literal["wait"]:
        raise InvalidParameter("This node's inspect interface is 'no-inspect'.")


class NoRescue(_NoopBase):
    async def rescue(self, node: NodeView) -> StepResult:
        raise InvalidParameter("This node's rescue interface is 'no-rescue'.")

    async def unrescue(self, node: NodeView) -> None:
        raise InvalidParameter("This node's rescue interface is 'no-rescue'.")


class FlatNetwork(NoopNetwork):
    """``flat`` (Ironic's name and default): the machines' NICs are cabled flat onto
    the tenant networks, so nothing is switched; a VIF goes on any free NIC and
    binds the Neutron port to it (its MAC), which tenant DHCP answers."""
