"""The operator's segments (provisioning, cleaning) as the network interface needs them.

Settings name the networks (by name or id); their segments never change once
allocated, so a conductor looks them up again only every :data:`TTL` seconds
(a network created after start-up is found within that time).
"""

from __future__ import annotations

import time

from sqlalchemy import or_, select

from barecloud.config import Settings
from barecloud.db.network_models import Network
from barecloud.db.session import Database
from barecloud.drivers.switches.base import Segment

TTL = 10.0
ROLES = ("provisioning", "cleaning")


def segment_of(network: Network) -> Segment:
    """Where a network's frames travel, as the switch drivers take it."""
    if network.network_type not in ("vxlan", "vlan", "flat"):
        raise ValueError(f"unknown network type {network.network_type!r}")
    return Segment(network.network_type, network.segmentation_id,  # type: ignore[arg-type]
                   network.id, network.mtu)


class OperatorSegments:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._cached: dict[str, Segment | None] = {}
        self._at = -TTL

    def wanted(self) -> dict[str, str]:
        """Role -> network name or id; cleaning falls back to provisioning."""
        prov = self.settings.provisioning_network
        return {"provisioning": prov, "cleaning": self.settings.cleaning_network or prov}

    async def get(self) -> dict[str, Segment | None]:
        if time.monotonic() - self._at < TTL and all(self._cached.get(r) for r in ROLES
                                                     if self.wanted()[r]):
            return self._cached
        found: dict[str, Segment | None] = {}
        async with self.db.session() as s:
            for role, ref in self.wanted().items():
                if not ref:
                    found[role] = None
                    continue
                rows = (await s.scalars(select(Network).where(
                    or_(Network.id == ref, Network.name == ref)).limit(2))).all()
                found[role] = segment_of(rows[0]) if len(rows) == 1 else None
        self._cached, self._at = found, time.monotonic()
        return found
