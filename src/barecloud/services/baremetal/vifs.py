"""Ironic's VIF API: Neutron ports attached to a node's NICs by hand.

What ``openstack baremetal node vif attach/list/detach`` does, for operators
and node owners who drive machines without Compute.  Per the node's network
interface, as Ironic's:

- ``noop`` accepts attach and detach and does nothing (``vif list`` is empty);
- ``flat`` puts a VIF on any free NIC (PXE first) or the one named by
  ``port_uuid``, through the same :func:`vifs.bind_vif` as a server's ports;
- ``neutron`` (and ``fake``, its stand-in) moves switch ports, so it takes only
  a cabled NIC (one with ``local_link_connection``): the network interface puts
  the machine on the VIF's segment at the next deploy.

The node's lock is held while a VIF is chosen and bound, so two attaches
never pick the same NIC and a node busy in a workflow answers 409.  A
``neutron`` node that is ``active`` refuses both verbs: its switch ports move
only during deploy and undeploy, and the records must not say the machine is
on a segment it is not on (Ironic would plug the port at once).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud import states
from barecloud.conductor import locks
from barecloud.db.models import Node, Port
from barecloud.drivers import hardware
from barecloud.errors import Conflict, InvalidParameter, InvalidState, NodeLocked, NotFound
from barecloud.services.baremetal import nodes
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.network import binding, vifs
from barecloud.services.network import ports as network_ports
from barecloud.services.network.errors import PortNotFound


async def _nics(s: AsyncSession, node: Node) -> list[Port]:
    return list((await s.scalars(
        select(Port).where(Port.node_id == node.id).order_by(Port.id))).all())


def _network(node: Node) -> str:
    """The node's network interface (its default if unset)."""
    return hardware.hardware_type(node.driver).check("network", node.network_interface)


async def list_vifs(rt: Runtime, ctx: RequestContext, ident: str) -> list[str]:
    """The VIFs recorded on the node's NICs, in NIC order (none for ``noop``)."""
    async with rt.db.session() as s:
        node = await nodes.find_for(s, ctx, ident, "baremetal:node:vif:list", traits=False)
        if _network(node) == "noop":
            return []
        return [vif for vif in map(vifs.vif_of, await _nics(s, node)) if vif]


def _check_switchable(node: Node) -> None:
    if _network(node) == "neutron" and node.provision_state == states.ACTIVE:
        raise InvalidState(
            f"Node {node.uuid} is active and its network interface is neutron: its switch "
            "ports move only during deploy. Attach or detach VIFs before deploying (or "
            "rebuild).")


async def _lock(rt: Runtime, ctx: RequestContext, ident: str, rule: str
                ) -> tuple[Node, list[Port], str]:
    """The node, its NICs, and the lock holder: the lock is the caller's to release."""
    holder = rt.settings.conductor_name
    async with rt.db.session() as s:
        node = await nodes.find_for(s, ctx, ident, rule, traits=False)
        _check_switchable(node)
        if node.reservation or not await locks.reserve(s, node.id, holder):
            raise NodeLocked(node.uuid, node.reservation or "another conductor")
        return node, await _nics(s, node), holder


async def _unlock(rt: Runtime, node: Node, holder: str) -> None:
    async with rt.db.session() as s:
        await locks.release(s, node.id, holder)


async def attach(rt: Runtime, ctx: RequestContext, ident: str, vif_id: str,
                 port_uuid: str | None = None) -> None:
    """Bind Neutron port ``vif_id`` to a free NIC of the node (``port_uuid``: that NIC)."""
    node, node_nics, holder = await _lock(rt, ctx, ident, "baremetal:node:vif:attach")
    try:
        network = _network(node)
        if network == "noop":
            return  # Ironic's noop network interface: accepted, and nothing done
        await _check_vif(rt, ctx, node, node_nics, vif_id)
        nic = _choose(node_nics, vif_id, port_uuid, cabled=network != "flat")
        await vifs.bind_vif(rt, vif_id, node, nic)
    finally:
        await _unlock(rt, node, holder)


async def _check_vif(rt: Runtime, ctx: RequestContext, node: Node, node_nics: list[Port],
                     vif_id: str) -> None:
    """The port exists for the caller and is on no node yet (Ironic's VifAlreadyAttached).

    Ironic asks Neutron with its own credentials; here a project member may
    attach only ports it can see, so no tenant's port is pulled onto another
    tenant's machine.
    """
    try:
        async with rt.db.session() as s:
            port = await network_ports.fetch(s, ctx, vif_id)
    except PortNotFound:
        raise InvalidParameter(
            f"Unable to attach VIF {vif_id} to node {node.uuid}: the Network service port "
            f"{vif_id} could not be found.") from None
    for nic in node_nics:
        if vifs.vif_of(nic) == vif_id:
            raise Conflict(f"Unable to attach VIF because VIF {vif_id} is already attached "
                           f"to Ironic Port {nic.uuid}")
    if port.binding_host_id and port.binding_host_id != node.uuid:
        raise Conflict(f"Unable to attach VIF because VIF {vif_id} is already bound to "
                       f"host {port.binding_host_id}")


def _choose(node_nics: list[Port], vif_id: str, port_uuid: str | None, *,
            cabled: bool) -> Port:
    """The NIC for the VIF: the named one, else the first free (PXE first); only
    cabled ones when the network interface switches ports."""
    usable = vifs.nics(node_nics) if cabled else vifs.in_order(node_nics)
    free = [nic for nic in usable if not vifs.vif_of(nic)]
    if port_uuid is None:
        if not free:
            raise InvalidParameter(
                f"Unable to attach VIF {vif_id}, not enough free physical ports.")
        return free[0]
    named = next((nic for nic in node_nics if nic.uuid == port_uuid.lower()), None)
    if named is None:
        raise NotFound(f"Port {port_uuid} could not be found.")
    if vifs.vif_of(named):
        raise Conflict(f"Unable to attach VIF {vif_id}: port {named.uuid} already has VIF "
                       f"{vifs.vif_of(named)} attached.")
    if named not in free:
        raise InvalidParameter(
            f"Unable to attach VIF {vif_id} to port {named.uuid}: it has no "
            "local_link_connection, so no switch port to bind.")
    return named


async def detach(rt: Runtime, ctx: RequestContext, ident: str, vif_id: str) -> None:
    """Forget ``vif_id`` on the node's NIC and unbind the Neutron port (kept, as Ironic)."""
    node, _, holder = await _lock(rt, ctx, ident, "baremetal:node:vif:detach")
    try:
        if _network(node) == "noop":
            return  # as Ironic's noop: nothing was attached, nothing to detach
        async with rt.db.session() as s:
            if not vifs.release_nics(await _nics(s, node), {vif_id}):
                # Ironic's VifNotAttached is a 400; openstacksdk reads it as "already gone".
                raise InvalidParameter(f"Unable to detach VIF {vif_id} from node {node.uuid} "
                                       "because it is not attached to it.")
        try:
            port = await binding.get_port(rt.db, vif_id)
        except PortNotFound:
            return  # deleted in Neutron meanwhile: the NIC is free, which is what was asked
        if port.binding_host_id == node.uuid:  # not if it was bound elsewhere since
            await binding.unbind_port(rt.db, vif_id)
    finally:
        await _unlock(rt, node, holder)
