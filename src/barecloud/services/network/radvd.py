"""A router's IPv6 router advertisements: one radvd in its ``qrouter-`` namespace.

The network's dnsmasq advertises each subnet's prefix with router lifetime 0
(services/network/dhcp.py): it routes nothing.  The router says "route
through me" (router lifetime > 0) on every interface holding IPv6 addresses,
so the hosts behind it take it as their default router; its advertisements
carry the same prefixes and flags as Neutron's radvd (and dnsmasq's), so the
two sources never contradict each other.  radvd, as Neutron's L3 agent runs
it: it only advertises, answers router solicitations at once, and reads a
configuration made of the ports alone (docs/design/ipv6.md).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from barecloud.errors import BarecloudError
from barecloud.services import children
from barecloud.services.network.dhcp import IP

RADVD = shutil.which("radvd") or "/usr/sbin/radvd"
# Seconds between unsolicited advertisements (as the network's dnsmasq: a host that
# missed the first learns its router within one); the router lifetime is radvd's
# default, three times the maximum: a router gone is forgotten in 30 s.
MIN_INTERVAL, MAX_INTERVAL = 3, 10


@dataclass(frozen=True)
class Advert:
    """One interface's advertisement: its IPv6 prefixes with their ``ipv6_ra_mode``."""

    ifname: str
    prefixes: tuple[tuple[str, str | None], ...]  # (cidr, ra mode), sorted


def config(adverts: tuple[Advert, ...]) -> str:
    """radvd.conf with Neutron's flags: M for a stateful prefix, O for stateful and
    stateless, A (autonomous) for SLAAC and stateless; a subnet without an RA mode
    is not advertised as a prefix (its addresses come from elsewhere)."""
    out = ["# Written by barecloud for one router: edits are lost.\n"]
    for ad in adverts:
        modes = {mode for _, mode in ad.prefixes}
        lines = ["\tAdvSendAdvert on;", f"\tMinRtrAdvInterval {MIN_INTERVAL};",
                 f"\tMaxRtrAdvInterval {MAX_INTERVAL};"]
        if "dhcpv6-stateful" in modes:
            lines.append("\tAdvManagedFlag on;")
        if modes & {"dhcpv6-stateful", "dhcpv6-stateless"}:
            lines.append("\tAdvOtherConfigFlag on;")
        for cidr, mode in ad.prefixes:
            if mode is None:
                continue
            autonomous = "on" if mode in ("slaac", "dhcpv6-stateless") else "off"
            lines += [f"\tprefix {cidr}", "\t{", "\t\tAdvOnLink on;",
                      f"\t\tAdvAutonomous {autonomous};", "\t};"]
        out.append(f"interface {ad.ifname}\n{{\n" + "\n".join(lines) + "\n};\n")
    return "".join(out)


class RadvdError(BarecloudError):
    """A router's radvd could not be started."""


class Radvd:
    """One router's radvd, our child in the router's namespace, ended by its PID."""

    def __init__(self, netns: str, directory: Path) -> None:
        self.netns = netns
        self.dir = directory
        self.proc: asyncio.subprocess.Process | None = None
        self.text: str | None = None

    def _marker(self) -> bytes:
        return f"{self.dir / 'radvd.conf'}".encode()

    async def apply(self, adverts: tuple[Advert, ...]) -> None:
        """Advertise ``adverts`` (none: no radvd); restarted when they changed."""
        text = config(adverts) if adverts else None
        if text == self.text and (text is None or self.alive()):
            return
        await self.stop()
        if text is None:
            return
        self.dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        await asyncio.to_thread(children.end_stale, self.dir / "pid", self._marker())
        (self.dir / "radvd.conf").write_text(text)
        (self.dir / "radvd.conf").chmod(0o644)  # radvd refuses a group/world-writable one
        logfile = (self.dir / "log").open("ab")
        try:
            self.proc = await asyncio.create_subprocess_exec(
                IP, "netns", "exec", self.netns, RADVD, "--nodaemon",
                "-C", str(self.dir / "radvd.conf"), "-p", str(self.dir / "pid"),
                "-m", "stderr", stdin=subprocess.DEVNULL, stdout=logfile,
                stderr=subprocess.STDOUT, start_new_session=True,
                preexec_fn=children.die_with_parent())
        except OSError as exc:
            raise RadvdError(f"cannot run {RADVD}: {exc.strerror}") from None
        finally:
            logfile.close()
        await asyncio.sleep(0.2)
        if self.proc.returncode is not None:
            tail = (self.dir / "log").read_text(errors="replace").splitlines()[-5:]
            self.proc = None
            raise RadvdError(f"radvd in {self.netns} exited: {' | '.join(tail)}")
        self.text = text

    def alive(self) -> bool:
        return self.proc is not None and self.proc.returncode is None

    async def stop(self) -> None:
        proc, self.proc, self.text = self.proc, None, None
        await children.end(proc)
        await asyncio.to_thread(children.end_stale, self.dir / "pid", self._marker())
        shutil.rmtree(self.dir, ignore_errors=True)
