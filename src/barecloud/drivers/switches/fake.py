"""The ``fake`` switch: ports and bindings kept in memory, shipped for fake-hardware.

It lets the whole stack (port binding, top talkers) run with no switch at
all, and tests see what was asked of a switch without a mock: ``calls``
records every operation, ``set_counters`` feeds the top-talker sampler,
and ports listed in ``refuse_ports`` are refused as a real switch would.
With ``flow_export`` it plays a switch that exports sFlow: ``flow_target``
is where the collector asked for it, and port N of ``ports`` (from 1) is
ifIndex N, so a test or benchmark sends the collector datagrams of its own.
As a ``PortFilter`` it records what a pass asks (``filters``: the ports
filtered and their rules; not in ``calls``, which a pass every 2 s would flood);
with ``filters_ports`` off it plays a switch that cannot filter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from barecloud.drivers.settings import Setting
from barecloud.drivers.switches.base import PortCounters, Segment
from barecloud.errors import PermanentDriverError
from barecloud.hostagent.firewall import PortRules


class FakeSwitch:
    driver_name: ClassVar[str] = "fake"
    options: ClassVar[tuple[Setting, ...]] = (
        Setting("ports", "The switch's ports; empty: any port name is accepted.",
                type="list", default=[]),
        Setting("refuse_ports", "Ports whose bind and unbind the switch refuses "
                "(PermanentDriverError), to try failure paths.", type="list", default=[]),
        Setting("flow_export", "Play a switch that exports sFlow (FlowExport).",
                type="boolean", default=False),
        Setting("filters_ports", "Play a switch that enforces security groups "
                "(PortFilter); off: one that cannot filter.", type="boolean", default=True),
    )

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        self.name = name
        self.ports: tuple[str, ...] = tuple(options.get("ports") or ())
        self.refuse_ports = set(options.get("refuse_ports") or ())
        self.bound: dict[str, Segment | None] = dict.fromkeys(self.ports)
        self.port_counters: dict[str, PortCounters] = {}
        self.calls: list[tuple[str, ...]] = []
        self.closed = False
        self.flow_export = bool(options.get("flow_export"))
        self.exports_flows = self.flow_export
        self.flow_target: str | None = None
        self.filters_ports = bool(options.get("filters_ports", True))
        self.cannot_filter = "it plays a switch that cannot filter (filters_ports off)"
        self.filters: dict[str, PortRules] = {}

    def _check(self, port: str, what: str) -> None:
        if self.ports and port not in self.ports:
            raise PermanentDriverError(f"Switch {self.name}: no port {port!r} to {what}.")
        if port in self.refuse_ports:
            raise PermanentDriverError(f"Switch {self.name} refused to {what} port {port}.")

    async def bind(self, port: str, segment: Segment) -> None:
        self.calls.append(("bind", port, segment.key))
        self._check(port, "bind")
        self.bound[port] = segment

    async def unbind(self, port: str) -> None:
        self.calls.append(("unbind", port))
        self._check(port, "unbind")
        self.bound[port] = None

    async def bindings(self) -> dict[str, Segment | None]:
        return dict(self.bound)

    async def counters(self) -> dict[str, PortCounters]:
        return {p: self.port_counters.get(p, PortCounters()) for p in self.bound}

    def set_counters(self, port: str, counters: PortCounters) -> None:
        """What ``counters()`` reports for ``port`` from now on."""
        self.bound.setdefault(port, None)
        self.port_counters[port] = counters

    async def close(self) -> None:
        self.closed = True

    # --- PortFilter ------------------------------------------------------------------

    async def filter_ports(self, wanted: Mapping[str, PortRules]) -> None:
        if not self.filters_ports:
            if wanted:
                raise PermanentDriverError(f"Switch {self.name} cannot filter ports.")
            return
        for port in wanted:
            self._check(port, "filter")
        self.filters = dict(wanted)

    # --- FlowExport (with flow_export) -------------------------------------------------

    async def export_flows(self, target: str) -> bool:
        self.calls.append(("export_flows", target))
        if self.flow_export:
            self.flow_target = target
        return self.flow_export

    async def stop_flows(self) -> None:
        self.flow_target = None

    async def flow_ports(self) -> dict[int, str]:
        return {i: port for i, port in enumerate(self.ports, start=1)}
