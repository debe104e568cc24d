"""The reservable pool (Blazar's ``os-hosts``): which machines only leases may use.

A host is a bare-metal node.  Its facts (what filters compare) come from the
node, read afresh each time: ``vcpus``, ``memory_mb``, ``local_gb``,
``cpu_arch``, ``resource_class``, the traits, the zone; the operator adds
extra capabilities (``host set --extra gpu=true``), kept as strings.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Protocol, cast

from sqlalchemy import ColumnElement, and_, select
from sqlalchemy import delete as sql_delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import lazyload, load_only

from barecloud import states
from barecloud.db.compute_models import Server
from barecloud.db.lease_models import HostAllocation, HostProperty, ReservableHost
from barecloud.db.models import Node, NodeTrait
from barecloud.errors import Conflict, InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.baremetal import nodes
from barecloud.services.compute.hypervisors import DEFAULT_ZONE
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.reservation import clock, filters
from barecloud.services.reservation.dates import render, stamp
from barecloud.services.reservation.errors import HostNotFound

# Node states in which a machine cannot serve a lease; maintenance counts too.
BROKEN_STATES = (states.ERROR, states.CLEANFAIL)
# Host keys that are facts, not extra capabilities (a create body's other keys are).
FACTS = ("id", "hypervisor_hostname", "hypervisor_type", "hypervisor_version", "vcpus",
         "cpu_info", "memory_mb", "local_gb", "service_name", "status", "trust_id",
         "reservable", "availability_zone", "created_at", "updated_at", "node_uuid",
         "resource_class", "cpu_arch", "traits")


def broken(node: Node | None) -> str | None:
    """Why the machine cannot serve a lease now, or None if it can."""
    if node is None:
        return "its node was deleted"
    if node.maintenance:
        return f"node {node.name or node.uuid} is in maintenance"
    if node.retired:
        return f"node {node.name or node.uuid} is retired"
    if node.provision_state in BROKEN_STATES:
        return f"node {node.name or node.uuid} is in {node.provision_state}"
    return None


class HostLike(Protocol):
    id: int
    hypervisor_hostname: str
    reservable: bool
    node_uuid: str
    extra: dict[str, Any]
    created_at: dt.datetime
    updated_at: dt.datetime | None


class NodeLike(Protocol):
    properties: dict[str, Any]
    resource_class: str | None


def facts(host: HostLike, node: NodeLike | None, traits: list[str]) -> dict[str, Any]:
    """The host as Blazar shows it, which is also what filters compare."""
    props = (node.properties if node is not None else None) or {}
    out: dict[str, Any] = {
        "id": str(host.id), "hypervisor_hostname": host.hypervisor_hostname,
        "hypervisor_type": "ironic", "hypervisor_version": 1,
        "vcpus": _int(props.get("cpus")), "memory_mb": _int(props.get("memory_mb")),
        "local_gb": _int(props.get("local_gb")),
        "cpu_info": json.dumps({"arch": props.get("cpu_arch")}),
        "cpu_arch": props.get("cpu_arch"), "service_name": "barecloud",
        "status": None, "trust_id": None, "reservable": host.reservable,
        "availability_zone": str(props.get("availability_zone") or DEFAULT_ZONE)
        if node is not None else None,
        "node_uuid": host.node_uuid,
        "resource_class": node.resource_class if node is not None else None,
        "traits": sorted(traits),
        "created_at": stamp(host.created_at), "updated_at": stamp(host.updated_at),
    }
    for key, value in (host.extra or {}).items():
        out.setdefault(key, value)
    return out


async def matching(s: AsyncSession, wanted: filters.Filter) -> list[int]:
    """Hosts in service (reservable, node healthy) whose facts pass ``wanted``.

    Admission runs this on every request, so it reads columns, not ORM objects,
    and traits only when a filter names them."""
    usable = (ReservableHost.reservable.is_(True), in_service())
    if not wanted:
        return list((await s.scalars(
            select(ReservableHost.id).join(Node, Node.uuid == ReservableHost.node_uuid)
            .where(*usable).order_by(ReservableHost.id))).all())
    q = (select(ReservableHost.id, ReservableHost.hypervisor_hostname,
                ReservableHost.reservable, ReservableHost.node_uuid, ReservableHost.extra,
                ReservableHost.created_at, ReservableHost.updated_at, Node.properties,
                Node.resource_class, Node.id.label("node_id"))
         .join(Node, Node.uuid == ReservableHost.node_uuid)
         .where(*usable).order_by(ReservableHost.id))
    rows = list((await s.execute(q)).all())
    traits: dict[int, list[str]] = {}
    if any(c.field == "traits" for c in wanted):
        for node_id, trait in (await s.execute(select(NodeTrait.node_id, NodeTrait.trait))):
            traits.setdefault(node_id, []).append(trait)
    return [r.id for r in rows if filters.matches(
        wanted, facts(cast(HostLike, r), cast(NodeLike, r), traits.get(r.node_id, [])))]


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def in_service() -> ColumnElement[bool]:
    """:func:`broken` is None, as SQL (the node must exist)."""
    return and_(Node.id.is_not(None), Node.maintenance.is_(False), Node.retired.is_(False),
                Node.provision_state.not_in(BROKEN_STATES))


async def load(s: AsyncSession, *where: Any, traits: bool = True
               ) -> list[tuple[ReservableHost, Node | None, list[str]]]:
    """Hosts with their nodes (only the columns :func:`facts` and :func:`broken`
    read) and, unless ``traits`` is False, their traits, in id order."""
    q = (select(ReservableHost, Node).outerjoin(Node, Node.uuid == ReservableHost.node_uuid)
         .options(load_only(Node.id, Node.uuid, Node.name, Node.properties,
                            Node.resource_class, Node.maintenance, Node.retired,
                            Node.provision_state), lazyload(Node.traits)))
    if where:
        q = q.where(*where)
    rows = list((await s.execute(q.order_by(ReservableHost.id))).tuples().all())
    ids = [n.id for _, n in rows if n is not None] if traits else []
    found: dict[int, list[str]] = {}
    if ids:
        for node_id, trait in (await s.execute(
                select(NodeTrait.node_id, NodeTrait.trait)
                .where(NodeTrait.node_id.in_(ids)))).tuples():
            found.setdefault(node_id, []).append(trait)
    return [(h, n, found.get(n.id, []) if n is not None else []) for h, n in rows]


async def _one(s: AsyncSession, host_id: str) -> tuple[ReservableHost, Node | None, list[str]]:
    if not host_id.isdigit():
        raise HostNotFound(host_id)
    rows = await load(s, ReservableHost.id == int(host_id))
    if not rows:
        raise HostNotFound(host_id)
    return rows[0]


def _extras(body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """The extra capabilities of a body schemas.CREATE_HOST / UPDATE_HOST accepted
    (keys and values checked there); a host fact is not one."""
    extras = {k: v for k, v in body.items() if not (creating and k == "name")}
    for key in extras:
        if key in FACTS:
            raise InvalidParameter(f"{key} is a host fact, not an extra capability")
    return {k: (None if v is None else str(v)) for k, v in extras.items()}


async def create(rt: Runtime, ctx: RequestContext, body: dict[str, Any]) -> dict[str, Any]:
    policy.authorize(ctx, "blazar:oshosts:post")
    extras = _extras(body, creating=True)
    name = body["name"]
    async with rt.db.session() as s:
        try:
            node = await nodes.find(s, name, traits=False)
        except NotFound:
            raise NotFound(f"Host '{name}' not found!") from None
        if await s.scalar(select(ReservableHost.id).where(
                ReservableHost.node_uuid == node.uuid)) is not None:
            raise Conflict(f"Host '{name}' is already in the reservable pool.")
        servers = list((await s.scalars(select(Server.uuid).where(
            Server.node_uuid == node.uuid, Server.deleted.is_(False)))).all())
        if servers or node.instance_uuid:
            names = servers or [str(node.instance_uuid)]
            raise Conflict(f"Servers {names} found for host {name}")
        host = ReservableHost(node_uuid=node.uuid, hypervisor_hostname=node.name or node.uuid,
                              reservable=True,
                              extra={k: v for k, v in extras.items() if v is not None})
        s.add(host)
        await s.flush()
        host_id = str(host.id)
    return await get(rt, ctx, host_id)


async def list_hosts(rt: Runtime, ctx: RequestContext) -> list[dict[str, Any]]:
    policy.authorize(ctx, "blazar:oshosts:get")
    async with rt.db.session() as s:
        return [facts(*row) for row in await load(s)]


async def get(rt: Runtime, ctx: RequestContext, host_id: str) -> dict[str, Any]:
    policy.authorize(ctx, "blazar:oshosts:get")
    async with rt.db.session() as s:
        return facts(*await _one(s, host_id))


async def update(rt: Runtime, ctx: RequestContext, host_id: str,
                 body: dict[str, Any]) -> dict[str, Any]:
    """Set (or, with null, remove) extra capabilities; ``reservable`` takes a host in or
    out of the pool for new leases."""
    policy.authorize(ctx, "blazar:oshosts:put")
    if not body:
        raise InvalidParameter("No data to update")
    reservable = body.pop("reservable", None)
    extras = _extras(body, creating=False)
    async with rt.db.session() as s:
        host, _, _ = await _one(s, host_id)
        merged = dict(host.extra or {})
        for key, value in extras.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        host.extra = merged
        if reservable is not None:
            host.reservable = str(reservable).lower() in ("true", "1", "yes")
    return await get(rt, ctx, host_id)


async def delete(rt: Runtime, ctx: RequestContext, host_id: str) -> None:
    policy.authorize(ctx, "blazar:oshosts:delete")
    async with rt.db.session() as s:
        host, _, _ = await _one(s, host_id)
        held = await s.scalar(select(HostAllocation.id).where(
            HostAllocation.host_id == host.id, HostAllocation.live.is_(True)).limit(1))
        if held is not None:
            raise Conflict(f"Can't delete host {host_id}. The host is reserved.")
        await s.execute(sql_delete(HostAllocation).where(HostAllocation.host_id == host.id))
        await s.delete(host)


async def properties(rt: Runtime, ctx: RequestContext, detail: bool,
                     include_private: bool) -> list[dict[str, Any]]:
    """The extra capabilities in use, with their values when ``detail``; private ones
    only for admins who ask for ``all``."""
    policy.authorize(ctx, "blazar:leases:get", {"project_id": ctx.project})
    show_private = include_private and ctx.is_admin
    async with rt.db.session() as s:
        rows = await load(s)
        private = {p.name: p.private for p in (await s.scalars(select(HostProperty))).all()}
    values: dict[str, set[str]] = {}
    for host, _, _ in rows:
        for key, value in (host.extra or {}).items():
            values.setdefault(key, set()).add(str(value))
    out = []
    for name in sorted(values):
        if private.get(name) and not show_private:
            continue
        item: dict[str, Any] = {"property": name}
        if detail:
            item.update(private=private.get(name, False), values=sorted(values[name]))
        out.append(item)
    return out


async def set_property(rt: Runtime, ctx: RequestContext, name: str,
                       body: dict[str, Any]) -> dict[str, Any]:
    """``body`` is what schemas.UPDATE_PROPERTY accepted."""
    policy.authorize(ctx, "blazar:oshosts:put")
    async with rt.db.session() as s:
        known = {k for h, _, _ in await load(s) for k in (h.extra or {})}
        if name not in known:
            raise NotFound(f"Object with {{'property_name': '{name}'}} not found")
        row = await s.get(HostProperty, name)
        if row is None:
            row = HostProperty(name=name, private=body["private"])
            s.add(row)
        else:
            row.private = body["private"]
        await s.flush()
        return {"id": name, "resource_type": "physical:host", "property_name": name,
                "private": row.private, "created_at": stamp(row.created_at),
                "updated_at": stamp(row.updated_at)}


async def allocations(rt: Runtime, ctx: RequestContext, lease_id: str | None,
                      reservation_id: str | None, host_id: str | None = None
                      ) -> list[dict[str, Any]]:
    """Per host, the reservations that hold it from now on (Blazar's view)."""
    policy.authorize(ctx, "blazar:oshosts:get")
    now = clock.now(rt.settings)
    async with rt.db.session() as s:
        hq = select(ReservableHost.id).order_by(ReservableHost.id)
        if host_id is not None:
            hq = hq.where(ReservableHost.id == int(host_id))
        host_ids = list((await s.scalars(hq)).all())
        q = select(HostAllocation).where(HostAllocation.end_date >= now,
                                         HostAllocation.live.is_(True))
        if lease_id:
            q = q.where(HostAllocation.lease_id == lease_id)
        if reservation_id:
            q = q.where(HostAllocation.reservation_id == reservation_id)
        allocs = list((await s.scalars(q.order_by(HostAllocation.start_date))).all())
    by_host: dict[int, list[dict[str, Any]]] = {h: [] for h in host_ids}
    for a in allocs:
        if a.host_id in by_host:
            by_host[a.host_id].append({
                "id": a.reservation_id, "lease_id": a.lease_id,
                "start_date": render(a.start_date), "end_date": render(a.end_date)})
    return [{"resource_id": str(h), "reservations": r} for h, r in by_host.items()]


async def allocation(rt: Runtime, ctx: RequestContext, host_id: str, lease_id: str | None,
                     reservation_id: str | None) -> dict[str, Any]:
    async with rt.db.session() as s:
        await _one(s, host_id)
    return (await allocations(rt, ctx, lease_id, reservation_id, host_id))[0]
