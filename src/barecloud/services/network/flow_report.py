"""Top talkers by flow: which flows, from which tenants, load a switch port or link.

The collector's rows (flows.py) over the last N minutes are summed per flow
(switch, ports in and out, protocol, addresses and ports) and ranked by the
bytes they moved, estimated as Σ frame length * sampling rate.  With ``c``
samples, the estimate is within ±196·√(1/c) % of the truth 95 % of the time
(sFlow's "Packet Sampling Basics": the number of samples of a class is
binomial, so its relative standard error is about 1/√c); each row says so,
as a percentage and as a low and high byte count.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select

from barecloud.db.models import utcnow
from barecloud.db.network_models import FlowRecord
from barecloud.errors import InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.network import traffic

PROTOCOLS = {1: "icmp", 6: "tcp", 17: "udp", 58: "ipv6-icmp"}


def error_percent(samples: int) -> float:
    """The 95 % confidence half-width of an estimate made of ``samples`` samples, in %."""
    return 196.0 * math.sqrt(1.0 / samples) if samples > 0 else 100.0


@dataclass
class _Flow:
    samples: int = 0
    est_bytes: int = 0
    est_packets: int = 0
    first: dt.datetime | None = None
    last_end: dt.datetime | None = None
    latest: FlowRecord | None = None


def _key(r: FlowRecord) -> tuple[Any, ...]:
    return (r.switch, r.in_port, r.out_port, r.protocol, r.src_ip, r.dst_ip, r.src_port,
            r.dst_port, r.src_mac, r.dst_mac)


async def top_flows(rt: Runtime, ctx: RequestContext, *, switch: str | None,
                    port: str | None, minutes: float, limit: int) -> list[dict[str, Any]]:
    policy.authorize(ctx, "network:get_top_talkers")
    if not 0 < minutes <= traffic.MAX_MINUTES:
        raise InvalidParameter(f"minutes must be more than 0 and at most {traffic.MAX_MINUTES}.")
    if limit < 1:
        raise InvalidParameter("limit must be at least 1.")
    if switch is not None and switch not in rt.settings.switches:
        raise NotFound(f"Switch {switch} could not be found.")
    since = utcnow() - dt.timedelta(minutes=minutes)
    q = select(FlowRecord).where(FlowRecord.interval_start >= since)
    if switch is not None:
        q = q.where(FlowRecord.switch == switch)
    if port is not None:
        q = q.where(or_(FlowRecord.in_port == port, FlowRecord.out_port == port))
    flows: dict[tuple[Any, ...], _Flow] = {}
    async with rt.db.session() as s:
        for row in (await s.scalars(q.order_by(FlowRecord.interval_start,
                                               FlowRecord.id))).all():
            f = flows.setdefault(_key(row), _Flow(first=row.interval_start))
            f.samples += row.samples
            f.est_bytes += row.est_bytes
            f.est_packets += row.est_packets
            f.last_end = row.interval_start + dt.timedelta(seconds=row.seconds)
            f.latest = row
        ranked = sorted(flows.values(), key=lambda f: -f.est_bytes)[:limit]
        ends = [(e[0], e[1], e[2]) for f in ranked if f.latest is not None for e in (
            (f.latest.src_project_id, f.latest.src_device_id, f.latest.src_network_id),
            (f.latest.dst_project_id, f.latest.dst_device_id, f.latest.dst_network_id))]
        names = await traffic.owner_names(s, ends)
    out = []
    for f in ranked:
        r = f.latest
        assert r is not None and f.first is not None and f.last_end is not None
        seconds = max((f.last_end - f.first).total_seconds(), 0.001)
        error = error_percent(f.samples)

        def end(project: str | None, device: str | None, network: str | None,
                port_id: str | None) -> dict[str, Any]:
            return {"project_id": project, "project_name": names.get(("p", project)),
                    "server_id": device,
                    "server_name": names.get(("s", device)) or traffic.INFRASTRUCTURE.get(
                        device or ""),
                    "network_id": network, "network_name": names.get(("n", network)),
                    "port_id": port_id}

        out.append({
            "switch": r.switch, "in_port": r.in_port, "out_port": r.out_port,
            "protocol": PROTOCOLS.get(r.protocol, r.protocol) if r.protocol is not None
            else None,
            "src_ip": r.src_ip, "src_port": r.src_port, "dst_ip": r.dst_ip,
            "dst_port": r.dst_port, "src_mac": r.src_mac, "dst_mac": r.dst_mac,
            "vlan": r.vlan,
            "source": end(r.src_project_id, r.src_device_id, r.src_network_id,
                          r.src_network_port_id),
            "destination": end(r.dst_project_id, r.dst_device_id, r.dst_network_id,
                               r.dst_network_port_id),
            "samples": f.samples, "bytes": f.est_bytes, "packets": f.est_packets,
            "error_percent": round(error, 1),
            "bytes_low": max(0, round(f.est_bytes * (1 - error / 100))),
            "bytes_high": round(f.est_bytes * (1 + error / 100)),
            "seconds": round(seconds, 3),
            "bits_per_second": round(f.est_bytes * 8 / seconds),
        })
    return out
