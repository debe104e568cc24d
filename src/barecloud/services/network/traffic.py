"""Which tenant's traffic it is: switch port counters, attributed and ranked.

Every ``switch_counter_interval`` the sampler reads each switch's per-port
counters and stores them with who the port belonged to at that moment (the
machine's NIC → its tenant VIF → Neutron port → project, network, server).
Attribution is written at sampling time because machines change hands: a
report over the last hour names the tenant that sent the bytes, not the one
that holds the machine now.

The report sums the increase of each port's counters over the window (a
counter that went down was reset: its new value is the increase) and ranks
ports by the bytes their machines sent (a switch port's ``rx``), or
received, or both.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, or_, select

from barecloud.db.compute_models import Server
from barecloud.db.identity_models import Project
from barecloud.db.models import Node, Port, utcnow
from barecloud.db.network_models import Network, NetworkPort, SwitchPortSample
from barecloud.drivers.switches import registry
from barecloud.drivers.switches.base import HostPlug
from barecloud.errors import DriverError, InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.network.dhcp import dhcp_ifname, dhcp_netns

log = logging.getLogger(__name__)

# Samples older than this are dropped by the sampler.
RETENTION = dt.timedelta(days=1)
MAX_MINUTES = 24 * 60


@dataclass
class Owner:
    network_port_id: str | None = None
    network_id: str | None = None
    project_id: str | None = None
    device_id: str | None = None
    node_uuid: str | None = None


# device_id of the switch ports barecloud plugs itself, and how the report names them.
INFRASTRUCTURE = {"network:dhcp": "DHCP server", "barecloud:provisioning":
                  "barecloud (provisioning)"}


async def _own_ports(rt: Runtime) -> dict[tuple[str, str], Owner]:
    """The host ports barecloud plugged into its network host switch."""
    settings = rt.settings
    if not settings.network_host_switch:
        return {}
    switch = registry.switch(settings.network_host_switch)
    if not isinstance(switch, HostPlug):
        return {}
    name = settings.network_host_switch
    out: dict[tuple[str, str], Owner] = {}
    async with rt.db.session() as s:
        for port in (await s.scalars(select(NetworkPort).where(
                NetworkPort.device_owner == "network:dhcp"))).all():
            where = switch.port_of(dhcp_ifname(port.id), dhcp_netns(port.network_id))
            out[(name, where)] = Owner(port.id, port.network_id, None, "network:dhcp")
        if settings.dhcp_enabled and settings.dhcp_interface and settings.provisioning_network:
            network = await s.scalar(select(Network).where(or_(
                Network.id == settings.provisioning_network,
                Network.name == settings.provisioning_network)).limit(1))
            where = switch.port_of(settings.dhcp_interface, None)
            out[(name, where)] = Owner(None, network.id if network else None, None,
                                       "barecloud:provisioning")
    return out


async def attribution(rt: Runtime) -> dict[tuple[str, str], Owner]:
    """(switch, switch port) → who is behind it now."""
    out = await _own_ports(rt)
    async with rt.db.session() as s:
        rows = (await s.execute(select(Port.local_link_connection, Port.internal_info,
                                       Node.uuid).join(Node, Node.id == Port.node_id))).all()
        vif_ids = [str((info or {}).get("tenant_vif_port_id")) for _, info, _ in rows
                   if (info or {}).get("tenant_vif_port_id")]
        vifs = {p.id: p for p in (await s.scalars(
            select(NetworkPort).where(NetworkPort.id.in_(vif_ids)))).all()} if vif_ids else {}
    for llc, info, node_uuid in rows:
        llc = llc or {}
        if not llc.get("switch_info") or not llc.get("port_id"):
            continue
        owner = Owner(node_uuid=node_uuid)
        vif = vifs.get(str((info or {}).get("tenant_vif_port_id")))
        if vif is not None:
            owner = Owner(vif.id, vif.network_id, vif.project_id, vif.device_id or None,
                          node_uuid)
        out[(str(llc["switch_info"]), str(llc["port_id"]))] = owner
    return out


async def sample_once(rt: Runtime) -> int:
    """Read every switch's counters once; the number of rows stored."""
    owners = await attribution(rt)
    samples: list[SwitchPortSample] = []
    for name in rt.settings.switches:
        try:
            counters = await registry.switch(name).counters()
        except DriverError as exc:
            log.warning("switch %s: counters not read: %s", name, exc.message)
            continue
        now = utcnow()
        for port, c in counters.items():
            o = owners.get((name, port), Owner())
            samples.append(SwitchPortSample(
                switch=name, port=port, sampled_at=now, rx_bytes=c.rx_bytes,
                tx_bytes=c.tx_bytes, rx_packets=c.rx_packets, tx_packets=c.tx_packets,
                network_port_id=o.network_port_id, network_id=o.network_id,
                project_id=o.project_id, device_id=o.device_id))
    async with rt.db.session() as s:
        s.add_all(samples)
        await s.execute(delete(SwitchPortSample)
                        .where(SwitchPortSample.sampled_at < utcnow() - RETENTION))
    return len(samples)


@dataclass
class _Totals:
    rx_bytes: int = 0
    tx_bytes: int = 0
    rx_packets: int = 0
    tx_packets: int = 0
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    # bytes per attribution, to name the one that moved the most
    by_owner: dict[tuple[str | None, str | None, str | None], int] = field(
        default_factory=lambda: defaultdict(int))


def _increase(before: int, after: int) -> int:
    return after - before if after >= before else after


# How the report ranks ports: by what the machine sent (the talker: a machine
# flooded by others ranks by "received"), what it received, or both.
SORTS: dict[str, Callable[[_Totals], int]] = {
    "sent": lambda t: t.rx_bytes,
    "received": lambda t: t.tx_bytes,
    "total": lambda t: t.rx_bytes + t.tx_bytes,
}


async def top_talkers(rt: Runtime, ctx: RequestContext, *, switch: str | None,
                      minutes: float, limit: int, sort: str = "sent",
                      port: str | None = None) -> list[dict[str, Any]]:
    policy.authorize(ctx, "network:get_top_talkers")
    if not 0 < minutes <= MAX_MINUTES:
        raise InvalidParameter(f"minutes must be more than 0 and at most {MAX_MINUTES}.")
    if sort not in SORTS:
        raise InvalidParameter(f"sort must be one of {', '.join(SORTS)}, not {sort!r}.")
    if limit < 1:
        raise InvalidParameter("limit must be at least 1.")
    if switch is not None and switch not in rt.settings.switches:
        raise NotFound(f"Switch {switch} could not be found.")
    since = utcnow() - dt.timedelta(minutes=minutes)
    q = select(SwitchPortSample).where(SwitchPortSample.sampled_at >= since)
    if switch is not None:
        q = q.where(SwitchPortSample.switch == switch)
    if port is not None:
        q = q.where(SwitchPortSample.port == port)
    q = q.order_by(SwitchPortSample.switch, SwitchPortSample.port, SwitchPortSample.sampled_at,
                   SwitchPortSample.id)
    totals: dict[tuple[str, str], _Totals] = {}
    previous: dict[tuple[str, str], SwitchPortSample] = {}
    async with rt.db.session() as s:
        for row in (await s.scalars(q)).all():
            key = (row.switch, row.port)
            t = totals.setdefault(key, _Totals(first=row.sampled_at))
            t.last = row.sampled_at
            before = previous.get(key)
            previous[key] = row
            rx = tx = 0
            if before is not None:
                rx = _increase(before.rx_bytes, row.rx_bytes)
                tx = _increase(before.tx_bytes, row.tx_bytes)
                t.rx_bytes += rx
                t.tx_bytes += tx
                t.rx_packets += _increase(before.rx_packets, row.rx_packets)
                t.tx_packets += _increase(before.tx_packets, row.tx_packets)
            # Every sample names its owner, so a port that moved no bytes yet is named too.
            t.by_owner[(row.project_id, row.device_id, row.network_id)] += rx + tx
        rank = SORTS[sort]
        ranked = sorted(totals.items(), key=lambda kv: -rank(kv[1]))
        ranked = ranked[:limit]
        # The owner that moved the most; on a tie, the latest (the last one seen).
        owners = {k: max(reversed(t.by_owner.items()), key=lambda kv: kv[1])[0]
                  for k, t in ranked}
        names = await owner_names(s, owners.values())
    out = []
    for (sw, port), t in ranked:
        project, device, network = owners[(sw, port)]
        seconds = (t.last - t.first).total_seconds() if t.first and t.last else 0.0
        total = t.rx_bytes + t.tx_bytes
        out.append({
            "switch": sw, "port": port,
            "project_id": project, "project_name": names.get(("p", project)),
            "server_id": device,
            "server_name": names.get(("s", device)) or INFRASTRUCTURE.get(device or ""),
            "network_id": network, "network_name": names.get(("n", network)),
            "rx_bytes": t.rx_bytes, "tx_bytes": t.tx_bytes, "bytes": total,
            "rx_packets": t.rx_packets, "tx_packets": t.tx_packets,
            "seconds": round(seconds, 3),
            "bits_per_second": round(total * 8 / seconds) if seconds > 0 else 0,
        })
    return out


async def owner_names(s: Any, owners: Any) -> dict[tuple[str, str | None], str]:
    projects = {o[0] for o in owners if o[0]}
    servers = {o[1] for o in owners if o[1]}
    networks = {o[2] for o in owners if o[2]}
    names: dict[tuple[str, str | None], str] = {}
    if projects:
        for pid, name in (await s.execute(select(Project.id, Project.name)
                                          .where(Project.id.in_(projects)))).all():
            names[("p", pid)] = name
    if servers:
        for sid, name in (await s.execute(select(Server.uuid, Server.name)
                                          .where(Server.uuid.in_(servers)))).all():
            names[("s", sid)] = name
    if networks:
        for nid, name in (await s.execute(select(Network.id, Network.name)
                                          .where(Network.id.in_(networks)))).all():
            names[("n", nid)] = name
    return names
