"""Allocations: pick an available node matching a resource class and traits.

The claim is a conditional UPDATE, so two allocations racing for the same
node never both get it, whatever the number of API processes.

An allocation is visible to its owner project and to whoever sees its node;
a project member allocates for its own project only (the owner is then that
project, and only nodes it owns or leases are candidates), as Ironic allows.
"""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import and_, false, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud import states
from barecloud.db.models import Allocation, Node, NodeTrait, bump, new_uuid
from barecloud.errors import Duplicate, InvalidParameter, InvalidState, NotFound
from barecloud.services import policy
from barecloud.services.baremetal import checks, patch
from barecloud.services.baremetal.nodes import find_for as find_node_for
from barecloud.services.baremetal.schemas import UUID_RE
from barecloud.services.context import RequestContext, Runtime


async def find(s: AsyncSession, ident: str) -> Allocation:
    column = Allocation.uuid if UUID_RE.match(ident) else Allocation.name
    row = await s.scalar(select(Allocation).where(column == ident))
    if row is None:
        raise NotFound(f"Allocation {ident} could not be found.")
    return row


async def node_uuid_of(s: AsyncSession, alloc: Allocation) -> str | None:
    if alloc.node_id is None:
        return None
    uuid: str | None = await s.scalar(select(Node.uuid).where(Node.id == alloc.node_id))
    return uuid


async def _target(s: AsyncSession, alloc: Allocation) -> dict[str, Any]:
    node = await s.get(Node, alloc.node_id) if alloc.node_id is not None else None
    return {"allocation.owner": alloc.owner, "node.owner": node.owner if node else None,
            "node.lessee": node.lessee if node else None}


async def find_for(s: AsyncSession, ctx: RequestContext, ident: str,
                   rule: str = "baremetal:allocation:get") -> Allocation:
    """The allocation if ``ctx`` may see it (else NotFound) and do ``rule`` (else 403)."""
    alloc = await find(s, ident)
    target = await _target(s, alloc)
    if not policy.can(ctx, "baremetal:allocation:get", target):
        raise NotFound(f"Allocation {ident} could not be found.")
    policy.authorize(ctx, rule, target)
    return alloc


async def get(rt: Runtime, ctx: RequestContext, ident: str) -> tuple[Allocation, str | None]:
    async with rt.db.session() as s:
        a = await find_for(s, ctx, ident)
        return a, await node_uuid_of(s, a)


def _visible(ctx: RequestContext) -> Any:
    if policy.can(ctx, "baremetal:allocation:list_all"):
        return None
    policy.authorize(ctx, "baremetal:allocation:list")
    if ctx.project is None:
        return false()
    return or_(Allocation.owner == ctx.project, Node.owner == ctx.project,
               Node.lessee == ctx.project)


async def list_allocations(
    rt: Runtime, ctx: RequestContext, *, node: str | None = None, resource_class: str | None = None,
    state: str | None = None, owner: str | None = None, limit: int | None = None,
    marker: str | None = None,
) -> tuple[list[tuple[Allocation, str | None]], bool]:
    limit = min(limit or rt.settings.api_max_limit, rt.settings.api_max_limit)
    q = select(Allocation, Node.uuid).outerjoin(Node, Node.id == Allocation.node_id)
    allowed = _visible(ctx)
    if allowed is not None:
        q = q.where(allowed)
    async with rt.db.session() as s:
        if node:
            n = await find_node_for(s, ctx, node, traits=False)
            q = q.where(Allocation.node_id == n.id)
        if resource_class:
            q = q.where(Allocation.resource_class == resource_class)
        if state:
            q = q.where(Allocation.state == state)
        if owner:
            q = q.where(Allocation.owner == owner)
        if marker:
            m = await s.scalar(select(Allocation.id).where(Allocation.uuid == marker))
            if m is None:
                raise InvalidParameter(f"Marker {marker} could not be found.")
            q = q.where(Allocation.id > m)
        rows = (await s.execute(q.order_by(Allocation.id).limit(limit))).all()
    return [(r[0], r[1]) for r in rows], len(rows) == limit


async def create(rt: Runtime, ctx: RequestContext, body: Any) -> tuple[Allocation, str | None]:
    """Record the allocation; as Ironic, a backfill (``node``) is done at once and
    any other is left ``allocating`` for the allocator (services/baremetal/allocator.py),
    which a ``wake()`` after this returns sets going."""
    data = checks.allocation(body)
    resource_class, backfill = data["resource_class"], data["node"]
    if not resource_class and not backfill:
        raise InvalidParameter("The resource_class field is mandatory when not backfilling")
    owner = data["owner"]
    if owner is None and not policy.can(ctx, "baremetal:allocation:create",
                                        {"allocation.owner": None}):
        owner = ctx.project  # a project's allocation, among its own nodes
    policy.authorize(ctx, "baremetal:allocation:create", {"allocation.owner": owner})
    alloc = Allocation(
        uuid=data["uuid"] or new_uuid(), name=data["name"], resource_class=resource_class,
        traits=data["traits"], candidate_nodes=[], state=states.ALLOCATING,
        extra=data["extra"], owner=owner,
    )
    async with rt.db.session() as s:
        if await s.scalar(select(Allocation.id).where(Allocation.uuid == alloc.uuid)):
            raise Duplicate(f"Allocation with UUID {alloc.uuid} already exists.")
        if alloc.name and await s.scalar(
            select(Allocation.id).where(Allocation.name == alloc.name)
        ):
            raise Duplicate(f"Allocation with name {alloc.name} already exists.")
        for ident in data["candidate_nodes"]:
            try:
                n = await find_node_for(s, ctx, ident, traits=False)
            except NotFound as exc:  # a bad request, as Ironic answers it
                raise InvalidParameter(exc.message) from None
            alloc.candidate_nodes.append(n.uuid)
        if not backfill:
            s.add(alloc)
            return alloc, None
        # Record an allocation for a node already in use: synchronous, as Ironic's.
        n = await find_node_for(s, ctx, backfill, traits=False)
        if n.allocation_uuid:
            raise InvalidState(f"Node {n.uuid} already has an allocation.")
        if resource_class and n.resource_class != resource_class:
            raise InvalidParameter(
                f"Node {n.uuid} has resource class {n.resource_class}, "
                f"not {resource_class}."
            )
        alloc.resource_class = n.resource_class
        s.add(alloc)
        await s.flush()
        node = await claim(s, alloc, [n.id], backfill=True)
        if node is None:
            alloc.state = states.ALLOC_ERROR
            alloc.last_error = f"Failed to process allocation {alloc.uuid}: node {n.uuid} " \
                "could not be reserved."
            return alloc, None
        alloc.state, alloc.node_id = states.ALLOC_ACTIVE, node.id
        return alloc, node.uuid


def matching(alloc: Allocation, *, traits: bool = True) -> Any:
    """Nodes an allocation may take: available, free, of its class (and traits)."""
    q = select(Node.id).where(
        Node.allocation_uuid.is_(None),
        Node.provision_state == states.AVAILABLE,
        Node.maintenance.is_(False),
        Node.instance_uuid.is_(None),
        Node.resource_class == alloc.resource_class,
    )
    if alloc.owner:
        q = q.where(or_(Node.owner == alloc.owner, Node.lessee == alloc.owner))
    if alloc.candidate_nodes:
        q = q.where(Node.uuid.in_(alloc.candidate_nodes))
    for trait in alloc.traits if traits else ():
        q = q.where(
            select(NodeTrait.node_id)
            .where(and_(NodeTrait.node_id == Node.id, NodeTrait.trait == trait))
            .exists()
        )
    return q


async def claim(
    s: AsyncSession, alloc: Allocation, candidates: list[int], *, backfill: bool
) -> Node | None:
    """Take one of the nodes (a conditional UPDATE each: a node taken meanwhile is
    skipped); ``candidates`` are the backfilled node, else empty (any that match)."""
    if backfill:
        q = select(Node.id).where(Node.id.in_(candidates), Node.allocation_uuid.is_(None))
        if alloc.owner:
            q = q.where(or_(Node.owner == alloc.owner, Node.lessee == alloc.owner))
    else:
        q = matching(alloc).where(Node.reservation.is_(None))
    rows = list((await s.execute(q.with_only_columns(Node.id, Node.name).limit(200))).all())
    random.shuffle(rows)  # racing allocations then rarely try the same node first
    # As Ironic's (1.79): the node named as the allocation is tried first.
    rows.sort(key=lambda r: not (alloc.name and r[1] == alloc.name))
    ids = [r[0] for r in rows]
    for node_id in ids:
        values: dict[str, Any] = {"allocation_uuid": alloc.uuid}
        cond = [Node.id == node_id, Node.allocation_uuid.is_(None)]
        if not backfill:
            values["instance_uuid"] = alloc.uuid
            cond += [Node.instance_uuid.is_(None), Node.reservation.is_(None)]
        result = await s.execute(
            update(Node).where(*cond).values(**values, **bump())
            .execution_options(synchronize_session=False)
        )
        if result.rowcount:  # type: ignore[attr-defined]
            node: Node | None = await s.get(Node, node_id, populate_existing=True)
            return node
    return None


async def update_allocation(
    rt: Runtime, ctx: RequestContext, ident: str, ops: Any
) -> tuple[Allocation, str | None]:
    async with rt.db.session() as s:
        a = await find_for(s, ctx, ident, "baremetal:allocation:update")
        after = patch.apply({"name": a.name, "extra": a.extra}, ops,
                            writable={"name", "extra"},
                            internal={"uuid", "node_uuid", "state", "resource_class",
                                      "traits", "candidate_nodes", "owner", "last_error"})
        after = checks.patched_allocation(after)
        a.name = after.get("name")
        a.extra = after.get("extra") or {}
        return a, await node_uuid_of(s, a)


async def remove(rt: Runtime, ctx: RequestContext, ident: str) -> None:
    async with rt.db.session() as s:
        a = await find_for(s, ctx, ident, "baremetal:allocation:delete")
        if a.node_id is not None:
            node = await s.get(Node, a.node_id)
            if node is not None:
                if node.provision_state == states.ACTIVE and not node.maintenance:
                    raise InvalidState(
                        f"Cannot remove allocation {a.uuid} of node {node.uuid} in state "
                        "active; undeploy it first or set maintenance."
                    )
                node.allocation_uuid = None
                if node.instance_uuid == a.uuid:
                    node.instance_uuid = None
        await s.delete(a)
