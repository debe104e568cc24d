"""Ironic's VIF API: Neutron ports attached to a node's NICs by hand.

What ``openstack baremetal node vif attach/list/detach`` does, for operators
and node owners who drive machines without Compute.  Per the node's network
interface, as Ironic's:

- ``noop`` accepts attach and detach and does nothing (``vif list`` is empty);
- ``flat`` puts a VIF on a free port group (one with member NICs) before a
  free NIC not in a group (PXE first), as Ironic's
  ``get_free_port_like_object``, or on the one named by ``port_uuid`` /
  ``portgroup_uuid``; a NIC through the same :func:`vifs.bind_vif` as a
  server's ports, a port group with its address, recorded in the group's
  ``internal_info`` (Ironic's ``tenant_vif_port_id``);
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
from barecloud.db.models import Node, Port, Portgroup
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


async def _groups(s: AsyncSession, node: Node) -> list[Portgroup]:
    return list((await s.scalars(
        select(Portgroup).where(Portgroup.node_id == node.id).order_by(Portgroup.id))).all())


def _group_vif(group: Portgroup) -> str | None:
    vif = (group.internal_info or {}).get("tenant_vif_port_id")
    return str(vif) if vif else None


async def list_vifs(rt: Runtime, ctx: RequestContext, ident: str) -> list[str]:
    """The VIFs recorded on the node's port groups and NICs (none for ``noop``)."""
    async with rt.db.session() as s:
        node = await nodes.find_for(s, ctx, ident, "baremetal:node:vif:list", traits=False)
        if _network(node) == "noop":
            return []
        on_groups = [_group_vif(g) for g in await _groups(s, node)]
        on_nics = [vifs.vif_of(n) for n in await _nics(s, node)]
        return [vif for vif in on_groups + on_nics if vif]


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
                 port_uuid: str | None = None, portgroup_uuid: str | None = None) -> None:
    """Bind Neutron port ``vif_id`` to a free port group or NIC of the node
    (``port_uuid`` / ``portgroup_uuid``: that one)."""
    node, node_nics, holder = await _lock(rt, ctx, ident, "baremetal:node:vif:attach")
    try:
        network = _network(node)
        if network == "noop":
            return  # Ironic's noop network interface: accepted, and nothing done
        async with rt.db.session() as s:
            groups = await _groups(s, node)
        await _check_vif(rt, ctx, node, node_nics, groups, vif_id)
        if network != "flat":
            if portgroup_uuid is not None:
                raise InvalidParameter(
                    f"Unable to attach VIF {vif_id} to port group {portgroup_uuid}: the "
                    f"{network} network interface binds NICs' switch ports, not bonds.")
            nic = _choose(node_nics, vif_id, port_uuid, cabled=True)
            await vifs.bind_vif(rt, vif_id, node, nic)
            return
        group = _choose_group(groups, node_nics, port_uuid, portgroup_uuid)
        if group is None:
            nic = _choose([n for n in node_nics if n.portgroup_id is None
                           or (port_uuid and n.uuid == port_uuid.lower())],
                          vif_id, port_uuid, cabled=False)
            await vifs.bind_vif(rt, vif_id, node, nic)
        else:
            await _bind_group(rt, vif_id, node, group, node_nics)
    finally:
        await _unlock(rt, node, holder)


def _choose_group(groups: list[Portgroup], node_nics: list[Port], port_uuid: str | None,
                  portgroup_uuid: str | None) -> Portgroup | None:
    """Ironic's preference: a free port group with member NICs before any NIC;
    the named group (``portgroup_uuid``) if free; none when a NIC is named."""
    if port_uuid is not None:
        return None
    members = {n.portgroup_id for n in node_nics if n.portgroup_id is not None}
    if portgroup_uuid is not None:
        named = next((g for g in groups if g.uuid == portgroup_uuid.lower()), None)
        if named is None:
            raise NotFound(f"Portgroup {portgroup_uuid} could not be found.")
        if _group_vif(named):
            raise Conflict(f"Unable to attach VIF: port group {named.uuid} already has VIF "
                           f"{_group_vif(named)} attached.")
        if named.id not in members:
            raise InvalidParameter(f"Unable to attach VIF to port group {named.uuid}: it "
                                   "has no ports.")
        return named
    free = [g for g in groups if not _group_vif(g) and g.id in members
            and not any(vifs.vif_of(n) for n in node_nics if n.portgroup_id == g.id)]
    return free[0] if free else None


async def _bind_group(rt: Runtime, vif_id: str, node: Node, group: Portgroup,
                      node_nics: list[Port]) -> None:
    """Bind the Neutron port to the node through the bond: its address (else its
    first member's), recorded in the group's ``internal_info``."""
    members = vifs.in_order(n for n in node_nics if n.portgroup_id == group.id)
    address = group.address or members[0].address
    vif = await binding.bind_port(rt.db, vif_id, node.uuid, "baremetal", None, address)
    async with rt.db.session() as s:
        row = await s.get(Portgroup, group.id)
        assert row is not None
        row.internal_info = {**(row.internal_info or {}), "tenant_vif_port_id": vif.id}


async def _check_vif(rt: Runtime, ctx: RequestContext, node: Node, node_nics: list[Port],
                     groups: list[Portgroup], vif_id: str) -> None:
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
    for group in groups:
        if _group_vif(group) == vif_id:
            raise Conflict(f"Unable to attach VIF because VIF {vif_id} is already attached "
                           f"to Ironic Portgroup {group.uuid}")
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
            released = bool(vifs.release_nics(await _nics(s, node), {vif_id}))
            for group in await _groups(s, node):
                if _group_vif(group) == vif_id:
                    info = dict(group.internal_info or {})
                    info.pop("tenant_vif_port_id", None)
                    group.internal_info = info
                    released = True
            if not released:
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
