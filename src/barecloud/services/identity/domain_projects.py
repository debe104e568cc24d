"""Domains seen as projects (``is_domain``), as Keystone shows them.

Keystone stores a domain as a project acting as one; barecloud keeps domains
in their own table, so ``/projects`` shows each domain as a project with
``is_domain`` true, no ``domain_id`` or ``parent_id``: created by
``POST /projects`` with ``is_domain``, listed by ``?is_domain=true``, and read,
updated and deleted by its id as a project (a domain is deleted disabled, as
through /domains).  A project cannot be created under one by ``parent_id``
alone: its ``domain_id`` names it, as before.
"""

from __future__ import annotations

from typing import Any

from barecloud.db.identity_models import Domain, Project
from barecloud.errors import InvalidParameter
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.identity import domains

# What a project body may say that a domain also has.
_SHARED = ("name", "description", "enabled", "tags")


def _as_domain(data: dict[str, Any]) -> dict[str, Any]:
    known = {"id", "links", "options", "is_domain", "domain_id", "parent_id", *_SHARED}
    out = {k: data[k] for k in _SHARED if data.get(k) is not None}
    out.update({k: v for k, v in data.items() if k not in known})
    return {"domain": out}


async def create(rt: Runtime, ctx: RequestContext, body: Any) -> Domain:
    policy.authorize(ctx, "identity:create_project")
    data = body["project"]  # declared: schemas.CREATE_PROJECT, with is_domain true
    for key in ("domain_id", "parent_id"):
        if data.get(key) is not None:
            raise InvalidParameter(f"Invalid input for field/attribute {key}: a project "
                                   "acting as a domain has none.")
    return await domains.create(rt, ctx, _as_domain(data))


async def find(rt: Runtime, ident: str) -> Domain | None:
    """The domain ``ident`` names, when it names no project."""
    async with rt.db.session() as s:
        if await s.get(Project, ident) is not None:
            return None
        return await s.get(Domain, ident)


async def get(rt: Runtime, ctx: RequestContext, ident: str) -> Domain | None:
    domain = await find(rt, ident)
    if domain is not None:
        policy.authorize(ctx, "identity:get_project", {"project_id": ident})
    return domain


async def list_domains(rt: Runtime, ctx: RequestContext, name: str | None,
                       enabled: bool | None) -> list[Domain]:
    """``/projects?is_domain=true``: every domain, for those who may list projects."""
    return await domains.list_domains(rt, ctx, name, enabled, "identity:list_projects")


async def update(rt: Runtime, ctx: RequestContext, ident: str, body: Any) -> Domain | None:
    domain = await find(rt, ident)
    if domain is None:
        return None
    policy.authorize(ctx, "identity:update_project")
    data = body["project"]
    for key, own in (("id", ident), ("domain_id", None), ("parent_id", None),
                     ("is_domain", True)):
        if key in data and data[key] != own:
            raise InvalidParameter(f"Invalid input for field/attribute {key}. It cannot be "
                                   "changed.")
    return await domains.update(rt, ctx, ident, _as_domain(data))


async def remove(rt: Runtime, ctx: RequestContext, ident: str) -> bool:
    """Delete the domain ``ident`` names; False when it names none."""
    if await find(rt, ident) is None:
        return False
    policy.authorize(ctx, "identity:delete_project")
    await domains.remove(rt, ctx, ident)
    return True
