"""barecloud's network node: tenant DHCP servers, switch VTEPs and the counter sampler.

Three loops, run by the all-in-one service and by ``barecloud conductor``:

- **DHCP** (when ``network_host_switch`` is set and we are root): every
  network in use by a machine (a port bound to a host) that has a DHCP-enabled
  subnet (IPv4, or IPv6 with something for dnsmasq to do: docs/design/ipv6.md)
  gets a DHCP port of its own, a namespace plugged into the
  network's segment and a dnsmasq (:mod:`barecloud.services.network.dhcp`);
  networks no longer in use lose theirs.  The operator's provisioning and
  cleaning networks are left alone: the provisioning dnsmasq serves them.
- **VTEPs** (when a configured switch is a VTEP that can flood, a
  :class:`~barecloud.drivers.switches.base.VtepFlood` such as a
  ``linux-bridge`` with ``vxlan_local``): every vxlan network in use by a
  machine floods its broadcast, on every such switch, to the hypervisors
  that have a port of it bound to them (:mod:`~barecloud.services.network.vteps`:
  up, with a ``host_ip``), and stops when none is left: VMs on a hypervisor
  reach the network's bare-metal servers and DHCP server through the switch.
  Its own loop at the DHCP loop's pace rather than a step of it: it is
  needed whether or not this process serves DHCP (``network_host_switch``),
  and a failing DHCP pass must not hold it up.
- **Routers** (with DHCP's conditions): the L3 agent
  (:mod:`barecloud.services.network.l3`) makes every router's namespace
  match the database, every ``l3.INTERVAL`` seconds and at once when this
  process's API changes a router or floating IP (:mod:`~barecloud.services.network.wakeup`).
- **Counters** (when switches are configured): :func:`traffic.sample_once`
  every ``switch_counter_interval`` seconds.
- **Port filters** (when a configured switch can filter, a
  :class:`~barecloud.drivers.switches.base.PortFilter` such as
  ``linux-bridge`` or ``generic-ssh`` with port ACLs): every machine port
  bound to a switch port that is on the port's network right now is
  filtered by its security groups (:mod:`~barecloud.services.network.firewall`);
  a port on another segment (provisioning, cleaning) or without port
  security is not.  A change of a
  group, a rule or a port's groups wakes it at once in this process; other
  processes' changes are seen at its next pass (``DHCP_INTERVAL``).
- **Flows**: a :class:`~barecloud.services.network.flows.FlowCollector` per
  switch that exports sFlow, each with a leader lock of its own (flows.py).

Every conductor (and the all-in-one service) runs this agent, but only one
process acts: the leader (:mod:`barecloud.conductor.leader`, an advisory lock
on PostgreSQL; SQLite's one process always leads), so one dnsmasq serves a
network, one process sets the switches' VTEPs and one sampler reads the
counters.  A process that is not (or no longer) leader stops the DHCP
servers it runs; one that becomes leader starts them at its next pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import lazyload

from barecloud.conductor.leader import Leader
from barecloud.db.network_models import IPAllocation, Network, NetworkPort, Subnet
from barecloud.drivers.switches import registry
from barecloud.drivers.switches.base import (
    HostPlug,
    PortFilter,
    Segment,
    VtepFlood,
    can_filter,
)
from barecloud.errors import BarecloudError
from barecloud.services.context import Runtime
from barecloud.services.network import dhcp as network_dhcp
from barecloud.services.network import firewall, flows, l3, traffic, vteps, wakeup
from barecloud.services.network import ports as network_ports
from barecloud.services.network import security_groups as groups_service
from barecloud.services.network.dhcp import NetworkDhcpServer, NetworkSpec, SubnetSpec
from barecloud.services.network.segments import segment
from barecloud.services.tenancy import service_context

log = logging.getLogger(__name__)

DHCP_OWNER = "network:dhcp"
DHCP_INTERVAL = 2.0
LEADER_ROLE = "network-agent"
# Networks in use by a machine or a VM: a port of theirs bound to a host
# (the DHCP servers' own ports do not count).
_IN_USE = select(NetworkPort.network_id).where(NetworkPort.binding_host_id != "",
                                               NetworkPort.device_owner != DHCP_OWNER)


class NetworkAgent:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self.servers: dict[str, NetworkDhcpServer] = {}
        self.root = rt.settings.data_dir.resolve() / "network-dhcp"
        self._tasks: list[asyncio.Task[None]] = []
        self._wake = asyncio.Event()
        # Vxlan networks given VTEPs at the last pass, so a network no longer in
        # use is told "nobody" once (its bridge may outlive it, e.g. a DHCP plug).
        self._flooded: dict[str, Segment] = {}
        self.collectors: list[flows.FlowCollector] = []
        self.leader = Leader(rt.db.url, LEADER_ROLE, rt.settings.leader_retry_interval)
        self._filter_wake = asyncio.Event()
        self._unlisten: Callable[[], None] | None = None
        self.filter_passes = 0  # completed passes (tests and the benchmark wait on it)
        self.l3 = l3.L3Agent(rt.db, self._plug, rt.settings.data_dir.resolve() / "network-routers")
        self._l3_wake = asyncio.Event()

    async def start(self) -> None:
        if network_dhcp.enabled(self.rt.settings) or self.rt.settings.switches:
            await self.leader.start()
        if network_dhcp.enabled(self.rt.settings):
            ended = await asyncio.to_thread(network_dhcp.end_all_stale, self.root)
            if ended:
                log.warning("ended the dnsmasq a killed service left (pids %s)", ended)
            self._tasks.append(asyncio.create_task(
                self._every(DHCP_INTERVAL, self.sync_dhcp), name="network-dhcp"))
            wakeup.wakers.add(self._l3_wake)
            self._tasks.append(asyncio.create_task(self._routers(), name="network-l3"))
        if self.rt.settings.switches:
            self._tasks.append(asyncio.create_task(
                self._every(self.rt.settings.switch_counter_interval, self.sample),
                name="switch-counters"))
            self._tasks.append(asyncio.create_task(
                self._every(DHCP_INTERVAL, self.sync_vteps), name="switch-vteps"))
            self._unlisten = groups_service.on_change(self._filter_wake.set)
            self._tasks.append(asyncio.create_task(self._filter_loop(), name="port-filters"))
            for name in flows.exporting_switches(self.rt):
                collector = flows.FlowCollector(self.rt, name)
                await collector.start()
                self.collectors.append(collector)

    async def stop(self) -> None:
        if self._unlisten is not None:
            self._unlisten()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        wakeup.wakers.discard(self._l3_wake)
        for network_id in list(self.servers):
            await self._remove(network_id)
        for collector in self.collectors:
            await collector.stop()
        if network_dhcp.enabled(self.rt.settings):
            await self.l3.stop()
        await self.leader.stop()

    def wake(self) -> None:
        self._wake.set()

    async def _every(self, interval: float, fn: Callable[[], Awaitable[Any]]) -> None:
        while True:
            self._wake.clear()
            try:
                await fn()
            except Exception:
                log.exception("network agent: %s failed", getattr(fn, "__name__", fn))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), interval)

    async def _routers(self) -> None:
        """The L3 loop: its own pace and wake-up, so a floating IP's move is applied
        within a second (or at once, when made through this process)."""
        while True:
            self._l3_wake.clear()
            try:
                if self.leader.leading:
                    await self.l3.sync()
                else:  # another process runs the routers
                    await self.l3.stop()
            except Exception:
                log.exception("network agent: routers failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._l3_wake.wait(), l3.INTERVAL)

    async def sample(self) -> None:
        if self.leader.leading:  # one sampler in the cluster: no sample counted twice
            await traffic.sample_once(self.rt)

    # --- port filters -----------------------------------------------------
    async def _filter_loop(self) -> None:
        while True:
            self._filter_wake.clear()
            try:
                await self.sync_filters()
            except Exception:
                log.exception("network agent: port filters failed")
            self.filter_passes += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._filter_wake.wait(), DHCP_INTERVAL)

    def _filterers(self) -> dict[str, PortFilter]:
        out: dict[str, PortFilter] = {}
        for name in sorted(self.rt.settings.switches):
            try:
                switch = registry.switch_driver(name, self.rt.settings)
            except BarecloudError:
                continue
            if can_filter(switch):
                assert isinstance(switch, PortFilter)
                out[name] = switch
        return out

    async def sync_filters(self) -> None:
        """Each filtering switch's machine ports filtered by their groups (leader only)."""
        if not self.leader.leading:
            return
        switches = self._filterers()
        if not switches:
            return
        async with self.rt.db.session() as s:
            rows = (await s.execute(
                select(NetworkPort.id, NetworkPort.binding_profile, Network)
                .join(Network, Network.id == NetworkPort.network_id)
                .where(NetworkPort.binding_host_id != "",
                       NetworkPort.binding_vnic_type == "baremetal")
                .options(lazyload("*")))).all()
            on: dict[str, list[tuple[str, str, str]]] = {}  # switch -> (port, vif, segment)
            for port_id, profile, network in rows:
                for link in (profile or {}).get("local_link_information") or []:
                    switch_name, port = link.get("switch_info"), link.get("port_id")
                    if switch_name in switches and port:
                        on.setdefault(switch_name, []).append(
                            (str(port), port_id, segment(network).key))
            rules = await firewall.port_rules(
                s, {vif for ports in on.values() for _, vif, _ in ports})
        for name, switch in switches.items():
            try:
                where = await switch.bindings() if on.get(name) else {}  # type: ignore[attr-defined]
                wanted = {}
                for port, vif, key in on.get(name, []):
                    current = where.get(port)
                    found = rules.get(vif)
                    if found is not None and current is not None and current.key == key:
                        wanted[port] = found
                await switch.filter_ports(wanted)
            except BarecloudError as exc:
                log.warning("switch %s: port filters not set: %s", name, exc.message)

    # --- VTEPs ------------------------------------------------------------
    def _flooders(self) -> dict[str, VtepFlood]:
        """The configured switches that are VTEPs and flood segments to others, by name."""
        out: dict[str, VtepFlood] = {}
        for name in sorted(self.rt.settings.switches):
            try:
                switch = registry.switch_driver(name, self.rt.settings)
            except BarecloudError:
                continue  # misconfigured: whoever drives it says why
            if isinstance(switch, VtepFlood) and switch.vxlan_local:
                out[name] = switch
        return out

    async def _host_vteps(self) -> dict[str, tuple[Segment, frozenset[str]]]:
        """Every vxlan network in use by a machine: its segment and its hypervisors'
        VTEP addresses (none, for a network of bare-metal servers only)."""
        async with self.rt.db.session() as s:
            networks = (await s.scalars(
                select(Network).where(Network.network_type == "vxlan", Network.id.in_(_IN_USE))
                .options(lazyload("*")))).all()
            hosts = await vteps.host_vteps(s, [n.id for n in networks])
        addresses: dict[str, set[str]] = {}
        for v in hosts:
            addresses.setdefault(v.network_id, set()).add(v.address)
        return {n.id: (segment(n), frozenset(addresses.get(n.id, ()))) for n in networks}

    async def sync_vteps(self) -> None:
        """Make each switch that can flood send each vxlan network in use to the
        hypervisors with a port of it (leader only)."""
        if not self.leader.leading:  # the leader does it
            return
        switches = self._flooders()
        if not switches:
            return
        wanted = await self._host_vteps()
        gone = {nid: (seg, frozenset[str]()) for nid, seg in self._flooded.items()
                if nid not in wanted}
        failed: set[str] = set()
        for network_id, (seg, addresses) in {**wanted, **gone}.items():
            for name, switch in switches.items():
                try:
                    await switch.flood(seg, addresses)
                except BarecloudError as exc:
                    failed.add(network_id)
                    log.warning("switch %s: network %s's VTEPs not set: %s",
                                name, network_id, exc.message)
                except Exception:  # a bug: logged, and the other networks still go on
                    failed.add(network_id)
                    log.warning("switch %s: network %s's VTEPs not set", name, network_id,
                                exc_info=True)
        self._flooded = {nid: seg for nid, (seg, _) in wanted.items()}
        self._flooded.update({nid: seg for nid, (seg, _) in gone.items() if nid in failed})

    # --- DHCP -------------------------------------------------------------
    def _operator_networks(self) -> set[str]:
        s = self.rt.settings
        return {ref for ref in (s.provisioning_network, s.cleaning_network) if ref}

    async def _wanted(self) -> dict[str, Network]:
        """Networks in use by a machine with a DHCP-enabled subnet dnsmasq serves."""
        operator = self._operator_networks()
        served = or_(Subnet.ip_version == 4, Subnet.ipv6_ra_mode.is_not(None),
                     Subnet.ipv6_address_mode.is_(None),
                     Subnet.ipv6_address_mode != "slaac")
        async with self.rt.db.session() as s:
            rows = (await s.scalars(
                select(Network).where(Network.id.in_(_IN_USE),
                                      Network.id.in_(select(Subnet.network_id).where(
                                          Subnet.enable_dhcp.is_(True), served)))
            )).all()
        return {n.id: n for n in rows if n.id not in operator and n.name not in operator}

    async def sync_dhcp(self) -> None:
        if not self.leader.leading:  # another process serves the networks
            for network_id in list(self.servers):
                await self._remove(network_id)
            return
        wanted = await self._wanted()
        for network_id in [n for n in self.servers if n not in wanted]:
            await self._remove(network_id)
        for network_id, network in wanted.items():
            try:
                spec = await self._spec(network)
                server = self.servers.get(network_id)
                if server is None or not server.alive() or \
                        network_dhcp.config(server.spec, server.dir) != \
                        network_dhcp.config(spec, server.dir) or \
                        server.spec.addresses != spec.addresses:
                    await self._start(spec)  # SIGHUP re-reads hosts, not the ranges
                elif server.spec != spec:
                    await server.reload(spec)
            except BarecloudError as exc:
                log.warning("network %s: DHCP not ready: %s", network_id, exc.message)

    async def _dhcp_port(self, network: Network) -> NetworkPort:
        async with self.rt.db.session() as s:
            port = await s.scalar(select(NetworkPort).where(
                NetworkPort.network_id == network.id, NetworkPort.device_owner == DHCP_OWNER))
        if port is not None:
            return port
        ctx = service_context(f"req-dhcp-{network.id}")
        return await network_ports.create_port(
            self.rt, ctx, project_id=network.project_id, network_id=network.id,
            device_id=f"dhcp-{network.id}", device_owner=DHCP_OWNER)

    async def _spec(self, network: Network) -> NetworkSpec:
        dhcp = await self._dhcp_port(network)
        async with self.rt.db.session() as s:
            subnets = (await s.scalars(select(Subnet).where(
                Subnet.network_id == network.id, Subnet.enable_dhcp.is_(True))
                .order_by(Subnet.created_at, Subnet.id))).all()
            hosts = (await s.execute(
                select(NetworkPort.mac_address, IPAllocation.ip_address, NetworkPort.id)
                .join(IPAllocation, IPAllocation.port_id == NetworkPort.id)
                .where(NetworkPort.network_id == network.id,
                       or_(NetworkPort.device_owner != DHCP_OWNER,
                           NetworkPort.device_owner.is_(None)))
                .order_by(NetworkPort.mac_address))).all()
            mine = (await s.scalars(select(IPAllocation).where(
                IPAllocation.port_id == dhcp.id))).all()
        prefix = {sub.id: ipaddress.ip_network(sub.cidr, strict=False).prefixlen
                  for sub in subnets}
        addresses = tuple(f"{a.ip_address}/{prefix[a.subnet_id]}" for a in mine
                          if a.subnet_id in prefix)
        return NetworkSpec(
            network_id=network.id, port_id=dhcp.id, mac=dhcp.mac_address,
            addresses=addresses,
            subnets=tuple(SubnetSpec(sub.id, sub.cidr, sub.gateway_ip,
                                     tuple(sub.dns_nameservers or ()), sub.ipv6_ra_mode,
                                     sub.ipv6_address_mode) for sub in subnets),
            hosts=tuple((mac, ip, f"host-{ip.replace('.', '-').replace(':', '-')}")
                        for mac, ip, _ in hosts),
            mtu=network.mtu)

    def _plug(self) -> HostPlug:
        switch = registry.switch(self.rt.settings.network_host_switch)
        if not isinstance(switch, HostPlug):
            raise BarecloudError(f"switch {self.rt.settings.network_host_switch} cannot plug "
                                 "host ports (network_host_switch needs linux-bridge)")
        return switch

    async def _start(self, spec: NetworkSpec) -> None:
        old = self.servers.pop(spec.network_id, None)
        if old is not None:
            await old.stop()
        code, out = await network_dhcp.run_ip("netns", "add", spec.netns)
        if code and "exists" not in out:
            raise BarecloudError(f"could not create namespace {spec.netns}: {out}")
        server = NetworkDhcpServer(spec, self.root)
        try:
            await network_dhcp.run_ip("-n", spec.netns, "link", "set", "lo", "up")
            network = await self._network(spec.network_id)
            await self._plug().plug(segment(network), spec.ifname, spec.netns,
                                    spec.addresses, spec.mac)
            await server.start()
        except BaseException:
            # A network deleted meanwhile, a failed plug, or the service stopping
            # (cancelled): no server is kept for it, so nothing else would remove
            # the namespace (a CI run's stop left one behind).
            await self._discard(server)
            raise
        self.servers[spec.network_id] = server
        log.info("network %s: DHCP on %s in %s", spec.network_id, spec.ifname, spec.netns)

    async def _network(self, network_id: str) -> Network:
        async with self.rt.db.session() as s:
            network = await s.get(Network, network_id)
        if network is None:
            raise BarecloudError(f"network {network_id} is gone")
        return network

    async def _remove(self, network_id: str) -> None:
        server = self.servers.pop(network_id, None)
        if server is not None:
            await self._discard(server)

    async def _discard(self, server: NetworkDhcpServer) -> None:
        await server.stop()
        with contextlib.suppress(BarecloudError):
            await self._plug().unplug(server.spec.ifname, server.spec.netns)
        await network_dhcp.run_ip("netns", "delete", server.spec.netns)

