"""The sFlow collector: sampled packets from the switches, summed per flow, attributed.

A switch that exports flows (a :class:`~barecloud.drivers.switches.base.FlowExport`
driver: ``openvswitch``) gets **one collector**, in one process: the one
holding the switch's leader lock (``flow-collector:<switch>``; SQLite's one
process always does).  The collector binds a UDP socket of its own on
``flow_collector_host`` (a free port), points the switch's export at it, and
a process that takes a switch over points it at itself: every datagram
reaches exactly one process, so nothing is counted twice, and switches are
spread over the processes that take their locks.

Each datagram is decoded (:mod:`barecloud.wire.sflow`) and its flow samples
summed in memory per flow (ports in and out, VLAN, MACs, addresses,
protocol, TCP/UDP ports): samples, Σ frame length * sampling rate (the
bytes the flow moved, estimated) and Σ sampling rate (packets).  Every
``flow_interval`` seconds the sums are attributed and written, one row per
flow (``flow_records``), and rows older than a day are deleted.  A flow's
source is the Neutron port whose MAC sent the frame (on the network of the
switch port it came in on, when several have it), else the machine behind
that switch port, else the port holding the source address; its
destination likewise, by the destination MAC, the port it left by, the
destination address.  Attribution is written with the row, as the port
counters' is (traffic.py): machines change hands.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import socket
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from sqlalchemy import delete, select

from barecloud.conductor.leader import Leader
from barecloud.db.models import utcnow
from barecloud.db.network_models import FlowRecord, IPAllocation, NetworkPort
from barecloud.drivers.switches import registry
from barecloud.drivers.switches.base import FlowExport
from barecloud.errors import BarecloudError
from barecloud.services.context import Runtime
from barecloud.services.network import traffic
from barecloud.services.network.traffic import Owner
from barecloud.wire import sflow

log = logging.getLogger(__name__)

RECEIVE_BUFFER = 4 * 1024 * 1024


class FlowKey(NamedTuple):
    in_index: int | None
    out_index: int | None
    vlan: int | None
    protocol: int | None
    src_mac: str
    dst_mac: str
    src_ip: str | None
    dst_ip: str | None
    src_port: int | None
    dst_port: int | None


@dataclass(slots=True)
class FlowSums:
    samples: int = 0
    est_bytes: int = 0
    est_packets: int = 0


@dataclass
class FlowTable:
    """Flow samples summed per flow since the last write."""

    flows: dict[FlowKey, FlowSums] = field(default_factory=dict)
    datagrams: int = 0
    samples: int = 0
    counter_samples: int = 0
    errors: int = 0
    # The latest interface counters by ifIndex (polled by the switch).
    counters: dict[int, sflow.InterfaceCounters] = field(default_factory=dict)

    def add_datagram(self, data: bytes) -> None:
        try:
            datagram = sflow.decode(data)
        except sflow.SflowError:
            self.errors += 1
            return
        self.datagrams += 1
        self.add(datagram)

    def add(self, datagram: sflow.Datagram) -> None:
        for c in datagram.counters:
            self.counters[c.if_index] = c
        self.counter_samples += len(datagram.counters)
        for f in datagram.flows:
            p = f.packet
            if p is None:
                continue
            key = FlowKey(f.input, f.output, p.vlan if p.vlan is not None else f.src_vlan,
                          p.protocol, p.src_mac, p.dst_mac, p.src_ip, p.dst_ip,
                          p.src_port, p.dst_port)
            sums = self.flows.get(key)
            if sums is None:
                sums = self.flows[key] = FlowSums()
            sums.samples += 1
            sums.est_bytes += f.frame_length * f.sampling_rate
            sums.est_packets += f.sampling_rate
            self.samples += 1

    def take(self) -> dict[FlowKey, FlowSums]:
        flows, self.flows = self.flows, {}
        return flows


# --- attribution --------------------------------------------------------------------


def _owner(port: NetworkPort) -> Owner:
    if port.device_owner == "network:dhcp":
        return Owner(port.id, port.network_id, None, "network:dhcp")
    return Owner(port.id, port.network_id, port.project_id, port.device_id or None)


def _pick(candidates: list[NetworkPort], network: str | None) -> NetworkPort | None:
    for c in candidates:
        if c.network_id == network:
            return c
    return candidates[0] if candidates else None


@dataclass
class Attributor:
    """Who is behind a flow's two ends, from one read of ports, MACs and addresses."""

    switch: str
    owners: dict[tuple[str, str], Owner]
    by_mac: dict[str, list[NetworkPort]]
    by_ip: dict[str, list[NetworkPort]]

    def end(self, mac: str, port: str | None, ip: str | None) -> Owner:
        behind = self.owners.get((self.switch, port)) if port else None
        network = behind.network_id if behind else None
        found = _pick(self.by_mac.get(mac, []), network)
        if found is not None:
            owner = _owner(found)
            if behind is not None and behind.network_port_id == found.id:
                owner.node_uuid = behind.node_uuid
            return owner
        if behind is not None and (behind.project_id or behind.device_id):
            return behind
        found = _pick(self.by_ip.get(ip, []), network) if ip else None
        if found is not None:
            return _owner(found)
        return behind or Owner()


async def attributor(rt: Runtime, switch: str, macs: Iterable[str],
                     ips: Iterable[str]) -> Attributor:
    owners = await traffic.attribution(rt)
    macs, ips = sorted(set(macs)), sorted(set(ips))
    by_mac: dict[str, list[NetworkPort]] = {}
    by_ip: dict[str, list[NetworkPort]] = {}
    async with rt.db.session() as s:
        for i in range(0, len(macs), 500):
            for port in (await s.scalars(select(NetworkPort).where(
                    NetworkPort.mac_address.in_(macs[i:i + 500])))).all():
                by_mac.setdefault(port.mac_address.lower(), []).append(port)
        for i in range(0, len(ips), 500):
            for ip, port in (await s.execute(
                    select(IPAllocation.ip_address, NetworkPort)
                    .join(NetworkPort, NetworkPort.id == IPAllocation.port_id)
                    .where(IPAllocation.ip_address.in_(ips[i:i + 500])))).all():
                by_ip.setdefault(ip, []).append(port)
    return Attributor(switch, owners, by_mac, by_ip)


def records(switch: str, flows: dict[FlowKey, FlowSums], ports: dict[int, str],
            who: Attributor, start: dt.datetime, seconds: float) -> list[FlowRecord]:
    """The rows of one interval: one per flow, both ends attributed."""
    out = []
    for k, sums in flows.items():
        in_port = ports.get(k.in_index) if k.in_index is not None else None
        out_port = ports.get(k.out_index) if k.out_index is not None else None
        src = who.end(k.src_mac, in_port, k.src_ip)
        dst = who.end(k.dst_mac, out_port, k.dst_ip)
        out.append(FlowRecord(
            switch=switch, interval_start=start, seconds=seconds, in_port=in_port,
            out_port=out_port, vlan=k.vlan, protocol=k.protocol, src_mac=k.src_mac,
            dst_mac=k.dst_mac, src_ip=k.src_ip, dst_ip=k.dst_ip, src_port=k.src_port,
            dst_port=k.dst_port, samples=sums.samples, est_bytes=sums.est_bytes,
            est_packets=sums.est_packets,
            src_network_port_id=src.network_port_id, src_network_id=src.network_id,
            src_project_id=src.project_id, src_device_id=src.device_id,
            dst_network_port_id=dst.network_port_id, dst_network_id=dst.network_id,
            dst_project_id=dst.project_id, dst_device_id=dst.device_id))
    return out


# --- the collector ------------------------------------------------------------------


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, table: FlowTable) -> None:
        self.table = table

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.table.add_datagram(data)


class FlowCollector:
    """One switch's collector: its socket (while this process leads it) and its writes."""

    def __init__(self, rt: Runtime, switch: str) -> None:
        self.rt, self.switch = rt, switch
        self.table = FlowTable()
        self.leader = Leader(rt.db.url, f"flow-collector:{switch}",
                             rt.settings.leader_retry_interval)
        self.transport: asyncio.DatagramTransport | None = None
        self.target: str | None = None
        self.ports: dict[int, str] = {}
        self.written = 0
        # The switch said it exports nothing (its sampling is off): not asked again.
        self.off = False
        self._task: asyncio.Task[None] | None = None
        self._since = utcnow()

    def _driver(self) -> FlowExport | None:
        driver = registry.switch_driver(self.switch, self.rt.settings)
        return driver if isinstance(driver, FlowExport) else None

    @property
    def host(self) -> str:
        return self.rt.settings.flow_collector_host or self.rt.settings.host

    async def start(self) -> None:
        await self.leader.start()
        self._task = asyncio.create_task(self._run(), name=f"flow-collector-{self.switch}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(Exception):
            await self.flush()
        self._close()
        await self.leader.stop()

    async def listen(self) -> str:
        """Bind the socket and point the switch at it; the target ("host:port")."""
        loop = asyncio.get_running_loop()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
            sock.bind((self.host, 0))
        except OSError:
            sock.close()
            raise
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Receiver(self.table), sock=sock)
        self.transport = transport
        port = sock.getsockname()[1]
        self.target = f"[{self.host}]:{port}" if family == socket.AF_INET6 else \
            f"{self.host}:{port}"
        return self.target

    def _close(self) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport, self.target = None, None

    async def _run(self) -> None:
        while True:
            try:
                await self._pass()
            except BarecloudError as exc:
                log.warning("flow collector %s: %s", self.switch, exc.message)
            except Exception:
                log.exception("flow collector %s failed", self.switch)
            await asyncio.sleep(self.rt.settings.flow_interval)

    async def _pass(self) -> None:
        if not self.leader.leading:
            if self.transport is not None:
                log.info("flow collector %s: no longer its collector", self.switch)
                self._close()
                self.table.take()
            return
        driver = self._driver()
        if driver is None or self.off:
            return
        if self.transport is None:
            target = await self.listen()
            if not await driver.export_flows(target):
                self._close()
                self.off = True
                return
            log.info("flow collector %s: switch exports sFlow to %s", self.switch, target)
        await self.flush()

    async def flush(self) -> int:
        """Write what was sampled since the last flush; the rows written."""
        now = utcnow()
        start, self._since = self._since, now
        flows = self.table.take()
        if not flows:
            return 0
        driver = self._driver()
        if driver is not None and any(
                i is not None and i not in self.ports
                for k in flows for i in (k.in_index, k.out_index)):
            self.ports = await driver.flow_ports()
        who = await attributor(
            self.rt, self.switch, (m for k in flows for m in (k.src_mac, k.dst_mac)),
            (ip for k in flows for ip in (k.src_ip, k.dst_ip) if ip))
        rows = records(self.switch, flows, self.ports, who, start,
                       max((now - start).total_seconds(), 0.001))
        async with self.rt.db.session() as s:
            s.add_all(rows)
            await s.execute(delete(FlowRecord).where(
                FlowRecord.switch == self.switch,
                FlowRecord.interval_start < now - traffic.RETENTION))
        self.written += len(rows)
        return len(rows)


def exporting_switches(rt: Runtime) -> list[str]:
    """The configured switches whose drivers export flows."""
    out = []
    for name in sorted(rt.settings.switches):
        try:
            driver = registry.switch_driver(name, rt.settings)
        except BarecloudError:
            continue
        if isinstance(driver, FlowExport) and driver.exports_flows:
            out.append(name)
    return out
