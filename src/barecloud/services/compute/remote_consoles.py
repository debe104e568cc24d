"""Nova's remote consoles: a URL whose token opens one server's console for a while.

Serial consoles of VMs are carried by their host agent
(vm_console_relay.py), those of machines with IPMI by Serial-over-LAN
(services/baremetal/serial_console.py).  VNC is for VMs (``novnc``: the
same relay to QEMU's VNC server, shown by the noVNC page the service
serves, api/ui), as Nova's URL: ``<base>/ui/novnc/vnc_lite.html?path=
console/vnc%3Ftoken%3D<token>``.  Bare metal has no VNC, machines without
IPMI no serial, and ``xvpvnc`` and the other protocols are not offered:
refused in Nova's words ("Unavailable console type ...", 400), as Nova
refuses a console its driver does not have.  The URLs are served by the
API itself (api/consoles.py): no separate proxy process.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

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
VNC_PATH = "/console/vnc"
NOVNC_PAGE = "/ui/novnc/vnc_lite.html"


async def create(rt: Runtime, ctx: RequestContext, server_id: str, protocol: str,
                 console_type: str) -> str:
    """The console's URL (with its token)."""
    server = await authorized(rt, ctx, server_id, "compute:servers:remote_console")
    if console_type not in TYPES.get(protocol, ()):
        raise InvalidParameter(f"Unavailable console type {console_type}.")
    if server.vm_state != st.ACTIVE:
        raise Conflict(f"Instance {server.uuid} is not ready.")
    if (protocol, console_type) == ("vnc", "novnc") and _has_vnc(server):
        token = await _mint(rt, server, "vnc")
        return novnc_url(rt.settings.base_url, token)
    if protocol != "serial" or not await _has_serial(rt, server):
        raise InvalidParameter(f"Unavailable console type {console_type}.")
    token = await _mint(rt, server, "serial")
    return f"{console_tokens.ws_base(rt.settings.base_url)}{PATH}?token={token}"


def novnc_url(base_url: str, token: str) -> str:
    """noVNC's page with its websocket's path (Nova's shape).  vnc_lite.html joins
    ``path`` to the page's own host and port (``ws(s)://host:port/`` + path), so a
    base URL with a path of its own puts that path in ``path`` too."""
    prefix = urlsplit(base_url).path.strip("/")
    path = f"{prefix}/{VNC_PATH.lstrip('/')}" if prefix else VNC_PATH.lstrip("/")
    return f"{base_url.rstrip('/')}{NOVNC_PAGE}?path={quote(f'{path}?token={token}', safe='/')}"


async def _mint(rt: Runtime, server: Server, kind: str) -> str:
    return await console_tokens.mint(rt, kind=kind, project_id=server.project_id,
                                     server_uuid=server.uuid,
                                     ttl=rt.settings.console_token_ttl)


def _has_vnc(server: Server) -> bool:
    """A VM on a host (its agent relays QEMU's VNC server); bare metal has none."""
    return vm_placement.is_vm(server) and server.hypervisor_id is not None


async def _has_serial(rt: Runtime, server: Server) -> bool:
    """A VM on a host (its agent relays the port), or a machine with IPMI (SOL)."""
    if vm_placement.is_vm(server):
        return server.hypervisor_id is not None
    if server.node_uuid is None:
        return False
    async with rt.db.session() as s:
        node = await s.scalar(select(Node).where(Node.uuid == server.node_uuid))
    return node is not None and serial_console.has_serial(node)
