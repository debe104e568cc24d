"""What a client asks of an existing server: rename, delete, reboot, stop, start, rebuild,
resize (VMs).

A request records its intent on the row (``task_state``, ``pending``) with
a conditional UPDATE, so two racing requests cannot both start, and a
server busy with one action answers 409 as Nova's does; the reconciler
carries the intent to the node and clears it when the node has done it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, select, update

from barecloud.conductor import batches
from barecloud.db.compute_models import Server
from barecloud.db.models import utcnow
from barecloud.errors import Conflict, Forbidden, InvalidParameter, NotFound
from barecloud.services import policy
from barecloud.services.compute import (
    flavors,
    instance_actions,
    keypairs,
    migrations,
    quotas,
    scheduler,
    schemas,
    servers,
    sync,
    vm_placement,
)
from barecloud.services.compute import status as st
from barecloud.services.compute.locks import check_unlocked
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


async def changeable(rt: Runtime, ctx: RequestContext, server_id: str, rule: str) -> Server:
    """``authorized``, and not locked against the caller (Nova's ``check_instance_lock``)."""
    server = await authorized(rt, ctx, server_id, rule)
    check_unlocked(ctx, server)
    return server


async def update_server(rt: Runtime, ctx: RequestContext, server_id: str,
                        body: dict[str, Any]) -> None:
    """``body`` fits schemas.UPDATE_SERVER at the request's version."""
    data = body["server"]
    values: dict[str, Any] = {k: data[k] for k in ("name", "description", "hostname")
                              if k in data}
    values.update(servers.access_ips(data))
    server = await authorized(rt, ctx, server_id, "compute:servers:update")
    if values:
        async with rt.db.session() as s:
            await s.execute(update(Server).where(Server.id == server.id).values(**values))


async def delete(rt: Runtime, ctx: RequestContext, server_id: str) -> None:
    """A server without a node or host goes at once; one with a node once the node is
    undeployed, a VM once its host has deleted it."""
    server = await changeable(rt, ctx, server_id, "compute:servers:delete")
    now = utcnow()
    batched = False
    async with rt.db.session() as s:
        instance_actions.record(s, ctx, server, "delete")
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


async def _intend(rt: Runtime, ctx: RequestContext, server: Server, action: str,
                  **values: Any) -> None:
    allowed_from, task, pending = ACTIONS[action]
    async with rt.db.session() as s:
        instance_actions.record(s, ctx, server, NOVA_ACTION_NAMES[action])
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
    server = await changeable(rt, ctx, server_id, "compute:servers:action")
    await _intend(rt, ctx, server, f"reboot_{kind.lower()}")


async def start(rt: Runtime, ctx: RequestContext, server_id: str) -> None:
    await _intend(rt, ctx, await changeable(rt, ctx, server_id, "compute:servers:action"),
                  "start")


async def stop(rt: Runtime, ctx: RequestContext, server_id: str) -> None:
    await _intend(rt, ctx, await changeable(rt, ctx, server_id, "compute:servers:action"),
                  "stop")


async def rebuild(rt: Runtime, ctx: RequestContext, server_id: str,
                  data: dict[str, Any]) -> None:
    """Redeploy the node with ``imageRef`` and a new config drive (same node, same UUID).
    ``data`` fits the ``rebuild`` of schemas.SERVER_ACTION at the request's version."""
    if schemas.to_bool(data.get("preserve_ephemeral")):
        raise InvalidParameter("preserve_ephemeral is not supported: a rebuild rewrites the "
                               "whole disk.")
    image_id = servers.ref_id(data["imageRef"], "imageRef").lower()
    server = await changeable(rt, ctx, server_id, "compute:servers:action")
    image = await servers.check_image(rt, ctx, image_id)
    servers.check_image_fits(image, server.flavor.get("disk", 0), server.flavor.get("ram", 0))
    values: dict[str, Any] = {"image_ref": image.uuid}
    values.update({k: data[k] for k in ("name", "description", "hostname") if k in data})
    values.update(servers.access_ips(data))
    if "metadata" in data:
        values["meta"] = servers.check_metadata(data)
    if "user_data" in data:
        text = servers.decode_user_data(data["user_data"])
        values["user_data"] = data["user_data"] if text is not None else None
    if "key_name" in data:
        name = data["key_name"]
        values["key_name"] = name
        values["key_data"] = await keypairs.public_key_of(rt, ctx, name) if name else None
    await _intend(rt, ctx, server, "rebuild", **values)


async def resize(rt: Runtime, ctx: RequestContext, server_id: str,
                 data: dict[str, Any]) -> None:
    """Grow a VM to a larger VM flavor on its host (``data`` fits schemas.RESIZE).

    The host's room for the difference is claimed in the same transaction as
    the intent, so a resize never takes a host past its ratios; the server then
    waits in VERIFY_RESIZE for confirmResize, as Nova's do.
    """
    server = await changeable(rt, ctx, server_id, "compute:servers:action")
    if not vm_placement.is_vm(server):
        raise InvalidParameter("Resizing a bare-metal server is not supported: its flavor "
                               "is the machine it runs on.")
    try:
        flavor = await flavors.get(rt, ctx, servers.ref_id(data["flavorRef"], "flavorRef"))
    except NotFound:
        raise InvalidParameter(f"Flavor {data['flavorRef']} could not be found.") from None
    snapshot = servers.flavor_snapshot(flavor)
    if not vm_placement.is_vm_flavor(snapshot["extra_specs"]):
        raise InvalidParameter("A VM cannot be resized to a bare-metal flavor.")
    if flavor.flavorid == server.flavor_id:
        raise InvalidParameter("When resizing, instances must change flavor!")
    old, new = vm_placement.Ask.of(server.flavor or {}), vm_placement.Ask.of(snapshot)
    if new.vcpus < old.vcpus or new.memory_mb < old.memory_mb or new.disk_gb < old.disk_gb:
        raise InvalidParameter("Resizing to a smaller flavor is not supported: a VM's disk "
                               "grows in place and cannot shrink.")
    grow = vm_placement.Ask(new.vcpus - old.vcpus, new.memory_mb - old.memory_mb,
                            new.disk_gb - old.disk_gb)
    async with rt.db.session() as s:
        limits, used = await quotas.limits_of(s, server.project_id), await quotas.usage(
            s, server.project_id)
        for resource, more in (("cores", grow.vcpus), ("ram", grow.memory_mb)):
            if limits[resource] >= 0 and used[resource] + more > limits[resource]:
                raise Forbidden(f"Quota exceeded for {resource}: Requested {more}, but "
                                f"already used {used[resource]} of {limits[resource]} "
                                f"{resource}")
        if server.hypervisor_id is None or not await vm_placement.claim(
                s, rt, server.hypervisor_id, grow, placing=False):
            raise InvalidParameter(f"No valid host was found. The host of instance "
                                   f"{server.uuid} has no room for flavor {flavor.name}.")
        instance_actions.record(s, ctx, server, "resize")
        await migrations.record(s, ctx, server, flavor)
        moved = await s.execute(
            update(Server).where(Server.id == server.id, Server.deleted.is_(False),
                                 Server.vm_state.in_((st.ACTIVE, st.STOPPED)),
                                 Server.task_state.is_(None), Server.pending.is_(None),
                                 Server.hypervisor_id == server.hypervisor_id)
            .values(flavor=snapshot, flavor_id=snapshot["id"], vcpus=snapshot["vcpus"],
                    memory_mb=snapshot["ram"], task_state=st.RESIZE_PREP, pending="resize",
                    pending_sent=False))
        if not moved.rowcount:  # type: ignore[attr-defined]
            current = await s.scalar(select(Server).where(Server.id == server.id))
            raise invalid_state("resize", current or server)  # the claim rolls back too
    sync.wake()


async def confirm_resize(rt: Runtime, ctx: RequestContext, server_id: str) -> None:
    server = await changeable(rt, ctx, server_id, "compute:servers:action")
    async with rt.db.session() as s:
        instance_actions.record(s, ctx, server, "confirmResize")
        await migrations.confirm(s, server)
        done = await s.execute(
            update(Server).where(Server.id == server.id, Server.deleted.is_(False),
                                 Server.vm_state == st.RESIZED, Server.pending.is_(None))
            .values(vm_state=case((Server.power_state == st.SHUTDOWN, st.STOPPED),
                                  else_=st.ACTIVE), task_state=None))
        if not done.rowcount:  # type: ignore[attr-defined]
            current = await s.scalar(select(Server).where(Server.id == server.id))
            raise invalid_state("confirmResize", current or server)


async def reset_state(rt: Runtime, ctx: RequestContext, server_id: str,
                      data: dict[str, Any]) -> None:
    """An admin's ``os-resetState``: the vm_state named, no task, no intent left to carry
    (as Nova's, which also only writes the row); 409 while the server is being deleted,
    whose intent must stay.  ``data`` fits the action's schema."""
    server = await authorized(rt, ctx, server_id, "compute:servers:reset_state")
    state = st.ERROR if data["state"] == "error" else st.ACTIVE
    async with rt.db.session() as s:
        done = await s.execute(
            update(Server).where(Server.id == server.id, Server.deleted.is_(False),
                                 Server.pending.is_distinct_from("delete"))
            .values(vm_state=state, task_state=None, pending=None, pending_sent=False))
        if not done.rowcount:  # type: ignore[attr-defined]
            current = await s.scalar(select(Server).where(Server.id == server.id))
            raise invalid_state("os-resetState", current or server)


async def inject_network_info(rt: Runtime, ctx: RequestContext, server_id: str) -> None:
    """An admin's ``injectNetworkInfo``: nothing to do (a machine's network comes from its
    config drive and DHCP), as Nova's Ironic driver does nothing."""
    await authorized(rt, ctx, server_id, "compute:servers:reset_state")


async def soft_deleted_only(rt: Runtime, ctx: RequestContext, server_id: str,
                            action: str) -> None:
    """``restore`` and ``forceDelete`` act on a soft-deleted server only; barecloud
    deletes at once (Nova's ``reclaim_instance_interval`` 0), so a server they can
    name is never in that state: 409, as Nova answers then."""
    server = await authorized(rt, ctx, server_id, "compute:servers:action")
    raise invalid_state(action, server)
