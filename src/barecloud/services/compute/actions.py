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
from barecloud.services.compute import input as v
from barecloud.services.compute import keypairs, scheduler, servers, sync
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


async def update_server(rt: Runtime, ctx: RequestContext, server_id: str, body: Any,
                        version: tuple[int, int]) -> None:
    data = v.body_object(body, "server")
    allowed = ["name", "accessIPv4", "accessIPv6", "OS-DCF:diskConfig"]
    if version >= (2, 19):
        allowed.append("description")
    if version >= (2, 90):
        allowed.append("hostname")
    v.only(data, allowed, "server")
    values: dict[str, Any] = {}
    if "name" in data:
        values["name"] = v.string(data, "name", min_len=1, pattern=v.NAME_RE)
    if "description" in data:
        values["description"] = v.string(data, "description", nullable=True)
    if "hostname" in data:
        values["hostname"] = v.string(data, "hostname", min_len=1,
                                      pattern=servers.HOSTNAME_RE)
    server = await authorized(rt, ctx, server_id, "compute:servers:update")
    if values:
        async with rt.db.session() as s:
            await s.execute(update(Server).where(Server.id == server.id).values(**values))


async def delete(rt: Runtime, ctx: RequestContext, server_id: str) -> None:
    """A server without a node goes at once; one with a node once the node is undeployed."""
    server = await authorized(rt, ctx, server_id, "compute:servers:delete")
    now = utcnow()
    batched = False
    async with rt.db.session() as s:
        gone = await s.execute(
            update(Server).where(Server.id == server.id, Server.deleted.is_(False),
                                 Server.node_uuid.is_(None))
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


async def reboot(rt: Runtime, ctx: RequestContext, server_id: str, body: Any) -> None:
    data = body if isinstance(body, dict) else {}
    kind = data.get("type")
    if not isinstance(kind, str) or kind.upper() not in ("SOFT", "HARD"):
        raise v.invalid("type", kind, f"{kind!r} is not one of ['HARD', 'Hard', 'hard', "
                        "'SOFT', 'Soft', 'soft']")
    server = await authorized(rt, ctx, server_id, "compute:servers:action")
    await _intend(rt, server, f"reboot_{kind.lower()}")


async def start(rt: Runtime, ctx: RequestContext, server_id: str) -> None:
    await _intend(rt, await authorized(rt, ctx, server_id, "compute:servers:action"), "start")


async def stop(rt: Runtime, ctx: RequestContext, server_id: str) -> None:
    await _intend(rt, await authorized(rt, ctx, server_id, "compute:servers:action"), "stop")


REBUILD_KEYS = ("imageRef", "name", "metadata", "adminPass", "preserve_ephemeral",
                "OS-DCF:diskConfig", "accessIPv4", "accessIPv6")
REBUILD_VERSIONED = {"description": (2, 19), "key_name": (2, 54), "user_data": (2, 57),
                     "trusted_image_certificates": (2, 63), "hostname": (2, 90)}


async def rebuild(rt: Runtime, ctx: RequestContext, server_id: str, body: Any,
                  version: tuple[int, int]) -> None:
    """Redeploy the node with ``imageRef`` and a new config drive (same node, same UUID)."""
    data = body if isinstance(body, dict) else {}
    allowed = [*REBUILD_KEYS, *(k for k, since in REBUILD_VERSIONED.items() if version >= since)]
    v.only(data, allowed, "rebuild")
    if "imageRef" not in data:
        raise InvalidParameter("Invalid input for field/attribute rebuild. Value: "
                               f"{data}. 'imageRef' is a required property")
    if v.boolean(data, "preserve_ephemeral"):
        raise InvalidParameter("preserve_ephemeral is not supported: a rebuild rewrites the "
                               "whole disk.")
    image_id = servers.ref_id(data["imageRef"], "imageRef").lower()
    server = await authorized(rt, ctx, server_id, "compute:servers:action")
    image = await servers.check_image(rt, ctx, image_id)
    servers.check_image_fits(image, server.flavor.get("disk", 0), server.flavor.get("ram", 0))
    values: dict[str, Any] = {"image_ref": image.uuid}
    if "name" in data:
        values["name"] = v.string(data, "name", min_len=1, pattern=v.NAME_RE)
    if "metadata" in data:
        values["meta"] = servers.check_metadata(data)
    if "description" in data:
        values["description"] = v.string(data, "description", nullable=True)
    if "hostname" in data:
        values["hostname"] = v.string(data, "hostname", min_len=1,
                                      pattern=servers.HOSTNAME_RE)
    if "user_data" in data:
        text = servers.decode_user_data(data["user_data"])
        values["user_data"] = data["user_data"] if text is not None else None
    if "key_name" in data:
        name = v.string(data, "key_name", min_len=1, nullable=True)
        values["key_name"] = name
        values["key_data"] = await keypairs.public_key_of(rt, ctx, name) if name else None
    await _intend(rt, server, "rebuild", **values)
