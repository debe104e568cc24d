"""Resources named by UUID or by a unique name (deploy templates, runbooks): the
lookup and the uniqueness check they share."""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.errors import Duplicate, NotFound
from barecloud.services.baremetal.schemas import UUID_RE

T = TypeVar("T")


async def find(s: AsyncSession, model: type[T], ident: str, missing: NotFound) -> T:
    """The row of UUID or name ``ident`` (``missing`` if none)."""
    col: Any = model.uuid if UUID_RE.match(ident) else model.name  # type: ignore[attr-defined]
    row = await s.scalar(select(model).where(
        col == (ident.lower() if UUID_RE.match(ident) else ident)))
    if row is None:
        raise missing
    return row


async def check_unique(s: AsyncSession, model: Any, what: str, uuid: str | None, name: str,
                       own_id: int | None = None) -> None:
    """Ironic's …AlreadyExists / …DuplicateName: 409, by name first."""
    q = select(model).where(or_(model.uuid == uuid, model.name == name))
    for row in (await s.scalars(q)).all():
        if row.id == own_id:
            continue
        if row.name == name:
            raise Duplicate(f"A {what} with name {name} already exists.")
        raise Duplicate(f"A {what} with UUID {uuid} already exists.")
