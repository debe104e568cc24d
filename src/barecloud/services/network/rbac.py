"""RBAC policies: a network's (or security group's) owner shares it with one project or
with everyone.

A security group shared ``access_as_shared`` is seen by the target project,
which may put its ports in it but not change it (the operator's firewall
profiles, security_groups.py); to ``*`` it is the group's ``shared``.

``access_as_shared`` to a project makes the network visible to it and
lets its members put ports on it; to ``*`` (admins only) it is the
network's ``shared``.  ``access_as_external`` to ``*`` is its
``router:external``.  An entry whose removal would strand another
project's ports on the network is in use (409), as in Neutron.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.network_models import (
    Network,
    NetworkPort,
    NetworkRbac,
    PortSecurityGroup,
    SecurityGroup,
)
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.network import attrs, networks, quotas
from barecloud.services.network import security_groups as groups_service
from barecloud.services.network.common import (
    WILDCARD,
    ListQuery,
    Page,
    column_filter,
    fetch_visible,
    page,
    sees_all,
    visible_rows,
)
from barecloud.services.network.errors import (
    DuplicateRbacPolicy,
    HTTPBadRequest,
    RbacPolicyInUse,
    RbacPolicyNotFound,
)
from barecloud.services.tenancy import project_of, service_context

FILTERS = {
    "id": column_filter(NetworkRbac.id), "object_type": column_filter(NetworkRbac.object_type),
    "object_id": column_filter(NetworkRbac.object_id),
    "action": column_filter(NetworkRbac.action),
    "target_tenant": column_filter(NetworkRbac.target_tenant),
    "target_project": column_filter(NetworkRbac.target_tenant),
    "target_project_id": column_filter(NetworkRbac.target_tenant),
    "project_id": column_filter(NetworkRbac.project_id),
}
SORTS = {"id": NetworkRbac.id, "object_id": NetworkRbac.object_id,
         "action": NetworkRbac.action, "target_tenant": NetworkRbac.target_tenant,
         "project_id": NetworkRbac.project_id}


def _visible(ctx: RequestContext) -> Any:
    return None if sees_all(ctx) else NetworkRbac.project_id == project_of(ctx)


async def fetch(s: AsyncSession, ctx: RequestContext, policy_id: str) -> NetworkRbac:
    return await fetch_visible(s, NetworkRbac, policy_id, _visible(ctx), RbacPolicyNotFound)


async def get(rt: Runtime, ctx: RequestContext, policy_id: str) -> NetworkRbac:
    policy.authorize(ctx, "network:get_rbac_policy")
    async with rt.db.session() as s:
        return await fetch(s, ctx, policy_id)


async def list_policies(rt: Runtime, ctx: RequestContext, query: ListQuery) -> Page:
    policy.authorize(ctx, "network:get_rbac_policy")
    q = visible_rows(NetworkRbac, _visible(ctx))
    async with rt.db.session() as s:
        return await page(s, q, NetworkRbac, query, FILTERS, SORTS, rt.settings.api_max_limit,
                          RbacPolicyNotFound)


def _target(data: dict[str, Any]) -> str:
    value = data.get("target_tenant", data.get("target_project"))
    if value is None:
        raise HTTPBadRequest("Failed to parse request. Required attribute "
                                   "'target_tenant' not specified")
    return str(value)


async def _network(s: AsyncSession, ctx: RequestContext, object_id: str) -> Network:
    """The network an entry is about: visible to the caller, and the caller's own."""
    network = await networks.fetch(s, ctx, object_id, for_update=True)
    policy.authorize(ctx, "network:create_rbac_policy", networks.target(network))
    return network


async def _group(s: AsyncSession, ctx: RequestContext, object_id: str) -> SecurityGroup:
    """The group an entry is about: visible to the caller, and the caller's own."""
    group = await groups_service.fetch(s, ctx, object_id, for_update=True)
    policy.authorize(ctx, "network:create_rbac_policy", {"project_id": group.project_id})
    return group


async def _object(s: AsyncSession, ctx: RequestContext, object_type: str, object_id: str,
                  action: str) -> Network | SecurityGroup:
    if object_type == "network":
        return await _network(s, ctx, object_id)
    if action != "access_as_shared":
        raise HTTPBadRequest(f"Invalid action {action} for object type {object_type}. Valid "
                             "actions: ['access_as_shared']")
    return await _group(s, ctx, object_id)


async def _mirror(s: AsyncSession, network: Network | SecurityGroup, action: str) -> None:
    """Keep ``shared`` / ``router:external`` in step with the wildcard entries."""
    object_type = "network" if isinstance(network, Network) else "security_group"
    wildcard = await s.scalar(select(NetworkRbac.id).where(
        NetworkRbac.object_type == object_type, NetworkRbac.object_id == network.id,
        NetworkRbac.action == action, NetworkRbac.target_tenant == WILDCARD))
    if isinstance(network, SecurityGroup):
        network.shared = wildcard is not None
        groups_service.changed()
    elif action == "access_as_shared":
        network.shared = wildcard is not None
    else:
        network.router_external = wildcard is not None


async def create(rt: Runtime, ctx: RequestContext, data: dict[str, Any]) -> NetworkRbac:
    """An entry from a declared body (schemas.CREATE_RBAC_POLICY's ``rbac_policy``)."""
    object_type, action = str(data["object_type"]), str(data["action"])
    object_id = str(data["object_id"])
    target_tenant = _target(data)
    project = attrs.owner(ctx, data)
    policy.authorize(ctx, "network:create_rbac_policy", {"project_id": project})
    if target_tenant == WILDCARD:
        policy.authorize(ctx, "network:create_rbac_policy:target_tenant",
                         {"project_id": project})
    try:
        async with rt.db.session() as s:
            network = await _object(s, ctx, object_type, object_id, action)
            if await s.scalar(select(NetworkRbac.id).where(
                    NetworkRbac.object_type == object_type,
                    NetworkRbac.object_id == network.id,
                    NetworkRbac.target_tenant == target_tenant,
                    NetworkRbac.action == action)):
                raise DuplicateRbacPolicy()
            await quotas.check(s, project, "rbac_policy")
            row = NetworkRbac(object_type=object_type, object_id=network.id,
                              project_id=project, target_tenant=target_tenant, action=action)
            s.add(row)
            await s.flush()
            await _mirror(s, network, action)
    except IntegrityError:
        raise DuplicateRbacPolicy() from None
    return row


async def _check_unused(s: AsyncSession, row: NetworkRbac) -> Network | SecurityGroup:
    if row.object_type == "security_group":
        group = await groups_service.fetch(s, service_context("req-rbac"), row.object_id,
                                           for_update=True)
        q = select(NetworkPort.project_id).join(
            PortSecurityGroup, PortSecurityGroup.port_id == NetworkPort.id).where(
            PortSecurityGroup.security_group_id == group.id,
            NetworkPort.project_id != group.project_id)
        if row.target_tenant != WILDCARD:
            q = q.where(NetworkPort.project_id == row.target_tenant)
        users = sorted(set((await s.scalars(q)).all()))
        if users:
            raise RbacPolicyInUse(row.object_id, f"ports of project(s) {', '.join(users)} "
                                                 "are in the security group")
        return group
    network = await networks.fetch(s, service_context("req-rbac"), row.object_id,
                                   for_update=True)
    if row.action == "access_as_shared":
        users = await networks.stranded(s, network, row.target_tenant)
        if users:
            raise RbacPolicyInUse(row.object_id, f"ports of project(s) {', '.join(users)} "
                                                 "are on the network")
    return network


async def update(rt: Runtime, ctx: RequestContext, policy_id: str,
                 data: dict[str, Any]) -> NetworkRbac:
    target_tenant = _target(data)
    policy.authorize(ctx, "network:get_rbac_policy")
    try:
        async with rt.db.session() as s:
            row = await fetch(s, ctx, policy_id)
            policy.authorize(ctx, "network:update_rbac_policy", {"project_id": row.project_id})
            if target_tenant == WILDCARD:
                policy.authorize(ctx, "network:create_rbac_policy:target_tenant",
                                 {"project_id": row.project_id})
            if target_tenant != row.target_tenant:
                network = await _check_unused(s, row)
                row.target_tenant = target_tenant
                await s.flush()
                await _mirror(s, network, row.action)
    except IntegrityError:
        raise DuplicateRbacPolicy() from None
    return row


async def remove(rt: Runtime, ctx: RequestContext, policy_id: str) -> None:
    policy.authorize(ctx, "network:get_rbac_policy")
    async with rt.db.session() as s:
        row = await fetch(s, ctx, policy_id)
        policy.authorize(ctx, "network:delete_rbac_policy", {"project_id": row.project_id})
        network = await _check_unused(s, row)
        await s.delete(row)
        await s.flush()
        await _mirror(s, network, row.action)


