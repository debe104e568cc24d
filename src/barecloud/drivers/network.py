"""The ``neutron`` network interface: a node's switch ports follow its workflow.

Ironic's ``neutron`` network interface, with the switch configured by
barecloud itself (networking-generic-switch's job in OpenStack): each NIC's
``local_link_connection`` names the switch (``switch_info``) and the port
(``port_id``); the conductor hands over the operator's segments
(``NodeView.networks``) and each NIC's tenant segment (``PortView.internal_info``),
so this module needs no database.  Every "to" step binds each cabled NIC's
port to one segment, every "off" step unbinds it: an access port is on one
segment at a time, and the workflows always take ports off before putting
them on the next, so no machine is ever on two tenants' segments at once.
See docs/design/networking.md.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, ClassVar

from barecloud.drivers.base import NodeView, PortView
from barecloud.drivers.settings import Setting
from barecloud.drivers.switches import registry
from barecloud.drivers.switches.base import Segment
from barecloud.errors import InvalidParameter, PermanentDriverError

log = logging.getLogger(__name__)


def cabled(node: NodeView) -> list[PortView]:
    """The node's NICs whose switch port is known."""
    return [p for p in node.ports
            if p.local_link_connection.get("switch_info")
            and p.local_link_connection.get("port_id")]


def tenant_segment(port: PortView) -> Segment | None:
    """The segment of the tenant VIF attached to ``port``, if any."""
    seg: dict[str, Any] | None = port.internal_info.get("tenant_segment")
    if not seg or not port.internal_info.get("tenant_vif_port_id"):
        return None
    return Segment(seg["network_type"], seg.get("segmentation_id"),
                   seg.get("network_id", ""), seg.get("mtu"))


class NeutronNetwork:
    settings: ClassVar[tuple[Setting, ...]] = ()

    def validate(self, node: NodeView) -> None:
        ports = cabled(node)
        if not ports:
            raise InvalidParameter(
                f"Node {node.uuid} has no port with a local_link_connection (switch_info "
                "and port_id): the neutron network interface cannot reach its switch ports.")
        for port in ports:
            registry.check_switch(str(port.local_link_connection["switch_info"]))

    async def add_provisioning_network(self, node: NodeView) -> None:
        await self._bind_all(node, node.networks.get("provisioning"), "provisioning")

    async def remove_provisioning_network(self, node: NodeView) -> None:
        await self._unbind_all(node)

    async def add_cleaning_network(self, node: NodeView) -> None:
        await self._bind_all(node, node.networks.get("cleaning"), "cleaning")

    async def remove_cleaning_network(self, node: NodeView) -> None:
        await self._unbind_all(node)

    async def configure_tenant_networks(self, node: NodeView) -> None:
        async def one(port: PortView) -> None:
            segment = tenant_segment(port)
            if segment is None:
                await _unbind(port)  # a NIC with no VIF stays on no segment
            else:
                await _bind(port, segment)

        await _each(cabled(node), one)

    async def unconfigure_tenant_networks(self, node: NodeView) -> None:
        await self._unbind_all(node)

    async def _bind_all(self, node: NodeView, segment: Segment | None, role: str) -> None:
        if segment is None:
            raise PermanentDriverError(
                f"No {role} network is set up (setting {role}_network): node {node.uuid} "
                "cannot be put on one.")

        async def one(port: PortView) -> None:
            await _bind(port, segment)

        await _each(cabled(node), one)

    async def _unbind_all(self, node: NodeView) -> None:
        await _each(cabled(node), _unbind)


async def _each(ports: list[PortView], fn: Any) -> None:
    # NICs of one node may be on different switches: ask them together.
    await asyncio.gather(*(fn(p) for p in ports))


def _where(port: PortView) -> tuple[str, str]:
    llc = port.local_link_connection
    return str(llc["switch_info"]), str(llc["port_id"])


async def _bind(port: PortView, segment: Segment) -> None:
    switch, switch_port = _where(port)
    await registry.switch(switch).bind(switch_port, segment)


async def _unbind(port: PortView) -> None:
    switch, switch_port = _where(port)
    await registry.switch(switch).unbind(switch_port)
