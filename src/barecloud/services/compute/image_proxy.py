"""Nova's image proxy (``/images`` below 2.36): the Image service's images as Compute
showed them, and their properties as ``metadata``; every change goes through the
Image service's own rules (services/image)."""

from __future__ import annotations

from typing import Any

from barecloud.db.models import Image
from barecloud.errors import NotFound
from barecloud.services.compute import quotas
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.image import images, queries

# Nova's filters and the Image service's names for them (nova/api/openstack/compute/images.py).
FILTERS = {"name": "name", "status": "status", "server": "instance_uuid",
           "type": "image_type"}
PATCH_DRAFT = 10  # application/openstack-images-v2.1-json-patch


async def list_images(rt: Runtime, ctx: RequestContext, filters: dict[str, str],
                      limit: int | None, marker: str | None) -> list[Image]:
    params: dict[str, Any] = {FILTERS[k]: v for k, v in filters.items() if k in FILTERS}
    if "status" in params:
        params["status"] = params["status"].lower()  # Nova's ACTIVE is Glance's active
    if filters.get("changes-since"):
        params["updated_at"] = f"gte:{filters['changes-since']}"
    if limit is not None:
        params["limit"] = limit
    if marker is not None:
        params["marker"] = marker
    return (await queries.list_images(rt, ctx, params)).images


async def get(rt: Runtime, ctx: RequestContext, image_id: str) -> Image:
    try:
        return await images.get(rt, ctx, image_id)
    except NotFound:
        raise NotFound("Image not found.") from None


async def delete(rt: Runtime, ctx: RequestContext, image_id: str) -> None:
    await get(rt, ctx, image_id)
    await images.remove(rt, ctx, image_id)


async def metadata_item(rt: Runtime, ctx: RequestContext, image_id: str, key: str,
                        missing: str = "The resource could not be found.") -> Any:
    props = (await get(rt, ctx, image_id)).properties or {}
    if key not in props:
        raise NotFound(missing)  # Nova's show says webob's default, its delete this
    return props[key]


async def set_metadata(rt: Runtime, ctx: RequestContext, image_id: str,
                       items: dict[str, str], *, replace: bool) -> dict[str, Any]:
    """Merge ``items`` into the image's properties, or ``replace`` them (403 past the
    project's ``metadata_items``, as Nova's proxy counts)."""
    current = dict((await get(rt, ctx, image_id)).properties or {})
    wanted = dict(items) if replace else {**current, **items}
    async with rt.db.session() as s:
        limit = await quotas.limit_of(s, ctx.project, "metadata_items")
    if 0 <= limit < len(wanted):
        raise quotas.OverQuota("Image metadata limit exceeded")
    patch = [{"op": "remove", "path": f"/{_pointer(k)}"} for k in current if k not in wanted]
    patch += [{"op": "add", "path": f"/{_pointer(k)}", "value": v} for k, v in wanted.items()
              if current.get(k) != v]
    if patch:
        await images.update(rt, ctx, image_id, patch, PATCH_DRAFT)
    return dict((await get(rt, ctx, image_id)).properties or {})


async def delete_metadata_item(rt: Runtime, ctx: RequestContext, image_id: str,
                               key: str) -> None:
    await metadata_item(rt, ctx, image_id, key, "Invalid metadata key")
    await images.update(rt, ctx, image_id, [{"op": "remove", "path": f"/{_pointer(key)}"}],
                        PATCH_DRAFT)


def _pointer(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")
