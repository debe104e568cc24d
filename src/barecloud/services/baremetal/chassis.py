"""Chassis: Ironic's grouping of nodes (a rack, an enclosure), with a description
and ``extra``.  Nodes name theirs by ``chassis_uuid``, a foreign key
(migration 0020): a chassis with nodes is not deleted, and a node cannot name a
chassis that is gone, whichever process writes.

As Ironic's secure RBAC: system readers (and admins) read, admins write;
a project sees none.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.models import Chassis, Node, new_uuid
from barecloud.errors import Duplicate, InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.baremetal import checks, pages, patch
from barecloud.services.baremetal.schemas import CHASSIS_INTERNAL, CHASSIS_WRITABLE, UUID_RE
from barecloud.services.context import RequestContext, Runtime

SORT_KEYS = {"id", "uuid", "description", "created_at", "updated_at"}


class ChassisNotEmpty(InvalidParameter):
    """Ironic's ChassisNotEmpty: an Invalid, so 400."""

    def __init__(self, uuid: str) -> None:
        super().__init__(f"Cannot complete the requested action because chassis {uuid} "
                         "contains nodes.")


def not_found(ident: str) -> NotFound:
    return NotFound(f"Chassis {ident} could not be found.")


async def find(s: AsyncSession, ident: str) -> Chassis:
    """The chassis of UUID ``ident`` (chassis have no names)."""
    if not UUID_RE.match(ident):
        raise InvalidParameter(f"Expected a UUID but received {ident}.")
    row = await s.scalar(select(Chassis).where(Chassis.uuid == ident.lower()))
    if row is None:
        raise not_found(ident)
    return row


async def exists(s: AsyncSession, uuid: str) -> bool:
    return await s.scalar(select(Chassis.id).where(Chassis.uuid == uuid)) is not None


async def get(rt: Runtime, ctx: RequestContext, ident: str) -> Chassis:
    policy.authorize(ctx, "baremetal:chassis:get")
    async with rt.db.session() as s:
        return await find(s, ident)


async def list_chassis(rt: Runtime, ctx: RequestContext, *, limit: int | None = None,
                       marker: str | None = None, sort_key: str = "id",
                       sort_dir: str = "asc") -> tuple[list[Chassis], bool]:
    policy.authorize(ctx, "baremetal:chassis:get")
    pages.check(sort_key, sort_dir, SORT_KEYS)
    limit = min(limit or rt.settings.api_max_limit, rt.settings.api_max_limit)
    async with rt.db.session() as s:
        rows, more = await pages.fetch(s, select(Chassis), Chassis, sort_key=sort_key,
                                       sort_dir=sort_dir, marker=marker, limit=limit)
    return [r[0] for r in rows], more


async def create(rt: Runtime, ctx: RequestContext, body: Any) -> Chassis:
    policy.authorize(ctx, "baremetal:chassis:create")
    values = checks.chassis(body)
    row = Chassis(uuid=values["uuid"] or new_uuid(), description=values["description"],
                  extra=values["extra"])
    async with rt.db.session() as s:
        if await exists(s, row.uuid):
            raise Duplicate(f"A chassis with UUID {row.uuid} already exists.")
        s.add(row)
    return row


async def update(rt: Runtime, ctx: RequestContext, ident: str, ops: Any) -> Chassis:
    policy.authorize(ctx, "baremetal:chassis:update")
    async with rt.db.session() as s:
        row = await find(s, ident)
        before = {"description": row.description, "extra": row.extra}
        after = patch.apply(before, ops, writable=CHASSIS_WRITABLE, internal=CHASSIS_INTERNAL)
        values = checks.patched_chassis({k: after.get(k) for k in CHASSIS_WRITABLE})
        row.description, row.extra = values["description"], values["extra"]
    return row


async def remove(rt: Runtime, ctx: RequestContext, ident: str) -> None:
    """Delete an empty chassis; one with nodes is Ironic's ChassisNotEmpty (400).
    The foreign key refuses the delete if a node joined it meanwhile."""
    policy.authorize(ctx, "baremetal:chassis:delete")
    try:
        async with rt.db.session() as s:
            row = await find(s, ident)
            if await s.scalar(select(func.count()).select_from(Node)
                              .where(Node.chassis_uuid == row.uuid)):
                raise ChassisNotEmpty(row.uuid)
            await s.delete(row)
    except IntegrityError:
        raise ChassisNotEmpty(ident.lower()) from None
