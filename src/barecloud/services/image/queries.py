"""Listing images as Glance does: filters, several sort keys, marker pages.

Pages are keyset-paginated on the sort keys plus the row id.  NULLs sort as
the smallest value on both databases (SQLite and PostgreSQL disagree by
default), so a marker continues exactly where the page ended.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import and_, exists, false, func, literal, or_, select, true
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.sql.elements import ColumnElement

from barecloud.db.models import Image, ImageMember, ImageTag
from barecloud.errors import InvalidParameter, quote
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.image import images

Column = InstrumentedAttribute[Any]
DEFAULT_LIMIT = 25  # Glance's limit_param_default
SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "id", "created_at",
             "updated_at")
OPERATORS = ("eq", "neq", "gt", "gte", "lt", "lte", "in")
LISTED_COLUMNS = ("name", "id", "status", "container_format", "disk_format")
TEXT_COLUMNS = ("owner", "checksum", "os_hash_value")
INTEGER_COLUMNS = ("size", "virtual_size", "min_ram", "min_disk")
RESERVED_PARAMS = ("limit", "marker", "sort", "sort_key", "sort_dir", "member_status", "tag",
                   "visibility", "protected", "os_hidden", "size_min", "size_max")


@dataclass(frozen=True)
class Page:
    images: list[Image]
    more: bool


def _column(key: str) -> Column:
    column: Column = Image.uuid if key == "id" else getattr(Image, key)
    return column


def _sorting(query: dict[str, Any]) -> list[tuple[str, str]]:
    keys = [v.strip() for v in query.get("sort_key", ())]
    dirs = [v.strip() for v in query.get("sort_dir", ())]
    combined = query.get("sort")
    if combined is not None:
        if keys or dirs:
            raise InvalidParameter("Old and new sorting syntax cannot be combined")
        pairs = [part.partition(":")[::2] for part in combined.strip().split(",")]
        keys = [k.strip() for k, _ in pairs]
        dirs = [(d.strip() or "desc") for _, d in pairs]
    for key in keys:
        if key not in SORT_KEYS:
            raise InvalidParameter(f"Invalid sort key: {key}. It must be one of the following: "
                                   f"{', '.join(SORT_KEYS)}.")
    for direction in dirs:
        if direction not in ("asc", "desc"):
            raise InvalidParameter(f"Invalid sort direction: {direction}")
    if len(dirs) > 1 and len(dirs) != len(keys):
        raise InvalidParameter("Number of sort dirs does not match the number of sort keys")
    keys = keys or ["created_at"]
    dirs = dirs or ["desc"]
    return [(k, dirs[i] if len(dirs) > 1 else dirs[0]) for i, k in enumerate(keys)]


def _limit(rt: Runtime, value: int | None) -> int:
    return min(DEFAULT_LIMIT if value is None else value, rt.settings.api_max_limit)


def _split_op(value: str) -> tuple[str, str]:
    op, sep, rest = value.partition(":")
    return (op, rest) if sep and op in OPERATORS else ("eq", value)


def _compare(column: Column, op: str, value: Any) -> ColumnElement[bool]:
    cond: ColumnElement[bool] = {
        "eq": lambda: column == value, "neq": lambda: column != value,
        "gt": lambda: column > value, "gte": lambda: column >= value,
        "lt": lambda: column < value, "lte": lambda: column <= value,
    }[op]()
    return cond


def _time(name: str, raw: str) -> ColumnElement[bool]:
    op, value = _split_op(raw.split(",")[0])
    if op == "in":
        raise InvalidParameter(f"Unable to filter by unknown operator '{op}'.")
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidParameter(f"Invalid value for {name}: {quote(value)} is not an ISO 8601 "
                               "time.") from None
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return _compare(getattr(Image, name), op, when)


def _integer(raw: str, problem: str) -> int:
    """An integer both databases can compare with a BIGINT column."""
    try:
        value = int(raw)
    except ValueError:
        raise InvalidParameter(problem) from None
    if not -(2**63) <= value < 2**63:
        raise InvalidParameter(problem)
    return value


def _filter(name: str, raw: str, sqlite: bool) -> ColumnElement[bool]:
    if name == "changes-since":
        raise InvalidParameter('The "changes-since" filter is no longer available on v2.')
    if name in ("created_at", "updated_at"):
        return _time(name, raw)
    if name in LISTED_COLUMNS:
        op, value = _split_op(raw)
        if op == "in":
            return _column(name).in_([v.strip().strip('"') for v in value.split(",")])
        if op != "eq":
            raise InvalidParameter(f"Unable to filter by unknown operator '{op}'.")
        return _column(name) == (value.lower() if name == "id" else value)
    if name in TEXT_COLUMNS:
        return _column(name) == raw
    if name in INTEGER_COLUMNS:
        return _column(name) == _integer(raw, f"Invalid value for {name}: {quote(raw)} is not "
                                              "an integer of 64 bits")
    return _property(name, raw, sqlite)


def _property(name: str, value: str, sqlite: bool) -> ColumnElement[bool]:
    """An extra property equal to ``value``.  On SQLite through ``json_each``:
    ``json_extract`` paths cannot name keys with quotes, nor non-ASCII keys
    (stored escaped); PostgreSQL's ``->>`` takes any key."""
    if not sqlite:
        return cast("ColumnElement[bool]", Image.properties[name].as_string() == value)
    pairs = func.json_each(Image.properties).table_valued("key", "value")
    return exists(select(literal(1)).select_from(pairs)
                  .where(pairs.c.key == name, pairs.c.value == value))


def _visibility(ctx: RequestContext, wanted: str | None,
                member_status: str) -> ColumnElement[bool]:
    if policy.can(ctx, "image:get_all"):
        return true() if wanted in (None, "all") else Image.visibility == wanted
    policy.authorize(ctx, "image:get_image")
    mine = images.owned(ctx)
    shared = and_(Image.visibility == "shared", or_(mine, exists(
        select(ImageMember.id).where(ImageMember.image_id == Image.id,
                                     images.owned(ctx, ImageMember.member),
                                     (ImageMember.status == member_status)
                                     if member_status != "all" else true()))))
    return {
        None: or_(mine, Image.visibility == "public", shared),
        "all": or_(mine, Image.visibility.in_(("public", "community")), shared),
        "public": Image.visibility == "public",
        "community": Image.visibility == "community",
        "private": and_(Image.visibility == "private", mine),
        "shared": shared,
    }[wanted]


def _after(column: Column, direction: str, value: Any) -> ColumnElement[bool]:
    """Rows after ``value`` in this key's order, NULL being the smallest value."""
    if direction == "asc":
        return column.is_not(None) if value is None else column > value
    return false() if value is None else or_(column < value, column.is_(None))


def _same(column: Column, value: Any) -> ColumnElement[bool]:
    return column.is_(None) if value is None else column == value


def _keyset(order: list[tuple[Column, str]], marker: Image) -> ColumnElement[bool]:
    values = [getattr(marker, c.key) for c, _ in order]
    branches = []
    for i, (column, direction) in enumerate(order):
        equal = [_same(c, v) for (c, _), v in zip(order[:i], values, strict=False)]
        branches.append(and_(*equal, _after(column, direction, values[i])))
    return or_(*branches)


def _order_by(order: Iterable[tuple[Column, str]]) -> list[Any]:
    return [c.asc().nulls_first() if d == "asc" else c.desc().nulls_last() for c, d in order]


def _nul(key: str, value: Any) -> bool:
    values = value if isinstance(value, list) else [value]
    return "\x00" in key or any(isinstance(v, str) and "\x00" in v for v in values)


async def list_images(rt: Runtime, ctx: RequestContext, params: dict[str, Any]) -> Page:
    """A page of the images ``params`` select (what ``schemas.LIST_IMAGES_QUERY``
    accepted: each parameter as its declared type, extra-property filters as text)."""
    for key, value in params.items():
        if _nul(key, value):  # PostgreSQL text cannot hold it
            raise InvalidParameter(f"Invalid query parameter {quote(key)}: NUL character.")
    member_status = params.get("member_status") or "accepted"
    sort = _sorting(params)
    limit = _limit(rt, params.get("limit"))
    conditions = [_visibility(ctx, params.get("visibility"), member_status),
                  # Glance lower-cases os_hidden (openstacksdk sends "True"), not protected.
                  Image.os_hidden == ((params.get("os_hidden") or "false").lower() == "true")]
    if "protected" in params:
        conditions.append(Image.protected == (params["protected"] == "true"))
    if "size_min" in params:
        conditions.append(Image.size >= params["size_min"])
    if "size_max" in params:
        conditions.append(Image.size <= params["size_max"])
    for name in [k for k in params if k not in RESERVED_PARAMS]:
        conditions.append(_filter(name, params[name] or "", rt.db.is_sqlite))
    for tag in dict.fromkeys(v.strip() for v in params.get("tag", ())):
        conditions.append(exists(select(ImageTag.tag).where(ImageTag.image_id == Image.id,
                                                            ImageTag.tag == tag)))
    order = [(_column(k), d) for k, d in sort] + [(Image.id, sort[-1][1])]
    query = select(Image).where(*conditions)
    async with rt.db.session() as s:
        marker_id = params.get("marker")
        if marker_id is not None:
            marker = await s.scalar(select(Image).where(Image.uuid == marker_id.lower(),
                                                        images.visible(ctx)))
            if marker is None:
                raise InvalidParameter(f"No image found with ID {marker_id}")
            query = query.where(_keyset(order, marker))
        rows = list((await s.scalars(query.order_by(*_order_by(order)).limit(limit))).all())
    return Page(rows, bool(rows) and len(rows) == limit)
