"""A VM's NICs on the host: interface names, and the networks they join.

The names are derived, not stored, so a restarted agent finds the same taps
and bridges: a tap per NIC (``tap`` + 11 hex digits of a hash of the VM and
the MAC: unique on the host, within Linux's 15 characters) on a bridge per
network (``brq`` + the network id's first 11 characters, as Neutron's Linux
bridge agent names it).

A host is a VXLAN tunnel end (VTEP), as the ``linux-bridge`` switch is: a
network's bridge gets a ``vxlan<VNI>`` device (UDP 4789, ``nolearning``) and
one all-zeros FDB entry per other VTEP of the network (the switch and the
other hypervisors the desired entry names): with no learning, every frame
goes to each of them (head-end replication, LAB-NOTES), so no multicast
underlay is needed.  :class:`LinuxNetworking` makes and removes them with
``ip``/``bridge``; :class:`NoNetworking` (the fake hypervisor, or bridges
someone else made) does nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import ipaddress
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from barecloud.hostagent.driver import Nic
from barecloud.hostagent.firewall import FirewallError, PortRules

log = logging.getLogger(__name__)

DEFAULT_MTU = 1500
VXLAN_PORT = 4789  # IANA's; the linux-bridge switch uses it too
MAX_VNI = 2**24 - 1
BRIDGE_PREFIX = "brq"
ALL_ZEROS = "00:00:00:00:00:00"
COMMAND_TIMEOUT = 10.0


@dataclass(frozen=True)
class NicPlan:
    """One NIC of a desired entry, with the names it gets on this host."""

    mac: str
    network_id: str
    mtu: int
    segment: Mapping[str, Any] = field(default_factory=dict)  # {"type": "vxlan", "id": 4242}
    tap: str = ""
    bridge: str = ""
    vteps: tuple[str, ...] = ()  # underlay IPs of the network's other VTEPs
    firewall: PortRules | None = None  # the port's security groups; None: not filtered

    @property
    def vni(self) -> int | None:
        """The VXLAN id of the NIC's network; None: a bridge with no tunnel."""
        return int(self.segment["id"]) if self.segment.get("type") == "vxlan" else None

    def nic(self) -> Nic:
        return Nic(mac=self.mac, tap=self.tap, bridge=self.bridge or None, mtu=self.mtu)


def tap_name(vm_uuid: str, mac: str) -> str:
    return "tap" + hashlib.sha256(f"{vm_uuid}{mac.lower()}".encode()).hexdigest()[:11]


def bridge_name(network_id: str) -> str:
    return BRIDGE_PREFIX + network_id[:11]


def vxlan_name(vni: int) -> str:
    return f"vxlan{vni}"


def plan(vm_uuid: str, nics: Sequence[Mapping[str, Any]] | None) -> tuple[NicPlan, ...]:
    """The NICs of a desired entry; ValueError naming the NIC for one this host
    cannot carry out (no MAC, a segment other than VXLAN, a VTEP not an IP,
    a ``firewall`` that is not a port's rules)."""
    if nics is not None and not isinstance(nics, list | tuple):  # JSON: anything
        raise ValueError(f"nics must be a list, not {nics!r}")
    planned = []
    for index, entry in enumerate(nics or ()):
        where = f"nics[{index}]"
        if not isinstance(entry, Mapping):
            raise ValueError(f"{where} is not an object")
        mac = str(entry.get("mac") or "").lower()
        if not mac:
            raise ValueError(f"{where} has no mac")
        network_id = str(entry.get("network_id") or "")
        mtu = entry.get("mtu")
        segment = _segment(where, entry.get("segment"))
        if segment and not network_id:
            raise ValueError(f"{where}: a segment needs a network_id (its bridge's name)")
        planned.append(NicPlan(
            mac=mac, network_id=network_id,
            mtu=mtu if isinstance(mtu, int) and not isinstance(mtu, bool) and mtu > 0
            else DEFAULT_MTU,
            segment=segment,
            tap=tap_name(vm_uuid, mac),
            bridge=bridge_name(network_id) if network_id else "",
            vteps=_vteps(where, entry.get("vteps")),
            firewall=_firewall(where, entry.get("firewall"))))
    return tuple(planned)


def _firewall(where: str, rules: Any) -> PortRules | None:
    if rules is None:
        return None
    try:
        return PortRules.from_json(rules)
    except FirewallError as exc:
        raise ValueError(f"{where}: firewall: {exc}") from None


def _segment(where: str, segment: Any) -> dict[str, Any]:
    """``{}`` (a bridge with no tunnel) or ``{"type": "vxlan", "id": VNI}``: a VLAN or
    flat network would need the host's switch port to carry it, which it does not."""
    if not segment:
        return {}
    if not isinstance(segment, Mapping):
        raise ValueError(f"{where}: segment must be an object, not {segment!r}")
    kind = segment.get("type")
    if kind != "vxlan":
        raise ValueError(f"{where}: a {kind or 'typeless'} segment cannot reach this host "
                         "(VXLAN only)")
    vni = segment.get("id")
    if not isinstance(vni, int) or isinstance(vni, bool) or not 1 <= vni <= MAX_VNI:
        raise ValueError(f"{where}: VXLAN id {vni!r} is not a whole number 1..{MAX_VNI}")
    return {"type": "vxlan", "id": vni}


def _vteps(where: str, vteps: Any) -> tuple[str, ...]:
    """The VTEPs as ``bridge fdb show`` writes them (so they compare), each once."""
    if vteps is None:
        return ()
    if not isinstance(vteps, list | tuple):
        raise ValueError(f"{where}: vteps must be a list of IP addresses, not {vteps!r}")
    found: dict[str, None] = {}
    for vtep in vteps:
        try:
            found[str(ipaddress.ip_address(vtep))] = None
        except ValueError:
            raise ValueError(f"{where}: VTEP {vtep!r} is not an IP address") from None
    return tuple(found)


class Networking(Protocol):
    """What the host does for a VM's networks.

    ``plug`` before every driver step of a VM that should exist (create,
    rebuild, start...): a host that rebooted has lost its bridges, and the
    QEMU driver puts each tap on its bridge.  ``refresh`` with every NIC of
    each new desired list: a network's VTEPs change when another host joins
    or leaves it, with no change to this host's VMs.  ``unplug`` after a VM
    is deleted: remove what no other VM uses.
    """

    async def plug(self, vm_uuid: str, nics: Sequence[NicPlan]) -> None: ...

    async def refresh(self, nics: Sequence[NicPlan]) -> None: ...

    async def unplug(self, vm_uuid: str) -> None: ...


class NoNetworking:
    """Nothing to make: taps go on bridges someone else made, or on none."""

    async def plug(self, vm_uuid: str, nics: Sequence[NicPlan]) -> None:
        return None

    async def refresh(self, nics: Sequence[NicPlan]) -> None:
        return None

    async def unplug(self, vm_uuid: str) -> None:
        return None


class NetworkingError(Exception):
    """An ``ip``/``bridge`` command failed; the message has its stderr."""


@dataclass
class _Network:
    """What one plug asks of one network (its NICs merged)."""

    bridge: str
    mtu: int
    vni: int | None
    vteps: dict[str, None] = field(default_factory=dict)  # ordered set


def _networks(nics: Iterable[NicPlan]) -> dict[str, _Network]:
    """By bridge; the VTEPs of NICs of one network are merged (one desired list
    gives them all the same), a VTEP too many floods a frame for nothing, one
    too few cuts a host off."""
    out: dict[str, _Network] = {}
    for nic in nics:
        if not nic.bridge:
            continue
        net = out.setdefault(nic.bridge, _Network(nic.bridge, nic.mtu, nic.vni))
        net.vteps.update(dict.fromkeys(nic.vteps))
    return out


def _kind(link: Mapping[str, Any]) -> str:
    return str(link.get("linkinfo", {}).get("info_kind", ""))


class LinuxNetworking:
    """The host's bridges and VXLAN devices, read from and made on the host itself.

    It keeps nothing on disk: ``unplug`` removes every ``brq*`` bridge left
    without a tap, so it works the same after an agent restart.  In memory
    it keeps which bridges each VM was plugged into until it is unplugged,
    so a VM deleted while another one's create is under way (its tap not
    made yet: the image may still be downloading) does not take their
    shared bridge away.  Commands run one at a time (an asyncio lock): each
    call reads the host and then changes it.
    """

    def __init__(self, netns: str | None = None, *, timeout: float = COMMAND_TIMEOUT) -> None:
        self.netns = netns
        self.timeout = timeout
        self._lock = asyncio.Lock()
        self._claims: dict[str, frozenset[str]] = {}  # VM → bridges plugged for it

    # -- Networking ------------------------------------------------------------

    async def plug(self, vm_uuid: str, nics: Sequence[NicPlan]) -> None:
        """Each NIC's bridge and VXLAN device made (or put right) and up, and its
        VTEPs exactly the NIC's.  Idempotent: a plug of a plugged VM only reads
        (one ``ip link`` listing, one ``bridge fdb show`` a VXLAN network)."""
        networks = _networks(nics)
        async with self._lock:
            self._claims[vm_uuid] = frozenset(networks)
            if not networks:
                return
            links = await self._links()
            for net in networks.values():
                await self._ensure_bridge(net, links)
                if net.vni is not None:
                    await self._ensure_vxlan(net, links)
                    await self._sync_fdb(vxlan_name(net.vni), net.vteps)

    async def refresh(self, nics: Sequence[NicPlan]) -> None:
        """The VTEPs of the VXLAN devices on the host that ``nics`` name, brought up
        to date; networks the host does not have are not made."""
        wanted: dict[str, dict[str, None]] = {}
        for net in _networks(nics).values():
            if net.vni is not None:
                wanted.setdefault(vxlan_name(net.vni), {}).update(net.vteps)
        if not wanted:
            return
        async with self._lock:
            present = await self._links("type", "vxlan")
            for dev, vteps in wanted.items():
                if dev in present:
                    await self._sync_fdb(dev, vteps)

    async def unplug(self, vm_uuid: str) -> None:
        """Every ``brq*`` bridge with no member but VXLAN devices (no tap left) is
        removed with them, unless another VM was plugged into it and not unplugged."""
        async with self._lock:
            self._claims.pop(vm_uuid, None)
            claimed = frozenset().union(*self._claims.values())
            links = await self._links()
            kinds = {name: _kind(ln) for name, ln in links.items()}
            members: dict[str, list[str]] = {
                name: [] for name, kind in kinds.items()
                if kind == "bridge" and name.startswith(BRIDGE_PREFIX)}
            for name, ln in links.items():
                master = ln.get("master")
                if master in members:
                    members[master].append(name)
            for bridge, ports in sorted(members.items()):
                if bridge in claimed or any(kinds.get(p) != "vxlan" for p in ports):
                    continue
                log.info("removing bridge %s (no VM left on it)%s", bridge,
                         f" and {', '.join(ports)}" if ports else "")
                for port in ports:
                    await self._ip("link", "del", port, ok=("Cannot find device",))
                await self._ip("link", "del", bridge, ok=("Cannot find device",))

    # -- the steps -------------------------------------------------------------

    async def _ensure_bridge(self, net: _Network, links: Mapping[str, Mapping[str, Any]]
                             ) -> None:
        link = links.get(net.bridge)
        if link is None:
            log.info("making bridge %s (mtu %d)", net.bridge, net.mtu)
            await self._ip("link", "add", net.bridge, "mtu", str(net.mtu), "type", "bridge",
                           ok=("File exists",))
        elif _kind(link) != "bridge":
            raise NetworkingError(f"{net.bridge} exists and is not a bridge "
                                  f"({_kind(link) or 'a plain device'})")
        elif link.get("mtu") != net.mtu:
            await self._ip("link", "set", net.bridge, "mtu", str(net.mtu))
        if link is None or "UP" not in link.get("flags", ()):
            await self._ip("link", "set", net.bridge, "up")

    async def _ensure_vxlan(self, net: _Network, links: Mapping[str, Mapping[str, Any]]
                            ) -> None:
        assert net.vni is not None
        dev = vxlan_name(net.vni)
        link = links.get(dev)
        if link is None:
            # No ``local``: the kernel sources each packet from the address of the
            # route to its VTEP, so the host's underlay address need not be known.
            log.info("making %s (VNI %d) on %s", dev, net.vni, net.bridge)
            await self._ip("link", "add", dev, "mtu", str(net.mtu), "type", "vxlan",
                           "id", str(net.vni), "dstport", str(VXLAN_PORT), "nolearning")
        else:
            info = link.get("linkinfo", {}).get("info_data", {})
            if _kind(link) != "vxlan" or info.get("id") != net.vni:
                raise NetworkingError(f"{dev} exists and is not the VXLAN device of "
                                      f"VNI {net.vni}")
            if link.get("mtu") != net.mtu:
                await self._ip("link", "set", dev, "mtu", str(net.mtu))
        if link is None or link.get("master") != net.bridge:
            await self._ip("link", "set", dev, "master", net.bridge)
        if link is None or "UP" not in link.get("flags", ()):
            await self._ip("link", "set", dev, "up")

    async def _sync_fdb(self, dev: str, vteps: Iterable[str]) -> None:
        """The all-zeros entries of ``dev``: one per VTEP, no other."""
        out = await self._run("bridge", *self._where(), "-j", "fdb", "show", "dev", dev)
        have = {str(ipaddress.ip_address(e["dst"])) for e in json.loads(out or "[]")
                if e.get("mac") == ALL_ZEROS and e.get("dst")}
        want = list(vteps)
        for vtep in want:
            if vtep not in have:
                await self._run("bridge", *self._where(), "fdb", "append", ALL_ZEROS,
                                "dev", dev, "dst", vtep, ok=("File exists",))
        for vtep in sorted(have - set(want)):
            await self._run("bridge", *self._where(), "fdb", "del", ALL_ZEROS,
                            "dev", dev, "dst", vtep, ok=("No such file",))

    # -- commands --------------------------------------------------------------

    def _where(self) -> tuple[str, ...]:
        return ("-n", self.netns) if self.netns else ()

    async def _links(self, *select: str) -> dict[str, dict[str, Any]]:
        """The host's links (or those ``select`` picks) by name, with their details."""
        out = await self._ip("-d", "-j", "link", "show", *select)
        return {str(ln.get("ifname")): ln for ln in json.loads(out or "[]")}

    async def _ip(self, *args: str, ok: tuple[str, ...] = ()) -> str:
        return await self._run("ip", *self._where(), *args, ok=ok)

    async def _run(self, *argv: str, ok: tuple[str, ...] = ()) -> str:
        """``argv``'s stdout; NetworkingError with its stderr if it fails, unless
        the stderr has one of ``ok`` (the change was there already)."""
        log.debug("%s", " ".join(argv))
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE)
        except OSError as exc:
            raise NetworkingError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
        try:
            out, err = await asyncio.wait_for(proc.communicate(), self.timeout)
        except TimeoutError:
            proc.kill()
            await proc.wait()
            raise NetworkingError(f"`{' '.join(argv)}` took more than {self.timeout:g} s"
                                  ) from None
        if proc.returncode == 0:
            return out.decode(errors="replace")
        text = err.decode(errors="replace").strip() or f"exit status {proc.returncode}"
        if any(o in text for o in ok):
            return ""
        raise NetworkingError(f"`{' '.join(argv)}` failed: {text}")
