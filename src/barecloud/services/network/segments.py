"""Segments: the VXLAN VNI or VLAN id a network's frames travel on.

Ids come from the settings ``network_vni_ranges`` / ``network_vlan_ranges``
("first:last", several separated by commas), lowest free first.  The
choice and the insert happen in one transaction under a per-type advisory
lock (PostgreSQL); the unique (``network_type``, ``segmentation_id``)
constraint is the last word, and the caller retries a losing insert.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from barecloud.conductor.segments import segment_of
from barecloud.config import Settings
from barecloud.db.network_models import Network
from barecloud.db.session import serialize
from barecloud.services.network.errors import NoNetworkAvailable

TYPES = ("vxlan", "vlan", "flat")
# The physical network of VLAN and flat segments when none is named (one fabric).
DEFAULT_PHYSNET = "physnet1"
MAX_ID = {"vxlan": 2**24 - 1, "vlan": 4094}


def parse_ranges(text: str) -> list[tuple[int, int]]:
    """``"5000:5999,7000:7009"`` -> [(5000, 5999), (7000, 7009)]; bad parts are skipped."""
    ranges = []
    for part in text.split(","):
        first, sep, last = part.strip().partition(":")
        try:
            lo, hi = int(first), int(last if sep else first)
        except ValueError:
            continue
        if lo <= hi:
            ranges.append((lo, hi))
    return ranges


def ranges_for(settings: Settings, network_type: str) -> list[tuple[int, int]]:
    text = settings.network_vni_ranges if network_type == "vxlan" else \
        settings.network_vlan_ranges
    return parse_ranges(text)


def default_mtu(settings: Settings, network_type: str) -> int:
    return settings.network_default_mtu if network_type == "vxlan" else 1500


async def lock(s: AsyncSession, network_type: str) -> None:
    await serialize(s, f"segment:{network_type}")


async def in_use(s: AsyncSession, network_type: str, segmentation_id: int) -> bool:
    return await s.scalar(select(Network.id).where(
        Network.network_type == network_type,
        Network.segmentation_id == segmentation_id)) is not None


async def allocate(s: AsyncSession, settings: Settings, network_type: str) -> int:
    """The lowest free id of ``network_type`` in its ranges; 503 when none is left."""
    taken = set((await s.scalars(select(Network.segmentation_id).where(
        Network.network_type == network_type,
        Network.segmentation_id.is_not(None)))).all())
    for lo, hi in ranges_for(settings, network_type):
        for candidate in range(lo, hi + 1):
            if candidate not in taken:
                return candidate
    raise NoNetworkAvailable()


# The conductor reads segments too (the operator's networks); one definition.
segment = segment_of
