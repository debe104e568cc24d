"""Server groups (Nova's ``os-server-groups``): a name and a policy that servers created
with the ``group`` scheduler hint share.

barecloud records the groups and their members and shows them as Nova does. The
policy needs no scheduler work for bare metal when it is anti-affinity (each
server is a machine of its own) and is not enforced otherwise (an affinity
group's second bare-metal server cannot share a machine; Nova's Ironic driver
fails it with "No valid host"; barecloud places it): docs/design/compute-api.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.compute_models import InstanceGroup, InstanceGroupMember, Server
from barecloud.errors import InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.compute import quotas
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.tenancy import project_of, user_of


@dataclass
class Group:
    group: InstanceGroup
    members: list[str]  # servers not deleted, oldest first


async def _members(s: AsyncSession, ids: list[int]) -> dict[int, list[str]]:
    rows = await s.execute(
        select(InstanceGroupMember.group_id, Server.uuid)
        .join(Server, Server.uuid == InstanceGroupMember.server_uuid)
        .where(InstanceGroupMember.group_id.in_(ids), Server.deleted.is_(False))
        .order_by(Server.id))
    found: dict[int, list[str]] = {i: [] for i in ids}
    for gid, uuid in rows:
        found[gid].append(uuid)
    return found


async def _find(s: AsyncSession, ctx: RequestContext, group_id: str,
                rule: str) -> InstanceGroup:
    group = await s.scalar(select(InstanceGroup).where(InstanceGroup.uuid == group_id))
    if group is None or not policy.can(ctx, "compute:server_groups:show",
                                       {"project_id": group.project_id}):
        raise NotFound(f"Instance group {group_id} could not be found.")
    policy.authorize(ctx, rule, {"project_id": group.project_id})
    return group


async def create(rt: Runtime, ctx: RequestContext, name: str, policy_: str,
                 rules: dict[str, Any]) -> Group:
    project = project_of(ctx)
    policy.authorize(ctx, "compute:server_groups:create", {"project_id": project})
    if rules and policy_ != "anti-affinity":
        raise InvalidParameter("Only anti-affinity policy supports rules.")
    async with rt.db.session() as s:
        limit = await quotas.limit_of(s, project, "server_groups")
        if 0 <= limit <= await quotas.groups_of(s, project):
            raise quotas.OverQuota("Quota exceeded, too many server groups.")
        group = InstanceGroup(name=name, project_id=project, user_id=user_of(ctx),
                              policy=policy_, rules=rules)
        s.add(group)
    return Group(group, [])


async def get(rt: Runtime, ctx: RequestContext, group_id: str) -> Group:
    async with rt.db.session() as s:
        group = await _find(s, ctx, group_id, "compute:server_groups:show")
        return Group(group, (await _members(s, [group.id]))[group.id])


async def list_groups(rt: Runtime, ctx: RequestContext, all_projects: bool,
                      limit: int | None, offset: int | None) -> list[Group]:
    project = project_of(ctx)
    policy.authorize(ctx, "compute:server_groups:list", {"project_id": project})
    q = select(InstanceGroup).order_by(InstanceGroup.id)
    if not (all_projects and policy.can(ctx, "compute:server_groups:list_all",
                                        {"project_id": project})):
        q = q.where(InstanceGroup.project_id == project)
    cap = rt.settings.api_max_limit
    q = q.offset(offset or 0).limit(cap if limit is None else min(limit, cap))
    async with rt.db.session() as s:
        groups = list((await s.scalars(q)).all())
        members = await _members(s, [g.id for g in groups])
    return [Group(g, members[g.id]) for g in groups]


async def delete(rt: Runtime, ctx: RequestContext, group_id: str) -> None:
    async with rt.db.session() as s:
        group = await _find(s, ctx, group_id, "compute:server_groups:delete")
        await s.delete(group)


async def join(s: AsyncSession, ctx: RequestContext, group_id: str,
               servers: list[str]) -> None:
    """The new ``servers`` (a create's) join the group of their ``group`` hint: 400 for a
    group the requester cannot see, 403 past the ``server_group_members`` quota."""
    group = await s.scalar(select(InstanceGroup).where(InstanceGroup.uuid == group_id))
    if group is None or not policy.can(ctx, "compute:server_groups:show",
                                       {"project_id": group.project_id}):
        raise InvalidParameter(f"Instance group {group_id} could not be found.")
    limit = await quotas.limit_of(s, group.project_id, "server_group_members")
    present = len((await _members(s, [group.id]))[group.id])
    if 0 <= limit < present + len(servers):
        raise quotas.OverQuota("Quota exceeded, too many servers in group")
    s.add_all([InstanceGroupMember(group_id=group.id, server_uuid=u) for u in servers])


async def of_server(s: AsyncSession, server_uuid: str) -> list[str]:
    """The groups a server is in (2.71's ``server_groups``)."""
    rows = await s.scalars(select(InstanceGroup.uuid).join(
        InstanceGroupMember, InstanceGroupMember.group_id == InstanceGroup.id)
        .where(InstanceGroupMember.server_uuid == server_uuid))
    return list(rows)
