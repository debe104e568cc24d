"""Reading servers: one, or a page with Nova's filters, each with its node's or host's facts."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from barecloud.db.compute_models import Server
from barecloud.db.hypervisor_models import DOWN, Hypervisor
from barecloud.db.models import Node
from barecloud.errors import InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.baremetal.schemas import UUID_RE
from barecloud.services.compute import status as st
from barecloud.services.compute.hypervisors import host_of, zone_of
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.tenancy import project_of

# Nova's sort keys that have a column here; its other valid keys (declared in
# schemas.SORT_KEYS) are ignored.
SORT_COLUMNS: dict[str, Any] = {
    "created_at": Server.created_at, "updated_at": Server.updated_at,
    "display_name": Server.name, "display_description": Server.description,
    "uuid": Server.uuid, "vm_state": Server.vm_state, "task_state": Server.task_state,
    "power_state": Server.power_state, "launched_at": Server.launched_at,
    "terminated_at": Server.terminated_at, "key_name": Server.key_name,
    "image_ref": Server.image_ref, "hostname": Server.hostname,
    "launch_index": Server.launch_index, "availability_zone": Server.availability_zone,
    "project_id": Server.project_id, "user_id": Server.user_id, "host": Server.node_uuid,
    "node": Server.node_uuid, "instance_type_id": Server.flavor_id,
}


@dataclass(frozen=True)
class NodeFacts:
    uuid: str
    host: str
    zone: str
    maintenance: bool
    fault: str | None
    console_log: str | None


@dataclass
class ServerView:
    server: Server
    node: NodeFacts | None


def not_found(server_id: str) -> NotFound:
    return NotFound(f"Instance {server_id} could not be found.")


def facts(node: Node) -> NodeFacts:
    log = (node.driver_info or {}).get("console_log")
    return NodeFacts(node.uuid, host_of(node), zone_of(node), node.maintenance, node.fault,
                     log if isinstance(log, str) else None)


async def _nodes(s: AsyncSession, uuids: set[str]) -> dict[str, NodeFacts]:
    if not uuids:
        return {}
    nodes = await s.scalars(select(Node).where(Node.uuid.in_(uuids)))
    return {n.uuid: facts(n) for n in nodes}


class _HostSeen(Protocol):
    """What a server's view reads of its host (a Hypervisor, or those columns)."""

    @property
    def hostname(self) -> str: ...
    @property
    def availability_zone(self) -> str: ...
    @property
    def enabled(self) -> bool: ...
    @property
    def state(self) -> str: ...
    @property
    def fault(self) -> str | None: ...


def host_facts(h: _HostSeen) -> NodeFacts:
    """A VM's host as a server's view shows it (``hypervisor_hostname`` is the host's
    name, as Nova's libvirt driver says it)."""
    return NodeFacts(h.hostname, h.hostname, h.availability_zone, not h.enabled,
                     h.fault if h.state == DOWN else None, None)


async def _facts(s: AsyncSession, rows: list[Server]) -> dict[int, NodeFacts]:
    """Each server's node or host, by server id."""
    nodes = await _nodes(s, {r.node_uuid for r in rows if r.node_uuid})
    ids = {r.hypervisor_id for r in rows if r.hypervisor_id is not None}
    # The columns a view shows, not whole hosts (a page of 1,000 VMs names them all).
    hosts = {h.id: host_facts(h) for h in (await s.execute(select(
        Hypervisor.id, Hypervisor.hostname, Hypervisor.availability_zone, Hypervisor.enabled,
        Hypervisor.state, Hypervisor.fault).where(Hypervisor.id.in_(ids)))).all()} if ids else {}
    found: dict[int, NodeFacts] = {}
    for r in rows:
        fact = hosts.get(r.hypervisor_id) if r.hypervisor_id is not None else nodes.get(
            r.node_uuid or "")
        if fact is not None:
            found[r.id] = fact
    return found


async def find(s: AsyncSession, ctx: RequestContext, server_id: str) -> Server:
    """A server the requester may see (others' answer 404, as Nova's project-scoped reads)."""
    server = None
    if UUID_RE.match(server_id):
        server = await s.scalar(select(Server).where(Server.uuid == server_id.lower(),
                                                     Server.deleted.is_(False)))
    if server is None or not policy.can(ctx, "compute:servers:show",
                                        {"project_id": server.project_id}):
        raise not_found(server_id)
    return server


async def get(rt: Runtime, ctx: RequestContext, server_id: str) -> ServerView:
    async with rt.db.session() as s:
        server = await find(s, ctx, server_id)
        facts_ = await _facts(s, [server])
    return ServerView(server, facts_.get(server.id))


@dataclass
class ServerQuery:
    filters: dict[str, str] = field(default_factory=dict)
    all_tenants: bool = False
    limit: int | None = None
    marker: str | None = None
    sort_key: str = "created_at"
    sort_dir: str = "desc"
    version: tuple[int, int] = (2, 1)


def parse_time(name: str, raw: str) -> dt.datetime:
    try:
        when = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidParameter(f"Invalid input for query parameters {name}. Value: {raw}. "
                               f"'{raw}' is not a 'date-time'") from None
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return when


def _filtered(q: Select[Any], ctx: RequestContext, query: ServerQuery) -> Select[Any]:
    f = query.filters
    admin = ctx.is_admin
    if query.all_tenants:
        policy.authorize(ctx, "compute:servers:list_all")
        project = f.get("project_id") or f.get("tenant_id")
        if project:
            q = q.where(Server.project_id == project)
    else:
        policy.authorize(ctx, "compute:servers:list", {"project_id": project_of(ctx)})
        q = q.where(Server.project_id == project_of(ctx))
    deleted = f.get("deleted", "").lower() in ("true", "1", "yes") and admin
    if deleted:
        q = q.where(Server.deleted.is_(True))
    elif "changes-since" not in f:
        q = q.where(Server.deleted.is_(False))
    changed = func.coalesce(Server.updated_at, Server.created_at)
    if "changes-since" in f:
        q = q.where(changed >= parse_time("changes-since", f["changes-since"]))
    if "changes-before" in f and query.version >= (2, 66):
        q = q.where(changed <= parse_time("changes-before", f["changes-before"]))
    if "status" in f:
        q = q.where(st.condition(f["status"], query.version))
    if "flavor" in f:
        q = q.where(Server.flavor_id == f["flavor"])
    if "image" in f:
        q = q.where(Server.image_ref == f["image"].rstrip("/").rsplit("/", 1)[-1])
    if "reservation_id" in f:
        q = q.where(Server.reservation_id == f["reservation_id"])
    if "availability_zone" in f:
        q = q.where(Server.availability_zone == f["availability_zone"])
    if "user_id" in f:
        q = q.where(Server.user_id == f["user_id"])
    if "host" in f and admin:
        hosts = select(Node.uuid).where(or_(Node.name == f["host"], Node.uuid == f["host"]))
        vm_hosts = select(Hypervisor.id).where(Hypervisor.hostname == f["host"])
        q = q.where(or_(Server.node_uuid.in_(hosts), Server.hypervisor_id.in_(vm_hosts)))
    return q


def _name_filter(raw: str | None) -> re.Pattern[str] | None:
    if raw is None:
        return None
    try:
        return re.compile(raw)
    except re.error as exc:
        raise InvalidParameter(f"Invalid regular expression for name: {exc}") from None


async def list_servers(rt: Runtime, ctx: RequestContext, query: ServerQuery) -> list[ServerView]:
    col = SORT_COLUMNS.get(query.sort_key, Server.created_at)
    asc = query.sort_dir == "asc"
    name = _name_filter(query.filters.get("name"))
    limit = min(query.limit or rt.settings.api_max_limit, rt.settings.api_max_limit)
    # What a server's view never shows is not read (JSON decoded per row, per page).
    unseen = [defer(c, raiseload=True) for c in (
        Server.networks, Server.scheduler_hints, Server.attempts, Server.key_data,
        Server.sync_holder, Server.sync_until)]
    q = _filtered(select(Server).options(*unseen), ctx, query)
    q = q.order_by(col.asc() if asc else col.desc(), Server.id.asc() if asc else Server.id.desc())
    async with rt.db.session() as s:
        if query.marker is not None:
            marker = await s.scalar(select(Server).where(Server.uuid == query.marker))
            if marker is None:
                raise InvalidParameter(f"marker [{query.marker}] not found")
            mval = getattr(marker, col.key)
            tie = Server.id > marker.id if asc else Server.id < marker.id
            if mval is None:
                q = q.where(and_(col.is_(None), tie)) if asc else q.where(
                    or_(col.is_not(None), tie))
            else:
                after = col > mval if asc else col < mval
                q = q.where(or_(after, and_(col == mval, tie)))
        if name is None:
            rows = list((await s.scalars(q.limit(limit))).all())
        else:  # a regular expression: applied here, on both databases alike
            rows = [r for r in (await s.scalars(q)).all() if name.search(r.name)][:limit]
        facts_ = await _facts(s, rows)
    return [ServerView(r, facts_.get(r.id)) for r in rows]
