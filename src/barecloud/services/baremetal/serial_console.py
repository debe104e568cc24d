"""A node's serial console: Ironic's console API, and the stream the console
websocket (api/consoles.py) carries.

IPMI nodes only carry a stream: Serial-over-LAN (drivers/ipmi.py, on
barecloud's own IPMI client).  Redfish has no serial console in its standard
(``no-console``, refused in the caller's words); fake hardware's ``fake``
console, as Ironic's, records the mode and has nothing to connect to
(``console_info`` is ``{}``).  Ironic's
``console_info`` is a websocket URL with a token of that node (a fresh one
each time it is shown, living ``console_token_ttl``), where Ironic's socat
console would give a bare TCP port anyone reaching it could use; disabling
the console revokes every token of the node.
"""

from __future__ import annotations

from sqlalchemy import select

from barecloud.conductor.node_views import node_view
from barecloud.db import sealed
from barecloud.db.models import Node
from barecloud.drivers import hardware, ipmi
from barecloud.errors import InvalidParameter, NotFound
from barecloud.services import console_tokens
from barecloud.services.baremetal import nodes
from barecloud.services.context import RequestContext, Runtime

INTERFACE = "ipmi-sol"
FAKE = "fake"


def console_interface(node: Node) -> str:
    """The node's console implementation: its own, else its hardware type's default."""
    if node.console_interface:
        return node.console_interface
    try:
        return hardware.hardware_type(node.driver).default("console")
    except InvalidParameter:
        return "no-console"


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


async def set_state(rt: Runtime, ctx: RequestContext, ident: str, enabled: bool) -> None:
    """Ironic's PUT …/states/console."""
    node = await nodes.show(rt, ctx, ident, "baremetal:node:set_console_state")
    impl = console_interface(node)
    if enabled and impl not in (INTERFACE, FAKE):
        raise InvalidParameter(
            f"The console interface of node {node.uuid} is "
            f"'{impl}': it has no console to enable "
            f"(set console_interface to '{INTERFACE}' on an ipmi node).")
    async with rt.db.session() as s:
        row = await s.scalar(select(Node).where(Node.id == node.id))
        assert row is not None
        row.console_enabled = enabled
    if not enabled:
        await console_tokens.revoke_node(rt, node.uuid)


async def show(rt: Runtime, ctx: RequestContext, ident: str, ws_base: str) -> dict[str, object]:
    """Ironic's GET …/states/console: a URL with a new token while it is enabled."""
    node = await nodes.show(rt, ctx, ident, "baremetal:node:get_console")
    if not node.console_enabled:
        return {"console_enabled": False, "console_info": None}
    if console_interface(node) != INTERFACE:
        return {"console_enabled": True, "console_info": {}}  # Ironic's fake console
    token = await console_tokens.mint(rt, kind="serial", project_id=node.owner or "",
                                      node_uuid=node.uuid, ttl=rt.settings.console_token_ttl)
    return {"console_enabled": True, "console_info": {
        "type": "websocket", "url": f"{ws_base}/console/serial?token={token}"}}


async def open_node_console(rt: Runtime, node_uuid: str) -> ipmi.SerialConsole:
    """For a token of Ironic's console API: only while the console is enabled."""
    async with rt.db.session() as s:
        enabled = await s.scalar(select(Node.console_enabled).where(Node.uuid == node_uuid))
    if not enabled:
        raise NotFound(f"The console of node {node_uuid} is not enabled.")
    return await open_console(rt, node_uuid)
