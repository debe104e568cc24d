"""A VM's NICs on the host: interface names, and the hook that makes their networks.

The names are derived, not stored, so a restarted agent finds the same taps
and bridges: a tap per NIC (``tap`` + 11 hex digits of a hash of the VM and
the MAC: unique on the host, within Linux's 15 characters) on a bridge per
network (``brq`` + the network id's first 11 characters, as Neutron's Linux
bridge agent names it).  Making that bridge and its VXLAN interface for the
NIC's ``segment`` is :class:`Networking`'s job; until it is written the
agent runs with :class:`NoNetworking`, which does nothing.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from barecloud.hostagent.driver import Nic

DEFAULT_MTU = 1500


@dataclass(frozen=True)
class NicPlan:
    """One NIC of a desired entry, with the names it gets on this host."""

    mac: str
    network_id: str
    mtu: int
    segment: Mapping[str, Any] = field(default_factory=dict)  # {"type": "vxlan", "id": 4242}
    tap: str = ""
    bridge: str = ""

    def nic(self) -> Nic:
        return Nic(mac=self.mac, tap=self.tap, bridge=self.bridge or None, mtu=self.mtu)


def tap_name(vm_uuid: str, mac: str) -> str:
    return "tap" + hashlib.sha256(f"{vm_uuid}{mac.lower()}".encode()).hexdigest()[:11]


def bridge_name(network_id: str) -> str:
    return "brq" + network_id[:11]


def plan(vm_uuid: str, nics: Sequence[Mapping[str, Any]] | None) -> tuple[NicPlan, ...]:
    """The NICs of a desired entry; ValueError for an entry without a MAC."""
    planned = []
    for index, entry in enumerate(nics or ()):
        mac = str(entry.get("mac") or "").lower()
        if not mac:
            raise ValueError(f"nics[{index}] has no mac")
        network_id = str(entry.get("network_id") or "")
        mtu = entry.get("mtu")
        planned.append(NicPlan(
            mac=mac, network_id=network_id,
            mtu=mtu if isinstance(mtu, int) and mtu > 0 else DEFAULT_MTU,
            segment=dict(entry.get("segment") or {}),
            tap=tap_name(vm_uuid, mac),
            bridge=bridge_name(network_id) if network_id else ""))
    return tuple(planned)


class Networking(Protocol):
    """What the host does for a VM's networks: called before a VM is created or
    rebuilt (make each NIC's bridge, and its VXLAN for the segment) and after it
    is deleted (remove what no other VM uses)."""

    async def plug(self, vm_uuid: str, nics: Sequence[NicPlan]) -> None: ...

    async def unplug(self, vm_uuid: str) -> None: ...


class NoNetworking:
    """Nothing to make: taps go on bridges someone else made, or on none."""

    async def plug(self, vm_uuid: str, nics: Sequence[NicPlan]) -> None:
        return None

    async def unplug(self, vm_uuid: str) -> None:
        return None
