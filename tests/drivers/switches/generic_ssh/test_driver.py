"""generic-ssh against the lab's SSH switch: the exact lines typed, refusals, options."""

from __future__ import annotations

import pytest

from barecloud.drivers.switches import Segment, build
from barecloud.drivers.switches.generic_ssh.driver import GenericSshSwitch
from barecloud.errors import InvalidParameter, PermanentDriverError
from barecloud.lab.ssh_switch import IOS_INVALID, JUNOS_SYNTAX, SshSwitch
from tests.drivers.switches.generic_ssh.helpers import (
    HEX,
    LOGIN,
    NET,
    PASSWORD,
    PORTS,
    VLAN100,
    driver,
    expected_bind,
    expected_unbind,
)


async def test_bind_types_the_vendor_lines_and_saves(switch: SshSwitch) -> None:
    vendor = switch.state.device_type
    port = PORTS[vendor][0]
    await driver(switch).bind(port, VLAN100)
    assert switch.state.commands == expected_bind(vendor, port, 100)
    assert switch.state.access_vlan(port) == 100
    assert switch.state.vlans[100] == HEX
    assert switch.state.startup is not None and switch.state.startup.interfaces[port].vlan == 100


async def test_unbind_takes_the_port_off_and_shuts_it(switch: SshSwitch) -> None:
    vendor = switch.state.device_type
    port = PORTS[vendor][0]
    d = driver(switch)
    await d.bind(port, VLAN100)
    switch.state.commands.clear()
    await d.unbind(port)
    assert switch.state.commands == expected_unbind(vendor, port)
    assert switch.state.access_vlan(port) is None
    assert switch.state.interfaces[port].vlan is None


async def test_rebinding_moves_the_port_to_the_other_vlan(switch: SshSwitch) -> None:
    port = PORTS[switch.state.device_type][0]
    d = driver(switch)
    await d.bind(port, VLAN100)
    await d.bind(port, Segment("vlan", 101, ""))
    assert switch.state.access_vlan(port) == 101
    assert switch.state.vlans[101] == "vl101"  # no network id: the segment's key


async def test_unbind_to_default_vlan(switch: SshSwitch) -> None:
    vendor = switch.state.device_type
    port = PORTS[vendor][1]
    d = driver(switch, default_vlan=999)
    await d.bind(port, VLAN100)
    switch.state.commands.clear()
    await d.unbind(port)
    lines = expected_bind(vendor, port, 999)
    # Like bind, without creating the VLAN: the default VLAN is the operator's.
    created = 1 if vendor == "juniper_junos" else 3
    start = len(LOGIN[vendor]) + 1
    assert switch.state.commands == lines[:start] + lines[start + created:]
    assert switch.state.access_vlan(port) == 999


async def test_refused_line_fails_bind_with_the_switch_message(switch: SshSwitch) -> None:
    vendor = switch.state.device_type
    port = PORTS[vendor][0]
    refused = (f"set interfaces {port} unit 0 family ethernet-switching vlan members 100"
               if vendor == "juniper_junos" else "switchport access vlan 100")
    switch.state.refuse(refused)
    with pytest.raises(PermanentDriverError) as err:
        await driver(switch).bind(port, VLAN100)
    message = err.value.message
    assert "tor1" in message and f"`{refused}`" in message
    vendor_text = {"cisco_ios": IOS_INVALID, "arista_eos": "% Invalid input",
                   "juniper_junos": JUNOS_SYNTAX}[vendor]
    assert vendor_text in message
    assert PASSWORD not in message and PASSWORD not in str(err.value)
    # Nothing after the refused line was typed: no save, no commit.
    assert switch.state.commands[-1] == refused
    assert switch.state.startup is None
    if vendor == "juniper_junos":  # the private candidate was dropped, not committed
        assert 100 not in switch.state.vlans


async def test_refused_commit_fails_bind(switch: SshSwitch) -> None:
    if switch.state.device_type != "juniper_junos":
        switch.state.refuse("write memory", "% Error: NVRAM is full")
        switch.state.refuse("copy running-config startup-config", "% Error: flash full")
    else:
        switch.state.refuse("commit")
    with pytest.raises(PermanentDriverError, match=r"Error|error: configuration check-out"):
        await driver(switch).bind(PORTS[switch.state.device_type][0], VLAN100)


async def test_vxlan_segment_is_refused_before_logging_in(switch: SshSwitch) -> None:
    with pytest.raises(PermanentDriverError, match="supports vlan segments only"):
        await driver(switch).bind(PORTS[switch.state.device_type][0], Segment("vxlan", 5001))
    assert switch.state.logins == 0


async def test_flat_needs_flat_vlan(switch: SshSwitch) -> None:
    vendor = switch.state.device_type
    port = PORTS[vendor][0]
    flat = Segment("flat", None, NET)
    with pytest.raises(PermanentDriverError, match="flat_vlan"):
        await driver(switch).bind(port, flat)
    await driver(switch, flat_vlan=50).bind(port, flat)
    assert switch.state.access_vlan(port) == 50
    assert not any(line.startswith(("vlan ", "set vlans")) for line in switch.state.commands)


@pytest.mark.parametrize("switch", ["cisco_ios", "arista_eos"], indirect=True)
async def test_bindings_read_from_show_interfaces_status(switch: SshSwitch) -> None:
    vendor = switch.state.device_type
    p1, p2 = PORTS[vendor]
    d = driver(switch, ports=list(PORTS[vendor]))
    await d.bind(p1, VLAN100)
    assert await d.bindings() == {p1: VLAN100, p2: None}
    # Changed behind the driver's back: the switch is what counts.
    switch.state.interfaces[p2].vlan = 120
    switch.state.interfaces[p1].shutdown = True
    assert await d.bindings() == {p1: None, p2: Segment("vlan", 120)}
    assert "show interfaces status" in switch.state.commands


@pytest.mark.parametrize("switch", ["juniper_junos"], indirect=True)
async def test_junos_bindings_are_what_was_configured(switch: SshSwitch) -> None:
    p1, p2 = PORTS["juniper_junos"]
    d = driver(switch, ports=[p1, p2])
    await d.bind(p1, VLAN100)
    assert await d.bindings() == {p1: VLAN100, p2: None}
    assert await d.counters() == {}


@pytest.mark.parametrize("switch", ["cisco_ios"], indirect=True)
async def test_port_outside_ports_option_is_refused(switch: SshSwitch) -> None:
    with pytest.raises(PermanentDriverError, match="not one of its ports"):
        await driver(switch, ports=["GigabitEthernet1/0/1"]).bind("GigabitEthernet1/0/9",
                                                                 VLAN100)
    assert switch.state.logins == 0


def test_options_are_checked() -> None:
    base = {"driver": "generic-ssh", "address": "192.0.2.1", "username": "admin",
            "password": PASSWORD}
    with pytest.raises(InvalidParameter, match="device_type must be one of"):
        build("s", {**base, "device_type": "hp_procurve"})
    with pytest.raises(InvalidParameter, match="password or a key_file"):
        build("s", {**base, "device_type": "cisco_ios", "password": ""})
    with pytest.raises(InvalidParameter, match="default_vlan must be 1-4094"):
        build("s", {**base, "device_type": "cisco_ios", "default_vlan": 5000})
    d = build("s", {**base, "device_type": "cisco_ios"})
    assert PASSWORD not in repr(d) and PASSWORD not in repr(vars(d).get("_lock"))
    assert isinstance(d, GenericSshSwitch) and PASSWORD not in repr(d.cli)
