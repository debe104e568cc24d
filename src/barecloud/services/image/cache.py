"""Glance's image cache (``/v2/cache``, Image API 2.14), where the site keeps one.

Off by default (Glance's ``image_cache_dir`` unset: the API answers 404).
When on (``image_cache``), an admin queues an ``active`` image; a worker of
the API process that took the request copies its data (the store's file, or
its first location's: locations.py) to ``<data_dir>/image-cache/<id>`` and
records it cached.  ``GET /images/{id}/file`` is then served from the copy,
counting hits and the last access, as Glance's cache middleware; deleting
the image, or it from the cache, removes the copy.  Records are rows
(``image_cache``), so every API process of a site sees one cache, as
Glance's centralized_db driver.  An entry left ``queued`` by a process that
stopped is copied when it is queued again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy import update as sql_update

from barecloud.db.models import Image, ImageCacheEntry, utcnow
from barecloud.errors import InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.image import images, locations
from barecloud.services.image import store as image_store

log = logging.getLogger(__name__)
TARGETS = ("", "cache", "queue")

_running: set[asyncio.Task[None]] = set()


def _enforce(rt: Runtime, ctx: RequestContext) -> None:
    policy.authorize(ctx, "image:manage_image_cache")
    if not rt.settings.image_cache:
        raise NotFound("Caching via API is not supported at this site.")


def _epoch(when: dt.datetime | None) -> float | None:
    """Glance shows the times as seconds since the epoch (rows hold naive UTC)."""
    return when.replace(tzinfo=dt.UTC).timestamp() if when is not None else None


async def state(rt: Runtime, ctx: RequestContext) -> dict[str, Any]:
    """``GET /v2/cache``: the cached images (with hits) and the queued ones."""
    _enforce(rt, ctx)
    async with rt.db.session() as s:
        rows = list(await s.scalars(select(ImageCacheEntry)
                                    .order_by(ImageCacheEntry.created_at)))
    return {
        "cached_images": [{"image_id": r.image_id, "hits": r.hits,
                           "last_accessed": _epoch(r.last_accessed),
                           "last_modified": _epoch(r.last_modified), "size": r.size}
                          for r in rows if r.state == "cached"],
        "queued_images": [r.image_id for r in rows if r.state == "queued"],
    }


async def queue(rt: Runtime, ctx: RequestContext, image_id: str) -> None:
    """``PUT /v2/cache/{id}``: queue an active image; a worker copies it."""
    try:
        image = await images.get(rt, ctx, image_id)
    except NotFound:
        raise NotFound(f"Image {image_id} not found.") from None
    _enforce(rt, ctx)
    if image.status != "active":
        raise InvalidParameter("Only images with status active can be targeted for queueing")
    async with rt.db.session() as s:
        entry = await s.get(ImageCacheEntry, image.uuid)
        if entry is not None and entry.state == "cached":
            return
        if entry is None:
            s.add(ImageCacheEntry(image_id=image.uuid, state="queued", hits=0,
                                  created_at=utcnow()))
    task = asyncio.create_task(_fill(rt, image), name=f"image-cache-{image.uuid}")
    _running.add(task)
    task.add_done_callback(_running.discard)


async def _fill(rt: Runtime, image: Image) -> None:
    """Copy the image's data into the cache; the entry is cached, or dropped on failure."""
    path = image_store.cache_path(rt.settings, image.uuid)
    try:
        if locations.has_local(image) or not image.locations:
            source = image_store.read(image_store.data_path(rt.settings, image.uuid))
        else:
            source = locations.stream(str(image.locations[0]["url"]))
        size = await image_store.copy_in(path, source)
    except Exception as exc:
        log.warning("caching image %s failed: %r", image.uuid, exc)
        await _drop(rt, image.uuid)
        return
    async with rt.db.session() as s:
        done = await s.execute(
            sql_update(ImageCacheEntry)
            .where(ImageCacheEntry.image_id == image.uuid, ImageCacheEntry.state == "queued")
            .values(state="cached", size=size, last_modified=utcnow()))
        still = await s.scalar(select(Image.id).where(Image.uuid == image.uuid))
    if not done.rowcount or still is None:  # type: ignore[attr-defined]
        await _drop(rt, image.uuid)  # deleted from the cache, or the image, meanwhile


async def _drop(rt: Runtime, image_id: str) -> None:
    async with rt.db.session() as s:
        await s.execute(delete(ImageCacheEntry).where(ImageCacheEntry.image_id == image_id))
    await asyncio.to_thread(image_store.cache_path(rt.settings, image_id).unlink,
                            missing_ok=True)


async def forget(rt: Runtime, ctx: RequestContext, image_id: str) -> None:
    """``DELETE /v2/cache/{id}``: out of the cache and the queue (404 if in neither and
    not an image)."""
    async with rt.db.session() as s:
        entry = await s.get(ImageCacheEntry, image_id)
    if entry is None:
        try:  # Glance: 404 unless the image exists
            await images.get(rt, ctx, image_id)
        except NotFound:
            raise NotFound(f"Image {image_id} not found.") from None
    _enforce(rt, ctx)
    await _drop(rt, image_id)


async def clear(rt: Runtime, ctx: RequestContext, target: str) -> None:
    """``DELETE /v2/cache``: the cache, the queue, or both (``x-image-cache-clear-target``)."""
    _enforce(rt, ctx)
    target = target.lower()
    if target not in TARGETS:
        raise InvalidParameter("If provided 'x-image-cache-clear-target' must be 'cache', "
                               "'queue' or empty string.")
    states = {"": ("cached", "queued"), "cache": ("cached",), "queue": ("queued",)}[target]
    async with rt.db.session() as s:
        ids = list(await s.scalars(select(ImageCacheEntry.image_id)
                                   .where(ImageCacheEntry.state.in_(states))))
    for image_id in ids:
        await _drop(rt, image_id)


async def hit(rt: Runtime, image_id: str) -> Path | None:
    """The cached copy of ``image_id`` if there is one, its hit counted."""
    if not rt.settings.image_cache:
        return None
    path = image_store.cache_path(rt.settings, image_id)
    async with rt.db.session() as s:
        done = await s.execute(
            sql_update(ImageCacheEntry)
            .where(ImageCacheEntry.image_id == image_id, ImageCacheEntry.state == "cached")
            .values(hits=ImageCacheEntry.hits + 1, last_accessed=utcnow()))
    if not done.rowcount or not path.exists():  # type: ignore[attr-defined]
        return None
    return path
