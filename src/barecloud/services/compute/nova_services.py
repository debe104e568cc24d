"""What barecloud shows as Nova's services (``os-services``) and hosts (``os-hosts``).

Nova lists its processes; barecloud's are these:

- each member process of the ``conductors`` table: a conductor is
  ``nova-conductor``, an API process (which schedules and reconciles servers)
  ``nova-scheduler``; zone ``internal``, up while its heartbeat is fresh;
- each hypervisor (VM host, by its agent) and each bare-metal node not retired
  (as Nova's Ironic driver shows a node as a compute node of its own host, the
  host the hypervisor view names): ``nova-compute`` in its zone, disabled while
  drained (a VM host) or in maintenance (a node), down while its agent is silent
  (a VM host) or it has a fault (a node).

Ids: below 2.53 the integers the hypervisor view gives a service (a node's row
id, a VM host's row id plus 1,000,000) and a member process's row id plus
2,000,000; from 2.53 the node's or host's UUID, and a member process's UUID
derived from its host name.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select

from barecloud.db.compute_models import Server
from barecloud.db.hypervisor_models import UP, Hypervisor
from barecloud.db.models import Conductor, Node, utcnow
from barecloud.services import policy
from barecloud.services.compute.hypervisors import VM_HOST_ID_BASE, host_of, zone_of
from barecloud.services.context import RequestContext, Runtime

MEMBER_ID_BASE = 2_000_000
_NAMESPACE = uuid.UUID("5b0c1e9a-6a55-4a0e-9f4e-6c2a5d1b7e01")


@dataclass
class Service:
    id: int
    uuid: str
    binary: str
    host: str
    zone: str
    enabled: bool
    up: bool
    updated_at: dt.datetime | None
    disabled_reason: str | None


def _member(c: Conductor, fresh_after: dt.datetime) -> Service:
    return Service(
        id=c.id + MEMBER_ID_BASE, uuid=str(uuid.uuid5(_NAMESPACE, f"{c.role}:{c.hostname}")),
        binary="nova-conductor" if c.role == "conductor" else "nova-scheduler",
        host=c.hostname, zone="internal", enabled=True,
        up=c.online and c.updated_at >= fresh_after, updated_at=c.updated_at,
        disabled_reason=None)


def _vm_host(h: Hypervisor) -> Service:
    return Service(id=h.id + VM_HOST_ID_BASE, uuid=h.uuid, binary="nova-compute",
                   host=h.hostname, zone=h.availability_zone, enabled=h.enabled,
                   up=h.state == UP, updated_at=h.reported_at or h.updated_at,
                   disabled_reason=h.disabled_reason)


def _node(n: Node) -> Service:
    return Service(id=n.id, uuid=n.uuid, binary="nova-compute", host=host_of(n),
                   zone=zone_of(n), enabled=not n.maintenance, up=not n.fault,
                   updated_at=n.updated_at or n.created_at,
                   disabled_reason=n.maintenance_reason if n.maintenance else None)


async def list_services(rt: Runtime, ctx: RequestContext, host: str | None = None,
                        binary: str | None = None) -> list[Service]:
    """Every service, filtered by ``host`` and ``binary`` as Nova's (exact matches)."""
    policy.authorize(ctx, "compute:services:list", {})
    fresh_after = utcnow() - dt.timedelta(seconds=rt.settings.conductor_heartbeat_timeout)
    async with rt.db.session() as s:
        members = (await s.scalars(select(Conductor).order_by(Conductor.id))).all()
        hosts = (await s.scalars(select(Hypervisor).order_by(Hypervisor.id))).all()
        nodes = (await s.scalars(select(Node).where(Node.retired.is_(False))
                                 .order_by(Node.id))).all()
    found = [*(_member(c, fresh_after) for c in members), *map(_vm_host, hosts),
             *map(_node, nodes)]
    return [x for x in found if (host is None or x.host == host)
            and (binary is None or x.binary == binary)]


Usage = tuple[int, int, int]  # cpu, memory_mb, disk_gb


def _sum(rows: Sequence[Any]) -> dict[str, Usage]:
    """Per project, what its servers' flavors ask (vcpus, RAM, root plus ephemeral)."""
    found: dict[str, Usage] = {}
    for project, vcpus, ram, flavor in rows:
        cpu, mem, disk = found.get(project, (0, 0, 0))
        size = int(str(flavor.get("disk") or 0)) + int(str(flavor.get("ephemeral") or 0))
        found[project] = (cpu + vcpus, mem + ram, disk + size)
    return found


async def host_usage(rt: Runtime, ctx: RequestContext, host: str) -> dict[str, Usage] | None:
    """``os-hosts/{host}``'s resources, as Nova's: ``(total)``, ``(used_now)``,
    ``(used_max)`` (its servers' flavors) and then each project's; None if ``host``
    is no compute host."""
    policy.authorize(ctx, "compute:services:list", {})
    cols = (Server.project_id, Server.vcpus, Server.memory_mb, Server.flavor)
    async with rt.db.session() as s:
        h = await s.scalar(select(Hypervisor).where(Hypervisor.hostname == host))
        if h is not None:
            total: Usage = (h.vcpus, h.memory_mb, h.disk_gb)
            now: Usage = (h.vcpus_used, h.memory_mb_used, h.disk_gb_used)
            where = Server.hypervisor_id == h.id
        else:
            nodes = (await s.scalars(select(Node).where(
                or_(Node.name == host, Node.uuid == host), Node.retired.is_(False)))).all()
            if not nodes:
                return None
            n = nodes[0]
            props = n.properties or {}
            total = (int(props.get("cpus") or 0), int(props.get("memory_mb") or 0),
                     int(props.get("local_gb") or 0))
            now = total if n.instance_uuid else (0, 0, 0)
            where = Server.node_uuid == n.uuid
        rows = (await s.execute(select(*cols).where(where, Server.deleted.is_(False)))).all()
    projects = _sum(rows)
    used_max: Usage = (sum(u[0] for u in projects.values()),
                       sum(u[1] for u in projects.values()),
                       sum(u[2] for u in projects.values()))
    return {"(total)": total, "(used_now)": now, "(used_max)": used_max, **projects}
