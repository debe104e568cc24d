"""Members of shared images: projects an owner offers an image to.

As in Glance, only ``shared`` images have members; the owner adds and
removes them, and each member accepts or rejects the offer (an admin may do
either), which decides whether the image shows in that project's list.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.models import Image, ImageMember, utcnow
from barecloud.errors import Conflict, Forbidden, InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.image import images, schemas

MEMBER_QUOTA = 128


async def _shared(s: AsyncSession, ctx: RequestContext, image_id: str) -> Image:
    image = await images.find(s, ctx, image_id)
    if image.visibility != "shared":
        raise Forbidden("Only shared images have members.")
    return image


def _owner_only(ctx: RequestContext, image: Image, rule: str) -> None:
    if not policy.can(ctx, rule, {"owner": image.owner}):
        raise Forbidden("You are not permitted to modify the members of this image.")


def _sees_all(ctx: RequestContext, image: Image) -> bool:
    """Whether ``ctx`` sees every member of ``image`` (else only its own project's)."""
    return policy.can(ctx, "image:get_members_all", {"owner": image.owner})


def _valid(member_id: object) -> bool:
    return (isinstance(member_id, str) and 0 < len(member_id) <= 255
            and "\x00" not in member_id)


async def _find(s: AsyncSession, image: Image, member_id: str) -> ImageMember:
    member = None
    if _valid(member_id):
        member = await s.scalar(select(ImageMember).where(ImageMember.image_id == image.id,
                                                          ImageMember.member == member_id))
    if member is None:
        raise NotFound(f"{member_id} is not a member of image {image.uuid}")
    return member


async def list_members(rt: Runtime, ctx: RequestContext,
                       image_id: str) -> tuple[Image, list[ImageMember]]:
    async with rt.db.session() as s:
        image = await _shared(s, ctx, image_id)
        q = select(ImageMember).where(ImageMember.image_id == image.id)
        if not _sees_all(ctx, image):
            q = q.where(images.owned(ctx, ImageMember.member))
        return image, list((await s.scalars(q.order_by(ImageMember.id))).all())


async def get(rt: Runtime, ctx: RequestContext, image_id: str,
              member_id: str) -> tuple[Image, ImageMember]:
    async with rt.db.session() as s:
        image = await _shared(s, ctx, image_id)
        if not _sees_all(ctx, image) and images.project(ctx) != member_id:
            raise NotFound(f"{member_id} is not a member of image {image.uuid}")
        return image, await _find(s, image, member_id)


async def add(rt: Runtime, ctx: RequestContext, image_id: str,
              body: dict[str, Any]) -> tuple[Image, ImageMember]:
    """``body`` is what ``schemas.ADD_MEMBER`` accepted."""
    member_id = body["member"]
    if not _valid(member_id):  # a NUL: what the declaration does not say
        raise InvalidParameter(f"Invalid member: {member_id!r} (a project id of up to 255 "
                               "characters is expected)")
    async with rt.db.session() as s:
        image = await _shared(s, ctx, image_id)
        _owner_only(ctx, image, "image:add_member")
        count = await s.scalar(select(func.count()).select_from(ImageMember)
                                .where(ImageMember.image_id == image.id))
        if await s.scalar(select(ImageMember.id).where(ImageMember.image_id == image.id,
                                                       ImageMember.member == member_id)):
            raise Conflict(f"Member {member_id} already exists for image {image.uuid}.")
        if (count or 0) >= MEMBER_QUOTA:
            raise schemas.OverLimit(
                f"Maximum number of members ({MEMBER_QUOTA}) reached for image {image.uuid}."
            )
        now = utcnow()
        member = ImageMember(image_id=image.id, member=member_id, status="pending",
                             created_at=now, updated_at=now)
        s.add(member)
    return image, member


async def set_status(rt: Runtime, ctx: RequestContext, image_id: str, member_id: str,
                     body: dict[str, Any]) -> tuple[Image, ImageMember]:
    """``body`` is what ``schemas.UPDATE_MEMBER`` accepted."""
    status = body["status"]
    async with rt.db.session() as s:
        image = await _shared(s, ctx, image_id)
        member = await _find(s, image, member_id)
        if not policy.can(ctx, "image:modify_member", {"member_id": member_id}):
            raise Forbidden("You are not permitted to modify 'status' on this image member.")
        member.status = status
        member.updated_at = utcnow()
    return image, member


async def remove(rt: Runtime, ctx: RequestContext, image_id: str, member_id: str) -> None:
    async with rt.db.session() as s:
        image = await _shared(s, ctx, image_id)
        _owner_only(ctx, image, "image:delete_member")
        await s.delete(await _find(s, image, member_id))
