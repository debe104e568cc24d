"""Glance's metadata definitions (metadefs): namespaces and their objects,
properties, tags and resource-type associations.

They are a catalog clients show when a user sets properties (of images,
flavors, ...); nothing in barecloud acts on them.  Who sees a namespace:
admins all, others the public ones and their project's; who writes: the
``image:modify_metadef`` rule (admins, as Glance's default).  A protected
namespace, and what is in it, is not deleted (403) until ``protected`` is
set false.  Names are unique per namespace and kind (tags: case-insensitively,
as Glance's).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, or_, select, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from barecloud.db.models import MetadefItem, MetadefNamespace, utcnow
from barecloud.errors import Conflict, Forbidden, InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime

KINDS = ("object", "property", "tag", "resource_type")
# The resource types Glance's own definitions (etc/metadefs) associate namespaces with.
RESOURCE_TYPES = ("OS::Cinder::Volume", "OS::Glance::Image", "OS::Glance::Metadefs",
                  "OS::Nova::Aggregate", "OS::Nova::Flavor", "OS::Nova::Server")
WORDS = {"object": "object", "property": "property", "tag": "tag",
         "resource_type": "resource type association"}
NAMESPACE_FIELDS = ("display_name", "description", "visibility", "protected")


@dataclass
class Namespace:
    """A namespace and, when shown whole, its items by kind."""

    row: MetadefNamespace
    items: dict[str, list[MetadefItem]]


def _visible(ctx: RequestContext) -> ColumnElement[bool]:
    if policy.can(ctx, "image:get_all"):
        return true()
    policy.authorize(ctx, "image:get_metadef")
    if ctx.project:
        return or_(MetadefNamespace.visibility == "public",
                   MetadefNamespace.owner == ctx.project)
    return MetadefNamespace.visibility == "public"


def _missing(namespace: str) -> NotFound:
    return NotFound(f"Metadata definition namespace={namespace} was not found.")


async def _find(s: AsyncSession, ctx: RequestContext, namespace: str,
                write: bool = False) -> MetadefNamespace:
    row = await s.scalar(select(MetadefNamespace).where(
        MetadefNamespace.namespace == namespace, _visible(ctx)))
    if row is None:
        raise _missing(namespace)
    if write:
        policy.authorize(ctx, "image:modify_metadef", {"owner": row.owner})
    return row


async def _items(s: AsyncSession, ns: MetadefNamespace,
                 kind: str | None = None) -> list[MetadefItem]:
    query = select(MetadefItem).where(MetadefItem.namespace_id == ns.id)
    if kind is not None:
        query = query.where(MetadefItem.kind == kind)
    return list(await s.scalars(query.order_by(MetadefItem.kind, MetadefItem.created_at,
                                               MetadefItem.id)))


def _by_kind(items: list[MetadefItem]) -> dict[str, list[MetadefItem]]:
    return {k: [i for i in items if i.kind == k] for k in KINDS}


DEFAULT_LIMIT = 25  # Glance's limit_param_default


async def list_namespaces(rt: Runtime, ctx: RequestContext,
                          filters: dict[str, Any]) -> tuple[list[Namespace], bool]:
    """A page of the namespaces ``filters`` select (Glance's order: ``created_at``
    descending by default), and whether more follow."""
    key = getattr(MetadefNamespace, filters.get("sort_key") or "created_at")
    descending = (filters.get("sort_dir") or "desc") == "desc"
    limit = min(filters.get("limit", DEFAULT_LIMIT), rt.settings.api_max_limit)
    query = select(MetadefNamespace).where(_visible(ctx))
    if filters.get("visibility"):
        query = query.where(MetadefNamespace.visibility == filters["visibility"])
    if filters.get("resource_types"):
        names = str(filters["resource_types"]).split(",")
        query = query.where(MetadefNamespace.id.in_(
            select(MetadefItem.namespace_id).where(MetadefItem.kind == "resource_type",
                                                   MetadefItem.name.in_(names))))
    order = [key.desc() if descending else key.asc(),
             MetadefNamespace.id.desc() if descending else MetadefNamespace.id.asc()]
    async with rt.db.session() as s:
        # Few namespaces exist (a catalog): the page is cut after the marker here.
        rows = list(await s.scalars(query.order_by(*order)))
        marker = filters.get("marker")
        if marker is not None:
            names = [r.namespace for r in rows]
            if marker not in names:
                raise InvalidParameter(f"Marker {marker} not found")
            rows = rows[names.index(marker) + 1:]
        more = len(rows) > limit
        rows = rows[:limit]
        associations = list(await s.scalars(select(MetadefItem).where(
            MetadefItem.kind == "resource_type",
            MetadefItem.namespace_id.in_([r.id for r in rows]))))
    return [Namespace(r, {"resource_type": [a for a in associations if a.namespace_id == r.id]})
            for r in rows], more


async def get_namespace(rt: Runtime, ctx: RequestContext, namespace: str) -> Namespace:
    async with rt.db.session() as s:
        row = await _find(s, ctx, namespace)
        return Namespace(row, _by_kind(await _items(s, row)))


def _item(kind: str, body: dict[str, Any], name: str | None = None) -> MetadefItem:
    fields = {k: v for k, v in body.items()
              if k not in ("name", "created_at", "updated_at", "schema", "self")}
    now = utcnow()
    return MetadefItem(kind=kind, name=name or body["name"], body=fields, created_at=now,
                       updated_at=now)


async def create_namespace(rt: Runtime, ctx: RequestContext,
                           body: dict[str, Any]) -> Namespace:
    """``body``: a namespace, with any objects, properties, tags and associations."""
    policy.authorize(ctx, "image:modify_metadef", {"owner": body.get("owner") or ctx.project})
    name = body["namespace"]
    if body.get("owner") not in (None, ctx.project) and not policy.can(ctx,
                                                                       "image:set_image_owner"):
        raise Forbidden(f"You are not permitted to create namespaces owned by "
                        f"'{body['owner']}'.")
    now = utcnow()
    row = MetadefNamespace(namespace=name, owner=body.get("owner") or ctx.project,
                           visibility=body.get("visibility") or "private",
                           protected=bool(body.get("protected", False)),
                           display_name=body.get("display_name"),
                           description=body.get("description"), created_at=now, updated_at=now)
    items = [_item("resource_type", a) for a in body.get("resource_type_associations") or []]
    items += [_item("object", o) for o in body.get("objects") or []]
    items += [_item("property", {**p, "name": n}) for n, p in
              (body.get("properties") or {}).items()]
    items += [_item("tag", t) for t in body.get("tags") or []]
    _unique(items, name)
    try:
        async with rt.db.session() as s:
            if await s.scalar(select(MetadefNamespace.id).where(
                    MetadefNamespace.namespace == name)):
                raise Conflict(f"Metadata definition namespace={name} already exists.")
            s.add(row)
            await s.flush()
            for item in items:
                item.namespace_id = row.id
                s.add(item)
    except IntegrityError:
        raise Conflict(f"Metadata definition namespace={name} already exists.") from None
    return await get_namespace(rt, ctx, name)


def _key(kind: str, name: str) -> tuple[str, str]:
    return kind, name.lower() if kind == "tag" else name


def _duplicate(kind: str, name: str, namespace: str) -> Conflict:
    if kind == "tag":
        return Conflict(f"A metadata tag with name={name} already exists in "
                        f"namespace={namespace}. (Please note that metadata tag names are "
                        "case insensitive).")
    return Conflict(f"A metadata definition {WORDS[kind]} with name={name} already exists "
                    f"in namespace={namespace}.")


def _unique(items: list[MetadefItem], namespace: str) -> None:
    seen: set[tuple[str, str]] = set()
    for item in items:
        key = _key(item.kind, item.name)
        if key in seen:
            raise _duplicate(item.kind, item.name, namespace)
        seen.add(key)


async def update_namespace(rt: Runtime, ctx: RequestContext, namespace: str,
                           body: dict[str, Any]) -> Namespace:
    """Glance's PUT: the namespace's own fields as given (its items are kept)."""
    new_name = body["namespace"]
    async with rt.db.session() as s:
        row = await _find(s, ctx, namespace, write=True)
        if new_name != namespace and await s.scalar(select(MetadefNamespace.id).where(
                MetadefNamespace.namespace == new_name)):
            raise Conflict(f"Metadata definition namespace={new_name} already exists.")
        if body.get("owner") not in (None, row.owner):
            policy.authorize(ctx, "image:set_image_owner")
            row.owner = body["owner"]
        row.namespace = new_name
        for field in NAMESPACE_FIELDS:
            if field in body:
                setattr(row, field, body[field])
        row.updated_at = utcnow()
    return await get_namespace(rt, ctx, new_name)


async def delete_namespace(rt: Runtime, ctx: RequestContext, namespace: str) -> None:
    async with rt.db.session() as s:
        row = await _find(s, ctx, namespace, write=True)
        if row.protected:
            raise Forbidden(f"Namespace {namespace} is protected and cannot be deleted.")
        await s.execute(delete(MetadefNamespace).where(MetadefNamespace.id == row.id))


async def list_items(rt: Runtime, ctx: RequestContext, namespace: str,
                     kind: str) -> tuple[MetadefNamespace, list[MetadefItem]]:
    async with rt.db.session() as s:
        row = await _find(s, ctx, namespace)
        return row, await _items(s, row, kind)


def _item_missing(kind: str, name: str, namespace: str) -> NotFound:
    return NotFound(f"Metadata definition {WORDS[kind]} with name={name} was not found in "
                    f"namespace={namespace}.")


async def _find_item(s: AsyncSession, row: MetadefNamespace, kind: str,
                     name: str) -> MetadefItem:
    column = func.lower(MetadefItem.name) if kind == "tag" else MetadefItem.name
    item = await s.scalar(select(MetadefItem).where(
        MetadefItem.namespace_id == row.id, MetadefItem.kind == kind,
        column == _key(kind, name)[1]))
    if item is None:
        raise _item_missing(kind, name, row.namespace)
    return item


async def get_item(rt: Runtime, ctx: RequestContext, namespace: str, kind: str,
                   name: str) -> tuple[MetadefNamespace, MetadefItem]:
    async with rt.db.session() as s:
        row = await _find(s, ctx, namespace)
        return row, await _find_item(s, row, kind, name)


async def _taken(s: AsyncSession, row: MetadefNamespace, kind: str, name: str) -> bool:
    try:
        await _find_item(s, row, kind, name)
    except NotFound:
        return False
    return True


async def create_items(rt: Runtime, ctx: RequestContext, namespace: str, kind: str,
                       bodies: list[dict[str, Any]], replace: bool = False,
                       ) -> tuple[MetadefNamespace, list[MetadefItem]]:
    """Add items of ``kind`` (``replace``: instead of all there are, as Glance's POST /tags)."""
    items = [_item(kind, b) for b in bodies]
    _unique(items, namespace)
    try:
        async with rt.db.session() as s:
            row = await _find(s, ctx, namespace, write=True)
            if replace:
                await s.execute(delete(MetadefItem).where(MetadefItem.namespace_id == row.id,
                                                          MetadefItem.kind == kind))
            for item in items:
                if not replace and await _taken(s, row, kind, item.name):
                    raise _duplicate(kind, item.name, namespace)
                item.namespace_id = row.id
                s.add(item)
            row.updated_at = utcnow()
    except IntegrityError:
        raise _duplicate(kind, items[0].name if items else "", namespace) from None
    return row, items


async def update_item(rt: Runtime, ctx: RequestContext, namespace: str, kind: str,
                      name: str, body: dict[str, Any]) -> tuple[MetadefNamespace, MetadefItem]:
    new_name = body.get("name") or name
    async with rt.db.session() as s:
        row = await _find(s, ctx, namespace, write=True)
        item = await _find_item(s, row, kind, name)
        if _key(kind, new_name) != _key(kind, item.name) and await _taken(s, row, kind,
                                                                          new_name):
            raise _duplicate(kind, new_name, namespace)
        fresh = _item(kind, body, new_name)
        item.name, item.body, item.updated_at = new_name, fresh.body, fresh.updated_at
        return row, item


async def delete_items(rt: Runtime, ctx: RequestContext, namespace: str, kind: str,
                       name: str | None = None) -> None:
    """Delete item ``name`` of ``kind``, or all of that kind (tags)."""
    async with rt.db.session() as s:
        row = await _find(s, ctx, namespace, write=True)
        if row.protected:
            what = f"{WORDS[kind].capitalize()} {name}" if name else f"Namespace {namespace}"
            raise Forbidden(f"{what} is protected and cannot be deleted.")
        query = delete(MetadefItem).where(MetadefItem.namespace_id == row.id,
                                          MetadefItem.kind == kind)
        if name is not None:
            item = await _find_item(s, row, kind, name)
            query = query.where(MetadefItem.id == item.id)
        await s.execute(query)


async def resource_types(rt: Runtime, ctx: RequestContext) -> list[str]:
    """Glance's shipped resource types, and any other an association named."""
    policy.authorize(ctx, "image:get_metadef")
    async with rt.db.session() as s:
        named = set(await s.scalars(select(MetadefItem.name).where(
            MetadefItem.kind == "resource_type").distinct()))
    return sorted(set(RESOURCE_TYPES) | named)


