"""What a client asks of an existing server: rename, delete, reboot, stop, start, rebuild.

A request records its intent on the row (``task_state``, ``pending``) with
a conditional UPDATE, so two racing requests cannot both start, and a
server busy with one action answers 409 as Nova's does; the reconciler
carries the intent to the node and clears it when the node has done it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from barecloud.conductor import batches
from barecloud.db.compute_models import Server
from barecloud.db.models import utcnow
from barecloud.errors import Conflict, InvalidParameter
from barecloud.services import policy
from barecloud.services.compute import keypairs, scheduler, schemas, servers, sync
from barecloud.services.compute import status as st
from barecloud.services.compute.queries import find
from barecloud.services.context import RequestContext, Runtime

# action -> (vm_states it may start from, task_state it sets, pending intent)
ACTIONS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "reboot_soft": ((st.ACTIVE,), st.REBOOTING, "reboot_soft"),
    "reboot_hard": ((st.ACTIVE, st.STOPPED, st.ERROR), st.REBOOTING_HARD, "reboot_hard"),
    "stop": ((st.ACTIVE, st.ERROR), st.POWERING_OFF, "stop"),
    "start": ((st.STOPPED,), st.POWERING_ON, "start"),
    "rebuild": ((st.ACTIVE, st.STOPPED, st.ERROR), st.REBUILDING, "rebuild"),
}
NOVA_ACTION_NAMES = {"reboot_soft": "reboot", "reboot_hard": "reboot", "stop": "stop",
                     "start": "start", "rebuild": "rebuild"}


def invalid_state(action: str, server: Server) -> Conflict:
    if server.task_state is not None:
        attr, state = "task_state", server.task_state
    else:
        attr, state = "vm_state", server.vm_state
    return Conflict(f"Cannot '{action}' instance {server.uuid} while it is in {attr} {state}")


async def authorized(rt: Runtime, ctx: RequestContext, server_id: str, rule: str) -> Server:
    async with rt.db.session() as s:
        server = await find(s, ctx, server_id)
    policy.authorize(ctx, rule, {"project_id": server.project_id})
    return server


async def update_server(rt: Runtime, ctx: RequestContext, server_id: str,
                        body: dict[str, Any]) -> None:
    """``body`` fits schemas.UPDATE_SERVER at the request's version."""
    data = body["server"]
    values = {k: data[k] for k in ("name", "description", "hostname") if k in data}
    server = await authorized(rt, ctx, server_id, "compute:servers:update")
    if values:
        async with rt.db.session() as s:
            await s.execute(update(Server).where(Server.id == server.id).values(**values))


async def delete(rt: Runtime, ctx: RequestContext, server_id: str) -> None:
    """A server without a node or host goes at once; one with a node once the node is
    undeployed, a VM once its host has deleted it."""
    server = await authorized(rt, ctx, server_id, "compute:servers:delete")
    now = utcnow()
    batched = False
    async with rt.db.session() as s:
        gone = await s.execute(
            update(Server).where(Server.id == server.id, Server.deleted.is_(False),
                                 Server.node_uuid.is_(None), Server.hypervisor_id.is_(None))
            .values(deleted=True, deleted_at=now, terminated_at=now, vm_state=st.DELETED,
                    task_state=None, pending=None, power_state=st.NOSTATE)
        )
        if not gone.rowcount:  # type: ignore[attr-defined]
            await s.execute(
                update(Server).where(Server.id == server.id, Server.deleted.is_(False),
                                     Server.pending.is_distinct_from("delete"))
                .values(task_state=st.DELETING, pending="delete", pending_sent=False)
            )
        elif server.vm_state == st.BUILDING:  # its multi-create's batch must not wait for it
            batched = await batches.gave_up(s, server.reservation_id,
                                            scheduler.tried(server.attempts))
    if batched:
        await scheduler.open_gate(rt, server.reservation_id)
    sync.wake()


async def _intend(rt: Runtime, server: Server, action: str, **values: Any) -> None:
    allowed_from, task, pending = ACTIONS[action]
    async with rt.db.session() as s:
        result = await s.execute(
            update(Server).where(Server.id == server.id, Server.deleted.is_(False),
                                 Server.vm_state.in_(allowed_from),
                                 Server.task_state.is_(None), Server.pending.is_(None))
            .values(task_state=task, pending=pending, pending_sent=False, **values)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            current = await s.scalar(select(Server).where(Server.id == server.id))
            raise invalid_state(NOVA_ACTION_NAMES[action], current or server)
    sync.wake()


async def reboot(rt: Runtime, ctx: RequestContext, server_id: str,
                 body: dict[str, Any]) -> None:
    """``body`` fits schemas.REBOOT."""
    kind: str = body["type"]
    server = await authorized(rt, ctx, server_id, "compute:servers:action")
    await _intend(rt, server, f"reboot_{kind.lower()}")


async def start(rt: Runtime, ctx: RequestContext, server_id: str) -> None:
    await _intend(rt, await authorized(rt, ctx, server_id, "compute:servers:action"), "start")


async def stop(rt: Runtime, ctx: RequestContext, server_id: str) -> None:
    await _intend(rt, await authorized(rt, ctx, server_id, "compute:servers:action"), "stop")


async def rebuild(rt: Runtime, ctx: RequestContext, server_id: str,
                  data: dict[str, Any]) -> None:
    """Redeploy the node with ``imageRef`` and a new config drive (same node, same UUID).
    ``data`` fits the ``rebuild`` of schemas.SERVER_ACTION at the request's version."""
    if schemas.to_bool(data.get("preserve_ephemeral")):
        raise InvalidParameter("preserve_ephemeral is not supported: a rebuild rewrites the "
                               "whole disk.")
    image_id = servers.ref_id(data["imageRef"], "imageRef").lower()
    server = await authorized(rt, ctx, server_id, "compute:servers:action")
    image = await servers.check_image(rt, ctx, image_id)
    servers.check_image_fits(image, server.flavor.get("disk", 0), server.flavor.get("ram", 0))
    values: dict[str, Any] = {"image_ref": image.uuid}
    values.update({k: data[k] for k in ("name", "description", "hostname") if k in data})
    if "metadata" in data:
        values["meta"] = servers.check_metadata(data)
    if "user_data" in data:
        text = servers.decode_user_data(data["user_data"])
        values["user_data"] = data["user_data"] if text is not None else None
    if "key_name" in data:
        name = data["key_name"]
        values["key_name"] = name
        values["key_data"] = await keypairs.public_key_of(rt, ctx, name) if name else None
    await _intend(rt, server, "rebuild", **values)
