"""The switch driver contract: bind a switch port to a segment, unbind, list, count.

An access port is on exactly one segment (or none); binding a port that is
on another segment moves it.  Drivers raise ``PermanentDriverError`` when
the switch refuses a command and ``RetryableDriverError`` when it cannot be
reached, with messages that never carry a credential.
See docs/design/networking.md.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Literal, Protocol, runtime_checkable

from barecloud.hostagent.firewall import PortRules

NetworkType = Literal["vxlan", "vlan", "flat"]


@dataclass(frozen=True, slots=True)
class Segment:
    """Where a network's frames travel: a VLAN, a VXLAN VNI, or a flat wire."""

    network_type: NetworkType
    segmentation_id: int | None
    # The Neutron network's id, for names and descriptions on the switch.
    network_id: str = ""
    mtu: int | None = None

    @property
    def key(self) -> str:
        """A short, stable name for the segment (at most 15 characters)."""
        if self.network_type == "flat":
            return f"fl{self.network_id.replace('-', '')[:10]}"
        prefix = "vl" if self.network_type == "vlan" else "vx"
        return f"{prefix}{self.segmentation_id}"


@dataclass(frozen=True, slots=True)
class PortCounters:
    rx_bytes: int = 0
    tx_bytes: int = 0
    rx_packets: int = 0
    tx_packets: int = 0


@runtime_checkable
class SwitchDriver(Protocol):
    name: str

    async def bind(self, port: str, segment: Segment) -> None:
        """Make ``port`` an access port of ``segment`` (idempotent)."""
        ...

    async def unbind(self, port: str) -> None:
        """Take ``port`` off every segment (idempotent)."""
        ...

    async def bindings(self) -> dict[str, Segment | None]:
        """Every port the switch has and the segment it is on, as the switch says."""
        ...

    async def counters(self) -> dict[str, PortCounters]:
        """Byte and packet counters per port, as the switch counts them."""
        ...

    async def close(self) -> None: ...


@runtime_checkable
class HostPlug(Protocol):
    """A switch that can cable a port of its own to an interface of this host."""

    async def plug(self, segment: Segment, ifname: str, netns: str | None,
                   addresses: tuple[str, ...] = (), mac: str | None = None) -> str:
        """Create ``ifname`` (in ``netns``; None: this host's namespace) on ``segment``.

        Returns the name of the switch-side port.  Idempotent.
        """
        ...

    async def unplug(self, ifname: str, netns: str | None) -> None: ...

    def port_of(self, ifname: str, netns: str | None) -> str:
        """The switch-side port of a plugged interface (for counters' attribution)."""
        ...


@runtime_checkable
class VtepFlood(Protocol):
    """A switch that is a VXLAN VTEP and can flood a segment to VTEPs named at run time.

    The network agent gives it, per vxlan segment in use, the addresses of the
    hypervisors that have a VM on it (docs/design/vms.md, "Not yet" 4).
    """

    # The switch's own VTEP (underlay) address; None: it is none, and floods nothing.
    vxlan_local: str | None

    async def flood(self, segment: Segment, addresses: Collection[str]) -> bool:
        """Make ``segment``'s broadcast reach exactly ``addresses`` (and the
        switch's static peers).  False when the switch has no tunnel for
        ``segment`` (not vxlan, not a VTEP, or no port on it yet).  Idempotent."""
        ...


@runtime_checkable
class PortFilter(Protocol):
    """A switch that enforces security groups on its ports (docs/design/security-groups.md).

    A switch without it, or whose ``filters_ports`` is False (a generic-ssh
    model without port ACLs), cannot filter: a port with port security is
    refused at VIF attach (:func:`can_filter`).
    """

    # Whether this switch's ports can be filtered (its configuration may say no).
    filters_ports: bool

    async def filter_ports(self, wanted: Mapping[str, PortRules]) -> None:
        """Make exactly the ports of ``wanted`` filtered, each by its rules; every other
        port of the switch unfiltered.  Idempotent, and cheap when nothing changed."""
        ...


def can_filter(switch: SwitchDriver) -> bool:
    """Whether ``switch`` enforces security groups on its ports."""
    return isinstance(switch, PortFilter) and bool(switch.filters_ports)


@runtime_checkable
class FlowExport(Protocol):
    """A switch that samples packets and exports them as sFlow v5 to a collector.

    barecloud's collector (services/network/flows.py) points the switch at its
    own socket when it starts, and maps the datagrams' ifIndex to ports.
    """

    # Whether it is configured to export (e.g. a sampling rate above 0): a switch
    # that does not gets no collector, nor its leader lock.
    exports_flows: bool

    async def export_flows(self, target: str) -> bool:
        """Send sFlow to ``target`` ("host:port"); False when the switch exports none."""
        ...

    async def stop_flows(self) -> None: ...

    async def flow_ports(self) -> dict[int, str]:
        """sFlow ifIndex → switch port name."""
        ...
