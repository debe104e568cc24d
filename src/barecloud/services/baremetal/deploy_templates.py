"""Deploy templates: Ironic's named sets of deploy steps (API 1.55).  A template is
named after a trait; Ironic runs its steps when a node is deployed for an
instance that asks for that trait.  barecloud stores and checks them as Ironic
does (docs/design/baremetal-api.md says what its deploy does with them).

As Ironic's secure RBAC: system readers (and admins) read, admins write.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.models import DeployTemplate, new_uuid
from barecloud.errors import Duplicate, InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.baremetal import checks, named, pages, patch
from barecloud.services.baremetal.schemas import (
    DEPLOY_TEMPLATE_INTERNAL,
    DEPLOY_TEMPLATE_WRITABLE,
)
from barecloud.services.context import RequestContext, Runtime

SORT_KEYS = {"id", "uuid", "name", "created_at", "updated_at"}


def not_found(ident: str) -> NotFound:
    return NotFound(f"Deploy template {ident} could not be found.")


async def find(s: AsyncSession, ident: str) -> DeployTemplate:
    return await named.find(s, DeployTemplate, ident, not_found(ident))


async def _check_unique(s: AsyncSession, uuid: str | None, name: str,
                        own_id: int | None = None) -> None:
    await named.check_unique(s, DeployTemplate, "deploy template", uuid, name, own_id)


async def get(rt: Runtime, ctx: RequestContext, ident: str) -> DeployTemplate:
    policy.authorize(ctx, "baremetal:deploy_template:get")
    async with rt.db.session() as s:
        return await find(s, ident)


async def list_templates(rt: Runtime, ctx: RequestContext, *, limit: int | None = None,
                         marker: str | None = None, sort_key: str = "id",
                         sort_dir: str = "asc") -> tuple[list[DeployTemplate], bool]:
    policy.authorize(ctx, "baremetal:deploy_template:get")
    if sort_key in ("extra", "steps"):
        raise InvalidParameter(f"The sort_key value {sort_key} is an invalid field for "
                               "sorting")
    pages.check(sort_key, sort_dir, SORT_KEYS)
    limit = min(limit or rt.settings.api_max_limit, rt.settings.api_max_limit)
    async with rt.db.session() as s:
        rows, more = await pages.fetch(s, select(DeployTemplate), DeployTemplate,
                                       sort_key=sort_key, sort_dir=sort_dir, marker=marker,
                                       limit=limit, unknown_marker=not_found(marker or ""))
    return [r[0] for r in rows], more


async def create(rt: Runtime, ctx: RequestContext, body: Any) -> DeployTemplate:
    policy.authorize(ctx, "baremetal:deploy_template:create")
    values = checks.deploy_template(body)
    row = DeployTemplate(uuid=values["uuid"] or new_uuid(), name=values["name"],
                         steps=values["steps"], extra=values["extra"])
    try:
        async with rt.db.session() as s:
            await _check_unique(s, row.uuid, row.name)
            s.add(row)
    except IntegrityError:  # another process made the same name or UUID meanwhile
        raise Duplicate(f"A deploy template with name {row.name} already exists.") from None
    return row


async def update(rt: Runtime, ctx: RequestContext, ident: str, ops: Any) -> DeployTemplate:
    policy.authorize(ctx, "baremetal:deploy_template:update")
    try:
        async with rt.db.session() as s:
            row = await find(s, ident)
            before = {"name": row.name, "steps": row.steps, "extra": row.extra}
            after = patch.apply(before, ops, writable=DEPLOY_TEMPLATE_WRITABLE,
                                internal=DEPLOY_TEMPLATE_INTERNAL)
            values = checks.patched_deploy_template(
                {k: after[k] for k in DEPLOY_TEMPLATE_WRITABLE if k in after})
            if values["name"] != row.name:
                await _check_unique(s, None, values["name"], own_id=row.id)
            row.name, row.steps, row.extra = values["name"], values["steps"], values["extra"]
    except IntegrityError:
        raise Duplicate(f"A deploy template with name {values['name']} already exists."
                        ) from None
    return row


async def remove(rt: Runtime, ctx: RequestContext, ident: str) -> None:
    policy.authorize(ctx, "baremetal:deploy_template:delete")
    async with rt.db.session() as s:
        await s.delete(await find(s, ident))
