"""What generic-ssh types on the lab's SSH switch, and a driver for it."""

from __future__ import annotations

from typing import Any

from barecloud.drivers.switches import Segment, build
from barecloud.drivers.switches.generic_ssh.driver import GenericSshSwitch
from barecloud.lab.ssh_switch import SshSwitch

PASSWORD = "pw-9f3c1b-secret"
NET = "5b9e3f55-0d5c-4a4e-9a61-1a2b3c4d5e6f"
HEX = "5b9e3f550d5c4a4e9a611a2b3c4d5e6f"
VENDORS = ("cisco_ios", "arista_eos", "juniper_junos")
PORTS = {
    "cisco_ios": ("GigabitEthernet1/0/1", "GigabitEthernet1/0/2"),
    "arista_eos": ("Ethernet1", "Ethernet2"),
    "juniper_junos": ("ge-0/0/1", "ge-0/0/2"),
}
LOGIN = {
    "cisco_ios": ["enable", "terminal length 0"],
    "arista_eos": ["enable", "terminal length 0"],
    "juniper_junos": ["set cli screen-length 0"],
}
SAVE = {
    "cisco_ios": ["end", "write memory", "exit"],
    "arista_eos": ["end", "copy running-config startup-config", "exit"],
    "juniper_junos": ["commit", "exit configuration-mode", "exit"],
}
CONFIG = {"cisco_ios": "configure terminal", "arista_eos": "configure terminal",
          "juniper_junos": "configure private"}


def expected_bind(vendor: str, port: str, vlan: int, name: str = HEX) -> list[str]:
    if vendor == "juniper_junos":
        lines = [f"set vlans {name} vlan-id {vlan}",
                 f"delete interfaces {port} unit 0 family ethernet-switching vlan members",
                 f"set interfaces {port} unit 0 family ethernet-switching vlan members {vlan}",
                 f"delete interfaces {port} disable"]
    else:
        lines = [f"vlan {vlan}", f"name {name}", "exit", f"interface {port}",
                 "switchport mode access", f"switchport access vlan {vlan}", "no shutdown",
                 "exit"]
    return [*LOGIN[vendor], CONFIG[vendor], *lines, *SAVE[vendor]]


def expected_unbind(vendor: str, port: str) -> list[str]:
    if vendor == "juniper_junos":
        lines = [f"delete interfaces {port} unit 0 family ethernet-switching vlan members",
                 f"set interfaces {port} disable"]
    else:
        lines = [f"interface {port}", "no switchport access vlan", "shutdown", "exit"]
    return [*LOGIN[vendor], CONFIG[vendor], *lines, *SAVE[vendor]]


def driver(sw: SshSwitch, **extra: Any) -> GenericSshSwitch:
    options = {"driver": "generic-ssh", "device_type": sw.state.device_type,
               "address": "127.0.0.1", "port": sw.port, "username": "admin",
               "password": PASSWORD, "timeout": 5, **extra}
    d = build("tor1", options)
    assert isinstance(d, GenericSshSwitch)
    return d


VLAN100 = Segment("vlan", 100, NET)
