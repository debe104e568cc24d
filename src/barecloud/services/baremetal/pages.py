"""Keyset pages of a Bare Metal list, as Ironic's: sorted by ``sort_key`` then id,
each page starting after its marker's row."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, or_

from barecloud.errors import InvalidParameter


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
