"""Interoperable image import (Glance's v2.6 calls): ``glance-direct`` and, where
the site offers it, ``web-download``.

``PUT /images/{id}/stage`` streams data to the staging area and leaves the
image ``uploading``; ``POST /images/{id}/import`` answers 202 at once and
imports in the background: ``importing``, then the same checks and conversion
as an upload (``store.receive``) and ``active``; bad data leaves it ``killed``
with the reason, as a failed upload.  ``web-download`` takes a ``queued``
image whose import names a URL that passes the site's filter (Glance's
``[import_filtering_opts]``), downloads it to the staging area, and goes on
as glance-direct; a download or data that fails leaves the image ``queued``
again, as Glance's.  Each import is a task (tasks.py).  A stage that fails
leaves the image ``queued`` again with nothing staged, as Glance's.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from typing import Any

from barecloud.config import Settings
from barecloud.db.models import Image
from barecloud.errors import BarecloudError, Conflict, InvalidParameter, NotFound
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.image import images, locations, tasks
from barecloud.services.image import store as image_store

log = logging.getLogger(__name__)

# What /v2/info/import lists: glance-direct always; web-download where the operator
# offers it (the service then fetches URLs users name, filtered); no glance-download
# (one region) or copy-image (one store).
def import_methods(settings: Settings) -> tuple[str, ...]:
    return tuple(dict.fromkeys(["glance-direct", *settings.image_import_methods]))

_running: set[asyncio.Task[None]] = set()


async def stage(rt: Runtime, ctx: RequestContext, image_id: str,
                chunks: AsyncIterator[bytes]) -> None:
    """Stage ``chunks`` for an import: queued → uploading (queued again on failure)."""
    async with rt.db.session() as s:
        image = await images.find_own(s, ctx, image_id, "upload_image")
    if image.status != "queued" or not await images.set_status(rt, image, "queued",
                                                               "uploading"):
        current = (await images.get(rt, ctx, image_id)).status
        raise Conflict(f"Image status transition from {current} to uploading is not allowed")
    try:
        size = await image_store.stage(rt.settings, image.uuid, chunks)
    except BaseException:
        await asyncio.shield(images.set_status(rt, image, "uploading", "queued"))
        raise
    await images.set_status(rt, image, "uploading", "uploading", size=size)


def method_name(settings: Settings, body: dict[str, Any]) -> str:
    name = str(body["method"]["name"])
    if name not in import_methods(settings):
        raise InvalidParameter(f"Import method {name} is not supported at this site.")
    return name


async def start_import(rt: Runtime, ctx: RequestContext, image_id: str,
                       body: dict[str, Any]) -> None:
    """Begin an import: uploading (glance-direct) or queued (web-download) → importing,
    the rest in the background."""
    method = method_name(rt.settings, body)
    if body.get("all_stores_must_succeed") is False:
        raise InvalidParameter("All_stores_must_succeed can only be set with "
                               "enabled_backends None")
    async with rt.db.session() as s:
        image = await images.find_own(s, ctx, image_id, "import_image")
    if not image.disk_format or not image.container_format:
        raise InvalidParameter("The 'container_format' and 'disk_format' properties must be "
                               "set prior to importing data.")
    uri = None
    if method == "web-download":
        if image.status != "queued":
            raise Conflict("Image needs to be in 'queued' state to use 'web-download' method")
        uri = locations.filtered(rt.settings, body["method"].get("uri"), "web-download")
        source = "queued"
    else:
        if image.status == "queued":
            raise Conflict("Image needs to be staged before 'glance-direct' method can be used")
        source = "uploading"
    if image.status != source or not await images.set_status(rt, image, source, "importing"):
        current = (await images.get(rt, ctx, image_id)).status
        raise Conflict(f"Image status transition from {current} to importing is not allowed")
    task_id = await tasks.begin(rt, ctx, image.uuid, body)
    task = asyncio.create_task(_import(rt, image.uuid, task_id, uri),
                               name=f"image-import-{image_id}")
    _running.add(task)
    task.add_done_callback(_running.discard)


async def _import(rt: Runtime, image_id: str, task_id: str, uri: str | None) -> None:
    try:
        image = await images.get(rt, RequestContext(request_id="image-import"), image_id)
    except NotFound:
        await tasks.finish(rt, task_id, image_id, "The image was deleted during its import.")
        return
    assert image.disk_format is not None
    if uri is not None and not await _download(rt, image, task_id, uri):
        return
    try:
        stored = await image_store.receive(rt.settings, image.uuid, image.disk_format,
                                           image_store.staged(rt.settings, image.uuid))
    except BaseException as exc:
        reason = exc.message if isinstance(exc, BarecloudError) else f"The import failed: {exc}"
        log.warning("import of image %s failed: %r", image_id, exc)
        await asyncio.shield(images.set_status(rt, image, "importing", "killed",
                                               status_reason=reason))
        await asyncio.shield(tasks.finish(rt, task_id, image_id, reason))
        image_store.staging_path(rt.settings, image_id).unlink(missing_ok=True)
        if not isinstance(exc, Exception):
            raise
        return
    image_store.staging_path(rt.settings, image_id).unlink(missing_ok=True)
    if not await images.set_status(
            rt, image, "importing", "active", size=stored.size,
            virtual_size=stored.virtual_size, checksum=stored.md5, os_hash_algo="sha512",
            os_hash_value=stored.sha512, raw_size=stored.raw_size,
            raw_sha512=stored.raw_sha512, status_reason=None):
        await asyncio.to_thread(image_store.remove, rt.settings, image_id)
        await tasks.finish(rt, task_id, image_id, "The image was deleted during its import.")
        return
    await tasks.finish(rt, task_id, image_id, None)


async def _download(rt: Runtime, image: Image, task_id: str, uri: str) -> bool:
    """web-download's first step: ``uri`` into the staging area.  On failure the image is
    ``queued`` again and the task failed, as Glance's; False then."""
    try:
        await image_store.stage(rt.settings, image.uuid,
                                locations.stream(uri, rt.settings.image_size_cap))
        return True
    except BaseException as exc:
        reason = (exc.message if isinstance(exc, BarecloudError)
                  else f"The download of {uri} failed: {exc}")
        log.warning("web-download of image %s from %s failed: %r", image.uuid, uri, exc)
        image_store.staging_path(rt.settings, image.uuid).unlink(missing_ok=True)
        await asyncio.shield(images.set_status(rt, image, "importing", "queued"))
        await asyncio.shield(tasks.finish(rt, task_id, image.uuid, reason))
        if not isinstance(exc, Exception):
            raise
        return False
