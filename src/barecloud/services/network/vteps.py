"""The VXLAN tunnel endpoints of tenant networks: switches' and hypervisors'.

A tenant network's frames travel on its VXLAN segment between every VTEP
carrying it, each flooding broadcast to all the others (head-end
replication: the underlay needs no multicast, LAB-NOTES).  Two kinds carry
one: the ``linux-bridge`` switches with ``vxlan_local`` set (their bare-metal
ports and the network's DHCP server), and every up hypervisor with a port of
the network bound to it (a VM's NIC), at the address the host reported
(``host_ip``: the one it reaches barecloud from).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.config import Settings
from barecloud.db.hypervisor_models import UP, Hypervisor
from barecloud.db.network_models import NetworkPort


def switch_vteps(settings: Settings) -> list[str]:
    """The underlay addresses of the switches that are VTEPs."""
    return sorted({str(opts["vxlan_local"]) for opts in settings.switches.values()
                   if opts.get("driver") == "linux-bridge" and opts.get("vxlan_local")})


@dataclass(frozen=True)
class HostVtep:
    network_id: str
    hypervisor_uuid: str
    hostname: str
    address: str


async def host_vteps(s: AsyncSession, network_ids: Collection[str]) -> list[HostVtep]:
    """The up hypervisors with a port of one of ``network_ids`` bound to them."""
    if not network_ids:
        return []
    rows = (await s.execute(
        select(NetworkPort.network_id, Hypervisor.uuid, Hypervisor.hostname,
               Hypervisor.host_ip).distinct()
        .join(Hypervisor, Hypervisor.hostname == NetworkPort.binding_host_id)
        .where(NetworkPort.network_id.in_(network_ids), Hypervisor.state == UP,
               Hypervisor.host_ip.is_not(None), Hypervisor.host_ip != ""))).all()
    return [HostVtep(str(n), str(u), str(h), str(ip)) for n, u, h, ip in rows]
