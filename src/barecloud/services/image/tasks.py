"""Glance's tasks: the record of each image import (type ``api_image_import``; a
location's, ``location_import``: location_import.py).

An import (staging.py) makes one, ``processing``, and leaves it ``success`` or
``failure`` with the reason; ``expires_at`` is set then (48 hours on, Glance's
``task_time_to_live``), shown but not acted on.  The tasks API is an admin's
(``image:tasks_api_access``, Glance's default); an image's own tasks are for
whoever sees the image.  ``POST /v2/tasks`` makes none: its ``import`` type
(Glance's older, deprecated import) is refused; interoperable import is offered.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NoReturn

from sqlalchemy import select
from sqlalchemy import update as sql_update

from barecloud.db.models import ImageTask, utcnow
from barecloud.errors import InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.image import images

TYPES = ("import", "api_image_import", "location_import")
TIME_TO_LIVE = dt.timedelta(hours=48)


async def begin(rt: Runtime, ctx: RequestContext, image_id: str,
                import_req: dict[str, Any], kind: str = "api_image_import",
                task_input: dict[str, Any] | None = None) -> str:
    """Record an import of ``image_id`` starting (``kind``: ``location_import`` for a
    location's, location_import.py); the task's id."""
    now = utcnow()
    task = ImageTask(image_id=image_id, type=kind, status="processing",
                     owner=ctx.project, user_id=ctx.user, request_id=ctx.request_id,
                     input=task_input or {"image_id": image_id, "import_req": import_req,
                                          "backend": ["file"]},
                     created_at=now, updated_at=now)
    async with rt.db.session() as s:
        s.add(task)
    return task.uuid


async def finish(rt: Runtime, task_id: str, image_id: str, message: str | None) -> None:
    """The import ended: ``success`` without a message, else ``failure`` with it."""
    now = utcnow()
    async with rt.db.session() as s:
        await s.execute(sql_update(ImageTask).where(ImageTask.uuid == task_id).values(
            status="failure" if message else "success", message=message or "",
            result=None if message else {"image_id": image_id},
            updated_at=now, expires_at=now + TIME_TO_LIVE))


def _mine(ctx: RequestContext) -> Any:
    if policy.can(ctx, "image:get_all"):
        return True
    return ImageTask.owner == ctx.project


async def list_tasks(rt: Runtime, ctx: RequestContext,
                     query: dict[str, Any]) -> list[ImageTask]:
    policy.authorize(ctx, "image:tasks_api_access")
    stmt = select(ImageTask).where(_mine(ctx))
    for key in ("status", "type"):
        if query.get(key):
            stmt = stmt.where(getattr(ImageTask, key) == query[key])
    descending = query.get("sort_dir", "desc") == "desc"
    order = ImageTask.created_at.desc() if descending else ImageTask.created_at.asc()
    async with rt.db.session() as s:
        return list(await s.scalars(stmt.order_by(order, ImageTask.id)))


async def get(rt: Runtime, ctx: RequestContext, task_id: str) -> ImageTask:
    policy.authorize(ctx, "image:tasks_api_access")
    async with rt.db.session() as s:
        task = await s.scalar(select(ImageTask).where(ImageTask.uuid == task_id, _mine(ctx)))
    if task is None:
        raise NotFound(f"Failed to find task {task_id}")
    return task


async def of_image(rt: Runtime, ctx: RequestContext, image_id: str) -> list[ImageTask]:
    """The tasks of an image the requester sees (Glance's 2.12 ``/images/{id}/tasks``)."""
    image = await images.get(rt, ctx, image_id)
    async with rt.db.session() as s:
        return list(await s.scalars(select(ImageTask).where(ImageTask.image_id == image.uuid)
                                    .order_by(ImageTask.created_at, ImageTask.id)))


def create(ctx: RequestContext, body: dict[str, Any]) -> NoReturn:
    """``POST /v2/tasks``: refused, with the reason (no task downloads anything here)."""
    policy.authorize(ctx, "image:tasks_api_access")
    kind = body["type"]
    if kind not in TYPES:
        raise InvalidParameter(f"Invalid type value: {kind}")
    if kind != "import":
        raise InvalidParameter(f"Task type {kind} is made by the service, not requested.")
    source = (body.get("input") or {}).get("import_from")
    raise InvalidParameter(
        f"URI for import does not pass filtering: {source}: the tasks API's import is not "
        "offered; stage the data (PUT /v2/images/{id}/stage) and import it with glance-direct, "
        "or import it with web-download where the site offers it (GET /v2/info/import).")
