"""The CLI dialects ``generic-ssh`` speaks: prompts, mode changes, command lines, refusals.

Per vendor, in the manner of networking-generic-switch (NGS): the lines that
create a VLAN, make a port an access port of it, take it off again, and save
the configuration, plus the output patterns that mean the switch refused a
line.  Text only: nothing here talks to a switch.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from barecloud.drivers.switches.base import Segment

DEVICE_TYPES = ("cisco_ios", "arista_eos", "juniper_junos")

_IOS_PROMPT = re.compile(r"[\w.\-/]+(\([\w.\-/]+\))?[>#]\s*")
_JUNOS_PROMPT = re.compile(r"[\w.\-]+@[\w.\-]+[>#%]\s*")
# The line Junos prints after each command in configuration mode.
JUNOS_EDIT = re.compile(r"\[edit[^\]]*\]")
PASSWORD_PROMPT = re.compile(r"[Pp]assword:\s*")

# (full, short) interface name forms of IOS and EOS `show interfaces status`.
_ABBREVIATIONS = (
    ("TwentyFiveGigE", "Twe"), ("HundredGigE", "Hu"), ("FortyGigabitEthernet", "Fo"),
    ("TenGigabitEthernet", "Te"), ("GigabitEthernet", "Gi"), ("FastEthernet", "Fa"),
    ("Port-channel", "Po"), ("Ethernet", "Et"),
)


def abbreviate(port: str) -> str:
    for long, short in _ABBREVIATIONS:
        if port.startswith(long):
            return short + port[len(long):]
    return port


def vlan_name(segment: Segment) -> str:
    """The VLAN's name on the switch: the network id without dashes (NGS), else its key.

    Many switches cap VLAN names at 32 characters, hence no dashes.
    """
    if not segment.network_id:
        return segment.key
    try:
        return uuid.UUID(segment.network_id).hex
    except ValueError:
        return re.sub(r"[^A-Za-z0-9_.]", "", segment.network_id)[:32] or segment.key


@dataclass(frozen=True)
class Vendor:
    """One CLI dialect: prompts, mode changes, command templates and refusals."""

    device_type: str
    prompt: re.Pattern[str]
    setup: tuple[str, ...]           # after log-in, e.g. no paging
    enter_config: str
    leave_config: str
    commit: str | None               # typed in config mode before leaving (Junos)
    save: str | None                 # typed after leaving config mode (IOS, EOS)
    errors: tuple[re.Pattern[str], ...]
    # Errors worth retrying later (someone else holds the configuration).
    busy: tuple[re.Pattern[str], ...] = ()

    def create_vlan(self, vlan: int, name: str) -> list[str]:
        if self.device_type == "juniper_junos":
            return [f"set vlans {name} vlan-id {vlan}"]
        return [f"vlan {vlan}", f"name {name}", "exit"]

    def bind(self, port: str, vlan: int) -> list[str]:
        if self.device_type == "juniper_junos":
            return [
                # An access port has one VLAN: drop whatever it had first.
                f"delete interfaces {port} unit 0 family ethernet-switching vlan members",
                f"set interfaces {port} unit 0 family ethernet-switching vlan members {vlan}",
                f"delete interfaces {port} disable",
            ]
        return [f"interface {port}", "switchport mode access",
                f"switchport access vlan {vlan}", "no shutdown", "exit"]

    def unbind(self, port: str, default_vlan: int | None) -> list[str]:
        if default_vlan is not None:
            return self.bind(port, default_vlan)
        if self.device_type == "juniper_junos":
            return [
                f"delete interfaces {port} unit 0 family ethernet-switching vlan members",
                f"set interfaces {port} disable",
            ]
        return [f"interface {port}", "no switchport access vlan", "shutdown", "exit"]


_CLI_ERRORS = (
    re.compile(r"^% ?Invalid input", re.M),
    re.compile(r"^% ?Incomplete command", re.M),
    re.compile(r"^% ?Ambiguous command", re.M),
    re.compile(r"^% ?Unrecognized command", re.M),
    re.compile(r"^% ?Error", re.M | re.I),
)

VENDORS: dict[str, Vendor] = {
    "cisco_ios": Vendor(
        "cisco_ios", _IOS_PROMPT, ("terminal length 0",), "configure terminal", "end",
        None, "write memory", _CLI_ERRORS,
    ),
    "arista_eos": Vendor(
        "arista_eos", _IOS_PROMPT, ("terminal length 0",), "configure terminal", "end",
        None, "copy running-config startup-config",
        (*_CLI_ERRORS, re.compile(r"% VLAN \d+ is already mapped")),
    ),
    "juniper_junos": Vendor(
        "juniper_junos", _JUNOS_PROMPT, ("set cli screen-length 0",), "configure private",
        "exit configuration-mode", "commit", None,
        (re.compile(r"^\s*error:", re.M), re.compile(r"syntax error", re.M),
         re.compile(r"unknown command", re.M), re.compile(r"missing argument", re.M)),
        busy=(re.compile(r"configuration database (locked|modified)"),),
    ),
}
