"""Images (Glance v2): records, uploads, and what a deploy needs from them.

Status follows Glance: ``queued`` until data arrives, ``saving`` while it
streams in (and a qcow2 upload converts), then ``active``; a failed or
interrupted upload leaves the image ``killed`` with the reason shown as
``os_glance_failure_reason``.  Who may see an image is decided here from the
request context's project (``visible``); what it may do, by the ``image:*``
rules of services/policy.py (writes by the owner's members, publicizing and
changing owners by admins).
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, exists, false, or_, select, true
from sqlalchemy import update as sql_update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from barecloud.db.models import (
    Image,
    ImageCacheEntry,
    ImageMember,
    ImageTag,
    new_uuid,
    utcnow,
)
from barecloud.errors import (
    BarecloudError,
    ClientError,
    Conflict,
    Forbidden,
    InvalidParameter,
    NotFound,
)
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.image import locations as image_locations
from barecloud.services.image import patch
from barecloud.services.image import schemas as image_schema
from barecloud.services.image import store as image_store
from barecloud.services.image.schemas import OverLimit
from barecloud.services.validation import UUID_PATTERN

log = logging.getLogger(__name__)

TAG_QUOTA = 128
PROPERTY_QUOTA = 128
CREATE_FIELDS = frozenset(image_schema.WRITABLE) | {"id"}


class ImageGone(ClientError):
    code = 410


class ImageNotActive(InvalidParameter):
    """The image has no data a machine could be given (yet, or any more)."""


@dataclass(frozen=True)
class RawImage:
    """The raw bytes to stream to a machine's disk.

    ``disk_format`` is the format the image was uploaded in; ``path`` always
    holds raw bytes (a qcow2 upload's conversion), ``size`` and ``sha512``
    describe that file.
    """

    path: Path
    size: int
    sha512: str
    disk_format: str


def project(ctx: RequestContext) -> str | None:
    """The requester's project, which owns what it creates (None: system scope)."""
    return ctx.project


def owned(ctx: RequestContext, column: Any = None) -> ColumnElement[bool]:
    """``column`` (the owner by default) is the requester's project; never without one."""
    column = Image.owner if column is None else column
    return (column == ctx.project) if ctx.project else false()


def not_found(image_id: str) -> NotFound:
    return NotFound(f"No image found with ID {image_id}")


def visible(ctx: RequestContext) -> ColumnElement[bool]:
    """Which images the requester may read: all for an admin; else owned, public,
    community, or shared with its project (whatever it answered the offer)."""
    if policy.can(ctx, "image:get_all"):
        return true()
    policy.authorize(ctx, "image:get_image")
    membership = select(ImageMember.id).where(ImageMember.image_id == Image.id,
                                              owned(ctx, ImageMember.member))
    return or_(owned(ctx), Image.visibility.in_(("public", "community")),
               (Image.visibility == "shared") & exists(membership))


async def find(s: AsyncSession, ctx: RequestContext, image_id: str) -> Image:
    if not re.match(UUID_PATTERN, image_id):
        raise not_found(image_id)
    image = await s.scalar(
        select(Image).where(Image.uuid == image_id.lower(), visible(ctx))
    )
    if image is None:
        raise not_found(image_id)
    return image


async def find_own(s: AsyncSession, ctx: RequestContext, image_id: str, action: str) -> Image:
    """An image the requester may ``action`` on (its owner's members, or an admin)."""
    image = await find(s, ctx, image_id)
    policy.authorize(ctx, f"image:{action}", {"owner": image.owner})
    return image


async def get(rt: Runtime, ctx: RequestContext, image_id: str) -> Image:
    async with rt.db.session() as s:
        return await find(s, ctx, image_id)


def _check_policy(ctx: RequestContext, values: dict[str, Any], before: Image | None) -> None:
    if values.get("visibility") == "public" and (before is None or before.visibility != "public"):
        policy.authorize(ctx, "image:publicize_image")
    if policy.can(ctx, "image:set_image_owner"):
        return
    owner = values.get("owner")
    if before is None and owner not in (None, project(ctx)):
        raise Forbidden(f"You are not permitted to create images owned by '{owner}'.")
    if before is not None and owner != before.owner:
        raise Forbidden("Owner can't be updated by non admin.")


def _check_quotas(tags: list[str], extra: dict[str, Any]) -> None:
    if len(tags) > TAG_QUOTA:
        raise OverLimit(f"Maximum number of tags exceeded: {len(tags)} > {TAG_QUOTA}.")
    if len(extra) > PROPERTY_QUOTA:
        raise OverLimit(f"Attempted to add more than {PROPERTY_QUOTA} properties "
                        f"({len(extra)}).")


def _unique(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


async def create(rt: Runtime, ctx: RequestContext, body: dict[str, Any]) -> Image:
    """``body`` is what ``schemas.CREATE_IMAGE`` accepted."""
    for key in image_schema.LINKS:
        if key in body:
            raise Forbidden(f"Attribute '{key}' is read-only.")
    for value in body.values():
        image_schema.refuse_nul(value)
    for key in body.keys() - {"id"}:
        image_schema.check_name(key)
    base = {k: v for k, v in body.items() if k in CREATE_FIELDS}
    extra = {k: v for k, v in body.items() if k not in CREATE_FIELDS}
    tags = _unique(base.pop("tags", None) or [])
    _check_quotas(tags, extra)
    _check_policy(ctx, base, None)
    policy.authorize(ctx, "image:add_image", {"owner": base.get("owner") or project(ctx)})
    image_id = str(base.pop("id", None) or new_uuid()).lower()
    base.setdefault("owner", project(ctx))
    base["visibility"] = base.get("visibility") or "shared"
    now = utcnow()
    image = Image(uuid=image_id, status="queued", properties=extra, created_at=now,
                  updated_at=now, tags=[ImageTag(tag=t) for t in tags], **base)
    duplicate = Conflict(f"Image with identifier {image_id} already exists!")
    try:
        async with rt.db.session() as s:
            if await s.scalar(select(Image.id).where(Image.uuid == image_id)):
                raise duplicate
            s.add(image)
    except IntegrityError:  # created meanwhile by another request
        raise duplicate from None
    return image


async def update(rt: Runtime, ctx: RequestContext, image_id: str,
                 body: list[dict[str, Any]], draft: int) -> Image:
    changes = patch.parse(body, draft)
    moved = [(c.op, c.index, c.value) for c in changes if c.name == "locations"]
    changes = [c for c in changes if c.name != "locations"]
    drop_local = False
    async with rt.db.session() as s:
        image = await find_own(s, ctx, image_id, "modify_image")
        if moved:
            outcome = await image_locations.apply(rt.settings, ctx, image, moved)
            drop_local = image_locations.has_local(image) and not outcome.keep_local
            image.locations = outcome.external or None
            for key, value in outcome.values.items():
                setattr(image, key, value)
            if drop_local:
                image.raw_size = image.raw_sha512 = None
        before = {k: getattr(image, k) for k in image_schema.WRITABLE if k != "tags"}
        before["tags"] = [t.tag for t in image.tags]
        after, extra = patch.apply(before, image.properties or {}, changes, draft)
        for key in ("disk_format", "container_format"):
            if after[key] != before[key] and image.status != "queued":
                raise Forbidden(f"Attribute {key} can be only replaced for a queued image.")
        _check_policy(ctx, after, image)
        tags = _unique(after.pop("tags"))
        _check_quotas(tags, extra)
        for key, value in after.items():
            setattr(image, key, value)
        if tags != before["tags"]:
            kept = {t.tag: t for t in image.tags}
            image.tags = [kept.get(t) or ImageTag(tag=t) for t in tags]
        image.properties = extra
        image.updated_at = utcnow()
    if drop_local:  # its data is now only at the other locations
        await asyncio.to_thread(image_store.remove, rt.settings, image.uuid)
    return await get(rt, ctx, image_id)


async def remove(rt: Runtime, ctx: RequestContext, image_id: str) -> None:
    """Delete the record, then its files (an upload still streaming finds it gone)."""
    async with rt.db.session() as s:
        image = await find_own(s, ctx, image_id, "delete_image")
        if image.protected:
            raise Forbidden(f"Image {image.uuid} is protected and cannot be deleted.")
        await s.execute(delete(Image).where(Image.id == image.id))
        await s.execute(delete(ImageCacheEntry).where(ImageCacheEntry.image_id == image.uuid))
    await asyncio.to_thread(image_store.remove, rt.settings, image.uuid)


async def set_tag(rt: Runtime, ctx: RequestContext, image_id: str, tag: str,
                  present: bool) -> None:
    if present:
        image_schema.check_value("tags", [tag])
    async with rt.db.session() as s:
        image = await find_own(s, ctx, image_id, "modify_image")
        tags = [t.tag for t in image.tags]
        if present:
            if tag in tags:
                return
            _check_quotas([*tags, tag], {})
            image.tags.append(ImageTag(tag=tag))
        else:
            if tag not in tags:
                raise NotFound(f"Tag {tag} not found.")
            image.tags = [t for t in image.tags if t.tag != tag]
        image.updated_at = utcnow()


async def set_status(rt: Runtime, image: Image, old: str, new: str,
                      **values: Any) -> bool:
    async with rt.db.session() as s:
        result = await s.execute(
            sql_update(Image).where(Image.id == image.id, Image.status == old)
            .values(status=new, updated_at=utcnow(), **values)
        )
        return bool(result.rowcount)  # type: ignore[attr-defined]


def _failure(exc: BaseException) -> str:
    if isinstance(exc, BarecloudError):
        return exc.message
    if isinstance(exc, Exception):
        return f"The upload failed: {exc}"
    return "The upload was interrupted."


async def upload(rt: Runtime, ctx: RequestContext, image_id: str,
                 chunks: AsyncIterator[bytes]) -> None:
    """Stream ``chunks`` into the store: queued → saving → active, or killed."""
    async with rt.db.session() as s:
        image = await find_own(s, ctx, image_id, "upload_image")
        if not image.disk_format or not image.container_format:
            raise InvalidParameter(
                "Properties disk_format, container_format must be set prior to saving data."
            )
    if image.status != "queued" or not await set_status(rt, image, "queued", "saving"):
        current = (await get(rt, ctx, image_id)).status
        raise Conflict(f"Image status transition from {current} to saving is not allowed")
    try:
        stored = await image_store.receive(rt.settings, image.uuid, image.disk_format, chunks)
    except BaseException as exc:
        reason = _failure(exc)
        if not isinstance(exc, BarecloudError) or exc.code >= 500:
            log.warning("upload of image %s failed: %r", image.uuid, exc)
        await asyncio.shield(set_status(rt, image, "saving", "killed", status_reason=reason))
        raise
    finished = await set_status(
        rt, image, "saving", "active", size=stored.size, virtual_size=stored.virtual_size,
        checksum=stored.md5, os_hash_algo="sha512", os_hash_value=stored.sha512,
        raw_size=stored.raw_size, raw_sha512=stored.raw_sha512, status_reason=None,
    )
    if not finished:
        await asyncio.to_thread(image_store.remove, rt.settings, image.uuid)
        raise ImageGone(f"Image {image.uuid} could not be found after upload. The image may "
                        "have been deleted during the upload, cleaning up the chunks uploaded.")


async def data(rt: Runtime, ctx: RequestContext,
               image_id: str) -> tuple[Image, Path | str | None]:
    """The image and its file as uploaded, or the URL of its first location when the
    store has none (locations.py); None when it has no data (Glance's 204).
    A deactivated image's data is for admins only (403 to others), as Glance's."""
    image = await get(rt, ctx, image_id)
    if image.status == "deactivated" and not policy.can(ctx, "image:download_deactivated"):
        raise Forbidden("The requested image has been deactivated. Image data download is "
                        "forbidden.")
    if image.status not in ("active", "deactivated"):
        return image, None
    if not image_locations.has_local(image) and image.locations:
        return image, str(image.locations[0]["url"])
    return image, image_store.data_path(rt.settings, image.uuid)


async def raw_image(rt: Runtime, image_id: str) -> RawImage:
    """The raw bytes of active image ``image_id`` for a deploy (no requester: the
    conductor and machines ask)."""
    image = await get(rt, RequestContext(request_id="raw-image"), image_id)
    if image.status == "active" and image.raw_sha512 is None and image.locations:
        raise ImageNotActive(
            f"Image {image.uuid} has its data at external locations only: deploys stream "
            "from barecloud's own store; upload or import the data."
        )
    if image.status != "active" or image.raw_size is None or image.raw_sha512 is None:
        raise ImageNotActive(
            f"Image {image.uuid} is {image.status}, not active: it has no data to deploy."
        )
    assert image.disk_format is not None
    path = image_store.raw_path(rt.settings, image.uuid, image.disk_format)
    return RawImage(path, image.raw_size, image.raw_sha512, image.disk_format)


async def deploy_source(rt: Runtime, image_ref: str,
                        ctx: RequestContext | None = None) -> dict[str, Any]:
    """The ``instance_info`` additions that point a deploy at Glance image ``image_ref``;
    ``ctx``: who deploys, who must be able to see the image (its machine will get a
    URL signed for it: docs/design/provisioning.md)."""
    image = await get(rt, ctx or RequestContext(request_id="deploy-source"), image_ref)
    raw = await raw_image(rt, image.uuid)
    return {
        "image_url": f"{rt.settings.base_url}/boot/images/{image.uuid}",
        "image_os_hash_algo": "sha512",
        "image_os_hash_value": raw.sha512,
        "image_size": raw.size,
        "image_disk_format": raw.disk_format,
        "image_name": image.name,
        "image_checksum": image.checksum,
    }
