"""A node's target RAID configuration (Ironic API 1.12), through its RAID interface.

A node whose hardware type has no RAID interface (``no-raid``) answers Ironic's
UnsupportedDriverExtension (400); fake hardware's ``fake`` checks the
configuration against Ironic's schema (drivers/raid.py) and records it, to be
built by a clean step on real controllers.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from barecloud.db.models import Node
from barecloud.drivers import hardware, noop
from barecloud.errors import InvalidParameter, NodeLocked
from barecloud.services.baremetal import nodes
from barecloud.services.context import RequestContext, Runtime


def _raid(driver: str, impl: str | None) -> Any:
    hw = hardware.hardware_type(driver)
    iface = hardware.interface("raid", hw.check("raid", impl))
    if not getattr(iface, "supported", True):
        raise InvalidParameter(noop.unsupported(driver, "raid"))
    return iface


def logical_disk_properties(driver: str) -> dict[str, str]:
    """What the driver's default RAID interface takes for a logical disk."""
    props: dict[str, str] = _raid(driver, None).logical_disk_properties()
    return props


async def set_target(rt: Runtime, ctx: RequestContext, ident: str,
                     config: dict[str, Any]) -> None:
    """Ironic's ``PUT …/states/raid``: ``{}`` clears the target."""
    async with rt.db.session() as s:
        node = await nodes.find_for(s, ctx, ident, "baremetal:node:set_raid_state",
                                    traits=False)
        iface = _raid(node.driver, node.raid_interface)
        if config:
            iface.validate_raid_config(config)
        if node.reservation:
            raise NodeLocked(node.uuid, node.reservation)
        row = await s.scalar(select(Node).where(Node.id == node.id))
        assert row is not None
        row.target_raid_config = config
