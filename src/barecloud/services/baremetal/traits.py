"""A node's traits: the labels allocations and flavors match nodes by."""

from __future__ import annotations

from sqlalchemy import delete

from barecloud.db.models import NodeTrait
from barecloud.errors import (
    InvalidParameter,
    NodeLocked,
    NotFound,
)
from barecloud.services.baremetal import checks
from barecloud.services.baremetal.nodes import find, find_for, show
from barecloud.services.context import RequestContext, Runtime

MAX_TRAITS = 50


async def set_traits(rt: Runtime, ctx: RequestContext, ident: str, traits: list[str]) -> None:
    """``traits`` as declared (schemas.TRAITS): a list of valid trait names."""
    async with rt.db.session() as s:
        await find_for(s, ctx, ident, "baremetal:node:traits:set", traits=False)
    if len(set(traits)) > MAX_TRAITS:
        raise InvalidParameter(f"A node may have at most {MAX_TRAITS} traits.")
    async with rt.db.session() as s:
        node = await find(s, ident)
        if node.reservation:
            raise NodeLocked(node.uuid, node.reservation)
        await s.execute(delete(NodeTrait).where(NodeTrait.node_id == node.id))
        s.add_all(NodeTrait(node_id=node.id, trait=t) for t in sorted(set(traits)))


async def add_trait(rt: Runtime, ctx: RequestContext, ident: str, trait: str) -> None:
    async with rt.db.session() as s:
        await find_for(s, ctx, ident, "baremetal:node:traits:set", traits=False)
    checks.trait(trait)  # from the path: no declaration checked it
    async with rt.db.session() as s:
        node = await find(s, ident)
        if node.reservation:
            raise NodeLocked(node.uuid, node.reservation)
        if trait in {t.trait for t in node.traits}:
            return
        if len(node.traits) >= MAX_TRAITS:
            raise InvalidParameter(f"A node may have at most {MAX_TRAITS} traits.")
        s.add(NodeTrait(node_id=node.id, trait=trait))


async def remove_trait(rt: Runtime, ctx: RequestContext, ident: str, trait: str) -> None:
    async with rt.db.session() as s:
        node = await find_for(s, ctx, ident, "baremetal:node:traits:delete")
        if node.reservation:
            raise NodeLocked(node.uuid, node.reservation)
        result = await s.execute(
            delete(NodeTrait).where(NodeTrait.node_id == node.id, NodeTrait.trait == trait)
        )
        if not result.rowcount:  # type: ignore[attr-defined]
            raise NotFound(f"Node {node.uuid} doesn't have a trait {trait}")


async def traits_of(rt: Runtime, ctx: RequestContext, ident: str) -> list[str]:
    node = await show(rt, ctx, ident, "baremetal:node:traits:list")
    return [t.trait for t in node.traits]


# --- validate, history, states ------------------------------------------------
