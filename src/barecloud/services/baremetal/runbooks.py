"""Runbooks: Ironic's named, ordered steps for cleaning or servicing a node (API 1.92).

A runbook is named after a trait; a node runs one (``runbook`` in a ``clean`` or
``service`` request, services/baremetal/node_states.py) only if it has that trait.
Admins write runbooks; a project reads those it owns (``owner``) and public
ones, and may run its own.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.models import Node, Runbook, new_uuid
from barecloud.errors import Duplicate, InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.baremetal import checks, named, pages, patch
from barecloud.services.baremetal.schemas import RUNBOOK_INTERNAL, RUNBOOK_WRITABLE
from barecloud.services.context import RequestContext, Runtime

SORT_KEYS = {"id", "uuid", "name", "created_at", "updated_at", "owner", "public",
             "disable_ramdisk"}
FIELDS = ("name", "steps", "extra", "owner", "public", "disable_ramdisk")


def not_found(ident: str) -> NotFound:
    return NotFound(f"Runbook {ident} could not be found.")


def target(row: Runbook) -> dict[str, Any]:
    return {"runbook.owner": row.owner or ""}


async def find(s: AsyncSession, ident: str) -> Runbook:
    return await named.find(s, Runbook, ident, not_found(ident))


async def find_for(s: AsyncSession, ctx: RequestContext, ident: str,
                   rule: str | None = None) -> Runbook:
    """The runbook if ``ctx`` may read it (public ones anyone may; else 404), and do
    ``rule`` (else 403)."""
    row = await find(s, ident)
    if not row.public and not policy.can(ctx, "baremetal:runbook:get", target(row)):
        raise not_found(ident)
    if rule is not None:
        policy.authorize(ctx, rule, target(row))
    return row


async def _check_unique(s: AsyncSession, uuid: str | None, name: str,
                        own_id: int | None = None) -> None:
    await named.check_unique(s, Runbook, "runbook", uuid, name, own_id)


async def get(rt: Runtime, ctx: RequestContext, ident: str) -> Runbook:
    async with rt.db.session() as s:
        return await find_for(s, ctx, ident)


async def list_runbooks(rt: Runtime, ctx: RequestContext, *, limit: int | None = None,
                        marker: str | None = None, sort_key: str = "id",
                        sort_dir: str = "asc",
                        project: str | None = None) -> tuple[list[Runbook], bool]:
    """A page of the runbooks ``ctx`` sees: all for system readers (of ``project``
    if given), else its project's and the public ones."""
    if sort_key in ("extra", "steps"):
        raise InvalidParameter(f"The sort_key value {sort_key} is an invalid field for "
                               "sorting")
    pages.check(sort_key, sort_dir, SORT_KEYS)
    q = select(Runbook)
    if policy.can(ctx, "baremetal:runbook:list_all"):
        if project:
            q = q.where(Runbook.owner == project)
    else:
        policy.authorize(ctx, "baremetal:runbook:list")
        q = q.where(or_(Runbook.public.is_(True), Runbook.owner == (ctx.project or "")))
    limit = min(limit or rt.settings.api_max_limit, rt.settings.api_max_limit)
    async with rt.db.session() as s:
        rows, more = await pages.fetch(s, q, Runbook, sort_key=sort_key, sort_dir=sort_dir,
                                       marker=marker, limit=limit,
                                       unknown_marker=not_found(marker or ""))
    return [r[0] for r in rows], more


async def create(rt: Runtime, ctx: RequestContext, body: Any) -> Runbook:
    policy.authorize(ctx, "baremetal:runbook:create")
    values = checks.runbook(body)
    row = Runbook(uuid=values["uuid"] or new_uuid(),
                  **{k: values[k] for k in FIELDS})
    try:
        async with rt.db.session() as s:
            await _check_unique(s, row.uuid, row.name)
            s.add(row)
    except IntegrityError:
        raise Duplicate(f"A runbook with name {row.name} already exists.") from None
    return row


async def update(rt: Runtime, ctx: RequestContext, ident: str, ops: Any) -> Runbook:
    try:
        async with rt.db.session() as s:
            row = await find_for(s, ctx, ident, "baremetal:runbook:update")
            before = {k: getattr(row, k) for k in FIELDS}
            after = patch.apply(before, ops, writable=RUNBOOK_WRITABLE,
                                internal=RUNBOOK_INTERNAL)
            values = checks.patched_runbook({k: after[k] for k in RUNBOOK_WRITABLE
                                             if k in after})
            if values["name"] != row.name:
                await _check_unique(s, None, values["name"], own_id=row.id)
            for key in FIELDS:
                setattr(row, key, values[key])
    except IntegrityError:
        raise Duplicate(f"A runbook with name {values['name']} already exists.") from None
    return row


async def remove(rt: Runtime, ctx: RequestContext, ident: str) -> None:
    async with rt.db.session() as s:
        await s.delete(await find_for(s, ctx, ident, "baremetal:runbook:delete"))


async def steps_for(s: AsyncSession, ctx: RequestContext, ident: str,
                    node: Node) -> list[dict[str, Any]]:
    """The steps of runbook ``ident`` for ``node`` (a clean or service request):
    the caller may use it, and the node has the trait it is named after."""
    row = await find_for(s, ctx, ident, "baremetal:runbook:use")
    if row.name not in {t.trait for t in node.traits}:
        raise InvalidParameter(f"This runbook is not usable with node {node.uuid}: it "
                               f"lacks the trait {row.name}.")
    return [{"interface": st["interface"], "step": st["step"], "args": st.get("args") or {},
             "order": st["order"]} for st in sorted(row.steps, key=lambda st: st["order"])]
