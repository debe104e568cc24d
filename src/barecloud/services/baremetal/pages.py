"""Keyset pages of a Bare Metal list, as Ironic's: sorted by ``sort_key`` then id,
each page starting after its marker's row."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.errors import BarecloudError, InvalidParameter


def check(sort_key: str, sort_dir: str, sort_keys: set[str]) -> None:
    if sort_key not in sort_keys:
        raise InvalidParameter(f"The sort_key value \"{sort_key}\" is an invalid field for "
                               "sorting")
    if sort_dir not in ("asc", "desc"):
        raise InvalidParameter(
            f"Invalid sort direction: {sort_dir}. Acceptable values are 'asc' or 'desc'")


def order(col: Any, id_col: Any, sort_dir: str) -> tuple[Any, Any]:
    return (col.asc(), id_col.asc()) if sort_dir == "asc" else (col.desc(), id_col.desc())


def after(col: Any, id_col: Any, sort_dir: str, marker: Any, sort_key: str) -> Any:
    """The condition of the rows after ``marker`` (a row) in that order."""
    value = getattr(marker, sort_key)
    if sort_dir == "asc":
        return or_(col > value, and_(col == value, id_col > marker.id))
    return or_(col < value, and_(col == value, id_col < marker.id))


async def fetch(s: AsyncSession, q: Any, model: Any, *, sort_key: str, sort_dir: str,
                marker: str | None, limit: int,
                unknown_marker: BarecloudError | None = None) -> tuple[list[Any], bool]:
    """One page of ``q`` (a Select whose rows start with is ``model``, named by ``uuid``):
    after the marker's row, in order, at most ``limit``; and whether there may be
    more.  An unknown marker is ``unknown_marker`` (default 400)."""
    col = getattr(model, sort_key)
    if marker:
        m = await s.scalar(select(model).where(model.uuid == marker.lower()))
        if m is None:
            raise unknown_marker or InvalidParameter(f"Marker {marker} could not be found.")
        q = q.where(after(col, model.id, sort_dir, m, sort_key))
    rows = list((await s.execute(q.order_by(*order(col, model.id, sort_dir))
                                 .limit(limit))).all())
    return rows, len(rows) == limit
