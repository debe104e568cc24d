"""A switch CLI over SSH (Cisco IOS, Arista EOS, Junos): lab hardware for generic-ssh.

It answers the way those CLIs do for the commands networking-generic-switch
style drivers send (modes and prompts, VLANs, access ports, shutdown,
saving, Junos candidate configuration and ``commit``) and for port ACLs
(IOS ``ip access-list extended`` / ``ipv6 access-list`` with ``ip
access-group`` / ``ipv6 traffic-filter``; EOS ``ip access-list`` /
``ipv6 access-list`` with ``ip``/``ipv6 access-group``; Junos ``firewall
family ethernet-switching filter`` terms and the interface's ``filter
input``/``output``), whose entries it checks as those CLIs do, and keeps
the resulting configuration, so a test can check both the exact lines a
driver typed (:attr:`SwitchState.commands`, in order, across sessions) and
what they did (:attr:`SwitchState.vlans`, :attr:`SwitchState.interfaces`,
:attr:`SwitchState.acls`).
``refuse(line)`` makes it answer a given line with the vendor's error text,
as a switch does for a command its software does not take.

Like a terminal it echoes what it receives and ends lines with CR LF; it
needs no PTY.  The lab is hardware: this module imports nothing of the
service.  ``python -m barecloud.lab.ssh_switch --port P --device-type
cisco_ios --username U --password-file F`` serves one switch.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ipaddress
import signal
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import asyncssh

DEVICE_TYPES = ("cisco_ios", "arista_eos", "juniper_junos")
HOSTNAME = "switch"

IOS_INVALID = "% Invalid input detected at '^' marker."
EOS_INVALID = "% Invalid input"
INCOMPLETE = "% Incomplete command."
JUNOS_SYNTAX = "syntax error."
JUNOS_COMMIT_FAILED = "error: configuration check-out failed"

# How IOS and EOS shorten interface names in `show interfaces status`.
ABBREVIATIONS = (
    ("TwentyFiveGigE", "Twe"), ("HundredGigE", "Hu"), ("FortyGigabitEthernet", "Fo"),
    ("TenGigabitEthernet", "Te"), ("GigabitEthernet", "Gi"), ("FastEthernet", "Fa"),
    ("Port-channel", "Po"), ("Ethernet", "Et"),
)


def abbreviate(port: str) -> str:
    for long, short in ABBREVIATIONS:
        if port.startswith(long):
            return short + port[len(long):]
    return port


@dataclass
class Interface:
    """An interface's switching configuration (None vlan: the default VLAN, 1)."""

    mode: str = ""
    vlan: int | None = None
    shutdown: bool = False
    disabled_junos: bool = False
    # The ACLs applied: "ip in", "ipv6 out" (IOS, EOS), "input", "output" (Junos) -> name.
    acls: dict[str, str] = field(default_factory=dict)


@dataclass
class Config:
    vlans: dict[int, str] = field(default_factory=dict)
    interfaces: dict[str, Interface] = field(default_factory=dict)
    # ACL name -> its entries as typed (Junos: "TERM from ..." / "TERM then ...").
    acls: dict[str, list[str]] = field(default_factory=dict)

    def copy(self) -> Config:
        return Config(dict(self.vlans), {k: Interface(v.mode, v.vlan, v.shutdown,
                                                      v.disabled_junos, dict(v.acls))
                                         for k, v in self.interfaces.items()},
                      {k: list(v) for k, v in self.acls.items()})

    def interface(self, name: str) -> Interface:
        return self.interfaces.setdefault(name, Interface())


@dataclass
class SwitchState:
    """What the switch holds and has been told; tests read it and call ``refuse``."""

    device_type: str
    ports: tuple[str, ...] = ()
    running: Config = field(default_factory=Config)
    # The saved configuration (write memory / copy run start / commit).
    startup: Config | None = None
    # Every line received, in order, over every session (enable secrets excepted).
    commands: list[str] = field(default_factory=list)
    refusals: dict[str, str | None] = field(default_factory=dict)
    logins: int = 0
    failed_logins: int = 0

    def __post_init__(self) -> None:
        for port in self.ports:
            self.running.interface(port)

    @property
    def vlans(self) -> dict[int, str]:
        return self.running.vlans

    @property
    def interfaces(self) -> dict[str, Interface]:
        return self.running.interfaces

    @property
    def acls(self) -> dict[str, list[str]]:
        return self.running.acls

    def port_acls(self, port: str) -> dict[str, list[str]]:
        """The entries of each ACL applied to ``port``, by where ("ip in", "output")."""
        iface = self.running.interfaces.get(port) or Interface()
        return {where: self.running.acls.get(name, []) for where, name in iface.acls.items()}

    def refuse(self, line: str, message: str | None = None) -> None:
        """Answer ``line`` (exactly, spaces trimmed) with ``message`` or the vendor's error."""
        self.refusals[" ".join(line.split())] = message

    def access_vlan(self, port: str) -> int | None:
        """The VLAN the port's frames go to, None if shut down or disabled."""
        iface = self.running.interfaces.get(port)
        if iface is None:
            return 1
        if iface.shutdown or iface.disabled_junos:
            return None
        return iface.vlan if iface.vlan is not None else 1


class _Closed(Exception):
    """The CLI session ended (exit / logout)."""


class _Cli:
    """One login session: modes, prompts and the commands of one vendor."""

    def __init__(self, state: SwitchState, username: str, enable_secret: str | None) -> None:
        self.state = state
        self.username = username
        self.enable_secret = enable_secret
        self.junos = state.device_type == "juniper_junos"
        self.mode: Literal["exec", "enable", "config", "config-vlan", "config-if", "config-acl",
                           "password"]
        self.mode = "exec"
        self.vlan = 0
        self.iface = ""
        self.acl = ""  # the ACL being edited, and its family
        self.acl_family = 4
        self.candidate: Config | None = None  # Junos: the configuration being edited

    # --- prompts --------------------------------------------------------------------

    def prompt(self) -> str:
        if self.junos:
            if self.mode == "config":
                return f"\r\n[edit]\r\n{self.username}@{HOSTNAME}# "
            return f"{self.username}@{HOSTNAME}> "
        if self.mode == "config-acl":
            if self.state.device_type == "arista_eos":
                kind = "acl" if self.acl_family == 4 else "ipv6-acl"
                return f"{HOSTNAME}(config-{kind}-{self.acl})#"
            kind = "ext-nacl" if self.acl_family == 4 else "ipv6-acl"
            return f"{HOSTNAME}(config-{kind})#"
        return {
            "exec": f"{HOSTNAME}>",
            "enable": f"{HOSTNAME}#",
            "config": f"{HOSTNAME}(config)#",
            "config-vlan": f"{HOSTNAME}(config-vlan)#",
            "config-if": f"{HOSTNAME}(config-if)#",
            "password": "Password: ",
        }[self.mode]

    def invalid(self, line: str) -> str:
        if self.junos:
            return f"{' ' * len(f'{self.username}@{HOSTNAME}# ')}^\r\n{JUNOS_SYNTAX}"
        if self.state.device_type == "arista_eos":
            return f"{EOS_INVALID} (at token 0: {line.split()[0]!r})"
        return f"{' ' * len(self.prompt())}^\r\n{IOS_INVALID}"

    # --- input ----------------------------------------------------------------------

    def handle(self, raw: str) -> str:
        """The answer to one line (without the next prompt); raises _Closed to end."""
        line = " ".join(raw.split())
        if self.mode == "password":
            self.mode = "enable" if raw == self.enable_secret else "exec"
            return "" if self.mode == "enable" else "% Access denied"
        if not line:
            return ""
        self.state.commands.append(line)
        if line in self.state.refusals:
            message = self.state.refusals[line]
            if message is not None:
                return message
            if self.junos and line == "commit":
                return JUNOS_COMMIT_FAILED
            return self.invalid(line)
        return self._junos(line) if self.junos else self._ios(line)

    # --- Cisco IOS and Arista EOS ---------------------------------------------------------

    def _ios(self, line: str) -> str:
        words = line.split()
        if self.mode == "exec":
            if line == "enable":
                if self.enable_secret:
                    self.mode = "password"
                else:
                    self.mode = "enable"
                return ""
            if line.startswith("terminal length") or line.startswith("show "):
                return self._show(line)
            if line in ("exit", "logout", "quit"):
                raise _Closed
            return self.invalid(line)
        if self.mode == "enable":
            if line in ("configure terminal", "configure", "conf t"):
                self.mode = "config"
                return "Enter configuration commands, one per line.  End with CNTL/Z."
            if line in ("write memory", "write", "copy running-config startup-config"):
                self.state.startup = self.state.running.copy()
                if words[0] == "copy":
                    return "Copy completed successfully."
                return "Building configuration...\r\n[OK]"
            if line.startswith("terminal length") or line.startswith("show "):
                return self._show(line)
            if line == "disable":
                self.mode = "exec"
                return ""
            if line in ("exit", "logout", "quit"):
                raise _Closed
            return self.invalid(line)
        if line == "end":
            self.mode = "enable"
            return ""
        if line == "exit":
            self.mode = "enable" if self.mode == "config" else "config"
            return ""
        config = self.state.running
        if self.mode == "config-acl" and words[0] in ("permit", "deny"):
            if not acl_entry_ok(words, self.acl_family, self.state.device_type == "arista_eos"):
                return self.invalid(line)
            config.acls.setdefault(self.acl, []).append(line)
            return ""
        acl = self._ios_acl_head(words)
        if acl is not None:
            return acl
        if words[0] == "interface":
            if len(words) < 2:
                return INCOMPLETE
            self.iface = " ".join(words[1:])
            config.interface(self.iface)
            self.mode = "config-if"
            return ""
        if words[0] == "vlan" or words[:2] == ["no", "vlan"]:
            no = words[0] == "no"
            ids = words[2:] if no else words[1:]
            if len(ids) != 1:
                return INCOMPLETE
            if not ids[0].isdigit() or not 1 <= int(ids[0]) <= 4094:
                return self.invalid(line)
            if no:
                config.vlans.pop(int(ids[0]), None)
                self.mode = "config"
                return ""
            self.vlan = int(ids[0])
            config.vlans.setdefault(self.vlan, f"VLAN{self.vlan:04d}")
            self.mode = "config-vlan"
            return ""
        if self.mode == "config-vlan" and words[0] == "name":
            if len(words) < 2:
                return INCOMPLETE
            config.vlans[self.vlan] = words[1][:32]
            return ""
        if self.mode == "config-if":
            return self._ios_interface(config, config.interface(self.iface), words, line)
        return self.invalid(line)

    def _ios_acl_head(self, words: list[str]) -> str | None:
        """``[no] ip access-list [extended] NAME`` / ``[no] ipv6 access-list NAME``;
        None: not such a line."""
        no = words[0] == "no"
        rest = words[1:] if no else words
        if rest[:2] not in (["ip", "access-list"], ["ipv6", "access-list"]):
            return None
        family = 4 if rest[0] == "ip" else 6
        args = rest[2:]
        eos = self.state.device_type == "arista_eos"
        if family == 4 and not eos:  # IOS: standard or extended, by name
            if args[:1] not in (["extended"], ["standard"]):
                return self.invalid(" ".join(words))
            if args[0] == "standard":
                return self.invalid(" ".join(words))  # not this lab's
            args = args[1:]
        if len(args) != 1:
            return INCOMPLETE if not args else self.invalid(" ".join(words))
        name = args[0]
        if not name[:1].isalpha():
            return self.invalid(" ".join(words))
        config = self.state.running
        if no:
            config.acls.pop(name, None)
            self.mode = "config"
            return ""
        config.acls.setdefault(name, [])
        self.acl, self.acl_family, self.mode = name, family, "config-acl"
        return ""

    def _ios_interface(self, config: Config, iface: Interface, words: list[str],
                       line: str) -> str:
        no = words[0] == "no"
        rest = words[1:] if no else words
        eos = self.state.device_type == "arista_eos"
        applies = (["ip", "access-group"], ["ipv6", "access-group" if eos else "traffic-filter"])
        if rest[:2] in applies:
            if len(rest) != 4 or rest[3] not in ("in", "out"):
                return INCOMPLETE if len(rest) < 4 else self.invalid(line)
            where = f"{rest[0]} {rest[3]}"
            if no:
                iface.acls.pop(where, None)
            else:
                iface.acls[where] = rest[2]
            return ""
        if line == "shutdown":
            iface.shutdown = True
            return ""
        if line == "no shutdown":
            iface.shutdown = False
            return ""
        if words[0] == "description":
            return ""
        if words[:2] == ["switchport", "mode"]:
            if len(words) != 3 or words[2] not in ("access", "trunk"):
                return INCOMPLETE if len(words) == 2 else self.invalid(line)
            iface.mode = words[2]
            return ""
        if words[:3] == ["switchport", "access", "vlan"]:
            if len(words) != 4:
                return INCOMPLETE
            if not words[3].isdigit() or not 1 <= int(words[3]) <= 4094:
                return self.invalid(line)
            iface.vlan = int(words[3])
            if iface.vlan not in config.vlans:
                config.vlans[iface.vlan] = f"VLAN{iface.vlan:04d}"
                return f"% Access VLAN does not exist. Creating vlan {iface.vlan}"
            return ""
        if words[:4] == ["no", "switchport", "access", "vlan"] and len(words) <= 5:
            iface.vlan = None
            return ""
        return self.invalid(line)

    def _show(self, line: str) -> str:
        if line.startswith("terminal length"):
            return ""
        if line != "show interfaces status":
            return self.invalid(line)
        eos = self.state.device_type == "arista_eos"
        if eos:
            rows = [f"{'Port':<11}{'Name':<7}{'Status':<13}{'Vlan':<9}{'Duplex':<7}"
                    f"{'Speed':<7}Type"]
        else:
            rows = [f"{'Port':<10}{'Name':<19}{'Status':<13}{'Vlan':<11}{'Duplex':<8}"
                    f"{'Speed':<7}Type"]
        for name, iface in self.state.running.interfaces.items():
            status = "disabled" if iface.shutdown else "connected"
            vlan = "trunk" if iface.mode == "trunk" else str(iface.vlan or 1)
            if eos:
                rows.append(f"{abbreviate(name):<11}{'':<7}{status:<13}{vlan:<9}"
                            f"{'full':<7}{'10G':<7}10GBASE-T")
            else:
                rows.append(f"{abbreviate(name):<10}{'':<19}{status:<13}{vlan:<11}"
                            f"{'a-full':<8}{'a-1000':<7}10/100/1000BaseTX")
        return "\r\n".join(rows)

    # --- Junos --------------------------------------------------------------------------

    def _junos(self, line: str) -> str:
        words = line.split()
        if self.mode != "config":
            if line in ("configure", "configure private", "configure exclusive"):
                self.mode = "config"
                self.candidate = self.state.running.copy()
                return "Entering configuration mode"
            if line.startswith("set cli "):
                return "Screen length set to 0" if "screen-length" in line else ""
            if line in ("exit", "quit", "logout"):
                raise _Closed
            return self.invalid(line)
        assert self.candidate is not None
        if line in ("exit", "quit", "exit configuration-mode"):
            # Like `configure private`: what was not committed is dropped.
            self.candidate = None
            self.mode = "exec"
            return "Exiting configuration mode"
        if line == "commit" or line == "commit and-quit":
            missing = sorted({name for iface in self.candidate.interfaces.values()
                              for name in iface.acls.values()} - set(self.candidate.acls))
            if missing:
                return (f"error: filter {missing[0]} is not defined\r\n"
                        f"{JUNOS_COMMIT_FAILED}")
            self.state.running = self.candidate.copy()
            self.state.startup = self.state.running.copy()
            if line == "commit and-quit":
                self.candidate = None
                self.mode = "exec"
                return "commit complete\r\nExiting configuration mode"
            return "commit complete"
        if line == "rollback" or line == "rollback 0":
            self.candidate = self.state.running.copy()
            return "load complete"
        if words[0] in ("set", "delete"):
            return self._junos_edit(self.candidate, words[0] == "set", words[1:], line)
        return self.invalid(line)

    def _junos_edit(self, config: Config, set_: bool, path: list[str], line: str) -> str:
        if path[:1] == ["vlans"]:
            if len(path) == 4 and path[2] == "vlan-id" and set_:
                if not path[3].isdigit() or not 1 <= int(path[3]) <= 4094:
                    return f"error: vlan-id: '{path[3]}': Value must be a number from 1 to 4094"
                config.vlans[int(path[3])] = path[1]
                return ""
            if len(path) == 2 and not set_:
                ids = [i for i, n in config.vlans.items() if n == path[1]]
                if not ids:
                    return "warning: statement not found"
                for i in ids:
                    del config.vlans[i]
                return ""
            return self.invalid(line)
        if path[:3] == ["firewall", "family", "ethernet-switching"]:
            return self._junos_filter(config, set_, path[3:], line)
        if path[:1] != ["interfaces"] or len(path) < 3:
            return self.invalid(line)
        port, rest = path[1], path[2:]
        iface = config.interface(port)
        switching = ["unit", "0", "family", "ethernet-switching", "filter"]
        if rest[:5] == switching:
            if not set_ and len(rest) == 5:
                if not iface.acls:
                    return "warning: statement not found"
                iface.acls.clear()
                return ""
            if not set_ or len(rest) != 7 or rest[5] not in ("input", "output"):
                return "error: missing argument" if len(rest) < 7 else self.invalid(line)
            iface.acls[rest[5]] = rest[6]
            return ""
        if rest == ["disable"]:
            if not set_ and not iface.disabled_junos:
                return "warning: statement not found"
            iface.disabled_junos = set_
            return ""
        members = ["unit", "0", "family", "ethernet-switching", "vlan", "members"]
        if rest[:6] == members and len(rest) <= 7:
            if set_:
                if len(rest) != 7:
                    return "error: missing argument"
                vlan = self._junos_vlan(config, rest[6])
                if vlan is None:
                    return self.invalid(line)
                iface.mode = "access"
                iface.vlan = vlan
                return ""
            if iface.vlan is None:
                return "warning: statement not found"
            iface.vlan = None
            return ""
        return self.invalid(line)

    def _junos_filter(self, config: Config, set_: bool, path: list[str], line: str) -> str:
        """``filter NAME term T from CONDITIONS`` / ``... then accept|discard``;
        ``delete ... filter NAME``."""
        if path[:1] != ["filter"] or len(path) < 2:
            return self.invalid(line)
        name = path[1]
        if not set_:
            if len(path) != 2:
                return self.invalid(line)
            if name not in config.acls:
                return "warning: statement not found"
            del config.acls[name]
            return ""
        rest = path[2:]
        if len(rest) < 3 or rest[0] != "term":
            return "error: missing argument" if rest[:1] == ["term"] else self.invalid(line)
        term, what, args = rest[1], rest[2], rest[3:]
        if what == "then":
            if args not in (["accept"], ["discard"]):
                return self.invalid(line)
        elif what != "from" or not junos_conditions_ok(args):
            return self.invalid(line)
        config.acls.setdefault(name, []).append(" ".join([term, what, *args]))
        return ""

    @staticmethod
    def _junos_vlan(config: Config, member: str) -> int | None:
        if member.isdigit():
            return int(member) if 1 <= int(member) <= 4094 else None
        return next((i for i, n in config.vlans.items() if n == member), None)


def _address_ok(text: str, family: int, prefix: bool) -> bool:
    try:
        if prefix:
            return ipaddress.ip_network(text, strict=False).version == family
        return ipaddress.ip_address(text).version == family
    except ValueError:
        return False


def _number(text: str, top: int) -> bool:
    return text.isdigit() and 0 <= int(text) <= top


def acl_entry_ok(words: list[str], family: int, eos: bool) -> bool:
    """Whether an IOS / EOS extended ACL entry (``permit|deny PROTO SRC [PORTS] DST
    [PORTS] [TYPE [CODE]] [established] [log]``) is one the CLI takes."""
    icmp_word = "icmpv6" if eos and family == 6 else "icmp"
    protocols = {"ip" if family == 4 else "ipv6", "tcp", "udp", icmp_word}
    if len(words) < 4 or words[0] not in ("permit", "deny"):
        return False
    proto, rest = words[1], words[2:]
    if proto not in protocols and not _number(proto, 255):
        return False

    def address() -> bool:
        if not rest:
            return False
        word = rest.pop(0)
        if word == "any":
            return True
        if word == "host":
            return bool(rest) and _address_ok(rest.pop(0), family, prefix=False)
        if "/" in word:  # a prefix: EOS, and IOS IPv6
            return (eos or family == 6) and _address_ok(word, family, prefix=True)
        # IOS IPv4: an address and a wildcard mask
        return (not eos and family == 4 and len(rest) >= 1
                and _address_ok(word, 4, False) and _address_ok(rest.pop(0), 4, False))

    def ports() -> bool:
        if proto not in ("tcp", "udp") or not rest or rest[0] not in (
                "eq", "neq", "gt", "lt", "range"):
            return True
        op = rest.pop(0)
        count = 2 if op == "range" else 1
        values = rest[:count]
        del rest[:count]
        return len(values) == count and all(_number(v, 65535) for v in values) and (
            op != "range" or int(values[0]) <= int(values[1]))

    if not (address() and ports() and address() and ports()):
        return False
    if proto == icmp_word and rest and rest[0].isdigit():
        if not _number(rest.pop(0), 255):
            return False
        if rest and rest[0].isdigit() and not _number(rest.pop(0), 255):
            return False
    if rest[:1] == ["established"]:
        if proto != "tcp":
            return False
        rest.pop(0)
    if rest[:1] == ["log"]:
        rest.pop(0)
    return not rest


_JUNOS_VALUES = {
    "ip-source-address": lambda v: _address_ok(v, 4, True),
    "ip-destination-address": lambda v: _address_ok(v, 4, True),
    "ip6-source-address": lambda v: _address_ok(v, 6, True),
    "ip6-destination-address": lambda v: _address_ok(v, 6, True),
    "ip-protocol": lambda v: v in ("tcp", "udp", "icmp") or _number(v, 255),
    "next-header": lambda v: v in ("tcp", "udp", "icmp6") or _number(v, 255),
    "source-port": lambda v: all(_number(p, 65535) for p in v.split("-", 1)),
    "destination-port": lambda v: all(_number(p, 65535) for p in v.split("-", 1)),
    "icmp-type": lambda v: _number(v, 255),
    "icmp-code": lambda v: _number(v, 255),
    "ether-type": lambda v: v in ("arp", "ipv4", "ipv6"),
}


def junos_conditions_ok(words: list[str]) -> bool:
    """Whether a filter term's ``from`` conditions are ones the CLI takes."""
    if not words:
        return False
    rest = list(words)
    while rest:
        key = rest.pop(0)
        if key == "tcp-established":
            continue
        check = _JUNOS_VALUES.get(key)
        if check is None or not rest or not check(rest.pop(0)):
            return False
    return True


class _Server(asyncssh.SSHServer):
    def __init__(self, switch: SshSwitch) -> None:
        self.switch = switch

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    def validate_password(self, username: str, password: str) -> bool:
        ok = username == self.switch.username and password == self.switch.password
        if ok:
            self.switch.state.logins += 1
        else:
            self.switch.state.failed_logins += 1
        return ok

    def public_key_auth_supported(self) -> bool:
        return bool(self.switch.authorized_keys)

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        ok = username == self.switch.username and any(
            key.public_data == k.public_data for k in self.switch.authorized_keys
        )
        if ok:
            self.switch.state.logins += 1
        return ok


class SshSwitch:
    """One switch: ``await start()``, read ``state``, ``await close()``."""

    def __init__(self, device_type: str, username: str, password: str,
                 ports: Iterable[str] = (), enable_secret: str | None = None,
                 authorized_keys: Iterable[asyncssh.SSHKey] = ()) -> None:
        if device_type not in DEVICE_TYPES:
            raise ValueError(f"device type must be one of {', '.join(DEVICE_TYPES)}")
        self.username = username
        self.password = password
        self.enable_secret = enable_secret
        self.authorized_keys = tuple(authorized_keys)
        self.state = SwitchState(device_type, tuple(ports))
        self.port = 0
        self._server: asyncssh.SSHAcceptor | None = None
        self._sessions: set[asyncio.Task[None]] = set()

    async def start(self, host: str = "127.0.0.1", port: int = 0,
                    host_key: asyncssh.SSHKey | None = None) -> int:
        key = host_key or asyncssh.generate_private_key("ssh-ed25519")
        self._server = await asyncssh.create_server(
            lambda: _Server(self), host, port, server_host_keys=[key],
            process_factory=self._session, line_editor=False, encoding="utf-8",
        )
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _session(self, process: asyncssh.SSHServerProcess[str]) -> None:
        username = process.get_extra_info("username") or self.username
        cli = _Cli(self.state, username, self.enable_secret)
        out = process.stdout
        try:
            if process.command:  # `ssh switch show ...`: one command, no prompt
                with contextlib.suppress(_Closed):
                    if cli.junos:
                        answer = cli.handle(process.command)
                    else:
                        cli.mode = "enable"
                        answer = cli.handle(process.command)
                    out.write(answer.replace("\r\n", "\n") + "\n")
                return
            out.write("\r\n" + cli.prompt())
            pending = ""
            after_cr = False
            while True:
                data = await process.stdin.read(4096)
                if not data:
                    return
                for ch in data:
                    if ch == "\n" and after_cr:
                        after_cr = False
                        continue
                    after_cr = ch == "\r"
                    if ch in "\r\n":
                        # Echo (a secret typed at Password: is not echoed).
                        if cli.mode != "password":
                            out.write(pending)
                        out.write("\r\n")
                        line, pending = pending, ""
                        answer = cli.handle(line)
                        if answer:
                            out.write(answer + "\r\n")
                        out.write(cli.prompt())
                    else:
                        pending += ch
        except _Closed:
            out.write("\r\n")
        except (asyncssh.Error, ConnectionError, asyncssh.BreakReceived):
            return
        finally:
            process.exit(0)


async def serve(args: argparse.Namespace, password: str) -> None:
    switch = SshSwitch(args.device_type, args.username, password,
                       ports=[p for p in args.ports.split(",") if p])
    key = asyncssh.read_private_key(args.host_key) if args.host_key else None
    port = await switch.start(args.host, args.port, key)
    print(f"{args.device_type} switch listening on {args.host}:{port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await switch.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m barecloud.lab.ssh_switch",
                                     description="A switch CLI over SSH, for trying drivers.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2222)
    parser.add_argument("--device-type", choices=DEVICE_TYPES, default="cisco_ios")
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password-file", required=True)
    parser.add_argument("--ports", default="", help="interfaces it has, comma-separated")
    parser.add_argument("--host-key", help="private host key file (default: a new one)")
    args = parser.parse_args(argv)
    asyncio.run(serve(args, Path(args.password_file).read_text().strip()))
    return 0


if __name__ == "__main__":
    sys.exit(main())


