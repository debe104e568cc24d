"""A VM's networks: Neutron ports bound to its hypervisor between placement and spawn.

As Nova's build does (task_state ``networking`` between scheduling and
spawning): the placement claims the host's room and gives the server its
host in task_state ``networking``; here each network it asked for gets its
port (made, or the one it named), bound to the host (``binding:host_id`` the
hypervisor's hostname, ``vnic_type`` normal); only then is it in its host's
desired list (``spawning``), a NIC per port with its network's VXLAN segment
and the network's other VTEPs (services/network/vteps.py), and the port's
security-group rules resolved (``firewall``, services/network/firewall.py).  The network's
dnsmasq already answers each port's MAC with its address.

A failure (a network that is not VXLAN, no address left) fails the build as
Nova's does: ERROR with a "Build of instance ... aborted" fault, the room
given back, the ports made for it deleted.  A server left in ``networking``
by a process that stopped is wired by the reconciler's next pass
(``vm_sync.needs_sync``); a retry reuses the ports made the first time.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.compute_models import Server
from barecloud.db.hypervisor_models import Hypervisor
from barecloud.db.models import utcnow
from barecloud.db.network_models import Network, NetworkPort
from barecloud.errors import BarecloudError, Conflict
from barecloud.services.compute import hosts_wakeup, scheduler, vm_placement
from barecloud.services.compute import status as st
from barecloud.services.context import Runtime
from barecloud.services.network import binding, firewall, vifs, vteps
from barecloud.services.network import networks as network_service

VNIC_TYPE = "normal"


async def wire(rt: Runtime, server: Server) -> None:
    """Bind the ports of ``server`` (placed, ``networking``) to its host, then hand
    it to the host; or fail its build."""
    async with rt.db.session() as s:
        host = await s.get(Hypervisor, server.hypervisor_id) if server.hypervisor_id else None
    if host is None:
        return
    try:
        addresses, networks = await _bind(rt, server, host)
    except BarecloudError as exc:
        await _fail(rt, server, exc.message)
        return
    async with rt.db.session() as s:
        handed = await s.execute(
            update(Server).where(Server.id == server.id, Server.deleted.is_(False),
                                 Server.hypervisor_id == host.id,
                                 Server.task_state == st.NETWORKING, Server.pending.is_(None))
            .values(task_state=st.SPAWNING, addresses=addresses)
            .execution_options(synchronize_session=False))
        if not handed.rowcount:  # type: ignore[attr-defined]
            return  # deleted meanwhile: the reconciler's next pass drops it
        # Its host gets the VM; the others on its networks a new VTEP to flood to.
        hosts = {host.uuid} | {v.hypervisor_uuid for v in await vteps.host_vteps(s, networks)}
        await s.execute(update(Hypervisor).where(Hypervisor.uuid.in_(hosts))
                        .values(generation=Hypervisor.generation + 1)
                        .execution_options(synchronize_session=False))
        for uuid in hosts:
            await hosts_wakeup.notify(s, uuid)
    for uuid in hosts:
        hosts_wakeup.wake(uuid)


async def _bind(rt: Runtime, server: Server, host: Hypervisor
                ) -> tuple[dict[str, list[dict[str, Any]]], set[str]]:
    async with rt.db.session() as s:
        mine = {p.id: p for p in (await s.scalars(
            select(NetworkPort).where(NetworkPort.device_id == server.uuid))).all()}
    addresses: dict[str, list[dict[str, Any]]] = {}
    networks: set[str] = set()
    for entry in vifs.requested(server):
        port = await binding.get_port(rt.db, await vifs.port_for(rt, server, entry, mine))
        network = await network_service.find_network(rt.db, port.network_id)
        if network.network_type != "vxlan":
            raise Conflict(
                f"Network {network.name or network.id} is a {network.network_type} network: "
                "a virtual machine's NIC joins VXLAN networks only (its host is their VTEP).")
        vif = await binding.bind_port(rt.db, port.id, host.hostname, VNIC_TYPE)
        vifs.add_addresses(addresses, network, vif)
        networks.add(network.id)
    return addresses, networks


async def _fail(rt: Runtime, server: Server, why: str) -> None:
    # Its ports first: a server seen in ERROR has none left (a process that stops
    # in between leaves it in networking, and the next pass fails it again).
    await vifs.detach(rt, server, None)
    async with rt.db.session() as s:
        fresh = await s.scalar(select(Server).where(
            Server.id == server.id, Server.hypervisor_id == server.hypervisor_id,
            Server.task_state == st.NETWORKING))
        if fresh is not None:
            await vm_placement.release(
                s, fresh, vm_state=st.ERROR, task_state=None, power_state=st.NOSTATE,
                fault=scheduler.fault(f"Build of instance {server.uuid} aborted: {why}"))


async def drop(rt: Runtime, server: Server) -> None:
    """A server deleted before its host heard of it: gone, its room back, its ports too."""
    now = utcnow()
    async with rt.db.session() as s:
        fresh = await s.scalar(select(Server).where(
            Server.id == server.id, Server.deleted.is_(False),
            Server.hypervisor_id == server.hypervisor_id, Server.task_state == st.NETWORKING))
        if fresh is not None:
            await vm_placement.release(
                s, fresh, deleted=True, deleted_at=now, terminated_at=now, vm_state=st.DELETED,
                task_state=None, pending=None, pending_sent=False, power_state=st.NOSTATE)
    await vifs.detach(rt, server, None)


async def unwire(rt: Runtime, server: Server) -> None:
    """A deleted VM's ports: those it made go, those it was given are unbound."""
    await vifs.detach(rt, server, None)


async def nics(s: AsyncSession, rt: Runtime, host: Hypervisor, servers: list[Server]
               ) -> dict[str, list[dict[str, Any]]]:
    """The desired entries' ``nics`` of ``servers`` on ``host``, in the order asked."""
    if not servers:
        return {}
    ports = list((await s.scalars(select(NetworkPort).where(
        NetworkPort.device_id.in_([x.uuid for x in servers]),
        NetworkPort.binding_host_id == host.hostname))).all())
    if not ports:
        return {}
    nets = {n.id: n for n in (await s.scalars(select(Network).where(
        Network.id.in_({p.network_id for p in ports})))).all()}
    switches = vteps.switch_vteps(rt.settings)
    others: dict[str, set[str]] = {}
    for v in await vteps.host_vteps(s, nets):
        if v.hypervisor_uuid != host.uuid:
            others.setdefault(v.network_id, set()).add(v.address)
    rules = await firewall.port_rules(s, [p.id for p in ports])
    order = {x.uuid: _order(x) for x in servers}
    out: dict[str, list[dict[str, Any]]] = {}
    for port in sorted(ports, key=lambda p: (order[p.device_id].get(p.id, order[p.device_id]
                                                                     .get(p.network_id, 99)),
                                            p.id)):
        net = nets[port.network_id]
        out.setdefault(port.device_id, []).append({
            "mac": port.mac_address, "network_id": net.id, "mtu": net.mtu,
            "segment": {"type": net.network_type, "id": net.segmentation_id},
            "vteps": sorted(set(switches) | others.get(net.id, set())),
            # What the tap lets through (null: port security off, not filtered).
            "firewall": firewall.as_json(rules.get(port.id)),
        })
    return out


def _order(server: Server) -> dict[str, int]:
    """Where each requested port or network comes in the server's request."""
    order: dict[str, int] = {}
    for i, entry in enumerate(vifs.requested(server)):
        order.setdefault(str(entry.get("port") or entry.get("uuid") or ""), i)
    return order
