"""The ``linux-bridge`` switch: a network namespace whose interfaces are the ports.

Used by the netns lab and by Linux-based switches (Cumulus/SONiC-style
hosts): a segment is a Linux bridge named ``Segment.key`` (``vl100``,
``vx5001``, ``fl…``) made on demand in the switch namespace, and binding a
port is ``ip link set PORT master BRIDGE``, which also takes the port off
the bridge it was on, so a port is never on two segments, not even for an
instant.  A bridge with no port left is removed (with its vxlan device).

VXLAN segments span switches: with ``vxlan_local`` set, a vxlan segment's
bridge gets a ``vxlan<VNI>`` device (``nolearning``, UDP 4789) and an
all-zeros FDB entry per ``vxlan_peers`` address, which floods broadcast to
every peer (head-end replication, as in LAB-NOTES).  A new bridge starts
with the ``vxlan_peers``; :meth:`LinuxBridgeSwitch.flood` (the
:class:`~barecloud.drivers.switches.base.VtepFlood` contract) then makes a
segment's all-zeros entries exactly ``vxlan_peers`` plus the VTEPs named at
run time: the network agent calls it every pass with the hypervisors that
have a VM on the network, so they join and leave as VMs come and go, and
peers added to the settings later reach existing bridges at its next pass.
Only ``vxlan_local``'s address family can be a VTEP of this switch.

The driver runs ``ip``/``bridge``/``ethtool`` as child processes, never
through a shell, one at a time per switch (an asyncio lock), so the
read-then-change steps of one call are not interleaved with another's.

It also implements :class:`~barecloud.drivers.switches.base.HostPlug`:
barecloud's DHCP and boot servers get a veth whose far end is a port of
this switch; and :class:`~barecloud.drivers.switches.base.PortFilter`:
security groups on a machine's port, as nftables tables in the switch
namespace (:mod:`barecloud.hostagent.firewall`: bridge-family marks, inet
conntrack through ``br_netfilter``).
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import logging
import os
import re
from collections.abc import Collection, Mapping
from typing import Any, ClassVar

from barecloud.drivers.settings import Setting
from barecloud.drivers.switches.base import PortCounters, Segment
from barecloud.errors import (
    HardwareTimeout,
    InvalidParameter,
    PermanentDriverError,
    RetryableDriverError,
)
from barecloud.hostagent import firewall
from barecloud.hostagent.firewall import PortRules

log = logging.getLogger(__name__)

VXLAN_PORT = 4789
# Interfaces that are switch plumbing, never ports.
_NOT_PORTS = frozenset({"bridge", "vxlan"})
_SEGMENT_NAME = re.compile(r"^(vl|vx)(\d+)$|^fl[0-9a-f]{1,10}$")
_NO_NETNS = re.compile(r'Cannot open network namespace "([^"]*)"')
_IFNAME = re.compile(r"^[A-Za-z0-9_.:@-]{1,15}$")
_FLOOD_MAC = "00:00:00:00:00:00"


def _vxlan_device(vni: int) -> str:
    return f"vxlan{vni}"


def plug_port_name(ifname: str, netns: str | None) -> str:
    """The switch-side name of a plugged interface: short (≤15) and deterministic."""
    digest = hashlib.sha256(f"{netns or ''}/{ifname}".encode()).hexdigest()[:10]
    return f"hp{digest}"


class LinuxBridgeSwitch:
    driver_name: ClassVar[str] = "linux-bridge"
    filters_ports: ClassVar[bool] = True  # PortFilter: nftables in the namespace
    options: ClassVar[tuple[Setting, ...]] = (
        Setting("netns", "The network namespace that is the switch; its interfaces "
                "are the ports.", required=True),
        Setting("ports", "The interfaces that are ports (default: every interface but "
                "bridges, vxlan devices and lo).", type="list", default=[]),
        Setting("vxlan_local", "This switch's underlay IP address (in its namespace): "
                "vxlan segments span the switches of vxlan_peers."),
        Setting("vxlan_peers", "Underlay IP addresses of the other switches carrying "
                "vxlan segments.", type="list", default=[]),
        Setting("timeout", "Seconds one ip/bridge/ethtool command may take.",
                type="number", default=10.0),
    )

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        self.name = name
        self.netns: str = options["netns"]
        if "/" in self.netns or not self.netns.strip() or self.netns in (".", ".."):
            raise InvalidParameter(f"Switch {name!r}: netns must be a namespace name.")
        self.ports: tuple[str, ...] = tuple(options.get("ports") or ())
        self.vxlan_local: str | None = options.get("vxlan_local") or None
        self.vxlan_peers: tuple[str, ...] = tuple(options.get("vxlan_peers") or ())
        for addr in (*([self.vxlan_local] if self.vxlan_local else []), *self.vxlan_peers):
            try:
                ipaddress.ip_address(addr)
            except ValueError:
                raise InvalidParameter(
                    f"Switch {name!r}: {addr!r} is not an IP address (vxlan_local, "
                    "vxlan_peers)."
                ) from None
        self.timeout: float = options.get("timeout") or 10.0
        self._lock = asyncio.Lock()
        # Segments this driver made, so bindings() gives back flat networks' ids.
        self._segments: dict[str, Segment] = {}
        # The nftables script each filtered port has (None: not read from the switch yet).
        self._filters: dict[str, str] | None = None

    # --- running commands --------------------------------------------------------

    async def _run(self, *argv: str, ok: tuple[str, ...] = ()) -> str:
        """Run ``argv``; its stdout.  A failure whose stderr has one of ``ok`` is ignored."""
        log.debug("switch %s: %s", self.name, " ".join(argv))
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            raise PermanentDriverError(
                f"Switch {self.name}: cannot run {argv[0]}: {exc.strerror}"
            ) from None
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self.timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise HardwareTimeout(
                f"Switch {self.name}: `{' '.join(argv)}` took more than {self.timeout:g} s"
            ) from None
        if proc.returncode == 0:
            return out.decode(errors="replace")
        text = err.decode(errors="replace").strip() or f"exit status {proc.returncode}"
        if any(o in text for o in ok):
            return ""
        missing = _NO_NETNS.search(text)
        if missing or not self._netns_exists():
            netns = missing.group(1) if missing else self.netns
            raise RetryableDriverError(
                f"Switch {self.name}: network namespace {netns!r} does not exist", 5.0
            )
        raise PermanentDriverError(f"Switch {self.name}: `{' '.join(argv)}` failed: {text}")

    def _netns_exists(self) -> bool:
        return os.path.exists(f"/run/netns/{self.netns}")

    def _check_netns(self) -> None:
        if not self._netns_exists():
            raise RetryableDriverError(
                f"Switch {self.name}: network namespace {self.netns!r} does not exist", 5.0
            )

    async def _ip(self, *args: str, ok: tuple[str, ...] = ()) -> str:
        return await self._run("ip", "-n", self.netns, *args, ok=ok)

    async def _links(self, stats: bool = False, *select: str) -> list[dict[str, Any]]:
        """Links of the switch: all, or those ``select`` (e.g. ``master BR``) picks."""
        out = await self._ip("-d", *(["-s"] if stats else []), "-j", "link", "show", *select,
                             ok=("does not exist",))
        links: list[dict[str, Any]] = json.loads(out or "[]")
        return links

    async def _some(self, *names: str) -> dict[str, dict[str, Any]]:
        """The named links that exist, by name: one `ip` each, whatever the switch's size
        (listing every link per bind made a batch of N binds cost N²)."""
        found = await asyncio.gather(*(self._links(False, "dev", n) for n in names))
        return {str(ln["ifname"]): ln for links in found for ln in links}

    # --- what is there ---------------------------------------------------------------

    @staticmethod
    def _kind(link: dict[str, Any]) -> str:
        return str(link.get("linkinfo", {}).get("info_kind", ""))

    def _is_port(self, link: dict[str, Any]) -> bool:
        name = str(link.get("ifname"))
        if self.ports:
            return name in self.ports
        return name != "lo" and self._kind(link) not in _NOT_PORTS

    def _segment_of(self, bridge: str) -> Segment | None:
        if bridge in self._segments:
            return self._segments[bridge]
        m = _SEGMENT_NAME.match(bridge)
        if m is None:
            return None  # a bridge of someone else's (an underlay): no segment
        if m.group(1) == "vl":
            return Segment("vlan", int(m.group(2)))
        if m.group(1) == "vx":
            return Segment("vxlan", int(m.group(2)))
        return Segment("flat", None)  # its network id is not known any more

    # --- segments ----------------------------------------------------------------------

    async def _ensure_segment(self, segment: Segment, links: dict[str, dict[str, Any]]) -> str:
        """The segment's bridge (and vxlan device), made if missing; its name."""
        if segment.network_type != "flat" and segment.segmentation_id is None:
            raise PermanentDriverError(
                f"Switch {self.name}: a {segment.network_type} segment needs a segmentation id"
            )
        bridge = segment.key
        self._segments[bridge] = segment
        mtu = ("mtu", str(segment.mtu)) if segment.mtu else ()
        if bridge not in links:
            await self._ip("link", "add", bridge, *mtu, "type", "bridge", ok=("File exists",))
        elif segment.mtu and links[bridge].get("mtu") != segment.mtu:
            await self._ip("link", "set", bridge, *mtu)
        if "UP" not in links.get(bridge, {}).get("flags", []):
            await self._ip("link", "set", bridge, "up")
        if segment.network_type == "vxlan" and self.vxlan_local:
            assert segment.segmentation_id is not None
            await self._ensure_vxlan(segment, bridge, links)
        return bridge

    async def _ensure_vxlan(self, segment: Segment, bridge: str,
                            links: dict[str, dict[str, Any]]) -> None:
        vni = segment.segmentation_id
        assert vni is not None and self.vxlan_local is not None
        dev = _vxlan_device(vni)
        mtu = ("mtu", str(segment.mtu)) if segment.mtu else ()
        if dev not in links:
            await self._ip("link", "add", dev, *mtu, "type", "vxlan", "id", str(vni),
                           "local", self.vxlan_local, "dstport", str(VXLAN_PORT),
                           "nolearning")
            for peer in self.vxlan_peers:
                await self._run("bridge", "-n", self.netns, "fdb", "append",
                                _FLOOD_MAC, "dev", dev, "dst", peer,
                                ok=("File exists",))
        if links.get(dev, {}).get("master") != bridge:
            await self._ip("link", "set", dev, "master", bridge)
        await self._ip("link", "set", dev, "up")

    async def _drop_if_empty(self, bridge: str | None) -> None:
        """Remove ``bridge`` (and its vxlan device) if no port is on it any more."""
        if not bridge or _SEGMENT_NAME.match(bridge) is None:
            return
        members = await self._links(False, "master", bridge)
        if any(self._kind(ln) != "vxlan" for ln in members):
            return
        for ln in members:
            await self._ip("link", "del", str(ln["ifname"]), ok=("Cannot find device",))
        await self._ip("link", "del", bridge, ok=("Cannot find device",))
        self._segments.pop(bridge, None)

    # --- SwitchDriver ----------------------------------------------------------------

    def _check_port(self, port: str) -> None:
        if not _IFNAME.match(port):
            raise PermanentDriverError(f"Switch {self.name}: {port!r} is not an interface name")
        if self.ports and port not in self.ports:
            raise PermanentDriverError(
                f"Switch {self.name}: {port!r} is not one of its ports ({', '.join(self.ports)})"
            )

    async def bind(self, port: str, segment: Segment) -> None:
        self._check_port(port)
        async with self._lock:
            await self._bind(port, segment)

    async def _bind(self, port: str, segment: Segment) -> None:
        self._check_netns()
        links = await self._some(port, segment.key, *(
            [_vxlan_device(segment.segmentation_id)]
            if segment.network_type == "vxlan" and segment.segmentation_id is not None else []))
        if port not in links:
            raise PermanentDriverError(f"Switch {self.name}: no port {port!r}")
        bridge = await self._ensure_segment(segment, links)
        old = links.get(port, {}).get("master")
        if old != bridge:
            # `master` moves the port: the kernel takes it off `old` first.
            await self._ip("link", "set", port, "master", bridge)
        await self._ip("link", "set", port, "up")
        if old and old != bridge:
            await self._drop_if_empty(old)

    async def unbind(self, port: str) -> None:
        self._check_port(port)
        async with self._lock:
            self._check_netns()
            links = await self._some(port)
            if port not in links:
                raise PermanentDriverError(f"Switch {self.name}: no port {port!r}")
            old = links[port].get("master")
            if old:
                await self._ip("link", "set", port, "nomaster")
                await self._drop_if_empty(old)

    async def bindings(self) -> dict[str, Segment | None]:
        async with self._lock:
            self._check_netns()
            links = await self._links()
        kinds = {str(ln["ifname"]): self._kind(ln) for ln in links}
        out: dict[str, Segment | None] = {}
        for ln in links:
            if not self._is_port(ln):
                continue
            master = ln.get("master")
            on = self._segment_of(master) if master and kinds.get(master) == "bridge" else None
            out[str(ln["ifname"])] = on
        return out

    async def counters(self) -> dict[str, PortCounters]:
        async with self._lock:
            self._check_netns()
            links = await self._links(stats=True)
        out: dict[str, PortCounters] = {}
        for ln in links:
            if not self._is_port(ln):
                continue
            stats = ln.get("stats64", {})
            rx, tx = stats.get("rx", {}), stats.get("tx", {})
            out[str(ln["ifname"])] = PortCounters(
                rx_bytes=int(rx.get("bytes", 0)), tx_bytes=int(tx.get("bytes", 0)),
                rx_packets=int(rx.get("packets", 0)), tx_packets=int(tx.get("packets", 0)),
            )
        return out

    async def close(self) -> None:
        """Nothing to close: no process or connection outlives a call."""

    # --- VtepFlood -----------------------------------------------------------------------

    async def flood(self, segment: Segment, addresses: Collection[str]) -> bool:
        """Make ``segment``'s all-zeros FDB entries exactly ``vxlan_peers`` plus ``addresses``.

        True if it acted on the segment's ``vxlan<VNI>`` device; False if there
        is none (no ``vxlan_local``, not a vxlan segment, or no bridge yet: the
        bridge is made by the first bind or plug, with ``vxlan_peers`` only).
        Addresses of the other family than ``vxlan_local`` cannot be reached
        through the device and are left out (a warning).
        """
        wanted: set[str] = set()
        for addr in addresses:
            try:
                wanted.add(str(ipaddress.ip_address(addr)))
            except ValueError:
                raise PermanentDriverError(
                    f"Switch {self.name}: VTEP {addr!r} is not an IP address"
                ) from None
        if (not self.vxlan_local or segment.network_type != "vxlan"
                or segment.segmentation_id is None):
            return False
        family = ipaddress.ip_address(self.vxlan_local).version
        other = sorted(a for a in wanted if ipaddress.ip_address(a).version != family)
        if other:
            log.warning("switch %s: VTEP(s) %s not of vxlan_local's address family: "
                        "left out of %s", self.name, ", ".join(other), segment.key)
        wanted = {a for a in wanted if a not in other}
        wanted |= {str(ipaddress.ip_address(p)) for p in self.vxlan_peers}
        dev = _vxlan_device(segment.segmentation_id)
        async with self._lock:
            self._check_netns()
            if dev not in await self._some(dev):
                return False
            out = await self._run("bridge", "-n", self.netns, "-j", "fdb", "show", "dev", dev,
                                  ok=("Cannot find device",))
            have = {str(ipaddress.ip_address(e["dst"])) for e in json.loads(out or "[]")
                    if e.get("mac") == _FLOOD_MAC and e.get("dst")
                    and "master" not in e.get("flags", [])}
            for addr in sorted(wanted - have):
                await self._run("bridge", "-n", self.netns, "fdb", "append", _FLOOD_MAC,
                                "dev", dev, "dst", addr, ok=("File exists",))
            for addr in sorted(have - wanted):
                await self._run("bridge", "-n", self.netns, "fdb", "del", _FLOOD_MAC,
                                "dev", dev, "dst", addr, ok=("No such file",))
        if wanted != have:
            log.info("switch %s: %s floods to %s", self.name, segment.key,
                     ", ".join(sorted(wanted)) or "nobody")
        return True

    # --- HostPlug ----------------------------------------------------------------------

    async def _host_ip(self, netns: str | None, *args: str, ok: tuple[str, ...] = ()) -> str:
        where = ("-n", netns) if netns else ()
        return await self._run("ip", *where, *args, ok=ok)

    async def plug(self, segment: Segment, ifname: str, netns: str | None,
                   addresses: tuple[str, ...] = (), mac: str | None = None) -> str:
        if not _IFNAME.match(ifname):
            raise InvalidParameter(f"{ifname!r} is not an interface name (1-15 characters).")
        for cidr in addresses:
            try:
                ipaddress.ip_interface(cidr)
            except ValueError:
                raise InvalidParameter(f"{cidr!r} is not an address/prefix.") from None
        far = plug_port_name(ifname, netns)
        async with self._lock:
            self._check_netns()
            near_exists = await self._exists(netns, ifname)
            switch_links = {str(ln["ifname"]): ln for ln in await self._links()}
            if not near_exists or far not in switch_links:
                if far in switch_links:  # half a pair left by an interrupted plug
                    await self._ip("link", "del", far, ok=("Cannot find device",))
                if near_exists:
                    await self._host_ip(netns, "link", "del", ifname, ok=("Cannot find device",))
                await self._host_ip(netns, "link", "add", ifname, "type", "veth",
                                    "peer", "name", far, "netns", self.netns)
            if mac:
                await self._host_ip(netns, "link", "set", ifname, "address", mac)
            for cidr in addresses:
                iface = ipaddress.ip_interface(cidr)
                extra = ("nodad",) if iface.version == 6 else ()
                await self._host_ip(netns, "addr", "replace", str(iface), "dev", ifname, *extra)
            await self._host_ip(netns, "link", "set", ifname, "up")
            # Without it DHCP replies leave with bad UDP checksums (LAB-NOTES).
            ethtool = ("ethtool", "-K", ifname, "tx", "off")
            await self._run(*(("ip", "netns", "exec", netns, *ethtool) if netns else ethtool))
            await self._bind(far, segment)
        return far

    async def _exists(self, netns: str | None, ifname: str) -> bool:
        out = await self._host_ip(netns, "-j", "link", "show", "dev", ifname,
                                  ok=("does not exist", "Cannot find device"))
        return bool(out.strip()) and out.strip() != "[]"

    def port_of(self, ifname: str, netns: str | None) -> str:
        return plug_port_name(ifname, netns)

    async def unplug(self, ifname: str, netns: str | None) -> None:
        if not _IFNAME.match(ifname):
            raise InvalidParameter(f"{ifname!r} is not an interface name (1-15 characters).")
        far = plug_port_name(ifname, netns)
        async with self._lock:
            self._check_netns()
            links = {str(ln["ifname"]): ln for ln in await self._links()}
            bridge = links.get(far, {}).get("master")
            # Deleting either end of a veth deletes the pair.
            if await self._exists(netns, ifname):
                await self._host_ip(netns, "link", "del", ifname, ok=("Cannot find device",))
            if far in links:
                await self._ip("link", "del", far, ok=("Cannot find device",))
            await self._drop_if_empty(bridge)

    # --- PortFilter ----------------------------------------------------------------------

    async def _nft(self, script: str) -> None:
        """Load ``script`` into the switch namespace in one transaction."""
        argv = ("ip", "netns", "exec", self.netns, "nft", "-f", "-")
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            raise PermanentDriverError(
                f"Switch {self.name}: cannot run nft: {exc.strerror}") from None
        try:
            _, err = await asyncio.wait_for(proc.communicate(script.encode()), self.timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise HardwareTimeout(f"Switch {self.name}: nft took more than "
                                  f"{self.timeout:g} s") from None
        if proc.returncode:
            text = err.decode(errors="replace").strip()
            raise PermanentDriverError(f"Switch {self.name}: nft refused the rules: {text}")

    async def _first_filters(self) -> dict[str, str]:
        """On first use: bridged IP through the inet hooks (conntrack), and the tables a
        previous run left, removed (the wanted ones are loaded again)."""
        for key in ("net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables"):
            await self._run("ip", "netns", "exec", self.netns, "sysctl", "-q", "-w",
                            f"{key}=1")
        listing = await self._run("ip", "netns", "exec", self.netns, "nft", "list", "tables")
        stale = firewall.tables_of(listing)
        if stale:
            await self._nft("".join(f"delete table {family} {name}\n"
                                    for name in sorted(stale)
                                    for family in ("bridge", "inet")
                                    if f"table {family} {name}" in listing))
        return {}

    async def filter_ports(self, wanted: Mapping[str, PortRules]) -> None:
        for port in wanted:
            self._check_port(port)
        async with self._lock:
            self._check_netns()
            if self._filters is None:
                self._filters = await self._first_filters()
            applied = self._filters
            links = {str(ln["ifname"]): ln for ln in await self._links()}
            scripts: dict[str, str] = {}
            for port, rules in sorted(wanted.items()):
                link = links.get(port)
                if link is None:
                    raise PermanentDriverError(f"Switch {self.name}: no port {port!r}")
                try:
                    scripts[port] = firewall.render(port, int(link["ifindex"]), rules)
                except firewall.FirewallError as exc:
                    raise PermanentDriverError(f"Switch {self.name}: port {port}: {exc}"
                                               ) from None
            gone = sorted(set(applied) - set(wanted))
            changed = [p for p, text in scripts.items() if applied.get(p) != text]
            if not gone and not changed:
                return
            # One transaction for every change: 100 ports' new rules take one nft run.
            for port in (*gone, *changed):
                applied.pop(port, None)  # unknown until nft says yes
            await self._nft("".join([*(firewall.remove(p) for p in gone),
                                     *(scripts[p] for p in changed)]))
            applied.update({p: scripts[p] for p in changed})
            log.info("switch %s: %d port(s) filtered anew, %d no longer filtered",
                     self.name, len(changed), len(gone))
