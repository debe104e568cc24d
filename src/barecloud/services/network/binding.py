"""Port binding for the conductor and Compute: plain functions over the database.

- ``get_port(db, port_id) -> NetworkPort`` (PortNotFound)
- ``bind_port(db, port_id, host_id, vnic_type="baremetal", local_link_information=None,
  mac_address=None) -> NetworkPort``: the port is on ``host_id`` (a node), cabled
  as ``local_link_information`` says; a MAC given replaces the port's (the
  NIC's own, as Ironic does), and SLAAC addresses follow it.  Status ACTIVE.
- ``unbind_port(db, port_id) -> NetworkPort``: off every host, status DOWN.
- ``delete_ports_of_device(db, device_id) -> int``: how many went.
- ``segment_of(db, network_id) -> Segment``: where the network's frames travel.

None checks policy: callers act for the operator.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select

from barecloud.db.network_models import IPAllocation, Network, NetworkPort, Subnet
from barecloud.db.session import Database
from barecloud.drivers.switches.base import Segment
from barecloud.services.network import addresses, attrs, ports, segments
from barecloud.services.network.errors import MacAddressInUse, NetworkNotFound, PortNotFound


async def get_port(db: Database, port_id: str) -> NetworkPort:
    async with db.session() as s:
        port = await s.scalar(select(NetworkPort).where(NetworkPort.id == port_id))
    if port is None:
        raise PortNotFound(port_id)
    return port


async def bind_port(db: Database, port_id: str, host_id: str, vnic_type: str = "baremetal",
                    local_link_information: list[dict[str, Any]] | None = None,
                    mac_address: str | None = None) -> NetworkPort:
    mac = attrs.mac_address(mac_address) if mac_address else None
    async with db.session() as s:
        port = await s.scalar(select(NetworkPort).where(NetworkPort.id == port_id))
        if port is None:
            raise PortNotFound(port_id)
        network = await s.scalar(select(Network).where(Network.id == port.network_id)
                                 .with_for_update())
        assert network is not None  # the foreign key
        port.binding_host_id = host_id
        port.binding_vnic_type = vnic_type
        profile = dict(port.binding_profile or {})
        if local_link_information is not None:
            profile["local_link_information"] = local_link_information
        port.binding_profile = profile
        if mac is not None and mac != port.mac_address:
            if await ports.mac_taken(s, network.id, mac, port.id):
                raise MacAddressInUse(network.id, mac)
            port.mac_address = mac
            current = [(a.subnet_id, a.ip_address) for a in await s.scalars(
                select(IPAllocation).where(IPAllocation.port_id == port.id))]
            # Keep every address but SLAAC ones, which are recomputed from the new MAC.
            requests = [addresses.Request(sid, None if await _auto(s, sid) else ip)
                        for sid, ip in current]
            wanted = await addresses.resolve(s, network, port.id, mac, requests)
            await addresses.replace(s, network, port.id, wanted)
        ports.apply_binding(port)
        port.revision_number += 1
    return await get_port(db, port_id)


async def _auto(s: Any, subnet_id: str) -> bool:

    subnet = await s.get(Subnet, subnet_id)
    return subnet is not None and addresses.auto_address(subnet)


async def unbind_port(db: Database, port_id: str) -> NetworkPort:
    async with db.session() as s:
        port = await s.scalar(select(NetworkPort).where(NetworkPort.id == port_id))
        if port is None:
            raise PortNotFound(port_id)
        port.binding_host_id = ""
        profile = dict(port.binding_profile or {})
        profile.pop("local_link_information", None)
        port.binding_profile = profile
        ports.apply_binding(port)
        port.revision_number += 1
    return await get_port(db, port_id)


async def delete_ports_of_device(db: Database, device_id: str) -> int:
    if not device_id:
        return 0
    async with db.session() as s:
        ids = list((await s.scalars(select(NetworkPort.id).where(
            NetworkPort.device_id == device_id))).all())
        if ids:
            await ports.release_floating_ips(s, ids)
            await s.execute(delete(IPAllocation).where(IPAllocation.port_id.in_(ids)))
            await s.execute(delete(NetworkPort).where(NetworkPort.id.in_(ids)))
    return len(ids)


async def segment_of(db: Database, network_id: str) -> Segment:
    async with db.session() as s:
        network = await s.scalar(select(Network).where(Network.id == network_id))
    if network is None:
        raise NetworkNotFound(network_id)
    return segments.segment(network)
