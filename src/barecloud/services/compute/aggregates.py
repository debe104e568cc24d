"""An admin's host aggregates (``os-aggregates`` create, delete, add_host, remove_host,
set_metadata, update), as Nova keeps them.

A host is a compute service's host (a node's or a VM host's name, as
``os-services`` lists them).  barecloud's scheduler does not read an
aggregate's metadata, and an aggregate does not set its hosts' zone: a zone
is the host's own (a hypervisor's ``availability_zone``, a node's
property), so ``availability_zone`` is refused here with the way to set it.
Ids are the row's plus ``ID_BASE``, apart from the derived aggregates'.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from barecloud.db.compute_models import Aggregate
from barecloud.errors import Conflict, InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.compute.nova_services import list_services
from barecloud.services.context import RequestContext, Runtime

ID_BASE = 1_000_000
NO_ZONE = ("An aggregate does not set its hosts' availability zone here: set a "
           "hypervisor's or a node's zone instead.")


def row_id(ident: str) -> int | None:
    """The row an aggregate id names, None for a derived aggregate's id; 400 if not
    an integer (Nova's ``validate_integer``)."""
    try:
        value = int(ident)
    except ValueError:
        raise InvalidParameter("Invalid input received: id must be an integer") from None
    return value - ID_BASE if value > ID_BASE else None


_INT_MAX = 2**31 - 1  # an id past the column's range names no row (not a 500)


async def _find(rt: Runtime, ident: str) -> Aggregate:
    rid = row_id(ident)
    async with rt.db.session() as s:
        found = await s.get(Aggregate, rid) if rid is not None and rid <= _INT_MAX else None
    if found is None:
        raise NotFound(f"Aggregate {ident} could not be found.")
    return found


async def list_rows(rt: Runtime, ctx: RequestContext) -> list[Aggregate]:
    policy.authorize(ctx, "compute:aggregates:list")
    async with rt.db.session() as s:
        return list((await s.scalars(select(Aggregate).order_by(Aggregate.id))).all())


async def get(rt: Runtime, ctx: RequestContext, ident: str) -> Aggregate:
    policy.authorize(ctx, "compute:aggregates:show")
    return await _find(rt, ident)


async def create(rt: Runtime, ctx: RequestContext, data: dict[str, Any]) -> Aggregate:
    policy.authorize(ctx, "compute:aggregates:create")
    if data.get("availability_zone") is not None:
        raise InvalidParameter(NO_ZONE)
    made = Aggregate(name=data["name"], meta={}, hosts=[])
    try:
        async with rt.db.session() as s:
            if await s.scalar(select(Aggregate.id).where(Aggregate.name == data["name"])):
                raise Conflict(f"Aggregate {data['name']} already exists.")
            s.add(made)
    except IntegrityError:
        raise Conflict(f"Aggregate {data['name']} already exists.") from None
    return made


async def update(rt: Runtime, ctx: RequestContext, ident: str, data: dict[str, Any]
                 ) -> Aggregate:
    policy.authorize(ctx, "compute:aggregates:update")
    if data.get("availability_zone") is not None:
        raise InvalidParameter(NO_ZONE)
    found = await _find(rt, ident)
    if "name" in data:
        try:
            async with rt.db.session() as s:
                row = await s.get(Aggregate, found.id, with_for_update=True)
                if row is None:
                    raise NotFound(f"Aggregate {ident} could not be found.")
                row.name = data["name"]
        except IntegrityError:
            raise Conflict(f"Aggregate {data['name']} already exists.") from None
    return await _find(rt, ident)


async def delete(rt: Runtime, ctx: RequestContext, ident: str) -> None:
    policy.authorize(ctx, "compute:aggregates:delete")
    found = await _find(rt, ident)
    async with rt.db.session() as s:
        row = await s.get(Aggregate, found.id, with_for_update=True)
        if row is not None and row.hosts:
            raise InvalidParameter(f"Invalid aggregate action delete on aggregate {ident}: "
                                   "Host aggregate is not empty")
        if row is not None:
            await s.delete(row)


async def _change(rt: Runtime, ctx: RequestContext, ident: str, host: str, add: bool
                  ) -> Aggregate:
    policy.authorize(ctx, "compute:aggregates:add_host" if add
                     else "compute:aggregates:remove_host")
    found = await _find(rt, ident)
    known = await list_services(rt, ctx, host=host, binary="nova-compute")
    async with rt.db.session() as s:
        row = await s.get(Aggregate, found.id, with_for_update=True)
        if row is None:
            raise NotFound(f"Aggregate {ident} could not be found.")
        hosts = list(row.hosts or [])
        if add:
            if not known:
                raise NotFound(f"Compute host {host} could not be found.")
            if host in hosts:
                raise Conflict(f"Aggregate {ident} already has host {host}.")
            row.hosts = [*hosts, host]
        else:
            if host not in hosts:
                raise NotFound(f"Cannot remove host {host} in aggregate {ident}")
            row.hosts = [h for h in hosts if h != host]
    return await _find(rt, ident)


async def add_host(rt: Runtime, ctx: RequestContext, ident: str, host: str) -> Aggregate:
    return await _change(rt, ctx, ident, host, add=True)


async def remove_host(rt: Runtime, ctx: RequestContext, ident: str, host: str) -> Aggregate:
    return await _change(rt, ctx, ident, host, add=False)


async def set_metadata(rt: Runtime, ctx: RequestContext, ident: str,
                       metadata: dict[str, str | None]) -> Aggregate:
    """Nova's: a key set to null is removed; ``availability_zone`` refused (above)."""
    policy.authorize(ctx, "compute:aggregates:set_metadata")
    if metadata.get("availability_zone") is not None:
        raise InvalidParameter(NO_ZONE)
    found = await _find(rt, ident)
    async with rt.db.session() as s:
        row = await s.get(Aggregate, found.id, with_for_update=True)
        if row is None:
            raise NotFound(f"Aggregate {ident} could not be found.")
        meta = dict(row.meta or {})
        for key, value in metadata.items():
            if value is None:
                meta.pop(key, None)
            else:
                meta[key] = value
        row.meta = meta
    return await _find(rt, ident)
