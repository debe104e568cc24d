"""A server's networks on its node: Neutron ports bound to the machine's NICs.

What Nova's network API and Ironic's VIF attach do together: when the
scheduler gives a server a node, each network the server asked for gets a
Neutron port (or the port it named is taken), bound to one of the node's
cabled NICs: ``binding:host_id`` the node, ``binding:vnic_type`` baremetal,
``binding:profile.local_link_information`` the NIC's switch port, and the
NIC's own MAC, so the tenant network's DHCP answers that machine with the
port's address.  The NIC's Ironic port records the VIF and its segment
(``internal_info.tenant_vif_port_id`` / ``tenant_segment``), which the
``neutron`` network interface binds at the end of the deploy.

A port with port security is bound only to a NIC whose switch filters
(:func:`check_filtered`): on a switch that cannot, its security groups
would silently not hold, so the binding fails, as Neutron's does when no
mechanism driver can bind a port (docs/design/security-groups.md).

Detach undoes it when the server is deleted or its deploy failed: ports
the server created go, ports it was given are unbound and kept.
Ironic's VIF API (``services/baremetal/vifs.py``) binds and releases NICs with
the same :func:`bind_vif` and :func:`release_nics`.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Collection, Iterable
from typing import Any

from sqlalchemy import select

from barecloud.db.compute_models import Server
from barecloud.db.models import Node, Port
from barecloud.db.network_models import Network, NetworkPort, Subnet
from barecloud.drivers.switches import registry
from barecloud.drivers.switches.base import can_filter
from barecloud.errors import BarecloudError, Conflict, InvalidParameter, NotFound
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.network import binding
from barecloud.services.network import networks as network_service
from barecloud.services.network import ports as network_ports
from barecloud.services.network.segments import segment

OWNER = "compute:nova"


def requested(server: Server) -> list[dict[str, Any]]:
    """The server's ``networks`` entries, or none for "auto", "none" or nothing."""
    return [n for n in server.networks if isinstance(n, dict)] if isinstance(
        server.networks, list) else []


async def check_requested(rt: Runtime, ctx: RequestContext, networks: Any) -> None:
    """At create: every network visible to the caller, every port free (Nova's checks)."""
    if not isinstance(networks, list):
        return
    for entry in networks:
        if "port" in entry:
            try:
                port = await network_ports.get(rt, ctx, entry["port"])
            except NotFound:
                raise InvalidParameter(f"Port id {entry['port']} could not be found.") from None
            if port.device_id:
                raise Conflict(f"Port {port.id} is still in use.")
        elif "uuid" in entry:
            try:
                await network_service.get(rt, ctx, entry["uuid"])
            except NotFound:
                raise InvalidParameter(
                    f"Network {entry['uuid']} could not be found.") from None


def nics(ports: Iterable[Port]) -> list[Port]:
    """The node's NICs a VIF can go on: cabled ones, the PXE NIC first (Ironic's order)."""
    return in_order(p for p in ports if (p.local_link_connection or {}).get("port_id"))


def in_order(ports: Iterable[Port]) -> list[Port]:
    """NICs in the order Ironic gives VIFs to them: the PXE NIC first."""
    return sorted(ports, key=lambda p: (not p.pxe_enabled, p.id))


def vif_of(nic: Port) -> str | None:
    """The tenant VIF recorded on ``nic``, if any."""
    vif = (nic.internal_info or {}).get("tenant_vif_port_id")
    return str(vif) if vif else None


async def bind_vif(rt: Runtime, vif_id: str, node: Node, nic: Port) -> NetworkPort:
    """Bind Neutron port ``vif_id`` to ``node`` through ``nic`` and record it on the NIC.

    The one place a VIF meets a NIC, for servers and for Ironic's VIF API
    alike: the port takes the NIC's MAC (so DHCP answers that machine) and
    switch port, and the NIC's ``internal_info`` names the VIF and its
    segment, which the ``neutron`` network interface binds at deploy time.
    """
    await check_filtered(rt, vif_id, nic)
    link = dict(nic.local_link_connection or {})  # none on a flat NIC: no switch port
    vif = await binding.bind_port(rt.db, vif_id, node.uuid, "baremetal",
                                  [link] if link else None, nic.address)
    network = await network_service.find_network(rt.db, vif.network_id)
    async with rt.db.session() as s:
        row = await s.get(Port, nic.id)
        assert row is not None
        row.internal_info = {**(row.internal_info or {}), "tenant_vif_port_id": vif.id,
                             "tenant_segment": dataclasses.asdict(segment(network))}
    return vif


async def check_filtered(rt: Runtime, vif_id: str, nic: Port) -> None:
    """Refuse to bind port ``vif_id`` (with port security) to ``nic`` if the NIC's
    switch cannot filter: InvalidParameter naming the switch, its port and the remedy."""
    llc = nic.local_link_connection or {}
    switch_name, switch_port = llc.get("switch_info"), llc.get("port_id")
    if not switch_name or switch_name not in rt.settings.switches:
        return  # not cabled to a switch of ours: the network interface says so at deploy
    async with rt.db.session() as s:
        secured = await s.scalar(select(NetworkPort.port_security_enabled).where(
            NetworkPort.id == vif_id))
    if not secured:
        return
    switch = registry.switch_driver(str(switch_name), rt.settings)
    if can_filter(switch):
        return
    driver = getattr(type(switch), "driver_name", type(switch).__name__)
    why = getattr(switch, "cannot_filter", None) or \
        f"the {driver} switch driver cannot filter ports"
    raise InvalidParameter(
        f"Binding failed for port {vif_id}: it has port security, but switch {switch_name} "
        f"cannot enforce security groups on its port {switch_port} ({why}). Disable port "
        f"security on the port (openstack port set --no-security-group "
        f"--disable-port-security {vif_id}) or its network (openstack network create "
        "--disable-port-security), or cable the machine to a switch that filters.")


def release_nics(node_nics: Iterable[Port], vif_ids: Collection[str]) -> list[Port]:
    """Forget ``vif_ids`` on the NICs carrying them (in the caller's session); those NICs.

    With no VIF recorded, the network interface leaves the NIC's switch port
    on no tenant segment; unbinding or deleting the Neutron port is the
    caller's, as servers delete the ports they made.
    """
    released = []
    for nic in node_nics:
        if vif_of(nic) in vif_ids:
            info = dict(nic.internal_info or {})
            info.pop("tenant_vif_port_id", None)
            info.pop("tenant_segment", None)
            nic.internal_info = info
            released.append(nic)
    return released


async def attach(rt: Runtime, server: Server, node: Node) -> str | None:
    """Bind the server's ports to ``node``; None, or why it cannot be done."""
    wanted = requested(server)
    if not wanted:
        return None
    async with rt.db.session() as s:
        cabled = nics((await s.scalars(select(Port).where(Port.node_id == node.id))).all())
        mine = {p.id: p for p in (await s.scalars(
            select(NetworkPort).where(NetworkPort.device_id == server.uuid))).all()}
    # A NIC carrying a VIF of someone else's (Ironic's VIF API) is taken.
    cabled = [n for n in cabled if vif_of(n) is None or vif_of(n) in mine]
    if len(cabled) < len(wanted):
        return (f"Unable to attach {len(wanted)} VIF(s) to node {node.uuid}: it has "
                f"{len(cabled)} free NIC(s) cabled to a switch (local_link_connection).")
    addresses: dict[str, list[dict[str, Any]]] = {}
    try:
        for entry, nic in zip(wanted, cabled, strict=False):
            vif = await bind_vif(rt, await port_for(rt, server, entry, mine), node, nic)
            network = await network_service.find_network(rt.db, vif.network_id)
            add_addresses(addresses, network, vif)
    except BarecloudError as exc:
        return f"Could not bind a network port to node {node.uuid}: {exc.message}"
    async with rt.db.session() as s:
        placed = await s.get(Server, server.id)
        if placed is not None:
            placed.addresses = addresses
    return None


def add_addresses(addresses: dict[str, list[dict[str, Any]]], network: Network,
                  vif: NetworkPort) -> None:
    """Nova's ``server.addresses`` entries of a bound port, under its network's name."""
    addresses.setdefault(network.name or network.id, []).extend(
        {"version": 6 if ":" in a.ip_address else 4, "addr": a.ip_address,
         "OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": vif.mac_address}
        for a in vif.allocations)


async def port_for(rt: Runtime, server: Server, entry: dict[str, Any],
                   mine: dict[str, NetworkPort]) -> str:
    """The port of one requested network: the one named, the one made by an earlier
    try (taken out of ``mine``), or a new one."""
    if "port" in entry:
        async with rt.db.session() as s:
            port = await s.get(NetworkPort, entry["port"])
            if port is None:
                raise NotFound(f"Port {entry['port']} could not be found.")
            if port.device_id not in ("", server.uuid):
                raise Conflict(f"Port {port.id} is still in use.")
            port.device_id, port.device_owner = server.uuid, port.device_owner or OWNER
            return port.id
    for port in list(mine.values()):  # a retry: the port made last time for this network
        if port.network_id == entry["uuid"] and port.id not in _given(server):
            del mine[port.id]
            return port.id
    fixed = [{"ip_address": entry["fixed_ip"]}] if entry.get("fixed_ip") else None
    made = await network_ports.create_port(
        rt, project_id=server.project_id, network_id=entry["uuid"], device_id=server.uuid,
        device_owner=OWNER, fixed_ips=fixed, security_groups=entry.get("security_groups"))
    return str(made.id)


def _given(server: Server) -> set[str]:
    return {str(n["port"]) for n in requested(server) if "port" in n}


async def free_nic(rt: Runtime, node: Node) -> Port:
    """The node's first cabled NIC that carries no VIF (Conflict if none)."""
    async with rt.db.session() as s:
        cabled = nics((await s.scalars(select(Port).where(Port.node_id == node.id))).all())
    free = [n for n in cabled if vif_of(n) is None]
    if not free:
        raise Conflict(f"Node {node.name or node.uuid} has no free NIC cabled to a switch "
                       "(local_link_connection).")
    return free[0]


async def plug(rt: Runtime, device_id: str, device_owner: str, network: Network,
               node: Node) -> NetworkPort:
    """A port of ``device_id`` on ``network``, bound to the node's first free cabled
    NIC (a hypervisor's own network: no server owns it).  No port security: it
    carries its VMs' tunnels (their ports are filtered where they are, not here)."""
    nic = await free_nic(rt, node)
    port = await network_ports.create_port(
        rt, project_id=network.project_id, network_id=network.id, device_id=device_id,
        device_owner=device_owner, security_groups=[], port_security=False)
    return await bind_vif(rt, port.id, node, nic)


async def unplug(rt: Runtime, device_id: str, node_uuid: str | None) -> set[str]:
    """Forget the VIFs of ``device_id`` on the NICs of ``node_uuid``; their port ids."""
    async with rt.db.session() as s:
        ids = set((await s.scalars(
            select(NetworkPort.id).where(NetworkPort.device_id == device_id))).all())
        if ids and node_uuid:
            release_nics((await s.scalars(select(Port).where(
                Port.node_id.in_(select(Node.id).where(Node.uuid == node_uuid))))).all(), ids)
    return ids


async def detach(rt: Runtime, server: Server, node_uuid: str | None) -> None:
    """Unbind the server's ports from ``node_uuid``; delete those it created."""
    given = _given(server)
    ids = await unplug(rt, server.uuid, node_uuid)
    for port_id in ids & given:
        await binding.unbind_port(rt.db, port_id)
        async with rt.db.session() as s:
            port = await s.get(NetworkPort, port_id)
            if port is not None:
                port.device_id, port.device_owner = "", ""
    await binding.delete_ports_of_device(rt.db, server.uuid)


def network_type(sub: Subnet) -> str:
    """A network's ``type`` in network_data.json, as Nova writes it: ``ipv4``,
    ``ipv6`` (static), or ``ipv6_<address mode>`` (``ipv6_slaac``,
    ``ipv6_dhcpv6-stateless``, ``ipv6_dhcpv6-stateful``): cloud-init then runs
    SLAAC or a DHCPv6 client rather than writing the address itself."""
    if sub.ip_version == 4:
        return "ipv4"
    return f"ipv6_{sub.ipv6_address_mode}" if sub.ipv6_address_mode else "ipv6"


async def network_data(rt: Runtime, server: Server) -> dict[str, Any] | None:
    """Nova's ``network_data.json`` for the server's bound ports (None: it has none).

    Static addresses, so a machine configures its networks from the config
    drive even where no DHCP server of barecloud's reaches the segment.
    """
    return await device_network_data(rt, server.uuid, server.node_uuid)


async def device_network_data(rt: Runtime, device_id: str,
                              node_uuid: str | None) -> dict[str, Any] | None:
    """:func:`network_data` of the ports of ``device_id`` bound to ``node_uuid``."""
    async with rt.db.session() as s:
        vifs = list((await s.scalars(select(NetworkPort).where(
            NetworkPort.device_id == device_id, NetworkPort.binding_host_id != ""))).all())
        if not vifs:
            return None
        nets = {n.id: n for n in (await s.scalars(select(Network).where(
            Network.id.in_({v.network_id for v in vifs})))).all()}
        subs = {n.id: n for n in (await s.scalars(select(Subnet).where(
            Subnet.network_id.in_(nets)))).all()}
        cabled = nics((await s.scalars(select(Port).join(Node).where(
            Node.uuid == node_uuid))).all())
    order = {nic.address: i for i, nic in enumerate(cabled)}  # as the machine sees its NICs
    vifs.sort(key=lambda v: order.get(v.mac_address, len(order)))
    links: list[dict[str, Any]] = []
    networks: list[dict[str, Any]] = []
    dns: list[str] = []
    for vif in vifs:
        link = f"tap{vif.id[:11]}"
        links.append({"id": link, "vif_id": vif.id, "type": "phy",
                      "ethernet_mac_address": vif.mac_address, "mtu": nets[vif.network_id].mtu})
        for alloc in vif.allocations:
            sub = subs.get(alloc.subnet_id)
            if sub is None:
                continue
            cidr = ipaddress.ip_network(sub.cidr, strict=False)
            routes = [{"network": "0.0.0.0" if cidr.version == 4 else "::",
                       "netmask": "0.0.0.0" if cidr.version == 4 else "::",
                       "gateway": sub.gateway_ip}] if sub.gateway_ip else []
            networks.append({
                "id": f"network{len(networks)}", "link": link, "network_id": vif.network_id,
                "type": network_type(sub),
                "ip_address": alloc.ip_address, "netmask": str(cidr.netmask),
                "routes": routes,
                "services": [{"type": "dns", "address": a} for a in sub.dns_nameservers or ()],
            })
            dns += [a for a in sub.dns_nameservers or () if a not in dns]
    return {"links": links, "networks": networks,
            "services": [{"type": "dns", "address": a} for a in dns]}
