"""The ``generic-ssh`` switch: access VLANs on real switches through their CLI over SSH.

In the manner of networking-generic-switch (NGS), for Cisco IOS, Arista EOS
and Juniper Junos: the dialects are in ``dialects.py``, logging in and
typing lines in ``cli.py``, and the batching of port moves into one SSH
session each in ``batches.py``; this module checks the options and answers
the switch driver's calls.  Saving is ``write memory`` (IOS),
``copy running-config startup-config`` (EOS) or ``commit`` (Junos, in
``configure private`` so an interrupted session leaves nothing half-done;
IOS and EOS apply each line at once, as NGS accepts).

Segments: ``vlan`` ones, the VLAN named after the network id without
dashes (NGS).  A ``flat`` segment is the untagged traffic of a physical
network: on an access switch that is one VLAN the operator picks, so
``flat`` is taken only if option ``flat_vlan`` names it (the VLAN is not
created: it is the operator's), and refused otherwise.  ``vxlan`` segments
are refused (no VTEP configuration here).

Unbinding puts the port on ``default_vlan`` if set (NGS's
``ngs_port_default_vlan``), else removes its access VLAN and shuts it down,
so an unbound machine reaches nobody.

``bindings()`` parses ``show interfaces status`` on IOS and EOS (the Vlan
column; a shut-down port, a trunk, or the default VLAN is on no segment),
in a session of its own between batches;
Junos answers with what this driver last configured.  ``counters()`` is
``{}``: CLI counter formats differ too much to trust a parser of ours
(use sFlow or SNMP for top talkers on real switches).

Security groups (``PortFilter``): port ACLs per vendor (``acls.py``), one
session per filter pass (``filters.py``).  Option ``port_acls``: ``both``
(an inbound and an outbound ACL per port, the default), ``in`` (models
whose port ACLs are inbound only: the port's ingress rules are enforced
only through the answers it may send) or ``none`` (models without port
ACLs: the switch cannot filter, and a port with port security is refused
at VIF attach).  docs/design/security-groups.md says what is approximated.

Never a password in a message or a log: every error text is scrubbed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from barecloud.drivers.settings import Setting
from barecloud.drivers.switches.base import PortCounters, Segment
from barecloud.drivers.switches.generic_ssh.acls import Direction
from barecloud.drivers.switches.generic_ssh.batches import MoveQueue
from barecloud.drivers.switches.generic_ssh.cli import SshCli
from barecloud.drivers.switches.generic_ssh.dialects import (
    DEVICE_TYPES,
    VENDORS,
    abbreviate,
    vlan_name,
)
from barecloud.drivers.switches.generic_ssh.filters import PortAcls
from barecloud.errors import InvalidParameter, PermanentDriverError
from barecloud.hostagent.firewall import PortRules

PORT_ACLS: dict[str, tuple[Direction, ...]] = {"both": ("in", "out"), "in": ("in",),
                                               "none": ()}


class GenericSshSwitch:
    driver_name: ClassVar[str] = "generic-ssh"
    options: ClassVar[tuple[Setting, ...]] = (
        Setting("device_type", "The switch's CLI: cisco_ios, arista_eos or juniper_junos.",
                required=True),
        Setting("address", "IP address or host name of the switch's SSH service.",
                required=True),
        Setting("port", "TCP port of the SSH service.", type="integer", default=22),
        Setting("username", "SSH user name.", required=True),
        Setting("password", "SSH password (needed unless key_file is given).", secret=True),
        Setting("key_file", "Path of a private key to log in with."),
        Setting("enable_secret", "IOS/EOS enable password, if `enable` asks for one "
                "(default: the password).", secret=True),
        Setting("known_hosts", "A known_hosts file the switch's host key must be in "
                "(default: not checked, as netmiko does)."),
        Setting("default_vlan", "VLAN an unbound port goes to (NGS ngs_port_default_vlan); "
                "default: the port is shut down.", type="integer"),
        Setting("flat_vlan", "VLAN that carries flat segments; default: flat is refused.",
                type="integer"),
        Setting("ports", "The ports barecloud may configure and report (default: all).",
                type="list", default=[]),
        Setting("timeout", "Seconds to log in, and to wait for each prompt.", type="number",
                default=30.0),
        Setting("max_batch", "Most port moves one SSH session applies (moves queued "
                "while a session runs share the next one).", type="integer", default=64),
        Setting("port_acls", "Security groups as port ACLs: both (inbound and outbound "
                "ACL per port), in (models whose port ACLs are inbound only), none (the "
                "switch cannot filter: ports with port security are refused).",
                default="both"),
    )

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        self.name = name
        device_type = options["device_type"]
        if device_type not in VENDORS:
            raise InvalidParameter(
                f"Switch {name!r}: device_type must be one of {', '.join(DEVICE_TYPES)}, "
                f"not {device_type!r}."
            )
        self.vendor = VENDORS[device_type]
        self.address: str = options["address"]
        self.port: int = options["port"]
        if not 0 < self.port < 65536:
            raise InvalidParameter(f"Switch {name!r}: port must be 1-65535, not {self.port}.")
        self.username: str = options["username"]
        password: str = options.get("password") or ""
        self.key_file: str | None = options.get("key_file") or None
        if not password and not self.key_file:
            raise InvalidParameter(f"Switch {name!r}: give a password or a key_file.")
        enable_secret: str = options.get("enable_secret") or password
        self.known_hosts: str | None = options.get("known_hosts") or None
        self.default_vlan: int | None = options.get("default_vlan")
        self.flat_vlan: int | None = options.get("flat_vlan")
        for opt in ("default_vlan", "flat_vlan"):
            value = options.get(opt)
            if value is not None and not 1 <= value <= 4094:
                raise InvalidParameter(f"Switch {name!r}: {opt} must be 1-4094, not {value}.")
        self.ports: tuple[str, ...] = tuple(options.get("ports") or ())
        self.timeout: float = options.get("timeout") or 30.0
        if self.timeout <= 0:
            raise InvalidParameter(f"Switch {name!r}: timeout must be a positive number.")
        max_batch = options.get("max_batch")
        self.max_batch: int = 64 if max_batch is None else max_batch
        if self.max_batch < 1:
            raise InvalidParameter(f"Switch {name!r}: max_batch must be at least 1.")
        # What this driver last configured (Junos bindings; network ids of VLANs).
        self._configured: dict[str, Segment | None] = {}
        self.cli = SshCli(name, self.vendor, self.address, self.port, self.username,
                          password, self.key_file, enable_secret, self.known_hosts,
                          self.timeout)
        self._moves = MoveQueue(self.cli, self.max_batch, self._configured)
        port_acls = options.get("port_acls") or "both"
        if port_acls not in PORT_ACLS:
            raise InvalidParameter(f"Switch {name!r}: port_acls must be one of "
                                   f"{', '.join(PORT_ACLS)}, not {port_acls!r}.")
        self.filters_ports = bool(PORT_ACLS[port_acls])
        # Why not, for the refusal of a port with port security (services/network/vifs.py).
        self.cannot_filter = "its port_acls option is none: the model has no port ACLs"
        self._acls = PortAcls(self.cli, PORT_ACLS[port_acls], self.ports)

    def __repr__(self) -> str:
        return (f"GenericSshSwitch({self.name!r}, {self.vendor.device_type}, "
                f"{self.username}@{self.address}:{self.port})")

    def message(self, text: str) -> str:
        return self.cli.message(text)

    # --- SwitchDriver --------------------------------------------------------------------

    def _vlan_of(self, segment: Segment) -> int:
        if segment.network_type == "vlan" and segment.segmentation_id is not None:
            if not 1 <= segment.segmentation_id <= 4094:
                raise PermanentDriverError(self.message(
                    f"VLAN {segment.segmentation_id} is not 1-4094"
                ))
            return segment.segmentation_id
        if segment.network_type == "flat" and self.flat_vlan is not None:
            return self.flat_vlan
        raise PermanentDriverError(self.message(
            f"switch {self.name} supports vlan segments only"
            + (" (and flat ones once flat_vlan is set)" if segment.network_type == "flat"
               else f", not {segment.network_type}")
        ))

    def _check_port(self, port: str) -> None:
        if not port or any(c.isspace() for c in port) or any(c in port for c in ";|\n"):
            raise PermanentDriverError(self.message(f"{port!r} is not a port name"))
        if self.ports and port not in self.ports:
            raise PermanentDriverError(self.message(
                f"{port!r} is not one of its ports ({', '.join(self.ports)})"
            ))

    async def bind(self, port: str, segment: Segment) -> None:
        await self._moves.move(port, self.commands_for_bind(port, segment), segment)

    async def unbind(self, port: str) -> None:
        self._check_port(port)
        await self._moves.move(port, self.vendor.unbind(port, self.default_vlan), None)

    def commands_for_bind(self, port: str, segment: Segment) -> list[str]:
        """The configuration lines ``bind`` types (between entering config mode and saving)."""
        self._check_port(port)
        vlan = self._vlan_of(segment)
        lines = [] if segment.network_type == "flat" else self.vendor.create_vlan(
            vlan, vlan_name(segment))
        return [*lines, *self.vendor.bind(port, vlan)]

    async def bindings(self) -> dict[str, Segment | None]:
        if self.vendor.device_type == "juniper_junos":
            known = self._configured
            return {p: known.get(p) for p in self.ports} if self.ports else dict(known)
        async with self._moves.lock, self.cli.session() as session:
            status = await session.send("show interfaces status")
            await session.log_out()
        return self.parse_status(status)

    def parse_status(self, text: str) -> dict[str, Segment | None]:
        """Ports and segments from IOS/EOS ``show interfaces status`` (by header columns)."""
        lines = text.splitlines()
        header = next((i for i, ln in enumerate(lines) if ln.startswith("Port ")), None)
        if header is None:
            raise PermanentDriverError(self.message(
                "cannot read `show interfaces status`: no header line"
            ))
        head = lines[header]
        try:
            status_at, vlan_at = head.index("Status"), head.index("Vlan")
        except ValueError:
            raise PermanentDriverError(self.message(
                "cannot read `show interfaces status`: no Status or Vlan column"
            )) from None
        after_vlan = re.search(r"\S", head[vlan_at + 4:])
        vlan_end = vlan_at + 4 + after_vlan.start() if after_vlan else len(head)
        full = {abbreviate(p): p for p in (*self.ports, *self._configured)}
        by_vlan: dict[int, Segment] = {}
        for seg in self._configured.values():
            if seg is not None and seg.network_type == "vlan" and seg.segmentation_id:
                by_vlan[seg.segmentation_id] = seg
        unbound = {self.default_vlan if self.default_vlan is not None else 1}
        out: dict[str, Segment | None] = {}
        for row in lines[header + 1:]:
            if not row.strip() or row.startswith("-"):
                continue
            shown = row.split()[0]
            port = full.get(shown, shown)
            if self.ports and port not in self.ports:
                continue
            status = row[status_at:vlan_at].strip()
            vlan_text = row[vlan_at:vlan_end].strip()
            segment: Segment | None = None
            if status != "disabled" and vlan_text.isdigit() and int(vlan_text) not in unbound:
                vlan = int(vlan_text)
                if vlan == self.flat_vlan:
                    known = self._configured.get(port)
                    segment = known if known and known.network_type == "flat" else Segment(
                        "flat", None)
                else:
                    segment = by_vlan.get(vlan, Segment("vlan", vlan))
            out[port] = segment
        return out

    # --- PortFilter --------------------------------------------------------------------

    async def filter_ports(self, wanted: Mapping[str, PortRules]) -> None:
        """Rewrite the changed ports' ACLs and clear the ports no longer wanted, in one
        session; no session when nothing changed."""
        if not self.filters_ports:
            if wanted:
                raise PermanentDriverError(self.message(
                    f"has no port ACLs (port_acls = none): {', '.join(sorted(wanted))} "
                    "not filtered"))
            return
        for port in wanted:
            self._check_port(port)
        plan = self._acls.plan(wanted)
        if not plan:
            return
        async with self._moves.lock, self.cli.session() as session:
            await self._acls.apply(session, wanted, plan)

    async def counters(self) -> dict[str, PortCounters]:
        """Not read from the CLI (see the module docstring): always empty."""
        return {}

    async def close(self) -> None:
        """Stop the sessions' worker: a move still queued or running fails (retryable).

        Nothing else stays open: every session ends with its batch.
        """
        await self._moves.close()
