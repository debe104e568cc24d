"""The lab in network namespaces: a switch namespace, one namespace per machine.

Loopback machines share the host's network stack, so nothing they do on
the network proves anything about isolation.  In netns mode each machine
gets its own stack, cabled to a lab switch the way a rack is cabled to a
top-of-rack switch::

    bcl-<id>-lab-00001          bcl-<id>-sw (the switch)
      eth0 (machine's MAC) ----- p1
      eth1 ---------------------- p2
    bcl-<id>-lab-00002
      eth0 ---------------------- p3

The lab also has an **outside** (``bcl-<id>-out``): a namespace with no
cable of its own that plays the internet; barecloud plugs it into its
external network's segment (``serve --lab N --netns``), so machines behind
a router reach it through SNAT and it reaches them through floating IPs.

Every cable is a veth pair; its switch end is a **named switch port**
(``p1``, ``p2``, ... in the order machines and NICs were added, so a port
name never changes once enrolled as a ``local_link_connection``).  Ports
start on no bridge: an unbound machine reaches nothing.  barecloud's
``linux-bridge`` switch driver makes a bridge per segment inside the
switch namespace and moves ports onto it; the lab never binds a port.

Wiring is done with ``ip``/``ethtool``/``tc`` commands (argument lists, no
shell), is idempotent (what exists is left alone, so ``lab up`` again or a
bigger lab only adds cables) and is recorded in ``lab.json`` as a
:class:`Wiring`.  ``unwire`` deletes exactly the namespaces recorded there.
Needs root.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from barecloud.lab.machine import LabError, Machine

PREFIX = "bcl"
SWITCH_NAME = "lab-switch"  # the switch's name in barecloud's `switches` setting
SWITCH_DRIVER = "linux-bridge"
OVS_DRIVER = "openvswitch"
SWITCH_DRIVERS = (SWITCH_DRIVER, OVS_DRIVER)
NETNS_DIR = Path("/run/netns")
TBF_LATENCY = "50ms"
MIN_BURST = 128 * 1024  # bytes: more than a GSO packet (see tbf_args)
COMMAND_TIMEOUT = 30.0


@dataclass(slots=True)
class MachineLink:
    """A machine's namespace and the switch port each of its NICs is cabled to."""

    netns: str
    ports: dict[str, str] = field(default_factory=dict)  # "eth0" -> "p3"


@dataclass(slots=True)
class Wiring:
    """What ``lab.json`` records of the namespaces (``"netns"`` key)."""

    switch_netns: str
    switch_id: str  # the switch's "MAC": local_link_connection's switch_id
    switch_name: str = SWITCH_NAME
    rate: str | None = None  # tc tbf rate on both ends of every cable, e.g. "200mbit"
    machines: dict[str, MachineLink] = field(default_factory=dict)
    # What plays the switch: bare veths for barecloud's linux-bridge driver, or an
    # Open vSwitch bridge (lab/ovs.py) run from ``ovs_rundir``.
    switch_driver: str = SWITCH_DRIVER
    ovs_rundir: str | None = None
    outside_netns: str = ""  # the internet's stand-in (empty in labs wired before it)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Wiring:
        machines = {name: MachineLink(**link) for name, link in data["machines"].items()}
        return cls(**{k: v for k, v in data.items() if k != "machines"}, machines=machines)

    @property
    def ports(self) -> list[str]:
        return [p for link in self.machines.values() for p in link.ports.values()]

    def switch_definition(self) -> dict[str, dict[str, str]]:
        """The entry barecloud's ``switches`` setting needs for this lab's switch."""
        if self.switch_driver == OVS_DRIVER and self.ovs_rundir:
            return {self.switch_name: {"driver": OVS_DRIVER, "netns": self.switch_netns,
                                       "db": f"unix:{self.ovs_rundir}/db.sock"}}
        return {self.switch_name: {"driver": SWITCH_DRIVER, "netns": self.switch_netns}}

    def local_link(self, machine: str, nic: int) -> dict[str, str]:
        """Ironic's ``local_link_connection`` of a machine's NIC."""
        return {"switch_id": self.switch_id, "port_id": self.machines[machine].ports[f"eth{nic}"],
                "switch_info": self.switch_name}


def lab_id(lab_path: Path) -> str:
    """Six hex digits from the lab's path: two labs on one host never share a name."""
    return hashlib.sha256(str(lab_path.resolve()).encode()).hexdigest()[:6]


def plan(lab_path: Path, wiring: Wiring | None, machines: Iterable[Machine],
         switch: str | None = None) -> Wiring:
    """The wiring with every machine given a namespace and ports (existing ones kept).

    ``switch`` (linux-bridge or openvswitch) is fixed when the lab is built.
    """
    ident = lab_id(lab_path)
    if switch is not None and switch not in SWITCH_DRIVERS:
        raise LabError(f"--switch {switch}: the lab switch is one of {', '.join(SWITCH_DRIVERS)}")
    if wiring is not None and switch is not None and switch != wiring.switch_driver:
        raise LabError(f"this lab's switch is {wiring.switch_driver}, fixed when the lab was "
                       "built (`barecloud lab down --purge` starts over)")
    if wiring is None:
        digest = hashlib.sha256(f"switch:{lab_path.resolve()}".encode()).digest()
        # Locally administered, unicast: 02:bc:xx:xx:xx:xx.
        switch_id = ":".join(f"{b:02x}" for b in (0x02, 0xBC, *digest[:4]))
        wiring = Wiring(switch_netns=f"{PREFIX}-{ident}-sw", switch_id=switch_id,
                        switch_driver=switch or SWITCH_DRIVER)
        if wiring.switch_driver == OVS_DRIVER:
            wiring.ovs_rundir = str(lab_path.resolve() / "ovs")
    if not wiring.outside_netns:
        wiring.outside_netns = f"{PREFIX}-{ident}-out"
    used = [int(p[1:]) for p in wiring.ports]
    next_port = max(used, default=0) + 1
    for machine in machines:
        if machine.name in wiring.machines:
            continue
        link = MachineLink(netns=f"{PREFIX}-{ident}-{machine.name}")
        for nic in range(len(machine.macs)):
            link.ports[f"eth{nic}"] = f"p{next_port}"
            next_port += 1
        wiring.machines[machine.name] = link
    return wiring


# --- rates -----------------------------------------------------------------------

_RATE = re.compile(r"^(\d+(?:\.\d+)?)([kmg]?)bit$", re.IGNORECASE)
_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}


def rate_bits(rate: str) -> int:
    """``200mbit`` -> 200_000_000; bits only (tc's ``mbps`` means bytes: refused)."""
    found = _RATE.match(rate.strip())
    if found is None:
        raise LabError(f"rate {rate!r}: give bits per second like 200mbit, 1gbit, 500kbit")
    bits = int(float(found.group(1)) * _UNITS[found.group(2).lower()])
    if bits < 8000:
        raise LabError(f"rate {rate!r} is below 8kbit")
    return bits


def tbf_args(rate: str) -> list[str]:
    """tbf parameters: the bucket holds 10 ms at the rate (at least MIN_BURST).

    A bucket smaller than rate/HZ caps the rate below what was asked, and one
    under an MTU drops every full-size frame.  One under a GSO packet (a veth
    hands tbf up to 64 KiB of TCP payload at once, plus the headers of each
    segment it stands for) makes tbf cut every such packet into frames in
    software: at 50mbit with a 32 KiB minimum (62.5 kB: 10 ms), a 32-machine
    deploy chain took 2.6 times the CPU and held 42 % of the rate
    (bench/deploy_chain.py).
    """
    bits = rate_bits(rate)
    burst = max(bits // 8 // 100, MIN_BURST)
    return ["tbf", "rate", str(bits), "burst", str(burst), "latency", TBF_LATENCY]


# --- commands --------------------------------------------------------------------


def run(argv: Sequence[str], *, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run one command (no shell); a failure is a LabError naming the command."""
    try:
        proc = subprocess.run(list(argv), capture_output=True, text=True,
                              timeout=COMMAND_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise LabError(f"{' '.join(argv)}: {exc}") from None
    if check and proc.returncode != 0:
        raise LabError(f"{' '.join(argv)}: {proc.stderr.strip() or f'status {proc.returncode}'}")
    return proc


def check_host() -> None:
    """Fail early and clearly where namespaces cannot be made."""
    if os.geteuid() != 0:
        raise LabError("the netns lab needs root (network namespaces, veths, tc)")
    for tool in ("ip", "ethtool", "tc"):
        if shutil.which(tool) is None:
            raise LabError(f"{tool} is missing (Debian: iproute2, ethtool)")


def namespaces() -> set[str]:
    try:
        return set(os.listdir(NETNS_DIR))
    except FileNotFoundError:
        return set()


def _links(netns: str) -> set[str]:
    out = run(["ip", "-n", netns, "-o", "link", "show"]).stdout
    # "3: p1@if2: <...>": the name is the second field, without its "@peer".
    return {line.split(":", 2)[1].strip().split("@")[0] for line in out.splitlines() if line}


def _ensure_netns(name: str, existing: set[str]) -> None:
    if name not in existing:
        run(["ip", "netns", "add", name])
        existing.add(name)
    run(["ip", "-n", name, "link", "set", "lo", "up"])


def shape(netns: str | None, dev: str, rate: str | None) -> None:
    """Put ``rate``'s tbf on ``dev`` (in ``netns``; None: this host's namespace).

    ``None`` leaves the link as it is; ``"off"`` removes the shaping.  Also for a
    cable the lab did not make but that belongs to its switch, such as the
    interface barecloud plugs into it (its image server's link).
    """
    if rate is None:
        return
    where = ["-n", netns] if netns else []
    if rate == "off":
        run(["tc", *where, "qdisc", "del", "dev", dev, "root"], check=False)
        return
    run(["tc", *where, "qdisc", "replace", "dev", dev, "root", *tbf_args(rate)])


def wire(wiring: Wiring, machines: Iterable[Machine], rate: str | None = None) -> Wiring:
    """Make the namespaces and cables of ``wiring`` exist; ``rate`` (re)shapes every link.

    ``rate`` None keeps the recorded rate (applied to new cables only);
    ``"off"`` removes shaping.
    """
    check_host()
    if rate is not None and rate != "off":
        tbf_args(rate)  # refuse a bad rate before touching anything
    existing = namespaces()
    _ensure_netns(wiring.switch_netns, existing)
    if wiring.outside_netns:
        _ensure_netns(wiring.outside_netns, existing)
    present = _links(wiring.switch_netns)
    for machine in machines:
        link = wiring.machines[machine.name]
        _ensure_netns(link.netns, existing)
        for nic, mac in enumerate(machine.macs):
            dev, port = f"eth{nic}", link.ports[f"eth{nic}"]
            new = port not in present
            if new:
                # Both ends made in one command: a veth pair is never half there.
                run(["ip", "-n", wiring.switch_netns, "link", "add", port, "type", "veth",
                     "peer", "name", dev, "address", mac, "netns", link.netns])
                run(["ip", "-n", wiring.switch_netns, "link", "set", port, "up"])
                run(["ip", "-n", link.netns, "link", "set", dev, "up"])
                # Else frames sent from here leave with a checksum the veth never
                # fills in, and a DHCP client on the far side drops them.
                run(["ip", "netns", "exec", link.netns, "ethtool", "-K", dev, "tx", "off"])
            if new or rate is not None:
                shaping = rate if rate is not None else wiring.rate
                shape(wiring.switch_netns, port, shaping)
                shape(link.netns, dev, shaping)
    if rate is not None:
        wiring.rate = None if rate == "off" else rate
    return wiring


def kill_inside(netns: Iterable[str]) -> list[int]:
    """SIGKILL what still runs in these namespaces (a machine's leftovers); return the PIDs."""
    existing = namespaces()
    killed: list[int] = []
    for name in netns:
        if name not in existing:
            continue
        out = run(["ip", "netns", "pids", name], check=False).stdout
        for pid in (int(p) for p in out.split() if p.isdigit()):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
    return killed


def unwire(wiring: Wiring) -> list[str]:
    """Delete the namespaces this lab made (and only those); return their names.

    What still runs inside a machine's namespace is the machine's and is
    killed first: a deleted namespace would otherwise live on, unnamed, as
    long as it does.  The switch's namespace is only deleted (whatever an
    operator runs there is not ours to kill).  The plan (namespace and port
    names) stays in ``lab.json``, so ``lab up`` rebuilds the same cables.
    """
    machines = [link.netns for link in wiring.machines.values()]
    if wiring.outside_netns:  # what runs there is the lab's too (a test's server)
        machines.append(wiring.outside_netns)
    names = [*machines, wiring.switch_netns]
    kill_inside(machines)
    existing = namespaces()
    deleted = []
    for name in names:
        if name in existing:
            run(["ip", "netns", "del", name])
            deleted.append(name)
    return deleted


def flush(netns: str, devices: Iterable[str]) -> None:
    """Forget every address and route on the machine's NICs: power is gone."""
    for dev in devices:
        run(["ip", "-n", netns, "addr", "flush", "dev", dev], check=False)


def exec_argv(netns: str, argv: Sequence[str]) -> list[str]:
    """The command line that runs ``argv`` inside ``netns``."""
    return ["ip", "netns", "exec", netns, *argv]
