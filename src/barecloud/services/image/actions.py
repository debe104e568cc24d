"""Image actions (Glance's ``/actions/deactivate`` and ``/actions/reactivate``).

The owner's members (or an admin) deactivate an active image so nobody but
admins downloads it (a deploy of it is refused too: it is no longer
``active``); reactivating makes it ``active`` again.  Either action on an
image already in the target status is a no-op, as Glance's; on any other
status it is 403 with Glance's words.
"""

from __future__ import annotations

from sqlalchemy import update as sql_update

from barecloud.db.models import Image, utcnow
from barecloud.errors import Forbidden
from barecloud.services import policy
from barecloud.services.context import RequestContext, Runtime
from barecloud.services.image.images import find

# action: (the status it comes from, the status it leaves)
ACTIONS = {"deactivate": ("active", "deactivated"), "reactivate": ("deactivated", "active")}


async def act(rt: Runtime, ctx: RequestContext, image_id: str, action: str) -> None:
    source, target = ACTIONS[action]
    async with rt.db.session() as s:
        image = await find(s, ctx, image_id)
        policy.authorize(ctx, f"image:{action}", {"owner": image.owner})
        if image.status == target:
            return
        changed = await s.execute(
            sql_update(Image).where(Image.id == image.id, Image.status == source)
            .values(status=target, updated_at=utcnow()))
        if not changed.rowcount:  # type: ignore[attr-defined]
            raise Forbidden(f"Not allowed to {action} image in status '{image.status}'")
