"""Which switch a machine hangs under, and an order of machines that spares the network.

A group of servers (one multi-create, one lease) mostly talks to itself:
under one switch its traffic never crosses an uplink.  The weigher
(:func:`pack`) orders free machines so that the first ``count`` of them sit
under as few switches as the free pool allows: one switch when one has
``count`` free (the smallest such switch: big free blocks stay whole for the
next big request), otherwise the switches with most free machines first, the
last one again the smallest that covers what is still needed.

A machine's switch is that of its first cabled NIC (Ironic's port
``local_link_connection``: ``switch_info``, the switch's name, else
``switch_id``, its MAC); a machine with none is a switch of its own.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.db.models import Node, Port

K = TypeVar("K", bound=Hashable)


def switch_of(link: Mapping[str, Any] | None) -> str | None:
    """The switch a port's ``local_link_connection`` names (None: not cabled)."""
    if not link:
        return None
    for key in ("switch_info", "switch_id"):
        value = link.get(key)
        if isinstance(value, str) and value.strip():
            return value.strip().lower()
    return None


async def node_switches(s: AsyncSession, node_ids: Iterable[int]) -> dict[int, str | None]:
    """Each node's switch (its lowest-id port that names one), by node id."""
    ids = list(node_ids)
    out: dict[int, str | None] = dict.fromkeys(ids)
    if not ids:
        return out
    rows = await s.execute(select(Port.node_id, Port.local_link_connection)
                           .where(Port.node_id.in_(ids)).order_by(Port.id))
    for node_id, link in rows.tuples():
        if out.get(node_id) is None:
            out[node_id] = switch_of(link)
    return out


async def node_uuid_switches(s: AsyncSession, uuids: Iterable[str]) -> dict[str, str | None]:
    """:func:`node_switches` keyed by node uuid (leases name their hosts' nodes so)."""
    pairs = dict((await s.execute(select(Node.id, Node.uuid).where(
        Node.uuid.in_(list(uuids))))).tuples().all())
    by_id = await node_switches(s, pairs)
    return {uuid: by_id[node_id] for node_id, uuid in pairs.items()}


def pack(ordered: Sequence[K], switches: Mapping[K, str | None], count: int) -> list[K]:
    """``ordered`` again, its first ``count`` under the fewest switches.

    Ties keep ``ordered``'s preference: among switches of one size the one
    whose best machine comes first wins, and within a switch the machines keep
    their order.  The machines not chosen follow, in their order.
    """
    groups: dict[object, list[K]] = {}
    for index, item in enumerate(ordered):
        switch = switches.get(item)
        groups.setdefault(switch if switch is not None else ("alone", index), []).append(item)
    rank = {key: n for n, key in enumerate(groups)}
    left = dict(groups)
    chosen: list[K] = []
    need = min(count, len(ordered))
    while need > 0:
        fits = [k for k, g in left.items() if len(g) >= need]
        if fits:  # the smallest switch that covers the rest
            key = min(fits, key=lambda k: (len(left[k]), rank[k]))
            chosen += left.pop(key)[:need]
            break
        key = max(left, key=lambda k: (len(left[k]), -rank[k]))
        group = left.pop(key)
        chosen += group
        need -= len(group)
    taken = set(chosen)
    return chosen + [item for item in ordered if item not in taken]


def spread(items: Iterable[K], switches: Mapping[K, str | None]) -> int:
    """How many switches ``items`` sit under (a machine with none counts alone)."""
    listed = list(items)
    named = {switches.get(i) for i in listed}
    alone = sum(1 for i in listed if switches.get(i) is None)
    return len(named - {None}) + alone
