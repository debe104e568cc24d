"""Which periodic work is this conductor's: the hash ring of the live conductors.

Each conductor sweeps only the nodes the ring of the node's conductor group
gives it (the ring the API uses to hand out work), and only the deploy
batches the ring of all live conductors gives it, so three conductors make a
third of the BMC calls each instead of three times all of them.  The ring is
read once per sweep; while it changes (a conductor joins, or dies) two
conductors may both think a node theirs for a moment, so the work itself is
still claimed in the database (``power_synced_at``, the node's lock).
"""

from __future__ import annotations

from barecloud.conductor import recovery
from barecloud.conductor.ring import HashRing
from barecloud.db.session import Database

ALL = "*"  # the ring of every live conductor, whatever its group


class Shares:
    """This conductor's part of the work, as the ring says at one moment."""

    def __init__(self, me: str, my_group: str, live: list[tuple[str, str]]) -> None:
        self.me = me
        members = [*live, (me, my_group)]
        self._rings = HashRing.by_group(members)
        self._rings[ALL] = HashRing(h for h, _ in members)

    def mine(self, key: str, group: str = ALL, *, anyone: bool = False) -> bool:
        """Whether ``key`` (a node's UUID in ``group``, a batch's UUID) is this
        conductor's.  A group with no live conductor is nobody's, unless the
        work needs no access to its machines (``anyone``: a deadline is a
        database write): then the ring of every live conductor says."""
        ring = self._rings.get(group)
        if ring is None and anyone:
            ring = self._rings[ALL]
        return ring is not None and ring.host_for(key) == self.me


async def current(db: Database, me: str, my_group: str, timeout: float) -> Shares:
    # This conductor counts itself in (it may not have heartbeated yet); one whose
    # peers declared it dead overlaps them only until it steps down, and what it
    # sweeps meanwhile is still claimed row by row.
    return Shares(me, my_group, await recovery.live_conductors(db, timeout))

