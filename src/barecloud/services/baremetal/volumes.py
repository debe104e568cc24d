"""Volume connectors and targets: Ironic's records of how a node reaches remote
volumes (API 1.32) — its initiator identities, and the volumes it boots from.

A connector or target belongs to its node: it is seen by whoever sees the node,
written by admins (Ironic's secure RBAC), and deleted with it.  As Ironic's
conductor, changing or deleting one needs the node powered off (400,
``InvalidStateRequested``) and not locked by a workflow (409).  barecloud's
storage interface is ``noop``: the records are kept, not attached
(docs/design/baremetal-api.md).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud import states
from barecloud.db.models import Node, VolumeConnector, VolumeTarget, new_uuid
from barecloud.errors import Duplicate, InvalidParameter, NodeLocked, NotFound
from barecloud.services import policy
from barecloud.services.baremetal import checks, nodes, pages, patch
from barecloud.services.baremetal.nodes import find as find_node
from barecloud.services.baremetal.nodes import find_for as find_node_for
from barecloud.services.baremetal.schemas import UUID_RE, VOLUME_INTERNAL
from barecloud.services.context import RequestContext, Runtime

Record = VolumeConnector | VolumeTarget


@dataclass(frozen=True)
class Kind:
    name: str  # "connector" or "target"
    model: type[VolumeConnector] | type[VolumeTarget]
    fields: tuple[str, ...]  # the writable columns besides node_uuid
    sort_keys: frozenset[str]

    @property
    def label(self) -> str:
        return f"volume {self.name}"

    def not_found(self, ident: str) -> NotFound:
        return NotFound(f"Volume {self.name} {ident} could not be found.")


CONNECTOR = Kind("connector", VolumeConnector, ("type", "connector_id", "extra"),
                 frozenset({"id", "uuid", "type", "connector_id", "created_at", "updated_at"}))
TARGET = Kind("target", VolumeTarget,
              ("volume_type", "properties", "boot_index", "volume_id", "extra"),
              frozenset({"id", "uuid", "volume_type", "boot_index", "volume_id", "created_at",
                         "updated_at"}))
KINDS = {"connectors": CONNECTOR, "targets": TARGET}
# Ironic's [conductor]node_locked_retry_attempts and _interval (3 x 1 s), finer.
LOCK_RETRIES, LOCK_RETRY_INTERVAL = 30, 0.1


async def _find(s: AsyncSession, kind: Kind, ident: str) -> tuple[Record, str]:
    """A record by UUID, with its node's UUID (Ironic names these by UUID only)."""
    if not UUID_RE.match(ident):
        raise InvalidParameter(f"Expected a UUID but received {ident}.")
    row = (await s.execute(select(kind.model, Node.uuid).join(Node, Node.id == kind.model.node_id)
                           .where(kind.model.uuid == ident.lower()))).first()
    if row is None:
        raise kind.not_found(ident)
    return cast(Record, row[0]), row[1]


async def _node_of(s: AsyncSession, ctx: RequestContext, kind: Kind, ident: str,
                   node_uuid: str, rule: str) -> Node:
    """The record's node, once ``ctx`` may see the record (else 404) and do ``rule``."""
    node = await find_node(s, node_uuid, traits=False)
    if not policy.can(ctx, "baremetal:volume:get", nodes.target(node)):
        raise kind.not_found(ident)
    policy.authorize(ctx, rule, nodes.target(node))
    return node


async def _unlocked(rt: Runtime, kind: Kind, ident: str) -> None:
    """Wait, as Ironic's task manager does (node_locked_retry_attempts), for a short
    workflow on the record's node (a power action) to let go of it."""
    for _ in range(LOCK_RETRIES):
        async with rt.db.session() as s:
            _, node_uuid = await _find(s, kind, ident)
            node = await find_node(s, node_uuid, traits=False)
        if not node.reservation:
            return
        await asyncio.sleep(LOCK_RETRY_INTERVAL)


def _writable(node: Node, kind: Kind, action: str) -> None:
    """As Ironic's conductor: only a powered-off node's records change."""
    if node.reservation:
        raise NodeLocked(node.uuid, node.reservation)
    if node.power_state != states.POWER_OFF:
        raise InvalidParameter(
            f'The requested action "{kind.label} {action}" can not be performed on node '
            f'"{node.uuid}" while it is in state "{node.power_state}".')


async def _unique(s: AsyncSession, kind: Kind, row: Record, node: Node) -> None:
    """Ironic's VolumeConnectorTypeAndIdAlreadyExists / VolumeTargetBootIndexAlreadyExists
    (409); the table's unique constraints hold it across processes."""
    m = kind.model
    others = select(m.id).where(m.id != row.id) if row.id else select(m.id)
    with s.no_autoflush:
        if await s.scalar(others.where(m.uuid == row.uuid)):
            raise Duplicate(f"A {kind.label} with UUID {row.uuid} already exists.")
        if isinstance(row, VolumeConnector):
            if await s.scalar(others.where(VolumeConnector.type == row.type,
                                           VolumeConnector.connector_id == row.connector_id)):
                raise Duplicate(f"A volume connector with type {row.type} and connector ID "
                                f"{row.connector_id} already exists.")
        elif await s.scalar(others.where(VolumeTarget.node_id == node.id,
                                         VolumeTarget.boot_index == row.boot_index)):
            raise Duplicate(f"A volume target with boot index '{row.boot_index}' for the "
                            f"same node already exists.")


async def get(rt: Runtime, ctx: RequestContext, kind: Kind, ident: str) -> tuple[Record, str]:
    async with rt.db.session() as s:
        row, node_uuid = await _find(s, kind, ident)
        await _node_of(s, ctx, kind, ident, node_uuid, "baremetal:volume:get")
    return row, node_uuid


async def list_records(rt: Runtime, ctx: RequestContext, kind: Kind, *, node: str | None = None,
                       limit: int | None = None, marker: str | None = None,
                       sort_key: str = "id", sort_dir: str = "asc",
                       ) -> tuple[list[tuple[Record, str]], bool]:
    pages.check(sort_key, sort_dir, set(kind.sort_keys))
    limit = min(limit or rt.settings.api_max_limit, rt.settings.api_max_limit)
    m = kind.model
    q = select(m, Node.uuid).join(Node, Node.id == m.node_id)
    allowed = nodes.visible(ctx, "baremetal:volume")
    if allowed is not None:
        q = q.where(allowed)
    async with rt.db.session() as s:
        if node:
            n = await find_node_for(s, ctx, node, traits=False)
            q = q.where(m.node_id == n.id)
        rows, more = await pages.fetch(s, q, m, sort_key=sort_key, sort_dir=sort_dir,
                                       marker=marker, limit=limit)
    return [(cast(Record, r[0]), r[1]) for r in rows], more


async def _node_for_write(s: AsyncSession, ctx: RequestContext, ident: str, rule: str) -> Node:
    """The node a record is put on: an unknown one is 400, as Ironic's
    replace_node_uuid_with_id (the request is about the record)."""
    try:
        return await find_node_for(s, ctx, ident, rule, traits=False)
    except NotFound as exc:
        raise InvalidParameter(exc.message) from None


async def create(rt: Runtime, ctx: RequestContext, kind: Kind, body: Any) -> tuple[Record, str]:
    values = checks.volume(kind.name, body)
    try:
        async with rt.db.session() as s:
            node = await _node_for_write(s, ctx, values["node_uuid"], "baremetal:volume:create")
            row = kind.model(uuid=values["uuid"] or new_uuid(), node_id=node.id,
                             **{f: values[f] for f in kind.fields})
            await _unique(s, kind, row, node)
            s.add(row)
    except IntegrityError:  # the same record made by another process meanwhile
        raise Duplicate(f"A {kind.label} with these values already exists.") from None
    return row, node.uuid


async def update(rt: Runtime, ctx: RequestContext, kind: Kind, ident: str,
                 ops: Any) -> tuple[Record, str]:
    writable = frozenset(kind.fields) | {"node_uuid"}
    await _unlocked(rt, kind, ident)
    try:
        async with rt.db.session() as s:
            row, node_uuid = await _find(s, kind, ident)
            node = await _node_of(s, ctx, kind, ident, node_uuid, "baremetal:volume:update")
            before = {f: getattr(row, f) for f in kind.fields} | {"node_uuid": node_uuid}
            after = patch.apply(before, ops, writable=writable, internal=VOLUME_INTERNAL)
            values = checks.volume(kind.name, after, patched=True)
            _writable(node, kind, "update")
            if values["node_uuid"] != node_uuid:
                node = await _node_for_write(s, ctx, values["node_uuid"],
                                             "baremetal:volume:update")
                _writable(node, kind, "update")
                row.node_id = node.id
            for f in kind.fields:
                setattr(row, f, values[f])
            await _unique(s, kind, row, node)
    except IntegrityError:
        raise Duplicate(f"A {kind.label} with these values already exists.") from None
    return row, node.uuid


async def remove(rt: Runtime, ctx: RequestContext, kind: Kind, ident: str) -> None:
    await _unlocked(rt, kind, ident)
    async with rt.db.session() as s:
        row, node_uuid = await _find(s, kind, ident)
        node = await _node_of(s, ctx, kind, ident, node_uuid, "baremetal:volume:delete")
        _writable(node, kind, "deletion")
        await s.delete(row)
