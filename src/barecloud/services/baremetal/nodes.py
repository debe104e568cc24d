"""Nodes: enrollment, queries, updates, and the requests that start workflows.

Who may see and do what is policy (services/policy.py): a node is visible to
admins, system readers and the projects that own or lease it; a node the
requester may not see is "not found", as Ironic answers; one it sees but may
not change is 403.  ``find`` and ``get`` are for the service's own callers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, delete, false, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import lazyload

from barecloud import states
from barecloud.conductor import locks
from barecloud.conductor.node_views import node_view
from barecloud.db import sealed
from barecloud.db.models import Chassis, Node, NodeHistory, Port, new_uuid
from barecloud.db.transitions import initial_state, note
from barecloud.drivers import hardware
from barecloud.drivers.base import INTERFACE_TYPES
from barecloud.errors import (
    BarecloudError,
    Conflict,
    Duplicate,
    Forbidden,
    InvalidParameter,
    InvalidState,
    NodeLocked,
    NotAcceptable,
    NotFound,
)
from barecloud.services import policy
from barecloud.services.baremetal import checks, pages, patch
from barecloud.services.baremetal.schemas import NODE_INTERNAL, NODE_WRITABLE, UUID_RE
from barecloud.services.context import RequestContext, Runtime

# States in which a node may be deleted without maintenance (Ironic's list,
# plus available: deleting a clean, idle machine loses nothing).
DELETE_ALLOWED = {states.ENROLL, states.MANAGEABLE, states.AVAILABLE, states.ADOPTFAIL,
                  states.INSPECTFAIL, states.CLEANFAIL}
SORT_KEYS = {
    "id", "uuid", "name", "created_at", "updated_at", "provision_state", "power_state",
    "driver", "resource_class", "owner", "lessee", "conductor_group", "provision_updated_at",
    "instance_uuid", "maintenance", "target_provision_state", "target_power_state",
}
# Fields whose values may be secrets (masked when shown; never read by a patch).
SECRET_FIELDS = frozenset({"driver_info"})


class NodeProtected(Forbidden):
    """Ironic's NodeProtected: an HTTPForbidden, so 403."""

    def __init__(self, uuid: str) -> None:
        super().__init__(f"Node {uuid} is protected and cannot be undeployed, rebuilt or "
                         "deleted")


class NodeInMaintenance(BarecloudError):
    code = 400


class NodeIsRetired(BarecloudError):
    """Ironic's NodeIsRetired: a retired node is not made available again."""

    code = 400


async def find(s: AsyncSession, ident: str, *, traits: bool = True) -> Node:
    """The node named or numbered ``ident``; ``traits=False`` when they go unread
    (they cost a second query)."""
    column = Node.uuid if UUID_RE.match(ident) else Node.name
    q = select(Node).where(column == (ident.lower() if column is Node.uuid else ident))
    if not traits:
        q = q.options(lazyload(Node.traits))
    node = await s.scalar(q)
    if node is None:
        raise NotFound(f"Node {ident} could not be found.")
    return node


async def exists(rt: Runtime, ident: str) -> bool:
    """Whether a node of that UUID or name exists, seen or not by anyone."""
    try:
        await get(rt, ident)
    except NotFound:
        return False
    return True


async def get(rt: Runtime, ident: str) -> Node:
    async with rt.db.session() as s:
        return await find(s, ident)


def target(node: Node) -> dict[str, Any]:
    return policy.node_target(node.owner, node.lessee)


async def find_for(s: AsyncSession, ctx: RequestContext, ident: str,
                   rule: str = "baremetal:node:get", *, traits: bool = True) -> Node:
    """The node if ``ctx`` may see it (else NotFound) and do ``rule`` (else 403)."""
    node = await find(s, ident, traits=traits)
    if not policy.can(ctx, "baremetal:node:get", target(node)):
        raise NotFound(f"Node {ident} could not be found.")
    policy.authorize(ctx, rule, target(node))
    return node


async def show(rt: Runtime, ctx: RequestContext, ident: str,
               rule: str = "baremetal:node:get") -> Node:
    async with rt.db.session() as s:
        return await find_for(s, ctx, ident, rule)


def visible(ctx: RequestContext, rule: str = "baremetal:node") -> Any:
    """The SQL condition on Node of what ``ctx`` may list (None: everything)."""
    if policy.can(ctx, f"{rule}:list_all"):
        return None
    policy.authorize(ctx, f"{rule}:list")
    if ctx.project is None:
        return false()
    return or_(Node.owner == ctx.project, Node.lessee == ctx.project)


@dataclass
class ListQuery:
    limit: int | None = None
    marker: str | None = None
    sort_key: str = "id"
    sort_dir: str = "asc"
    filters: dict[str, Any] | None = None


def _filtered(q: Select[Any], filters: dict[str, Any]) -> Select[Any]:
    for key, value in filters.items():
        if value is None:
            continue
        if key == "associated":
            q = q.where(Node.instance_uuid.is_not(None) if value else Node.instance_uuid.is_(None))
        elif key == "description_contains":
            q = q.where(Node.description.contains(value))
        elif key == "provision_state" and isinstance(value, list):
            q = q.where(Node.provision_state.in_(value))
        elif key == "shard":
            q = q.where(Node.shard.in_(value))
        elif key == "sharded":
            q = q.where(Node.shard.is_not(None) if value else Node.shard.is_(None))
        elif key in ("include_children", "parent_node"):
            continue  # below: children are listed only when asked for
        elif key in ("conductor",):
            continue  # applied after the query: it is derived from the hash ring
        else:
            q = q.where(getattr(Node, key) == value)
    # As Ironic's (1.83): a node list leaves out child nodes, but for those of
    # ``parent_node`` or with ``include_children``.
    if not filters.get("include_children"):
        q = q.where(Node.parent_node == filters["parent_node"] if filters.get("parent_node")
                    else Node.parent_node.is_(None))
    return q


async def list_nodes(rt: Runtime, ctx: RequestContext,
                     query: ListQuery) -> tuple[list[Node], bool]:
    """A page of the nodes ``ctx`` may see, and whether more may follow."""
    allowed = visible(ctx)
    pages.check(query.sort_key, query.sort_dir, SORT_KEYS)
    limit = min(query.limit or rt.settings.api_max_limit, rt.settings.api_max_limit)
    if limit <= 0:
        raise InvalidParameter(f"Limit must be positive: {query.limit}")
    col = getattr(Node, query.sort_key)
    q = _filtered(select(Node), query.filters or {}).order_by(
        *pages.order(col, Node.id, query.sort_dir))
    if allowed is not None:
        q = q.where(allowed)
    async with rt.db.session() as s:
        if query.marker:
            marker = await s.scalar(select(Node).where(Node.uuid == query.marker,
                                                       true() if allowed is None else allowed))
            if marker is None:
                raise InvalidParameter(f"Marker {query.marker} could not be found.")
            q = q.where(pages.after(col, Node.id, query.sort_dir, marker, query.sort_key))
        nodes = list((await s.scalars(q.limit(limit))).all())
    return nodes, len(nodes) == limit


def _check_interfaces(driver: str, values: dict[str, Any]) -> None:
    """Each interface of ``values`` one ``driver`` supports, and those it leaves out
    at the hardware type's default: as Ironic, a node records what it runs with,
    so a new driver that does not support them is refused (or reset, 1.45)."""
    hw = hardware.hardware_type(driver)
    for iface in INTERFACE_TYPES:
        values[f"{iface}_interface"] = hw.check(iface, values.get(f"{iface}_interface"))


async def create(rt: Runtime, ctx: RequestContext, body: Any, *, initial: str) -> Node:
    policy.authorize(ctx, "baremetal:node:create")
    values = checks.node(body)
    hardware.hardware_type(values["driver"])
    _check_interfaces(values["driver"], values)
    values["uuid"] = values["uuid"] or new_uuid()
    async with rt.db.session() as s:
        values["parent_node"] = await _parent(s, values.get("parent_node"), values["uuid"])
    values["driver_info"] = sealed.keyring(rt.settings.data_dir).seal_info(values["driver_info"])
    node = Node(**values, maintenance=False, traits=[])
    async with rt.db.session() as s:
        await _check_unique(s, node)
        node.provision_state = initial
        s.add(node)
        await s.flush()
        s.add(initial_state(node, initial, request_id=ctx.request_id))
    return node


async def _check_unique(s: AsyncSession, node: Node) -> None:
    # No autoflush: flushing the changed row first would hit the UNIQUE
    # constraint (a 500) before the friendly 409 below.
    with s.no_autoflush:
        await _check_unique_columns(s, node)


async def _check_unique_columns(s: AsyncSession, node: Node) -> None:
    if await s.scalar(select(Node.id).where(Node.uuid == node.uuid, Node.id != node.id)):
        raise Duplicate(f"A node with UUID {node.uuid} already exists.")
    if node.name and await s.scalar(
        select(Node.id).where(Node.name == node.name, Node.id != node.id)
    ):
        raise Duplicate(f"A node with name {node.name} already exists.")
    if node.chassis_uuid and await s.scalar(
        select(Chassis.id).where(Chassis.uuid == node.chassis_uuid)
    ) is None:
        # A bad request, not a 404: the request acts on a node (as Ironic).
        raise InvalidParameter(f"Chassis {node.chassis_uuid} could not be found.")
    if node.instance_uuid and await s.scalar(
        select(Node.id).where(Node.instance_uuid == node.instance_uuid, Node.id != node.id)
    ):
        raise Conflict(
            f"Instance {node.instance_uuid} is already associated with a node, it cannot be "
            f"associated with this other node {node.uuid}"
        )


def _patchable(node: Node) -> dict[str, Any]:
    return {f: getattr(node, f) for f in NODE_WRITABLE}


async def _parent(s: AsyncSession, ident: str | None, own_uuid: str) -> str | None:
    """A parent node (1.83) named by UUID or name, as its UUID; an unknown one is 400."""
    if not ident:
        return None
    try:
        parent = await find(s, ident, traits=False)
    except NotFound as exc:
        raise InvalidParameter(exc.message) from None
    if parent.uuid == own_uuid:
        raise InvalidParameter(f"Node {own_uuid} cannot be its own parent node.")
    return parent.uuid


def _reset_interfaces(ops: Any, before: dict[str, Any], after: dict[str, Any]) -> None:
    """Ironic's ``reset_interfaces`` (1.45): with a new driver, every interface the
    patch does not set goes back to the new hardware type's default; without one
    the parameter is refused."""
    if after.get("driver") == before.get("driver"):
        raise InvalidParameter("The reset_interfaces parameter can be provided only when "
                               "changing the node's driver.")
    touched = {op.get("path", "").split("/")[1] for op in ops
               if isinstance(op, dict) and isinstance(op.get("path"), str)
               and op["path"].count("/") >= 1}
    for iface in INTERFACE_TYPES:
        field = f"{iface}_interface"
        if field not in touched:
            after[field] = None


async def update(rt: Runtime, ctx: RequestContext, ident: str, ops: Any, *,
                 chassis_removable: bool = True, reset_interfaces: bool = False) -> Node:
    """Apply a JSON patch; ``chassis_removable`` is False below API 1.25, where
    unsetting ``chassis_uuid`` is 406 (Ironic); ``reset_interfaces`` as Ironic's."""
    async with rt.db.session() as s:
        node = await find_for(s, ctx, ident, "baremetal:node:update")
        if node.reservation:
            raise NodeLocked(node.uuid, node.reservation)
        before = _patchable(node)
        # Opened only to be masked in a refused patch's error message.
        info = sealed.keyring(rt.settings.data_dir).open_info(node.driver_info or {})
        masked = hardware.mask(node.driver, info)
        after = patch.apply(before, ops, writable=NODE_WRITABLE, internal=NODE_INTERNAL,
                            sealed=SECRET_FIELDS,
                            secrets=[v for k, v in info.items() if masked[k] != v])
        for key in NODE_WRITABLE:
            if key not in after:
                after[key] = {} if isinstance(before.get(key), dict) else None
        if reset_interfaces:
            _reset_interfaces(ops, before, after)
        data = checks.patched_node(after)
        maintenance, reason = data.pop("maintenance"), data.pop("maintenance_reason")
        hardware.hardware_type(data["driver"])
        _check_interfaces(data["driver"], data)
        if data.get("parent_node") != before.get("parent_node"):
            data["parent_node"] = await _parent(s, data.get("parent_node"), node.uuid)
        # The secrets the patch wrote are sealed; those it kept are sealed already.
        data["driver_info"] = sealed.keyring(rt.settings.data_dir).seal_info(data["driver_info"])
        changed = {k: v for k, v in data.items() if v != before.get(k)}
        if not chassis_removable and before.get("chassis_uuid") and not data["chassis_uuid"]:
            raise NotAcceptable("Removing chassis_uuid from a node needs API version 1.25 "
                                "or later.")
        if "instance_uuid" in changed and node.provision_state in (
            states.ACTIVE, states.DEPLOYING, states.DEPLOYWAIT
        ) and changed["instance_uuid"] is None:
            raise InvalidState(
                f"Node {node.uuid} can not update instance_uuid while in state "
                f"\"{node.provision_state}\"."
            )
        _check_flag(node, data, changed, "protected")
        _check_flag(node, data, changed, "retired")
        for key, value in changed.items():
            setattr(node, key, value)
        if maintenance is not None and maintenance != node.maintenance:
            node.maintenance = maintenance
            if not node.maintenance:
                node.fault = None
        node.maintenance_reason = reason if node.maintenance else None
        await _check_unique(s, node)
        if changed:
            s.add(note(node, f"updated {', '.join(sorted(changed))}", event_type="update",
                       request_id=ctx.request_id))
    return node


def _check_flag(node: Node, data: dict[str, Any], changed: dict[str, Any], flag: str) -> None:
    """Ironic's rules for ``protected`` and ``retired`` (its conductor's
    _check_update_protected / _check_update_retired): setting the flag needs a
    provision state that allows it (409), unsetting it drops its reason, and a
    reason without the flag is 400."""
    reason = f"{flag}_reason"
    if flag in changed:
        if not data[flag]:
            if data[reason] or getattr(node, reason):
                changed[reason] = data[reason] = None
        elif flag == "protected" and node.provision_state not in (states.ACTIVE,
                                                                  states.RESCUE):
            raise InvalidState(
                f"Node {node.uuid} can only be made protected in provision states 'active' "
                f"or 'rescue', the current state is '{node.provision_state}'")
        elif flag == "retired" and node.provision_state == states.AVAILABLE:
            raise InvalidState(
                f"Node {node.uuid} can not have 'retired' set in provision state "
                f"'available', the current state is '{node.provision_state}'")
    if reason in changed and data[reason] and not data[flag]:
        raise InvalidParameter(f"The {reason} field can only be set when {flag} is True")


async def remove(rt: Runtime, ctx: RequestContext, ident: str) -> None:
    async with rt.db.session() as s:
        node = await find_for(s, ctx, ident, "baremetal:node:delete")
        if node.reservation:
            raise NodeLocked(node.uuid, node.reservation)
        if node.protected:
            raise NodeProtected(node.uuid)
        if node.instance_uuid:
            raise InvalidState(
                f"Can not delete node {node.uuid} while it is associated with instance "
                f"{node.instance_uuid}."
            )
        if node.provision_state not in DELETE_ALLOWED and not node.maintenance:
            raise InvalidState(
                f"Can not delete node {node.uuid} while it is in provision state "
                f"\"{node.provision_state}\". Valid provision states to perform deletion are: "
                f"{', '.join(sorted(DELETE_ALLOWED))}, or in maintenance mode"
            )
        if not await locks.reserve(s, node.id, rt.settings.conductor_name):
            raise NodeLocked(node.uuid, "another conductor")
        await s.execute(delete(Node).where(Node.id == node.id))


async def validate(rt: Runtime, ctx: RequestContext, ident: str) -> dict[str, dict[str, Any]]:
    async with rt.db.session() as s:
        node = await find_for(s, ctx, ident, "baremetal:node:validate")
        ports = (await s.scalars(select(Port).where(Port.node_id == node.id))).all()
        # The boot interface checks the ports (ipxe needs a MAC to boot from).
        view = node_view(node, sealed.keyring(rt.settings.data_dir), ports=ports)
    hw = hardware.hardware_type(node.driver)
    result: dict[str, dict[str, Any]] = {}
    for iface in INTERFACE_TYPES:
        impl = getattr(node, f"{iface}_interface")
        try:
            obj = hardware.interface(iface, hw.check(iface, impl))
            obj.validate(view)
            if iface == "boot" and not any(p.pxe_enabled for p in ports) and (
                node.driver != "fake-hardware"
            ):
                raise InvalidParameter("No PXE-enabled port is registered for this node.")
            result[iface] = {"result": True, "reason": None}
        except BarecloudError as exc:
            result[iface] = {"result": False, "reason": exc.message}
    return result


async def history(rt: Runtime, ctx: RequestContext, ident: str, limit: int | None = None,
                  marker: str | None = None) -> list[NodeHistory]:
    async with rt.db.session() as s:
        node = await find_for(s, ctx, ident, "baremetal:node:history:get")
        q = select(NodeHistory).where(NodeHistory.node_id == node.id).order_by(NodeHistory.id)
        if marker:
            mid = await s.scalar(select(NodeHistory.id).where(NodeHistory.uuid == marker))
            if mid is None:
                raise InvalidParameter(f"Marker {marker} could not be found.")
            q = q.where(NodeHistory.id > mid)
        q = q.limit(min(limit or rt.settings.api_max_limit, rt.settings.api_max_limit))
        return list((await s.scalars(q)).all())


async def history_event(rt: Runtime, ctx: RequestContext, ident: str,
                        event_uuid: str) -> NodeHistory:
    async with rt.db.session() as s:
        node = await find_for(s, ctx, ident, "baremetal:node:history:get")
        row = await s.scalar(
            select(NodeHistory).where(
                NodeHistory.node_id == node.id, NodeHistory.uuid == event_uuid
            )
        )
        if row is None:
            raise NotFound(f"Node history record {event_uuid} could not be found.")
        return row


async def count(rt: Runtime) -> int:
    async with rt.db.session() as s:
        return int(await s.scalar(select(func.count(Node.id))) or 0)
