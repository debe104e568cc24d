"""What the Network services share: who sees what, list pages.

Visibility is SQL (as Neutron's model queries): a project sees its own
networks, networks shared with everyone (``shared``), shared with it by an
RBAC entry, and external ones; ports and subnets follow their network.
A caller the ``network:list_all`` rule lets through (admins, system readers)
sees everything.

Writers that must not interleave (two segment allocations, two quota
checks of one project) hold :func:`barecloud.db.session.serialize`.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from sqlalchemy import Select, and_, exists, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from barecloud.db.network_models import Network, NetworkRbac
from barecloud.errors import BarecloudError, prefix
from barecloud.services import policy
from barecloud.services.context import RequestContext
from barecloud.services.network.attrs import to_bool
from barecloud.services.network.errors import HTTPBadRequest
from barecloud.services.tenancy import project_of

T = TypeVar("T")
WILDCARD = "*"


# --- visibility ------------------------------------------------------------
def sees_all(ctx: RequestContext) -> bool:
    return policy.can(ctx, "network:list_all")


def shared_with(ctx: RequestContext, network_id: Any = Network.id) -> ColumnElement[bool]:
    """An access_as_shared RBAC entry gives the caller's project (or everyone) the network."""
    return exists().where(NetworkRbac.object_type == "network",
                          NetworkRbac.object_id == network_id,
                          NetworkRbac.action == "access_as_shared",
                          NetworkRbac.target_tenant.in_([project_of(ctx), WILDCARD]))


def network_visible(ctx: RequestContext) -> ColumnElement[bool] | None:
    """None: the caller sees every network."""
    if sees_all(ctx):
        return None
    return or_(Network.project_id == project_of(ctx), Network.shared.is_(True),
               Network.router_external.is_(True), shared_with(ctx))


def visible_network_ids(ctx: RequestContext) -> Select[Any] | None:
    cond = network_visible(ctx)
    return None if cond is None else select(Network.id).where(cond)


def is_shared_for(ctx: RequestContext, network: Network) -> bool:
    """Neutron's per-caller ``shared``: shared with everyone or with the caller's project."""
    mine = project_of(ctx)
    return network.shared or any(
        e.action == "access_as_shared" and e.target_tenant in (WILDCARD, mine)
        for e in network.rbac_entries)


# --- list pages ---------------------------------------------------------------
PAGING = ("fields", "sort_key", "sort_dir", "limit", "marker", "page_reverse")


@dataclass
class ListQuery:
    """A list request as Neutron reads its query string (``fields`` is for the API),
    once its declaration (schemas.list_query) has checked it."""

    filters: dict[str, list[str]] = field(default_factory=dict)
    sort_keys: list[str] = field(default_factory=list)
    sort_dirs: list[str] = field(default_factory=list)
    limit: int | None = None
    marker: str | None = None
    page_reverse: bool = False

    @classmethod
    def parse(cls, items: Sequence[tuple[str, str]]) -> ListQuery:
        query = cls()
        for key, value in items:
            if key == "sort_key":
                query.sort_keys.append(value)
            elif key == "sort_dir":
                query.sort_dirs.append(value)
            elif key == "limit":  # declared: an integer, 0 or more (schemas.list_query)
                query.limit = int(value)
            elif key == "marker":
                query.marker = value
            elif key == "page_reverse":
                query.page_reverse = to_bool(value, "page_reverse")
            elif key != "fields":
                query.filters.setdefault("project_id" if key == "tenant_id" else key,
                                         []).append(value)
        return query


Filter = Callable[[list[str]], ColumnElement[bool]]


def column_filter(column: Any, convert: Callable[[str], Any] = str) -> Filter:
    def build(values: list[str]) -> ColumnElement[bool]:
        converted = [convert(v) for v in values]
        cond: ColumnElement[bool] = column.in_(converted) if len(converted) > 1 else \
            column == converted[0]
        return cond
    return build


def bool_filter(column: Any) -> Filter:
    return column_filter(column, lambda v: to_bool(v))


def int_filter(column: Any, attr: str) -> Filter:
    def convert(value: str) -> int:
        try:
            return int(value)
        except ValueError:
            raise HTTPBadRequest(f"Invalid input for {attr}. Reason: '{prefix(value)}' is not an "
                                 "integer.") from None
    return column_filter(column, convert)


@dataclass
class Page:
    items: list[Any]
    more: bool  # a full page: the client may ask for the next


def visible_rows(model: type[T], visible: ColumnElement[bool] | None) -> Select[Any]:
    """The rows of ``model`` the caller sees (``visible``: None, all), to list."""
    q = select(model)
    return q if visible is None else q.where(visible)


async def fetch_visible(s: AsyncSession, model: type[T], ident: str,
                        visible: ColumnElement[bool] | None,
                        not_found: Callable[[str], Exception], for_update: bool = False) -> T:
    """The row ``ident`` of ``model`` if the caller sees it (``visible``: None, all),
    read afresh and, ``for_update``, locked; else the resource's Neutron 404."""
    table: Any = model
    q = visible_rows(model, visible).where(table.id == ident)
    if for_update:
        q = q.with_for_update(of=model)
    row: T | None = await s.scalar(q.execution_options(populate_existing=True))
    if row is None:
        raise not_found(ident)
    return row


async def page(s: AsyncSession, q: Select[Any], model: Any, query: ListQuery,
               filters: Mapping[str, Filter], sorts: Mapping[str, Any], max_limit: int,
               not_found: Callable[[str], BarecloudError]) -> Page:
    """One page of ``q`` with Neutron's filters, sort keys and marker pagination."""
    for key, values in query.filters.items():
        build = filters.get(key)
        if build is None:
            raise HTTPBadRequest(f"{key} is invalid attribute for filtering")
        q = q.where(build(values))
    if query.sort_dirs and len(query.sort_dirs) != len(query.sort_keys):
        raise HTTPBadRequest("The number of sort_keys and sort_dirs must be same")
    order: list[tuple[Any, bool]] = []
    for i, key in enumerate(query.sort_keys):
        if key not in sorts:
            raise HTTPBadRequest(f"{key} is invalid attribute for sort_keys")
        direction = query.sort_dirs[i] if query.sort_dirs else "asc"
        if direction not in ("asc", "desc"):
            raise HTTPBadRequest(f"{direction} is invalid attribute for sort_dirs")
        order.append((sorts[key], direction == "asc"))
    if "id" not in query.sort_keys:
        order.append((model.id, True))
    if query.page_reverse:
        order = [(col, not asc) for col, asc in order]
    if query.marker is not None:
        marker = await s.scalar(q.where(model.id == query.marker))
        if marker is None:
            raise not_found(query.marker)
        row = (await s.execute(select(*[col for col, _ in order])
                               .where(model.id == marker.id))).one()
        after: list[ColumnElement[bool]] = []
        for i, (col, asc) in enumerate(order):
            equal = [order[j][0] == row[j] for j in range(i)]
            after.append(and_(*equal, col > row[i] if asc else col < row[i]))
        q = q.where(or_(false(), *after))
    q = q.order_by(*[col.asc() if asc else col.desc() for col, asc in order])
    limit = min(query.limit or max_limit, max_limit)
    rows = list((await s.scalars(q.limit(limit))).unique().all())
    if query.page_reverse:
        rows.reverse()
    return Page(rows, bool(query.limit) and len(rows) >= limit)


def updated(col_updated: Any, col_created: Any) -> Any:
    """A sortable ``updated_at``: rows never updated were last changed when created."""
    return func.coalesce(col_updated, col_created)


async def create_all(create: Callable[[dict[str, Any]], Awaitable[T]],
                     undo: Callable[[T], Awaitable[None]], items: list[dict[str, Any]]
                     ) -> list[T]:
    """A bulk create, all or nothing: what was made before a failure is removed again
    (Neutron's emulated bulk)."""
    done: list[T] = []
    try:
        for item in items:
            done.append(await create(item))
    except BaseException:
        for made in reversed(done):
            with contextlib.suppress(BarecloudError):
                await undo(made)
        raise
    return done
