"""A bare-metal server's diagnostics (Nova's ``GET /servers/{id}/diagnostics``).

Nova asks the compute driver; its Ironic driver has no answer (501).  barecloud
knows the machine itself, so it answers with what it knows of the node: its CPUs
and memory (``properties``), its NICs (Ironic ports, by MAC), its local disk, its
power state and whether the server has a config drive.  Figures only a guest or
hypervisor could measure (CPU time, memory in use, disk and NIC counters, uptime)
are null, as Nova's view leaves a field the driver did not set.  A VM's host
reports none of these: 501, as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from barecloud.db.compute_models import Server
from barecloud.db.models import Node, Port
from barecloud.errors import Conflict
from barecloud.services import policy
from barecloud.services.compute import status as st
from barecloud.services.compute.queries import find
from barecloud.services.context import RequestContext, Runtime

# Nova's power states as its diagnostics name them (nova.compute.power_state.STATE_MAP).
STATES = {st.NOSTATE: "pending", st.RUNNING: "running", st.SHUTDOWN: "shutdown"}
NIC_FIELDS = ("rx_octets", "rx_errors", "rx_drop", "rx_packets", "rx_rate",
              "tx_octets", "tx_errors", "tx_drop", "tx_packets", "tx_rate")
DISK_FIELDS = ("read_bytes", "read_requests", "write_bytes", "write_requests",
               "errors_count")


class NotSupported(Exception):
    """The server's driver has no diagnostics (a VM): Nova's 501."""


@dataclass(frozen=True)
class Diagnostics:
    state: str
    config_drive: bool
    cpus: int
    memory_mb: int | None
    macs: list[str]
    disks: int


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


async def of(rt: Runtime, ctx: RequestContext, server_id: str) -> Diagnostics:
    """The node's figures for server ``server_id`` (admins: Nova's
    ``os_compute_api:os-server-diagnostics``)."""
    async with rt.db.session() as s:
        server: Server = await find(s, ctx, server_id)
        policy.authorize(ctx, "compute:servers:diagnostics",
                         {"project_id": server.project_id})
        if server.hypervisor_id is not None:
            raise NotSupported
        node = await s.scalar(select(Node).where(Node.uuid == server.node_uuid)) \
            if server.node_uuid else None
        if node is None:
            # Nova's check_instance_host: a server with no host yet.
            raise Conflict(f"Instance {server.uuid} is not ready")
        ports = (await s.scalars(select(Port).where(Port.node_id == node.id)
                                 .order_by(Port.id))).all()
    props = node.properties or {}
    return Diagnostics(state=STATES.get(server.power_state, "pending"),
                       config_drive=bool(server.config_drive),
                       cpus=_int(props.get("cpus")) or 0,
                       memory_mb=_int(props.get("memory_mb")),
                       macs=[p.address for p in ports],
                       disks=1 if _int(props.get("local_gb")) else 0)


def standard(d: Diagnostics) -> dict[str, Any]:
    """Nova's 2.48 format (its ``views/server_diagnostics.py`` field set)."""
    return {
        "state": d.state, "driver": "ironic", "hypervisor": "ironic",
        "hypervisor_os": None, "uptime": None, "config_drive": d.config_drive,
        "num_cpus": d.cpus, "num_nics": len(d.macs), "num_disks": d.disks,
        "memory_details": {"maximum": d.memory_mb, "used": None},
        "cpu_details": [{"id": i, "time": None, "utilisation": None} for i in range(d.cpus)],
        "nic_details": [{"mac_address": mac, **dict.fromkeys(NIC_FIELDS)} for mac in d.macs],
        "disk_details": [dict.fromkeys(DISK_FIELDS) for _ in range(d.disks)],
    }


def legacy(d: Diagnostics) -> dict[str, Any]:
    """Below 2.48 the format is the driver's own, a flat object: the same facts, the
    memory in KiB as libvirt's ``memory``, a NIC's MAC under ``nic<i>_mac``."""
    flat: dict[str, Any] = {"state": d.state, "driver": "ironic",
                            "config_drive": d.config_drive, "num_cpus": d.cpus,
                            "num_nics": len(d.macs), "num_disks": d.disks}
    if d.memory_mb is not None:
        flat["memory"] = d.memory_mb * 1024
    flat.update({f"nic{i}_mac": mac for i, mac in enumerate(d.macs)})
    return flat
