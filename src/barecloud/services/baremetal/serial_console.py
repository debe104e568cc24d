"""A node's serial console for the console websocket (api/consoles.py).

IPMI nodes only: Serial-over-LAN (drivers/ipmi.py, on barecloud's own IPMI
client).  Redfish has no serial console in its standard, and the fake
hardware none at all: those are refused in the caller's words.
"""

from __future__ import annotations

from sqlalchemy import select

from barecloud.conductor.node_views import node_view
from barecloud.db import sealed
from barecloud.db.models import Node
from barecloud.drivers import ipmi
from barecloud.errors import NotFound
from barecloud.services.context import Runtime


def has_serial(node: Node) -> bool:
    return node.driver == "ipmi"


async def open_console(rt: Runtime, node_uuid: str) -> ipmi.SerialConsole:
    """The node's SOL console, activated (Conflict while another one has it)."""
    async with rt.db.session() as s:
        node = await s.scalar(select(Node).where(Node.uuid == node_uuid))
    if node is None:
        raise NotFound(f"Node {node_uuid} could not be found.")
    view = node_view(node, sealed.keyring(rt.settings.data_dir), with_ports=False)
    return await ipmi.open_serial_console(view)
