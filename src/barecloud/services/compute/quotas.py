"""Compute quotas: per-project limits, usage counted from the servers table.

As Nova since Pike, usage is counted, not tracked: instances, cores and RAM
are sums over a project's servers that are not deleted.  A create checks
before inserting and checks again after (two API processes may both have
passed the first check); the loser's servers are removed and it gets
Nova's 403.  ``-1`` means unlimited.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.compute_models import InstanceGroup, KeyPair, Quota, QuotaClass, Server
from barecloud.errors import Conflict, Forbidden, InvalidParameter
from barecloud.services import policy
from barecloud.services.compute import schemas
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.quotas import save_limits
from barecloud.services.tenancy import NOAUTH_PROJECT

# Nova's defaults ([quota] in nova.conf).
DEFAULTS: dict[str, int] = {
    "instances": 10, "cores": 20, "ram": 51200, "metadata_items": 128, "key_pairs": 100,
    "server_groups": 10, "server_group_members": 10, "injected_files": 5,
    "injected_file_content_bytes": 10240, "injected_file_path_bytes": 255,
    "fixed_ips": -1, "floating_ips": 10, "security_groups": 10, "security_group_rules": 20,
}
DEFAULT_CLASS = "default"
NETWORK = schemas.NETWORK_QUOTAS
INJECTED = schemas.INJECTED_QUOTAS


class OverQuota(Forbidden):
    """Nova answers quota refusals with 403 ``forbidden``."""


def resources(version: tuple[int, int]) -> list[str]:
    """The quota names a client at ``version`` sees and may set."""
    names = list(DEFAULTS)
    if version >= (2, 36):
        names = [n for n in names if n not in NETWORK]
    if version >= (2, 57):
        names = [n for n in names if n not in INJECTED]
    return names


def _project(project: str | None) -> str:
    return project or NOAUTH_PROJECT


async def limits_of(s: AsyncSession, project: str | None) -> dict[str, int]:
    rows = await s.execute(select(Quota.resource, Quota.hard_limit)
                           .where(Quota.project_id == _project(project)))
    return {**await defaults(s), **dict(rows.tuples().all())}


async def limit_of(s: AsyncSession, project: str | None, resource: str) -> int:
    value = await s.scalar(select(Quota.hard_limit).where(
        Quota.project_id == _project(project), Quota.resource == resource))
    return (await defaults(s))[resource] if value is None else int(value)


async def defaults(s: AsyncSession, class_name: str = DEFAULT_CLASS) -> dict[str, int]:
    """nova.conf's defaults (DEFAULTS) as a quota class overrides them; the ``default``
    class's are every project's defaults, as Nova's DbQuotaDriver."""
    rows = await s.execute(select(QuotaClass.resource, QuotaClass.hard_limit)
                           .where(QuotaClass.class_name == class_name))
    return {**DEFAULTS, **dict(rows.tuples().all())}


async def usage(s: AsyncSession, project: str, user: str | None = None) -> dict[str, int]:
    row = (await s.execute(
        select(func.count(Server.id), func.coalesce(func.sum(Server.vcpus), 0),
               func.coalesce(func.sum(Server.memory_mb), 0))
        .where(Server.project_id == project, Server.deleted.is_(False))
    )).one()
    used = {"instances": int(row[0]), "cores": int(row[1]), "ram": int(row[2]),
            "server_groups": await groups_of(s, project), "key_pairs": 0}
    if user is not None:
        used["key_pairs"] = int(await s.scalar(
            select(func.count(KeyPair.id)).where(KeyPair.user_id == user)) or 0)
    return used


async def groups_of(s: AsyncSession, project: str) -> int:
    """The project's server groups (its ``server_groups`` quota's usage)."""
    return int(await s.scalar(select(func.count(InstanceGroup.id)).where(
        InstanceGroup.project_id == project)) or 0)


def _headroom(limit: int, used: int) -> int | None:
    return None if limit < 0 else limit - used


def admissible(limits: dict[str, int], used: dict[str, int], min_count: int, max_count: int,
               vcpus: int, ram: int) -> int:
    """How many of ``min_count..max_count`` servers fit; Nova's 403 if not ``min_count``."""
    wanted = {"instances": max_count, "cores": max_count * vcpus, "ram": max_count * ram}
    if not any(limits[r] >= 0 and used[r] + n > limits[r] for r, n in wanted.items()):
        return max_count
    allowed = max_count
    for resource, per_server in (("instances", 1), ("cores", vcpus), ("ram", ram)):
        room = _headroom(limits[resource], used[resource])
        if room is not None and per_server:
            allowed = min(allowed, max(room, 0) // per_server)
    if allowed >= min_count:
        return allowed
    raise refusal(limits, used, min_count, max_count, vcpus, ram)


def refusal(limits: dict[str, int], used: dict[str, int], min_count: int, max_count: int,
            vcpus: int, ram: int) -> OverQuota:
    """Nova's ``TooManyInstances``: every resource the request would overrun."""
    wanted = {"instances": max_count, "cores": max_count * vcpus, "ram": max_count * ram}
    overs = sorted(r for r, n in wanted.items()
                   if limits[r] >= 0 and used[r] + n > limits[r]) or ["instances"]
    count = str(min_count) if min_count == max_count else f"{min_count}-{max_count}"
    requested = {"instances": count, "cores": str(wanted["cores"]), "ram": str(wanted["ram"])}
    return OverQuota(
        f"Quota exceeded for {', '.join(overs)}: Requested "
        f"{', '.join(requested[r] for r in overs)}, but already used "
        f"{', '.join(str(used[r]) for r in overs)} of "
        f"{', '.join(str(limits[r]) for r in overs)} {', '.join(overs)}"
    )


async def check_metadata(s: AsyncSession, project: str, items: int) -> None:
    limit = await limit_of(s, project, "metadata_items")
    if 0 <= limit < items:
        raise OverQuota(f"Maximum number of metadata items exceeds {limit}")


# --- os-quota-sets -------------------------------------------------------
def view(values: dict[str, int], version: tuple[int, int]) -> dict[str, int]:
    return {name: values[name] for name in resources(version)}


async def show(rt: Runtime, ctx: RequestContext, project: str,
               version: tuple[int, int]) -> dict[str, int]:
    policy.authorize(ctx, "compute:quotas:show", {"project_id": project})
    async with rt.db.session() as s:
        return view(await limits_of(s, project), version)


async def detail(rt: Runtime, ctx: RequestContext, project: str,
                 version: tuple[int, int]) -> dict[str, dict[str, int]]:
    policy.authorize(ctx, "compute:quotas:show", {"project_id": project})
    async with rt.db.session() as s:
        limits = await limits_of(s, project)
        used = await usage(s, project, ctx.user)
    return {name: {"limit": limit, "in_use": used.get(name, 0), "reserved": 0}
            for name, limit in view(limits, version).items()}


def _given(data: dict[str, Any], names: list[str]) -> dict[str, int]:
    """The limits a body sets, of ``names``: integers of -1 or more."""
    values: dict[str, int] = {}
    for name in names:
        value = schemas.to_int(data, name, schemas.QUOTA_VALUE)
        if value is None:
            continue
        if value < -1:
            raise InvalidParameter(f"Quota limit {value} for {name} must be -1 or greater.")
        values[name] = value
    return values


async def update(rt: Runtime, ctx: RequestContext, project: str, body: dict[str, Any],
                 version: tuple[int, int]) -> dict[str, int]:
    """``body`` fits schemas.UPDATE_QUOTAS at ``version``."""
    values = _given(body["quota_set"], resources(version))
    policy.authorize(ctx, "compute:quotas:update", {"project_id": project})
    await save_limits(rt.db, Quota, project, values)
    async with rt.db.session() as s:
        return view(await limits_of(s, project), version)




async def revert(rt: Runtime, ctx: RequestContext, project: str) -> None:
    policy.authorize(ctx, "compute:quotas:delete", {"project_id": project})
    async with rt.db.session() as s:
        await s.execute(delete(Quota).where(Quota.project_id == project))


async def absolute_limits(rt: Runtime, ctx: RequestContext, project: str,
                          version: tuple[int, int]) -> dict[str, int]:
    """``GET /limits``: the absolute limits and what the project uses of them."""
    policy.authorize(ctx, "compute:limits:show", {"project_id": project})
    async with rt.db.session() as s:
        q = await limits_of(s, project)
        used = await usage(s, project)
    out = {
        "maxServerMeta": q["metadata_items"], "maxTotalKeypairs": q["key_pairs"],
        "maxServerGroups": q["server_groups"], "maxServerGroupMembers": q["server_group_members"],
        "maxTotalCores": q["cores"], "maxTotalInstances": q["instances"],
        "maxTotalRAMSize": q["ram"], "totalCoresUsed": used["cores"],
        "totalInstancesUsed": used["instances"], "totalRAMUsed": used["ram"],
        "totalServerGroupsUsed": used["server_groups"],
    }
    if version < (2, 39):
        out["maxImageMeta"] = q["metadata_items"]
    if version < (2, 57):
        out["maxPersonality"] = q["injected_files"]
        out["maxPersonalitySize"] = q["injected_file_content_bytes"]
    if version < (2, 36):
        out.update({"maxSecurityGroups": q["security_groups"],
                    "maxSecurityGroupRules": q["security_group_rules"],
                    "maxTotalFloatingIps": q["floating_ips"], "totalFloatingIpsUsed": 0,
                    "totalSecurityGroupsUsed": 0})
    return out


async def default_limits(rt: Runtime) -> dict[str, int]:
    """``os-quota-sets/{id}/defaults``: what a project has until it is given its own."""
    async with rt.db.session() as s:
        return await defaults(s)


# --- os-quota-class-sets ---------------------------------------------------------
def class_resources(version: tuple[int, int]) -> list[str]:
    """A quota class's names at ``version``: the network ones until 2.50, which adds
    the server group ones; the injected-file ones until 2.57 (Nova's)."""
    names = ["instances", "cores", "ram", "metadata_items", "key_pairs"]
    names += list(INJECTED) if version < (2, 57) else []
    names += list(NETWORK) if version < (2, 50) else ["server_groups", "server_group_members"]
    return names


async def class_show(rt: Runtime, ctx: RequestContext, class_name: str,
                     version: tuple[int, int]) -> dict[str, int]:
    policy.authorize(ctx, "compute:quota_classes:show", {})
    async with rt.db.session() as s:
        values = await defaults(s, class_name)
    return {name: values[name] for name in class_resources(version)}


async def class_update(rt: Runtime, ctx: RequestContext, class_name: str,
                       body: dict[str, Any], version: tuple[int, int]) -> dict[str, int]:
    """``body`` fits schemas.UPDATE_QUOTA_CLASS at ``version``."""
    values = _given(body["quota_class_set"], class_resources(version))
    policy.authorize(ctx, "compute:quota_classes:update", {})
    for attempt in range(3):
        try:
            async with rt.db.session() as s:
                rows = {q.resource: q for q in await s.scalars(
                    select(QuotaClass).where(QuotaClass.class_name == class_name))}
                for name, value in values.items():
                    if name in rows:
                        rows[name].hard_limit = value
                    else:
                        s.add(QuotaClass(class_name=class_name, resource=name,
                                         hard_limit=value))
            break
        except IntegrityError:
            if attempt == 2:
                raise Conflict("The quota class changed meanwhile; try again.") from None
    return await class_show(rt, ctx, class_name, version)
