"""DHCP for tenant networks: one dnsmasq per network, in a namespace of its own.

Neutron's DHCP agent does this on its network node: a ``qdhcp-<network>``
namespace whose interface is plugged into the network's segment, and a
dnsmasq there that answers only the ports it knows (static ranges, one host
entry per Neutron port: MAC → fixed IP).  barecloud plugs the namespace into
the segment with the switch's :class:`~barecloud.drivers.switches.base.HostPlug`
(the switch named by ``network_host_switch``), so a machine on a tenant
segment gets exactly the address its Neutron port holds, and nothing on any
other segment hears this server.

The reconciler (:class:`NetworkDhcp`) makes the running servers match the
database every ``INTERVAL`` seconds: new networks get one, changed host lists
are reloaded (SIGHUP), a changed configuration (a subnet added) restarts
it, deleted networks lose theirs.

IPv6 (docs/design/ipv6.md): a subnet whose ``ipv6_ra_mode`` is set gets
router advertisements from this dnsmasq with the flags of its mode (SLAAC:
A; DHCPv6-stateless: A and O; DHCPv6-stateful: M and O), and DHCPv6 when its
address mode asks for it (stateful: the port's address by MAC; stateless:
options only).  The advertisements say "not a default router" (router
lifetime 0): this namespace routes nothing; the subnet's router, if any,
advertises itself.  A subnet with only ``ipv6_address_mode`` (an outside
router advertises, in Neutron's words) gets DHCPv6 and no advertisement.
"""

from __future__ import annotations

import asyncio
import contextlib
import grp
import ipaddress
import logging
import os
import shutil
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from barecloud.config import Settings
from barecloud.errors import BarecloudError
from barecloud.services import children

log = logging.getLogger(__name__)

DNSMASQ = "/usr/sbin/dnsmasq"
IP = "/usr/sbin/ip" if Path("/usr/sbin/ip").exists() else "/sbin/ip"


@dataclass(frozen=True)
class SubnetSpec:
    id: str
    cidr: str
    gateway_ip: str | None
    dns_nameservers: tuple[str, ...] = ()
    ipv6_ra_mode: str | None = None
    ipv6_address_mode: str | None = None

    @property
    def version(self) -> int:
        return ipaddress.ip_network(self.cidr, strict=False).version

    @property
    def stateful(self) -> bool:
        """Addresses handed out by DHCP: IPv4, and IPv6 with DHCPv6-stateful (or
        no mode at all, as Neutron's dnsmasq serves it)."""
        if self.version == 4:
            return True
        mode = self.ipv6_address_mode or self.ipv6_ra_mode
        return mode in (None, "dhcpv6-stateful")


@dataclass(frozen=True)
class NetworkSpec:
    """What one network's DHCP server must know, as read from the database."""

    network_id: str
    port_id: str  # the DHCP port (device_owner network:dhcp)
    mac: str
    addresses: tuple[str, ...]  # the DHCP port's IPs, as CIDR ("10.0.0.2/24")
    subnets: tuple[SubnetSpec, ...]
    # (MAC, IP, hostname) of every other port with an address on this network.
    hosts: tuple[tuple[str, str, str], ...] = field(default=())
    mtu: int | None = None

    @property
    def netns(self) -> str:
        return dhcp_netns(self.network_id)

    @property
    def ifname(self) -> str:
        return dhcp_ifname(self.port_id)


def dhcp_netns(network_id: str) -> str:
    return f"qdhcp-{network_id}"


def dhcp_ifname(port_id: str) -> str:
    """Neutron's name for a DHCP port's interface (15 characters at most)."""
    return f"ns-{port_id[:11]}"


def config(spec: NetworkSpec, directory: Path) -> str:
    lines = [
        "# Written by barecloud for one tenant network: edits are lost.",
        "port=0",
        f"interface={spec.ifname}",
        "bind-interfaces",
        "except-interface=lo",
        f"dhcp-hostsfile={directory / 'host'}",
        f"dhcp-leasefile={directory / 'leases'}",
        f"pid-file={directory / 'pid'}",
        "no-ping",
        "log-dhcp",
        "log-facility=-",
        "keep-in-foreground",
        "no-resolv",
        "no-hosts",
        # Stay who we are: dnsmasq's default group (dip) would change our
        # credentials, which clears the parent-death signal (children.py).
        "user=root",
        f"group={grp.getgrgid(os.getgid()).gr_name}",
    ]
    advertise = False
    for index, sub in enumerate(spec.subnets):
        net = ipaddress.ip_network(sub.cidr, strict=False)
        if net.version == 6:
            mode = ipv6_range_mode(sub)
            if mode is None:
                continue
            tag = f"subnet{index}"
            lines.append(f"dhcp-range=set:{tag},{net.network_address},{mode},"
                         f"{net.prefixlen},86400s")
            advertise = advertise or sub.ipv6_ra_mode is not None
            if sub.ipv6_ra_mode == "dhcpv6-stateful":
                lines.append("enable-ra")  # no range keyword asks for the M flag
            if sub.dns_nameservers:
                lines.append(f"dhcp-option=tag:{tag},option6:dns-server,"
                             + ",".join(f"[{a}]" for a in sub.dns_nameservers))
            continue
        tag = f"subnet{index}"
        lines.append(f"dhcp-range=set:{tag},{net.network_address},static,{net.netmask},86400s")
        if sub.gateway_ip:
            lines.append(f"dhcp-option=tag:{tag},option:router,{sub.gateway_ip}")
        else:
            lines.append(f"dhcp-option=tag:{tag},option:router")
        if sub.dns_nameservers:
            lines.append(f"dhcp-option=tag:{tag},option:dns-server,"
                         f"{','.join(sub.dns_nameservers)}")
    if spec.mtu:
        lines.append(f"dhcp-option-force=option:mtu,{spec.mtu}")
    if advertise:
        # Every RA_INTERVAL seconds, router lifetime 0: on-link prefixes and
        # flags, never "route through me" (the subnet's router says that).
        mtu = f"mtu:{spec.mtu}," if spec.mtu else ""
        lines.append(f"ra-param={spec.ifname},{mtu}{RA_INTERVAL},0")
    return "\n".join(dict.fromkeys(lines)) + "\n"


RA_INTERVAL = 10


def ipv6_range_mode(sub: SubnetSpec) -> str | None:
    """The ``dhcp-range`` mode of an IPv6 subnet (None: dnsmasq has nothing to do).

    With ``ipv6_ra_mode`` we advertise: ``ra-only`` (SLAAC), ``ra-stateless``
    (SLAAC and DHCPv6 options), ``static`` with ``enable-ra`` (DHCPv6 addresses,
    the M flag).  Without it an outside router advertises and we serve DHCPv6
    only: ``static`` (Neutron's line for both DHCPv6 modes, and for none)."""
    ra, address = sub.ipv6_ra_mode, sub.ipv6_address_mode
    if ra is not None:
        return {"slaac": "ra-only", "dhcpv6-stateless": "ra-stateless",
                "dhcpv6-stateful": "static"}[ra]
    if address == "slaac":
        return None
    return "static"


def hosts_file(spec: NetworkSpec) -> str:
    """``dhcp-host`` lines: a MAC's DHCPv4 address with its DHCPv6-stateful ones
    (``[addr]``) on one line (a line with no IPv4 address would match the MAC in
    every IPv4 range, with nothing to give); a second IPv4 address on a line of
    its own.  SLAAC addresses are the host's own doing."""
    served = [ipaddress.ip_network(sub.cidr, strict=False) for sub in spec.subnets
              if sub.stateful]
    v4: dict[str, list[tuple[str, str]]] = {}
    v6: dict[str, list[tuple[str, str]]] = {}
    for mac, ip, name in spec.hosts:
        address = ipaddress.ip_address(ip)
        if any(address in net for net in served):
            (v4 if address.version == 4 else v6).setdefault(mac, []).append((ip, name))
    lines = []
    for mac in dict.fromkeys([*v4, *v6]):
        fours, sixes = v4.get(mac, []), v6.get(mac, [])
        name = (fours or sixes)[0][1]
        lines.append(",".join([mac, *[ip for ip, _ in fours[:1]],
                               *[f"[{ip}]" for ip, _ in sixes], name]))
        lines += [f"{mac},{ip},{other}" for ip, other in fours[1:]]
    return "".join(line + "\n" for line in lines)


class DhcpServerError(BarecloudError):
    """A tenant network's dnsmasq could not be started."""


class NetworkDhcpServer:
    """One network's dnsmasq, run in its namespace as our child, ended by PID."""

    def __init__(self, spec: NetworkSpec, root: Path) -> None:
        self.spec = spec
        self.dir = root / spec.network_id
        self.proc: asyncio.subprocess.Process | None = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def start(self) -> None:
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        end_stale(self.dir)
        (self.dir / "conf").write_text(config(self.spec, self.dir))
        (self.dir / "host").write_text(hosts_file(self.spec))
        logfile = (self.dir / "log").open("ab")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                IP, "netns", "exec", self.spec.netns, DNSMASQ,
                f"--conf-file={self.dir / 'conf'}", stdin=subprocess.DEVNULL,
                stdout=logfile, stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=children.die_with_parent())
        finally:
            logfile.close()
        for _ in range(200):
            if self.proc.returncode is not None:
                tail = (self.dir / "log").read_text(errors="replace").splitlines()[-5:]
                raise DhcpServerError(f"dnsmasq for network {self.spec.network_id} exited "
                                      f"with status {self.proc.returncode}: {' | '.join(tail)}")
            if (self.dir / "pid").exists():
                return
            await asyncio.sleep(0.05)

    async def reload(self, spec: NetworkSpec) -> None:
        """New host entries: rewrite the file and have dnsmasq read it again."""
        self.spec = spec
        (self.dir / "host").write_text(hosts_file(spec))
        if self.alive():
            assert self.proc is not None
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGHUP)

    async def stop(self) -> None:
        proc, self.proc = self.proc, None
        await children.end(proc)
        shutil.rmtree(self.dir, ignore_errors=True)


def end_stale(directory: Path) -> int | None:
    """End the dnsmasq a killed service left serving this network's directory."""
    return children.end_stale(directory / "pid", f"--conf-file={directory / 'conf'}".encode())


def end_all_stale(root: Path) -> list[int]:
    """At start: end every network's dnsmasq a killed service left (their
    namespaces are then recreated or removed by the next sync)."""
    if not root.is_dir():
        return []
    return [pid for d in sorted(root.iterdir()) if d.is_dir() and (pid := end_stale(d))]


async def run_ip(*args: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        IP, *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    return proc.returncode or 0, out.decode(errors="replace").strip()


def enabled(settings: Settings) -> bool:
    return bool(settings.network_host_switch) and os.geteuid() == 0
