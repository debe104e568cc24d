"""Projects: where resources live and roles are given."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.identity_models import (
    DEFAULT_DOMAIN,
    ApplicationCredential,
    Credential,
    GroupRoleAssignment,
    Project,
    RoleAssignment,
)
from barecloud.errors import Conflict, Forbidden, InvalidParameter, NotFound, quote
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.identity import domains, rows, validate
from barecloud.services.identity.subjects import assigned_targets
from barecloud.services.identity.tokens import tokens_of

KNOWN = {"name", "description", "enabled", "tags", "options", "domain_id", "parent_id",
         "is_domain", "id", "links"}
NAME_MAX = 64


def not_found(ident: str) -> NotFound:
    return rows.not_found("project", ident)


async def find(s: AsyncSession, ident: str) -> Project:
    return await rows.get(s, Project, ident, "project")


async def find_by_name(s: AsyncSession, name: str, domain_id: str) -> Project:
    project = await s.scalar(select(Project).where(Project.name == name,
                                                   Project.domain_id == domain_id))
    if project is None:
        raise not_found(name)
    return project


async def get(rt: Runtime, ctx: RequestContext, ident: str) -> Project:
    policy.authorize(ctx, "identity:get_project", {"project_id": ident})
    async with rt.db.session() as s:
        return await find(s, ident)


def _assigned(user_id: str) -> Any:
    return assigned_targets(user_id, "project")


@dataclass(frozen=True)
class TagFilter:
    """Keystone's tag filters, each a comma-separated list: ``tags`` (all of),
    ``tags-any`` (any of), ``not-tags`` (not all of), ``not-tags-any`` (none of)."""

    all_of: str | None = None
    any_of: str | None = None
    not_all_of: str | None = None
    none_of: str | None = None

    def admits(self, tags: list[str]) -> bool:
        have = set(tags)

        def split(raw: str) -> set[str]:
            return {t for t in raw.split(",") if t}

        return ((self.all_of is None or split(self.all_of) <= have)
                and (self.any_of is None or bool(split(self.any_of) & have))
                and (self.not_all_of is None or not split(self.not_all_of) <= have)
                and (self.none_of is None or not split(self.none_of) & have))


async def list_projects(rt: Runtime, ctx: RequestContext, *, name: str | None = None,
                        domain_id: str | None = None, enabled: bool | None = None,
                        parent_id: str | None = None, is_domain: bool | None = None,
                        tags: TagFilter | None = None) -> list[Project]:
    """Every project, for admins and system readers; others are refused (403) as by
    Keystone, and list theirs by ``/users/{id}/projects`` or ``/auth/projects``."""
    policy.authorize(ctx, "identity:list_projects")
    q = select(Project).order_by(Project.name, Project.id)
    if name is not None:
        q = q.where(Project.name == name)
    if domain_id is not None:
        q = q.where(Project.domain_id == domain_id)
    if enabled is not None:
        q = q.where(Project.enabled.is_(enabled))
    if parent_id is not None:
        q = q.where((Project.parent_id == parent_id)
                    | (Project.parent_id.is_(None) & (Project.domain_id == parent_id)))
    async with rt.db.session() as s:
        found = list((await s.scalars(q)).all())
    return found if tags is None else [p for p in found if tags.admits(list(p.tags or []))]


async def of_user(rt: Runtime, ctx: RequestContext, user_id: str, *,
                  enabled_only: bool = False) -> list[Project]:
    """The projects ``user_id`` has a role on (``/users/{id}/projects``, ``/auth/projects``)."""
    policy.authorize(ctx, "identity:list_user_projects", {"user_id": user_id})
    q = select(Project).where(Project.id.in_(_assigned(user_id))).order_by(Project.name)
    if enabled_only:
        q = q.where(Project.enabled.is_(True))
    async with rt.db.session() as s:
        return list((await s.scalars(q)).all())


async def _caller_domain(s: AsyncSession, ctx: RequestContext) -> str:
    if ctx.domain:
        return ctx.domain
    if ctx.project:
        own = await s.get(Project, ctx.project)
        if own is not None:
            return own.domain_id
    return DEFAULT_DOMAIN


async def _unique(s: AsyncSession, name: str, domain_id: str, own_id: str | None) -> None:
    other = await s.scalar(select(Project.id).where(Project.name == name,
                                                    Project.domain_id == domain_id))
    if other is not None and other != own_id:
        raise Conflict(f"Conflict occurred attempting to store project - Duplicate entry "
                       f"found with name {name} at domain ID {domain_id}.")


async def create(rt: Runtime, ctx: RequestContext, body: Any) -> Project:
    policy.authorize(ctx, "identity:create_project")
    data = body["project"]
    name = data["name"]
    description = data.get("description") or ""
    enabled = data.get("enabled") is not False
    domain_id = data.get("domain_id")
    parent_id = data.get("parent_id")
    tags = validate.tags(data) or []
    extra = validate.extra(data, KNOWN)
    async with rt.db.session() as s:
        parent = None
        if parent_id is not None and parent_id != domain_id:
            parent = await s.get(Project, parent_id)
            if parent is None:
                raise not_found(parent_id)
            if domain_id is not None and domain_id != parent.domain_id:
                raise InvalidParameter(f"Cannot create project, the parent ({parent_id}) is "
                                       f"in a different domain ({parent.domain_id}).")
            domain_id = parent.domain_id
        if domain_id is None:
            domain_id = await _caller_domain(s, ctx)
        await domains.find(s, domain_id)
        await _unique(s, name, domain_id, None)
        project = Project(name=name, domain_id=domain_id, description=description,
                          enabled=enabled, parent_id=parent.id if parent else None,
                          tags=tags, extra=extra)
        s.add(project)
    return project


async def update(rt: Runtime, ctx: RequestContext, ident: str, body: Any) -> Project:
    policy.authorize(ctx, "identity:update_project")
    data = body["project"]
    name = data.get("name")
    description = data.get("description")
    enabled = data.get("enabled")
    tags = validate.tags(data)
    async with rt.db.session() as s:
        project = await find(s, ident)
        # Keystone takes a body that repeats what the project already is.
        for key, own in (("id", project.id), ("domain_id", project.domain_id),
                         ("parent_id", project.parent_id or project.domain_id),
                         ("is_domain", False)):
            if key in data and data[key] != own:
                raise InvalidParameter(f"Invalid input for field/attribute {key}. Value: "
                                       f"{quote(data[key])}. It cannot be changed.")
        if name is not None:
            await _unique(s, name, project.domain_id, project.id)
            project.name = name
        if description is not None:
            project.description = description
        if enabled is not None:
            project.enabled = enabled
        if tags is not None:
            project.tags = tags
        project.extra = {**(project.extra or {}), **validate.extra(data, KNOWN)}
    tokens_of(rt).forget_subjects()
    return project


async def remove(rt: Runtime, ctx: RequestContext, ident: str) -> None:
    """Delete a project with its role assignments and (application) credentials."""
    policy.authorize(ctx, "identity:delete_project")
    async with rt.db.session() as s:
        project = await find(s, ident)
        if await s.scalar(select(Project.id).where(Project.parent_id == project.id).limit(1)):
            raise Forbidden(f"Cannot delete project {project.id} since it is not a leaf in "
                            "the hierarchy.")
        for model in (RoleAssignment, GroupRoleAssignment):
            await s.execute(delete(model).where(model.target_type == "project",
                                                model.target_id == project.id))
        for owned in (ApplicationCredential, Credential):
            await s.execute(delete(owned).where(owned.project_id == project.id))
        await s.delete(project)
    tokens_of(rt).forget_subjects()


# --- tags (/projects/{id}/tags) -------------------------------------------------
MAX_TAGS = 80


def _check_tag(tag: str) -> str:
    """Keystone's project_tag_create: 1 to 255 characters, no ``/`` nor ``,``."""
    if not 0 < len(tag) <= 255 or "/" in tag or "," in tag or "\x00" in tag:
        raise validate.invalid("tags", tag, "A tag is 1 to 255 characters, without '/' "
                               "and ','.")
    return tag.strip()


async def tags_of(rt: Runtime, ctx: RequestContext, ident: str) -> list[str]:
    policy.authorize(ctx, "identity:list_project_tags", {"project_id": ident})
    async with rt.db.session() as s:
        return list((await find(s, ident)).tags or [])


async def has_tag(rt: Runtime, ctx: RequestContext, ident: str, tag: str) -> None:
    policy.authorize(ctx, "identity:get_project_tag", {"project_id": ident})
    async with rt.db.session() as s:
        if tag not in ((await find(s, ident)).tags or []):
            raise NotFound(f"Could not find project tag: {tag}.")


async def set_tags(rt: Runtime, ctx: RequestContext, ident: str,
                   tags: list[str]) -> list[str]:
    """Replace every tag (declared: schemas.UPDATE_PROJECT_TAGS)."""
    policy.authorize(ctx, "identity:update_project_tags", {"project_id": ident})
    wanted = list(dict.fromkeys(t.strip() for t in tags))
    async with rt.db.session() as s:
        (await find(s, ident)).tags = wanted
    return wanted


async def add_tag(rt: Runtime, ctx: RequestContext, ident: str, tag: str) -> None:
    policy.authorize(ctx, "identity:create_project_tag", {"project_id": ident})
    tag = _check_tag(tag)
    async with rt.db.session() as s:
        project = await find(s, ident)
        have = list(project.tags or [])
        if tag in have:
            return
        if len(have) >= MAX_TAGS:
            raise validate.invalid("tags", tag, f"A project has at most {MAX_TAGS} tags.")
        project.tags = [*have, tag]


async def remove_tag(rt: Runtime, ctx: RequestContext, ident: str, tag: str | None) -> None:
    """Remove one tag (404 if the project has not it), or all (``tag`` None)."""
    action = "identity:delete_project_tags" if tag is None else "identity:delete_project_tag"
    policy.authorize(ctx, action, {"project_id": ident})
    async with rt.db.session() as s:
        project = await find(s, ident)
        have = list(project.tags or [])
        if tag is not None and tag not in have:
            raise NotFound(f"Could not find project tag: {tag}.")
        project.tags = [] if tag is None else [t for t in have if t != tag]
