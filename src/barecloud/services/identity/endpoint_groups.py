"""OS-EP-FILTER endpoint groups: a name and filters (interface, service_id,
region_id) choosing catalog endpoints, and the projects they are associated with.

Stored and served as Keystone's; barecloud's token catalog is the same for
every project, so an association does not narrow it (docs/design/identity-api.md).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.identity_models import EndpointGroup, EndpointGroupProject, Project
from barecloud.errors import NotFound
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.identity import projects, rows, validate

KNOWN = {"id", "name", "description", "filters", "links"}


async def _find(s: AsyncSession, ident: str) -> EndpointGroup:
    return await rows.get(s, EndpointGroup, ident, "endpoint group")


async def create(rt: Runtime, ctx: RequestContext, body: Any) -> EndpointGroup:
    policy.authorize(ctx, "identity:create_endpoint_group")
    data = body["endpoint_group"]  # declared: schemas.CREATE_ENDPOINT_GROUP
    row = EndpointGroup(name=data["name"], description=data.get("description") or "",
                        filters=data["filters"], extra=validate.extra(data, KNOWN))
    async with rt.db.session() as s:
        s.add(row)
    return row


async def get(rt: Runtime, ctx: RequestContext, ident: str) -> EndpointGroup:
    policy.authorize(ctx, "identity:get_endpoint_group")
    async with rt.db.session() as s:
        return await _find(s, ident)


async def list_groups(rt: Runtime, ctx: RequestContext,
                      name: str | None) -> list[EndpointGroup]:
    policy.authorize(ctx, "identity:list_endpoint_groups")
    q = select(EndpointGroup).order_by(EndpointGroup.created_at, EndpointGroup.id)
    if name is not None:
        q = q.where(EndpointGroup.name == name)
    async with rt.db.session() as s:
        return list((await s.scalars(q)).all())


async def update(rt: Runtime, ctx: RequestContext, ident: str, body: Any) -> EndpointGroup:
    policy.authorize(ctx, "identity:update_endpoint_group")
    data = body["endpoint_group"]
    async with rt.db.session() as s:
        row = await _find(s, ident)
        if data.get("id") not in (None, ident):
            raise validate.invalid("id", data["id"], "It cannot be changed.")
        if data.get("name") is not None:
            row.name = data["name"]
        if "description" in data:
            row.description = data["description"] or ""
        if data.get("filters") is not None:
            row.filters = data["filters"]
        row.extra = {**(row.extra or {}), **validate.extra(data, KNOWN)}
        return row


async def remove(rt: Runtime, ctx: RequestContext, ident: str) -> None:
    policy.authorize(ctx, "identity:delete_endpoint_group")
    async with rt.db.session() as s:
        await s.delete(await _find(s, ident))


async def associate(rt: Runtime, ctx: RequestContext, ident: str, project_id: str) -> None:
    policy.authorize(ctx, "identity:add_endpoint_group_to_project")
    async with rt.db.session() as s:
        await _find(s, ident)
        await projects.find(s, project_id)
        if await s.get(EndpointGroupProject, (ident, project_id)) is None:
            s.add(EndpointGroupProject(endpoint_group_id=ident, project_id=project_id))


async def association(rt: Runtime, ctx: RequestContext, ident: str, project_id: str,
                      rule: str = "identity:get_endpoint_group_in_project") -> None:
    policy.authorize(ctx, rule)
    async with rt.db.session() as s:
        await _find(s, ident)
        await projects.find(s, project_id)
        if await s.get(EndpointGroupProject, (ident, project_id)) is None:
            raise NotFound(f"Could not find endpoint group {ident} associated with "
                           f"project {project_id}.")


async def dissociate(rt: Runtime, ctx: RequestContext, ident: str, project_id: str) -> None:
    policy.authorize(ctx, "identity:remove_endpoint_group_from_project")
    async with rt.db.session() as s:
        await _find(s, ident)
        row = await s.get(EndpointGroupProject, (ident, project_id))
        if row is None:
            raise NotFound(f"Could not find endpoint group {ident} associated with "
                           f"project {project_id}.")
        await s.delete(row)


async def projects_of(rt: Runtime, ctx: RequestContext, ident: str) -> list[Project]:
    policy.authorize(ctx, "identity:list_projects_associated_with_endpoint_group")
    async with rt.db.session() as s:
        await _find(s, ident)
        ids = select(EndpointGroupProject.project_id).where(
            EndpointGroupProject.endpoint_group_id == ident)
        return list((await s.scalars(select(Project).where(
            Project.id.in_(ids)).order_by(Project.name))).all())


async def groups_of(rt: Runtime, ctx: RequestContext, project_id: str) -> list[EndpointGroup]:
    policy.authorize(ctx, "identity:list_endpoint_groups_for_project")
    async with rt.db.session() as s:
        await projects.find(s, project_id)
        ids = select(EndpointGroupProject.endpoint_group_id).where(
            EndpointGroupProject.project_id == project_id)
        return list((await s.scalars(select(EndpointGroup).where(
            EndpointGroup.id.in_(ids)).order_by(EndpointGroup.created_at))).all())
