"""Glance 2.17's location API: ``POST /v2/images/{id}/locations`` and its GET.

Where locations are shown (locations.py), the owner's members add an http(s)
location to a ``queued`` image (202); a ``location_import`` task then, as
Glance's flow with ``do_secure_hash`` (barecloud always hashes): records the
location (it must answer with a size), and hashes its data, md5 for
``checksum`` and the algorithm the ``validation_data`` names (else sha512)
for ``os_hash_value``.  With validation data the image is ``importing``
while hashed, and ``active`` only if the hash matches (else ``queued``
again, hashes cleared, the task failed); without, it is ``active`` at once
and the hashes appear when computed.  An image deleted meanwhile ends the
task.  ``GET`` of the locations is for the service role (Glance's
``fetch_image_location``).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from typing import Any

from sqlalchemy import update as sql_update

from barecloud.db.models import Image, utcnow
from barecloud.errors import BarecloudError, Conflict, Forbidden, InvalidParameter
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.image import images, locations, tasks

log = logging.getLogger(__name__)

CHECK_EVERY = 2.0  # seconds between looks at whether the image is still there

_running: set[asyncio.Task[None]] = set()


def _check_hash(data: dict[str, Any]) -> None:
    """Glance's ``_validate_hashing_data``: hex, and the size the algorithm gives."""
    value = data.get("os_hash_value")
    if value is None:
        return
    algo = str(data.get("os_hash_algo", locations.HASH_ALGO))
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise InvalidParameter(f"os_hash_value ({value}) is not a valid hexadecimal value") \
            from None
    want = hashlib.new(algo).digest_size
    if len(raw) != want:
        raise InvalidParameter(f"os_hash_value: ({value}) is not the correct size for "
                               f"({algo}) (should be ({want}) bytes)")


async def add(rt: Runtime, ctx: RequestContext, image_id: str, body: dict[str, Any]) -> None:
    """Accept a location for a queued image; the rest in the background (a task)."""
    async with rt.db.session() as s:
        image = await images.find(s, ctx, image_id)
    if image.status != "queued":
        raise Conflict(f"It's not allowed to add locations if image status is {image.status}.")
    policy.authorize(ctx, "image:add_image_location", {"owner": image.owner})
    url = body["url"]
    if not rt.settings.image_show_multiple_locations or not url.startswith(("http://",
                                                                              "https://")):
        raise Forbidden("http store must be enabled to use location API by normal user.")
    locations.filtered(rt.settings, url, "location")
    validation = dict(body.get("validation_data") or {})
    _check_hash(validation)
    task_id = await tasks.begin(rt, ctx, image.uuid, body, kind="location_import",
                                task_input={"image_id": image.uuid, "loc_url": url,
                                            "validation_data": validation})
    task = asyncio.create_task(_run(rt, image.uuid, task_id, url, validation),
                               name=f"image-location-{image.uuid}")
    _running.add(task)
    task.add_done_callback(_running.discard)


async def _save(rt: Runtime, image_id: str, **values: Any) -> bool:
    async with rt.db.session() as s:
        done = await s.execute(sql_update(Image).where(Image.uuid == image_id)
                               .values(updated_at=utcnow(), **values))
    return bool(done.rowcount)  # type: ignore[attr-defined]


async def _run(rt: Runtime, image_id: str, task_id: str, url: str,
               validation: dict[str, Any]) -> None:
    algo = str(validation.get("os_hash_algo") or locations.HASH_ALGO)
    try:
        size = await locations.remote_size(rt.settings, url)
        image = await images.get(rt, RequestContext(request_id="location-import"), image_id)
        added = [*(image.locations or []), {"url": url, "metadata": {}}]
        status = "importing" if validation else "active"
        if image.status != "queued" or not await _save(
                rt, image_id, locations=added, size=image.size or size, status=status,
                os_hash_algo=algo):
            raise Conflict(f"Image {image_id} is {image.status}, no longer queued.")
        md5, digest = hashlib.md5(usedforsecurity=False), hashlib.new(algo)
        checked = time.monotonic()
        async for chunk in locations.stream(url):
            md5.update(chunk)
            digest.update(chunk)
            if time.monotonic() - checked > CHECK_EVERY:  # deleted meanwhile: stop
                checked = time.monotonic()
                if not await _save(rt, image_id):
                    raise Conflict(f"Image {image_id} was deleted while its location was "
                                   "hashed: hash calculation canceled.")
        if validation and validation["os_hash_value"] != digest.hexdigest():
            await _save(rt, image_id, status="queued", os_hash_algo=None, os_hash_value=None,
                        checksum=None)
            raise InvalidParameter(
                f"os_hash_value: ({validation['os_hash_value']}) not matched with actual "
                f"os_hash_value: ({digest.hexdigest()})")
        if not await _save(rt, image_id, status="active", checksum=md5.hexdigest(),
                           os_hash_value=digest.hexdigest()):
            raise Conflict(f"Image {image_id} was deleted while its location was hashed.")
    except BaseException as exc:
        reason = (exc.message if isinstance(exc, BarecloudError)
                  else f"Hash calculation failed for image {image_id} data: {exc}")
        log.warning("location import of image %s from %s failed: %s", image_id, url, reason)
        await asyncio.shield(tasks.finish(rt, task_id, image_id, reason))
        if not isinstance(exc, Exception):
            raise
        return
    await tasks.finish(rt, task_id, image_id, None)


async def listed(rt: Runtime, ctx: RequestContext, image_id: str) -> list[dict[str, Any]]:
    """``GET /v2/images/{id}/locations``: the service's (Glance's fetch_image_location)."""
    image = await images.get(rt, ctx, image_id)
    policy.authorize(ctx, "image:fetch_image_location", {"owner": image.owner})
    return locations.current(rt.settings, image)
