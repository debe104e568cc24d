"""Rows by id: Keystone answers every missing resource with one 404 sentence."""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.errors import NotFound

T = TypeVar("T")


def not_found(what: str, ident: str) -> NotFound:
    return NotFound(f"Could not find {what}: {ident}.")


async def get(s: AsyncSession, model: type[T], ident: str, what: str) -> T:
    """The row ``ident`` of ``model``, else Keystone's 404 naming ``what``."""
    row = await s.get(model, ident)
    if row is None:
        raise not_found(what, ident)
    return row
