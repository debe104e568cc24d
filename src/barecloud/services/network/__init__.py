"""Network v2 (Neutron) business rules: networks, subnets, ports, quotas, RBAC.

Modules: ``networks`` (and their segments, ``segments``), ``subnets`` (IPAM
in ``ipam``, port addresses in ``addresses``), ``ports``, ``binding``,
``quotas``, ``rbac``; ``attrs`` words input errors as Neutron does,
``errors`` holds its typed errors, ``common`` visibility and list pages.

What Compute and the conductor call (plain functions over a ``Database``,
no HTTP, no policy: they act for the operator):

- ``ports.create_port(rt_or_db, ctx=None, *, project_id, network_id, device_id,
  device_owner, fixed_ips=None, mac_address=None) -> NetworkPort``
- ``ports.delete_port(rt_or_db, ctx, port_id)``
- ``binding.bind_port(db, port_id, host_id, vnic_type="baremetal",
  local_link_information=None, mac_address=None) -> NetworkPort``
- ``binding.unbind_port(db, port_id) -> NetworkPort``
- ``binding.delete_ports_of_device(db, device_id) -> int``
- ``binding.get_port(db, port_id) -> NetworkPort``
- ``binding.segment_of(db, network_id) -> Segment``
- ``networks.find_network(db, name_or_id) -> Network``

They raise the typed errors of ``errors`` (``PortNotFound``,
``NetworkNotFound``, ``IpAddressGenerationFailure``, ...).
"""

from barecloud.services.network.binding import (
    bind_port,
    delete_ports_of_device,
    get_port,
    segment_of,
    unbind_port,
)
from barecloud.services.network.networks import find_network
from barecloud.services.network.ports import create_port, delete_port

__all__ = ["bind_port", "create_port", "delete_port", "delete_ports_of_device", "find_network",
           "get_port", "segment_of", "unbind_port"]
