"""Network quotas: per-project limits on networks, subnets, ports, RBAC policies,
routers, floating IPs, and security groups and their rules.

As Neutron's DbQuotaNoLockDriver, usage is counted from the rows, not
tracked.  :func:`check` runs inside the creating transaction after taking
the project's advisory lock for the resource, so two concurrent creates
cannot both take the last unit.  ``-1`` means unlimited.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.network_models import (
    FloatingIP,
    Network,
    NetworkPort,
    NetworkQuota,
    NetworkRbac,
    Router,
    SecurityGroup,
    SecurityGroupRule,
    Subnet,
)
from barecloud.db.session import serialize
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.network import attrs
from barecloud.services.network.errors import OverQuota
from barecloud.services.quotas import save_limits

# Neutron's [quotas] defaults for the resources barecloud has.
DEFAULTS: dict[str, int] = {"network": 100, "subnet": 100, "port": 500, "rbac_policy": 10,
                             "security_group": 10, "security_group_rule": 100,
                             "router": 10, "floatingip": 50}
_MODELS: dict[str, Any] = {"network": Network, "subnet": Subnet, "port": NetworkPort,
                           "rbac_policy": NetworkRbac, "security_group": SecurityGroup,
                           "security_group_rule": SecurityGroupRule, "router": Router,
                           "floatingip": FloatingIP}


async def limits_of(s: AsyncSession, project: str) -> dict[str, int]:
    rows = await s.execute(select(NetworkQuota.resource, NetworkQuota.hard_limit)
                           .where(NetworkQuota.project_id == project))
    return {**DEFAULTS, **{k: v for k, v in rows.tuples().all() if k in DEFAULTS}}


async def used(s: AsyncSession, project: str, resource: str) -> int:
    model = _MODELS[resource]
    return int(await s.scalar(select(func.count()).select_from(model)
                              .where(model.project_id == project)) or 0)


async def check(s: AsyncSession, project: str, resource: str, count: int = 1) -> None:
    """Neutron's 409 OverQuota unless ``count`` more of ``resource`` fit; call before the
    insert, in the same transaction (the lock is held until it ends)."""
    await serialize(s, f"quota:{project}:{resource}")
    limit = (await limits_of(s, project))[resource]
    if limit >= 0 and await used(s, project, resource) + count > limit:
        raise OverQuota([resource])


# --- /v2.0/quotas ------------------------------------------------------------
async def show(rt: Runtime, ctx: RequestContext, project: str) -> dict[str, int]:
    policy.authorize(ctx, "network:get_quota", {"project_id": project})
    async with rt.db.session() as s:
        return await limits_of(s, project)


async def details(rt: Runtime, ctx: RequestContext, project: str) -> dict[str, dict[str, int]]:
    policy.authorize(ctx, "network:get_quota", {"project_id": project})
    async with rt.db.session() as s:
        limits = await limits_of(s, project)
        return {name: {"limit": limit, "used": await used(s, project, name), "reserved": 0}
                for name, limit in limits.items()}


async def list_all(rt: Runtime, ctx: RequestContext) -> dict[str, dict[str, int]]:
    """Every project with a limit of its own: project -> all its limits."""
    policy.authorize(ctx, "network:get_quotas")
    async with rt.db.session() as s:
        projects = (await s.scalars(select(NetworkQuota.project_id).distinct()
                                    .order_by(NetworkQuota.project_id))).all()
        return {p: await limits_of(s, p) for p in projects}


def _values(data: dict[str, Any]) -> dict[str, int]:
    """The limits of a declared body (schemas.UPDATE_QUOTA), as integers."""
    return {name: attrs.integer(data[name], name, minimum=-1, maximum=2**31 - 1)
            for name in DEFAULTS if name in data}


async def update(rt: Runtime, ctx: RequestContext, project: str,
                 data: dict[str, Any]) -> dict[str, int]:
    values = _values(data)
    policy.authorize(ctx, "network:update_quota", {"project_id": project})
    await save_limits(rt.db, NetworkQuota, project, values)
    async with rt.db.session() as s:
        return await limits_of(s, project)


async def reset(rt: Runtime, ctx: RequestContext, project: str) -> None:
    policy.authorize(ctx, "network:delete_quota", {"project_id": project})
    async with rt.db.session() as s:
        await s.execute(delete(NetworkQuota).where(NetworkQuota.project_id == project))
