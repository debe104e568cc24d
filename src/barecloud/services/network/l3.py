"""The L3 agent: each router a network namespace with the kernel's routing and nftables NAT.

As Neutron's L3 agent does on its network node, every router with a leg gets
a ``qrouter-<router id>`` namespace:

- one veth per leg, plugged into the leg's segment by the network host's
  switch (:class:`~barecloud.drivers.switches.base.HostPlug`, as the DHCP
  servers are): ``qr-<port>`` on each tenant subnet, holding the subnet's
  gateway IP, and ``qg-<port>`` on the external network, holding the
  gateway's address and every floating IP's (/32, so the kernel answers
  their ARP), with the external subnets' gateways as default routes (IPv4
  and IPv6); a leg holds its subnets' addresses of both versions;
- IPv4 and IPv6 forwarding on, and nftables tables replaced as a whole with
  ``nft -f`` (atomic): ``ip barecloud`` with, per floating IP, a DNAT in
  prerouting and output and an SNAT in postrouting (1:1), then, with
  ``enable_snat``, an SNAT of the tenant subnets to the gateway address for
  the rest; a forward filter that never passes a packet from the external leg
  back out of it (no transit to another router's floating IP) and, with SNAT,
  lets in from outside only what a floating IP's DNAT let in and answers;
  ``ip6 barecloud`` with no NAT, only that no-transit rule: IPv6 is routed;
- a radvd (radvd.py) advertising the router as the default router on each
  leg with IPv6 addresses.

:class:`L3Agent` makes the namespaces match the database (:func:`wanted`)
at every pass: a router whose rows did not change and whose namespace is
there is left alone; a changed one is applied again (idempotent steps, the
NAT table replaced whole); conntrack entries of a floating IP whose mapping
changed are deleted, and a new floating IP or gateway address is announced
with a gratuitous ARP, so a move takes effect at once.  What it made is
recorded (one file per router under ``data_dir/network-routers``), so a
restarted service removes the namespaces of routers deleted meanwhile and
rebuilds the others from the database, without assuming what the kernel holds.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select

from barecloud.db.network_models import (
    FloatingIP,
    IPAllocation,
    Network,
    NetworkPort,
    Router,
    Subnet,
)
from barecloud.db.session import Database
from barecloud.drivers.switches.base import HostPlug, Segment
from barecloud.errors import BarecloudError
from barecloud.services.network.dhcp import IP, run_ip
from barecloud.services.network.radvd import Advert, Radvd
from barecloud.services.network.routers import GATEWAY_OWNER, INTERFACE_OWNER
from barecloud.services.network.segments import segment

log = logging.getLogger(__name__)

INTERVAL = 1.0
NFT = shutil.which("nft") or "/usr/sbin/nft"
TABLE = "barecloud"


@dataclass(frozen=True)
class Leg:
    port_id: str
    ifname: str
    mac: str
    addresses: tuple[str, ...]  # "10.0.0.1/24"
    segment: Segment


@dataclass(frozen=True)
class RouterSpec:
    """What one router's namespace must hold, as read from the database."""

    router_id: str
    gateway: Leg | None
    nexthop: str | None  # the external IPv4 subnet's gateway
    snat: bool
    interfaces: tuple[Leg, ...]
    floating: tuple[tuple[str, str], ...]  # (floating IP, fixed IP), sorted
    nexthop6: str | None = None  # the external IPv6 subnet's gateway
    adverts: tuple[Advert, ...] = ()  # router advertisements on the IPv6 legs

    @property
    def netns(self) -> str:
        return router_netns(self.router_id)

    @property
    def legs(self) -> tuple[Leg, ...]:
        return (*((self.gateway,) if self.gateway else ()), *self.interfaces)

    def gateway_address(self) -> str | None:
        for cidr in self.gateway.addresses if self.gateway else ():
            iface = ipaddress.ip_interface(cidr)
            if iface.version == 4:
                return str(iface.ip)
        return None

    def internal_cidrs(self) -> list[str]:
        out = []
        for leg in self.interfaces:
            for cidr in leg.addresses:
                iface = ipaddress.ip_interface(cidr)
                if iface.version == 4:
                    out.append(str(iface.network))
        return sorted(set(out))


def router_netns(router_id: str) -> str:
    return f"qrouter-{router_id}"


def interface_name(port_id: str) -> str:
    return f"qr-{port_id[:11]}"


def gateway_name(port_id: str) -> str:
    return f"qg-{port_id[:11]}"


# --- what the database says -------------------------------------------------------------
async def wanted(db: Database) -> dict[str, RouterSpec]:
    """Every router that is up and has a leg: its spec."""
    async with db.session() as s:
        routers = {r.id: r for r in (await s.scalars(select(Router).where(
            Router.admin_state_up.is_(True)))).all()}
        ports = (await s.scalars(select(NetworkPort).where(
            NetworkPort.device_owner.in_((INTERFACE_OWNER, GATEWAY_OWNER)),
            NetworkPort.device_id.in_(list(routers))))).all()
        networks = {n.id: n for n in (await s.scalars(select(Network).where(
            Network.id.in_({p.network_id for p in ports})))).all()}
        subnets = {sn.id: sn for sn in (await s.scalars(select(Subnet).where(
            Subnet.network_id.in_(list(networks))))).all()}
        fips = (await s.execute(select(
            FloatingIP.router_id, FloatingIP.floating_ip_address, FloatingIP.fixed_ip_address)
            .where(FloatingIP.router_id.in_(list(routers)),
                   FloatingIP.fixed_ip_address.is_not(None)))).tuples().all()
        allocations = (await s.execute(select(IPAllocation.port_id, IPAllocation.subnet_id,
                                              IPAllocation.ip_address).where(
            IPAllocation.port_id.in_([p.id for p in ports])))).tuples().all()
    addresses: dict[str, list[tuple[str, str]]] = {}
    for port_id, subnet_id, ip in allocations:
        addresses.setdefault(port_id, []).append((subnet_id, ip))
    out: dict[str, RouterSpec] = {}
    for router_id, router in routers.items():
        gateway: Leg | None = None
        nexthop: str | None = None
        nexthop6: str | None = None
        interfaces: list[Leg] = []
        adverts: list[Advert] = []
        for port in sorted((p for p in ports if p.device_id == router_id), key=lambda p: p.id):
            network = networks.get(port.network_id)
            if network is None:
                continue
            held = sorted(addresses.get(port.id, ()), key=lambda a: a[1])
            cidrs = tuple(f"{ip}/{ipaddress.ip_network(subnets[sid].cidr).prefixlen}"
                          for sid, ip in held if sid in subnets)
            if port.device_owner == GATEWAY_OWNER:
                if port.id != router.gw_port_id:
                    continue
                gateway = Leg(port.id, gateway_name(port.id), port.mac_address, cidrs,
                              segment(network))
                nexthop, nexthop6 = (next((subnets[sid].gateway_ip for sid, ip in held
                                           if sid in subnets and subnets[sid].ip_version == v
                                           and subnets[sid].gateway_ip), None)
                                     for v in (4, 6))
            else:
                interfaces.append(Leg(port.id, interface_name(port.id), port.mac_address,
                                      cidrs, segment(network)))
                prefixes = tuple(sorted((subnets[sid].cidr, subnets[sid].ipv6_ra_mode)
                                        for sid, _ in held if sid in subnets
                                        and subnets[sid].ip_version == 6))
                if prefixes:
                    adverts.append(Advert(interface_name(port.id), prefixes))
        if gateway is None and not interfaces:
            continue
        floating = tuple(sorted((str(f), str(x)) for r, f, x in fips if r == router_id))
        out[router_id] = RouterSpec(router_id, gateway, nexthop, router.enable_snat,
                                    tuple(interfaces), floating if gateway else (),
                                    nexthop6 if gateway else None, tuple(adverts))
    return out


def ruleset(spec: RouterSpec) -> str:
    """The router's tables, replacing the ones it had (one ``nft -f``: atomic): ``ip``
    with the NAT and its filter; ``ip6`` with no NAT, IPv6 routed as Neutron's router
    routes it (security groups filter at the ports), only no transit between outsiders."""
    pre, out, post, forward, forward6 = [], [], [], [], []
    if spec.gateway is not None:
        qg = spec.gateway.ifname
        # Never a transit between outsiders: a packet for another router's floating
        # IP (on-link on the external subnet) sent to this one goes no further.
        forward.append(f'iifname "{qg}" oifname "{qg}" drop')
        forward6.append(f'iifname "{qg}" oifname "{qg}" drop')
        if spec.snat:  # behind NAT, only what NAT let in (or answers) enters
            forward += [f'iifname "{qg}" ct state established,related accept',
                        f'iifname "{qg}" ct status dnat accept', f'iifname "{qg}" drop']
        for fip, fixed in spec.floating:
            pre.append(f"ip daddr {fip} dnat to {fixed}")
            out.append(f"ip daddr {fip} dnat to {fixed}")
            post.append(f'oifname "{qg}" ip saddr {fixed} snat to {fip}')
        source = spec.gateway_address()
        cidrs = spec.internal_cidrs()
        if spec.snat and source and cidrs:
            post.append(f'oifname "{qg}" ip saddr {{ {", ".join(cidrs)} }} snat to {source}')

    def chain(name: str, hook: str, priority: str, rules: list[str],
              kind: str = "nat") -> str:
        body = "".join(f"\t\t{rule}\n" for rule in rules)
        return (f"\tchain {name} {{\n\t\ttype {kind} hook {hook} priority {priority}; "
                f"policy accept;\n{body}\t}}\n")

    return (f"table ip {TABLE}\ndelete table ip {TABLE}\ntable ip {TABLE} {{\n"
            + chain("prerouting", "prerouting", "dstnat", pre)
            + chain("output", "output", "-100", out)
            + chain("postrouting", "postrouting", "srcnat", post)
            + chain("forward", "forward", "filter", forward, "filter") + "}\n"
            + f"table ip6 {TABLE}\ndelete table ip6 {TABLE}\ntable ip6 {TABLE} {{\n"
            + chain("forward", "forward", "filter", forward6, "filter") + "}\n")


# --- the namespaces -------------------------------------------------------------------------
async def _run(*argv: str, stdin: str | None = None) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate(stdin.encode() if stdin is not None else None)
    return proc.returncode or 0, out.decode(errors="replace").strip()


async def _in(netns: str, *argv: str, stdin: str | None = None) -> tuple[int, str]:
    return await _run(IP, "netns", "exec", netns, *argv, stdin=stdin)


def _exists(netns: str) -> bool:
    return os.path.exists(f"/run/netns/{netns}")  # a stat: cheap enough for the loop


class RouterError(BarecloudError):
    """A router's namespace could not be made as the database says."""


class L3Agent:
    def __init__(self, db: Database, plug: Callable[[], HostPlug], root: Path) -> None:
        self.db = db
        self._plug = plug
        self.root = root
        self.applied: dict[str, RouterSpec] = {}
        self.radvds: dict[str, Radvd] = {}

    def _record(self, router_id: str) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / router_id).touch()

    def _recorded(self) -> set[str]:
        return {p.name for p in self.root.iterdir()} if self.root.is_dir() else set()

    async def sync(self) -> None:
        """One pass: every wanted router applied, every other one we made removed."""
        want = await wanted(self.db)
        for router_id in (set(self.applied) | self._recorded()) - set(want):
            await self.remove(router_id)
        for router_id, spec in want.items():
            old = self.applied.get(router_id)
            if old == spec and _exists(spec.netns) and \
                    (not spec.adverts or self._radvd(router_id).alive()):
                continue
            try:
                await self.apply(spec, old)
            except BarecloudError as exc:
                self.applied.pop(router_id, None)
                log.warning("router %s: not ready: %s", router_id, exc.message)

    async def apply(self, spec: RouterSpec, old: RouterSpec | None) -> None:
        await asyncio.to_thread(self._record, spec.router_id)
        ns = spec.netns
        fresh = not _exists(ns)
        if fresh:
            # A radvd left in a namespace deleted behind our back keeps that namespace
            # (and its legs, plugged into the segments) alive: it goes first.
            await self._radvd(spec.router_id).stop()
            code, out = await run_ip("netns", "add", ns)
            if code and "exists" not in out:
                raise RouterError(f"could not create namespace {ns}: {out}")
            old = None  # nothing of it is there
        await run_ip("-n", ns, "link", "set", "lo", "up")
        # IPv6 forwarding also makes the legs ignore advertisements (a router's own
        # routes are the ones set here) and lets radvd advertise.
        await _in(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1",
                  "net.ipv6.conf.all.forwarding=1", "net.ipv6.conf.default.forwarding=1")
        plug = self._plug()
        before = {leg.ifname: leg for leg in (old.legs if old else ())}
        for leg in spec.legs:
            if before.get(leg.ifname) != leg:
                if leg.ifname in before:  # changed addresses or segment: made again
                    with contextlib.suppress(BarecloudError):
                        await plug.unplug(leg.ifname, ns)
                await plug.plug(leg.segment, leg.ifname, ns, leg.addresses, leg.mac)
        for ifname in await self._links(ns):
            if ifname not in {leg.ifname for leg in spec.legs}:
                with contextlib.suppress(BarecloudError):
                    await plug.unplug(ifname, ns)
        await self._floating_addresses(spec)
        if spec.gateway is not None and spec.nexthop:
            code, out = await run_ip("-n", ns, "route", "replace", "default", "via",
                                     spec.nexthop, "dev", spec.gateway.ifname)
            if code:
                raise RouterError(f"default route via {spec.nexthop}: {out}")
        else:
            await run_ip("-n", ns, "route", "del", "default")
        if spec.gateway is not None and spec.nexthop6:
            code, out = await run_ip("-n", ns, "-6", "route", "replace", "default", "via",
                                     spec.nexthop6, "dev", spec.gateway.ifname)
            if code:
                raise RouterError(f"IPv6 default route via {spec.nexthop6}: {out}")
        else:
            await run_ip("-n", ns, "-6", "route", "del", "default")
        code, out = await _in(ns, NFT, "-f", "-", stdin=ruleset(spec))
        if code:
            raise RouterError(f"nft in {ns}: {out}")
        await self._radvd(spec.router_id).apply(spec.adverts)
        self.applied[spec.router_id] = spec
        await self._forget_moved(spec, old)
        await self._announce(spec, old)
        log.info("router %s: %d interface(s), gateway %s, %d floating IP(s)", spec.router_id,
                 len(spec.interfaces), spec.gateway_address(), len(spec.floating))

    async def _links(self, ns: str) -> list[str]:
        code, out = await run_ip("-n", ns, "-o", "link", "show")
        names = [line.split(":", 2)[1].strip().split("@")[0]
                 for line in out.splitlines() if line and not code]
        return [n for n in names if n.startswith(("qr-", "qg-"))]

    async def _floating_addresses(self, spec: RouterSpec) -> None:
        """The floating IPs as /32s on the gateway leg, and no other /32 there."""
        if spec.gateway is None:
            return
        dev = spec.gateway.ifname
        code, out = await run_ip("-n", spec.netns, "-4", "-o", "addr", "show", "dev", dev)
        have = {f.split()[3] for f in out.splitlines() if not code and len(f.split()) > 3}
        want = {f"{fip}/32" for fip, _ in spec.floating}
        for cidr in sorted(want - have):
            await run_ip("-n", spec.netns, "addr", "add", cidr, "dev", dev)
        for cidr in sorted(have - want - set(spec.gateway.addresses)):
            if cidr.endswith("/32"):
                await run_ip("-n", spec.netns, "addr", "del", cidr, "dev", dev)

    async def _forget_moved(self, spec: RouterSpec, old: RouterSpec | None) -> None:
        """Connections NATed to a floating IP's old fixed address must not live on."""
        if old is None or shutil.which("conntrack") is None:
            return
        changed = {f for f, _ in set(old.floating) ^ set(spec.floating)}
        for fip in sorted(changed):
            await _in(spec.netns, "conntrack", "-D", "-d", fip)
            await _in(spec.netns, "conntrack", "-D", "-q", fip)

    async def _announce(self, spec: RouterSpec, old: RouterSpec | None) -> None:
        """Gratuitous ARP for addresses new on the external segment (a floating IP that
        came from another router, a new gateway): neighbours update at once."""
        if spec.gateway is None or shutil.which("arping") is None:
            return
        same_leg = old is not None and old.gateway == spec.gateway
        before = {f for f, _ in old.floating} if old is not None and same_leg else set()
        new = [f for f, _ in spec.floating if f not in before]
        if not same_leg and spec.gateway_address():
            new.append(str(spec.gateway_address()))
        await asyncio.gather(*(
            _in(spec.netns, "arping", "-q", "-U", "-c", "1", "-w", "1", "-I",
                spec.gateway.ifname, ip) for ip in new))

    def _radvd(self, router_id: str) -> Radvd:
        if router_id not in self.radvds:
            self.radvds[router_id] = Radvd(router_netns(router_id),
                                           self.root.with_name("network-radvd") / router_id)
        return self.radvds[router_id]

    async def remove(self, router_id: str) -> None:
        ns = router_netns(router_id)
        self.applied.pop(router_id, None)
        await self._radvd(router_id).stop()
        self.radvds.pop(router_id, None)
        if _exists(ns):
            plug = self._plug()
            for ifname in await self._links(ns):
                with contextlib.suppress(BarecloudError):
                    await plug.unplug(ifname, ns)
            await run_ip("netns", "delete", ns)
        with contextlib.suppress(FileNotFoundError):
            (self.root / router_id).unlink()
        log.info("router %s: namespace removed", router_id)

    async def stop(self) -> None:
        for router_id in sorted(set(self.applied) | self._recorded()):
            await self.remove(router_id)
