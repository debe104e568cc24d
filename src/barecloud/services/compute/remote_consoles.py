"""Nova's remote consoles: a URL whose token opens one server's console for a while.

Serial consoles of VMs are carried by their host agent
(vm_console_relay.py), those of machines with IPMI by Serial-over-LAN
(services/baremetal/serial_console.py); VNC is not offered yet, nor serial
for machines without IPMI: refused in Nova's words ("Unavailable console
type ...", 400), as Nova refuses a console its driver does not have.  The URL is served by
the API itself (api/consoles.py): no separate proxy process.
"""

from __future__ import annotations

from sqlalchemy import select

from barecloud.db.compute_models import Server
from barecloud.db.models import Node
from barecloud.errors import Conflict, InvalidParameter
from barecloud.services import console_tokens
from barecloud.services.baremetal import serial_console
from barecloud.services.compute import status as st
from barecloud.services.compute import vm_placement
from barecloud.services.compute.actions import authorized
from barecloud.services.context import RequestContext, Runtime

# Nova's protocols and the console types each has (its create_v28 schema).
TYPES = {"vnc": ("novnc", "xvpvnc"), "spice": ("spice-html5",), "serial": ("serial",),
         "rdp": ("rdp-html5",), "mks": ("webmks",)}
PATH = "/console/serial"


async def create(rt: Runtime, ctx: RequestContext, server_id: str, protocol: str,
                 console_type: str) -> str:
    """The console's URL (with its token)."""
    server = await authorized(rt, ctx, server_id, "compute:servers:remote_console")
    if console_type not in TYPES.get(protocol, ()):
        raise InvalidParameter(f"Unavailable console type {console_type}.")
    if server.vm_state != st.ACTIVE:
        raise Conflict(f"Instance {server.uuid} is not ready.")
    if protocol != "serial" or not await _has_serial(rt, server):
        raise InvalidParameter(f"Unavailable console type {console_type}.")
    token = await console_tokens.mint(rt, kind="serial", project_id=server.project_id,
                                      server_uuid=server.uuid,
                                      ttl=rt.settings.console_token_ttl)
    return f"{console_tokens.ws_base(rt.settings.base_url)}{PATH}?token={token}"


async def _has_serial(rt: Runtime, server: Server) -> bool:
    """A VM on a host (its agent relays the port), or a machine with IPMI (SOL)."""
    if vm_placement.is_vm(server):
        return server.hypervisor_id is not None
    if server.node_uuid is None:
        return False
    async with rt.db.session() as s:
        node = await s.scalar(select(Node).where(Node.uuid == server.node_uuid))
    return node is not None and serial_console.has_serial(node)
