"""The catalog as Keystone serves it: barecloud's own services, endpoints and
``RegionOne`` (catalog.py: from the settings, never stored, never changed by
the API) and what operators add, kept in the catalog_* tables.

Reads merge the two, barecloud's first; a write naming one of barecloud's own
is refused (403), so no client can break the service's own entries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.identity_models import CatalogEndpoint, CatalogRegion, CatalogService, new_id
from barecloud.errors import Conflict, Forbidden, InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.identity import catalog, validate

OWN = "barecloud's own catalog entries follow its settings: they cannot be changed."
REGION_KNOWN = {"id", "description", "parent_region_id", "links"}
SERVICE_KNOWN = {"id", "type", "enabled", "links"}
ENDPOINT_KNOWN = {"id", "service_id", "interface", "region_id", "region", "url", "enabled",
                  "links", "legacy_endpoint_id"}


@dataclass(frozen=True)
class RegionView:
    id: str
    description: str = ""
    parent_region_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ServiceView:
    id: str
    type: str
    enabled: bool = True
    extra: dict[str, Any] = field(default_factory=dict)  # name, description, ...
    own: bool = False


@dataclass(frozen=True)
class EndpointView:
    id: str
    service_id: str
    interface: str
    region_id: str | None
    url: str
    enabled: bool = True
    extra: dict[str, Any] = field(default_factory=dict)
    own: bool = False


OWN_REGION = RegionView(catalog.REGION)


def _own_services() -> list[ServiceView]:
    return [ServiceView(s.id, s.type, True, {"name": s.name, "description": s.description},
                        own=True) for s in catalog.SERVICES]


def _own_endpoints(rt: Runtime) -> list[EndpointView]:
    return [EndpointView(e.id, e.service.id, e.interface, catalog.REGION, e.url, own=True)
            for e in catalog.endpoints(rt.settings)]


def _region(r: CatalogRegion) -> RegionView:
    return RegionView(r.id, r.description, r.parent_region_id, dict(r.extra or {}))


def _service(s: CatalogService) -> ServiceView:
    return ServiceView(s.id, s.type, s.enabled, dict(s.extra or {}))


def _endpoint(e: CatalogEndpoint) -> EndpointView:
    return EndpointView(e.id, e.service_id, e.interface, e.region_id, e.url, e.enabled,
                        dict(e.extra or {}))


def _refuse_own(ident: str, own_ids: set[str]) -> None:
    if ident in own_ids:
        raise Forbidden(OWN)


# --- regions ---------------------------------------------------------------------
def region_not_found(ident: str | None) -> NotFound:
    return NotFound(f"Could not find region: {ident}.")


async def _stored_region(s: AsyncSession, ident: str) -> CatalogRegion:
    row = await s.get(CatalogRegion, ident)
    if row is None:
        raise region_not_found(ident)
    return row


async def _region_exists(s: AsyncSession, ident: str) -> bool:
    return ident == catalog.REGION or await s.get(CatalogRegion, ident) is not None


async def list_regions(rt: Runtime, ctx: RequestContext,
                       parent_region_id: str | None) -> list[RegionView]:
    policy.authorize(ctx, "identity:list_regions")
    async with rt.db.session() as s:
        rows = (await s.scalars(select(CatalogRegion).order_by(CatalogRegion.created_at,
                                                               CatalogRegion.id))).all()
    found = [OWN_REGION, *(_region(r) for r in rows)]
    return [r for r in found if parent_region_id is None
            or r.parent_region_id == parent_region_id]


async def get_region(rt: Runtime, ctx: RequestContext, ident: str) -> RegionView:
    policy.authorize(ctx, "identity:get_region")
    if ident == catalog.REGION:
        return OWN_REGION
    async with rt.db.session() as s:
        return _region(await _stored_region(s, ident))


async def _check_parent(s: AsyncSession, ident: str, parent: str | None) -> None:
    """The parent exists (404) and is not ``ident`` nor below it (400)."""
    if parent is None:
        return
    if not await _region_exists(s, parent):
        raise region_not_found(parent)
    at: str | None = parent
    while at is not None and at != catalog.REGION:
        if at == ident:
            raise InvalidParameter(f"The specified parent region {parent} would create a "
                                   "circular region hierarchy.")
        row = await s.get(CatalogRegion, at)
        at = row.parent_region_id if row is not None else None


async def create_region(rt: Runtime, ctx: RequestContext, body: Any,
                        ident: str | None = None) -> RegionView:
    """``POST /regions`` (``ident`` None: the body's id or a new one) or
    ``PUT /regions/{ident}``."""
    policy.authorize(ctx, "identity:create_region")
    data = body["region"]
    if ident is not None and data.get("id") not in (None, ident):
        raise InvalidParameter(f'Conflicting region IDs specified: "{ident}" != '
                               f'"{data["id"]}"')
    ident = ident or data.get("id") or new_id()
    row = CatalogRegion(id=ident, description=data.get("description") or "",
                        parent_region_id=data.get("parent_region_id"),
                        extra=validate.extra(data, REGION_KNOWN))
    async with rt.db.session() as s:
        if await _region_exists(s, ident):
            raise Conflict(f"Conflict occurred attempting to store region - Duplicate ID, "
                           f"{ident}.")
        await _check_parent(s, ident, row.parent_region_id)
        s.add(row)
    return _region(row)


async def update_region(rt: Runtime, ctx: RequestContext, ident: str,
                        body: Any) -> RegionView:
    policy.authorize(ctx, "identity:update_region")
    data = body["region"]
    _refuse_own(ident, {catalog.REGION})
    async with rt.db.session() as s:
        row = await _stored_region(s, ident)
        if data.get("id") not in (None, ident):
            raise validate.invalid("id", data["id"], "It cannot be changed.")
        if "parent_region_id" in data:
            await _check_parent(s, ident, data["parent_region_id"])
            row.parent_region_id = data["parent_region_id"]
        if "description" in data:
            row.description = data["description"] or ""
        row.extra = {**(row.extra or {}), **validate.extra(data, REGION_KNOWN)}
        return _region(row)


async def delete_region(rt: Runtime, ctx: RequestContext, ident: str) -> None:
    """Delete a region and the regions below it, unless an endpoint is in one."""
    policy.authorize(ctx, "identity:delete_region")
    _refuse_own(ident, {catalog.REGION})
    async with rt.db.session() as s:
        await _stored_region(s, ident)
        subtree, todo = [ident], [ident]
        while todo:
            children = (await s.scalars(select(CatalogRegion.id).where(
                CatalogRegion.parent_region_id == todo.pop()))).all()
            subtree += children
            todo += children
        if await s.scalar(select(CatalogEndpoint.id).where(
                CatalogEndpoint.region_id.in_(subtree)).limit(1)) is not None:
            raise Forbidden(f"Unable to delete region {ident} because it or its child "
                            "regions have associated endpoints.")
        await s.execute(delete(CatalogRegion).where(CatalogRegion.id.in_(subtree)))


# --- services --------------------------------------------------------------------
def service_not_found(ident: str) -> NotFound:
    return NotFound(f"Could not find service: {ident}.")


async def list_services(rt: Runtime, ctx: RequestContext, type_: str | None = None,
                        name: str | None = None) -> list[ServiceView]:
    policy.authorize(ctx, "identity:list_services")
    async with rt.db.session() as s:
        rows = (await s.scalars(select(CatalogService).order_by(CatalogService.created_at,
                                                                CatalogService.id))).all()
    found = [*_own_services(), *(_service(r) for r in rows)]
    return [v for v in found if type_ in (None, v.type)
            and name in (None, v.extra.get("name", ""))]


async def get_service(rt: Runtime, ctx: RequestContext, ident: str) -> ServiceView:
    policy.authorize(ctx, "identity:get_service")
    for own in _own_services():
        if own.id == ident:
            return own
    async with rt.db.session() as s:
        row = await s.get(CatalogService, ident)
    if row is None:
        raise service_not_found(ident)
    return _service(row)


async def create_service(rt: Runtime, ctx: RequestContext, body: Any) -> ServiceView:
    policy.authorize(ctx, "identity:create_service")
    data = body["service"]
    row = CatalogService(type=data["type"], enabled=data.get("enabled") is not False,
                         extra={"name": "", **validate.extra(data, SERVICE_KNOWN)})
    async with rt.db.session() as s:
        s.add(row)
    return _service(row)


async def update_service(rt: Runtime, ctx: RequestContext, ident: str,
                         body: Any) -> ServiceView:
    policy.authorize(ctx, "identity:update_service")
    data = body["service"]
    _refuse_own(ident, {v.id for v in _own_services()})
    async with rt.db.session() as s:
        row = await s.get(CatalogService, ident)
        if row is None:
            raise service_not_found(ident)
        if data.get("id") not in (None, ident):
            raise validate.invalid("id", data["id"], "It cannot be changed.")
        if data.get("type") is not None:
            row.type = data["type"]
        if data.get("enabled") is not None:
            row.enabled = data["enabled"]
        row.extra = {**(row.extra or {}), **validate.extra(data, SERVICE_KNOWN)}
        return _service(row)


async def delete_service(rt: Runtime, ctx: RequestContext, ident: str) -> None:
    """Delete a service and its endpoints, as Keystone does."""
    policy.authorize(ctx, "identity:delete_service")
    _refuse_own(ident, {v.id for v in _own_services()})
    async with rt.db.session() as s:
        row = await s.get(CatalogService, ident)
        if row is None:
            raise service_not_found(ident)
        await s.execute(delete(CatalogEndpoint).where(CatalogEndpoint.service_id == ident))
        await s.delete(row)


# --- endpoints -------------------------------------------------------------------
def endpoint_not_found(ident: str) -> NotFound:
    return NotFound(f"Could not find endpoint: {ident}.")


def _expecting(attribute: str, target: str) -> InvalidParameter:
    return InvalidParameter(f"Expecting to find {attribute} in {target}. The server could "
                            "not comply with the request since it is either malformed or "
                            "otherwise incorrect. The client is assumed to be in error.")


async def list_endpoints(rt: Runtime, ctx: RequestContext, *, interface: str | None = None,
                         service_id: str | None = None,
                         region_id: str | None = None) -> list[EndpointView]:
    policy.authorize(ctx, "identity:list_endpoints")
    async with rt.db.session() as s:
        rows = (await s.scalars(select(CatalogEndpoint).order_by(
            CatalogEndpoint.created_at, CatalogEndpoint.id))).all()
    found = [*_own_endpoints(rt), *(_endpoint(r) for r in rows)]
    return [e for e in found if interface in (None, e.interface)
            and service_id in (None, e.service_id) and region_id in (None, e.region_id)]


async def get_endpoint(rt: Runtime, ctx: RequestContext, ident: str) -> EndpointView:
    policy.authorize(ctx, "identity:get_endpoint")
    for own in _own_endpoints(rt):
        if own.id == ident:
            return own
    async with rt.db.session() as s:
        row = await s.get(CatalogEndpoint, ident)
    if row is None:
        raise endpoint_not_found(ident)
    return _endpoint(row)


async def _endpoint_region(s: AsyncSession, data: dict[str, Any]) -> str | None:
    """``region_id`` must name a region (400); the deprecated ``region`` makes one if
    none has its id, as Keystone does."""
    region_id = data.get("region_id")
    if region_id is None and data.get("region") is not None:
        region_id = data["region"]
        if not await _region_exists(s, region_id):
            s.add(CatalogRegion(id=region_id, description="", extra={}))
        return str(region_id)
    if region_id is not None and not await _region_exists(s, region_id):
        raise _expecting("endpoint region_id", "region table")
    return region_id if region_id is None else str(region_id)


async def _check_service(s: AsyncSession, service_id: str) -> None:
    if service_id not in {v.id for v in _own_services()} and await s.get(
            CatalogService, service_id) is None:
        raise _expecting("endpoint service_id", "service table")


async def create_endpoint(rt: Runtime, ctx: RequestContext, body: Any) -> EndpointView:
    policy.authorize(ctx, "identity:create_endpoint")
    data = body["endpoint"]
    async with rt.db.session() as s:
        await _check_service(s, data["service_id"])
        row = CatalogEndpoint(service_id=data["service_id"], interface=data["interface"],
                              region_id=await _endpoint_region(s, data), url=data["url"],
                              enabled=data.get("enabled") is not False,
                              extra=validate.extra(data, ENDPOINT_KNOWN))
        s.add(row)
    return _endpoint(row)


async def update_endpoint(rt: Runtime, ctx: RequestContext, ident: str,
                          body: Any) -> EndpointView:
    policy.authorize(ctx, "identity:update_endpoint")
    data = body["endpoint"]
    _refuse_own(ident, {e.id for e in _own_endpoints(rt)})
    async with rt.db.session() as s:
        row = await s.get(CatalogEndpoint, ident)
        if row is None:
            raise endpoint_not_found(ident)
        if data.get("id") not in (None, ident):
            raise validate.invalid("id", data["id"], "It cannot be changed.")
        if data.get("service_id") is not None:
            await _check_service(s, data["service_id"])
            row.service_id = data["service_id"]
        if "region_id" in data or "region" in data:
            row.region_id = await _endpoint_region(s, data)
        for key in ("interface", "url", "enabled"):
            if data.get(key) is not None:
                setattr(row, key, data[key])
        row.extra = {**(row.extra or {}), **validate.extra(data, ENDPOINT_KNOWN)}
        return _endpoint(row)


async def delete_endpoint(rt: Runtime, ctx: RequestContext, ident: str) -> None:
    policy.authorize(ctx, "identity:delete_endpoint")
    _refuse_own(ident, {e.id for e in _own_endpoints(rt)})
    async with rt.db.session() as s:
        row = await s.get(CatalogEndpoint, ident)
        if row is None:
            raise endpoint_not_found(ident)
        await s.delete(row)


# --- the catalog of a token ------------------------------------------------------
_SUBSTITUTION = re.compile(r"\$\((\w+)\)s")


def _format_url(url: str, values: dict[str, str]) -> str | None:
    """Keystone's ``$(project_id)s`` substitutions; None if one has no value here."""
    missing = False

    def sub(m: re.Match[str]) -> str:
        nonlocal missing
        if m.group(1) not in values:
            missing = True
            return ""
        return values[m.group(1)]

    formatted = _SUBSTITUTION.sub(sub, url)
    return None if missing else formatted


async def for_token(rt: Runtime, user_id: str,
                    project_id: str | None) -> list[tuple[ServiceView, list[EndpointView]]]:
    """Enabled services, each with its enabled endpoints, URLs substituted (an
    endpoint whose URL needs what this token has not is left out)."""
    async with rt.db.session() as s:
        services = (await s.scalars(select(CatalogService).where(
            CatalogService.enabled.is_(True)).order_by(CatalogService.created_at,
                                                      CatalogService.id))).all()
        endpoints = (await s.scalars(select(CatalogEndpoint).where(
            CatalogEndpoint.enabled.is_(True)).order_by(CatalogEndpoint.created_at,
                                                       CatalogEndpoint.id))).all()
    values = {"user_id": user_id}
    if project_id is not None:
        values.update(project_id=project_id, tenant_id=project_id)
    by_service: dict[str, list[EndpointView]] = {}
    for ep in [*_own_endpoints(rt), *(_endpoint(e) for e in endpoints)]:
        url = _format_url(ep.url, values)
        if url is not None:
            by_service.setdefault(ep.service_id, []).append(
                EndpointView(ep.id, ep.service_id, ep.interface, ep.region_id, url))
    return [(svc, by_service.get(svc.id, []))
            for svc in [*_own_services(), *(_service(r) for r in services)]]
