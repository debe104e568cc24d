"""generic-ssh's port filter against the lab's SSH switch (real SSH): the lines typed in
one session per pass, the ACLs each interface ends up with, and only what changed."""

from __future__ import annotations

import pytest

from barecloud.drivers.switches.base import can_filter
from barecloud.drivers.switches.generic_ssh import acls
from barecloud.errors import InvalidParameter, PermanentDriverError
from barecloud.hostagent.firewall import PortRules, Rule
from barecloud.lab.ssh_switch import SshSwitch
from tests.drivers.switches.generic_ssh.helpers import CONFIG, LOGIN, PORTS, SAVE, driver

SSH = PortRules("52:54:00:00:00:0a", ("10.0.0.5/24",), (
    Rule("ingress", "IPv4", "tcp", 22, 22, ("192.0.2.0/24",)),
    Rule("egress", "IPv4"), Rule("egress", "IPv6")))
WEB = PortRules("52:54:00:00:00:0b", ("10.0.0.6/24",), (
    Rule("ingress", "IPv4", "tcp", 443, 443),))


def _session(vendor: str, lines: list[str]) -> list[str]:
    return [*LOGIN[vendor], CONFIG[vendor], *lines, *SAVE[vendor]]


def _inbound(sw: SshSwitch, port: str) -> list[str]:
    vendor = sw.state.device_type
    return sw.state.port_acls(port)["input" if vendor == "juniper_junos" else "ip in"]


def _outbound(sw: SshSwitch, port: str) -> list[str]:
    vendor = sw.state.device_type
    return sw.state.port_acls(port)["output" if vendor == "juniper_junos" else "ip out"]


async def test_a_pass_writes_the_ports_acls_in_one_session(switch: SshSwitch) -> None:
    vendor = switch.state.device_type
    a, b = PORTS[vendor]
    await driver(switch).filter_ports({a: SSH, b: WEB})
    assert switch.state.logins == 1
    assert switch.state.commands == _session(vendor, [
        *acls.filter_lines(vendor, a, SSH, ("in", "out")),
        *acls.filter_lines(vendor, b, WEB, ("in", "out"))])
    if vendor == "juniper_junos":
        assert "t7 from ip-source-address 192.0.2.0/24 ip-protocol tcp destination-port 22" \
            in _outbound(switch, a)
        assert _outbound(switch, a)[-1] == "deny then discard"
        assert set(switch.state.port_acls(a)) == {"input", "output"}
    else:
        ssh = ("permit tcp 192.0.2.0 0.0.0.255 any eq 22" if vendor == "cisco_ios"
               else "permit tcp 192.0.2.0/24 any eq 22")
        assert ssh in _outbound(switch, a)
        assert _outbound(switch, a)[-1] == "deny ip any any"
        assert "permit ip host 10.0.0.5 any" in _inbound(switch, a)  # its own source only
        assert set(switch.state.port_acls(a)) == {"ip in", "ip out", "ipv6 in", "ipv6 out"}
    assert any("443" in line for line in _outbound(switch, b))
    assert not any("443" in line for line in _outbound(switch, a))
    assert switch.state.startup is not None and switch.state.startup.acls  # saved


async def test_only_what_changed_is_typed(switch: SshSwitch) -> None:
    vendor = switch.state.device_type
    a, b = PORTS[vendor]
    d = driver(switch)
    await d.filter_ports({a: SSH, b: WEB})
    await d.filter_ports({a: SSH, b: WEB})
    assert switch.state.logins == 1  # nothing changed: no session

    before = len(switch.state.commands)
    await d.filter_ports({a: WEB})
    assert switch.state.commands[before:] == _session(vendor, [
        *acls.unfilter_lines(vendor, b, ("in", "out")),
        *acls.filter_lines(vendor, a, WEB, ("in", "out"))])
    assert switch.state.port_acls(b) == {}
    assert not any(acls.acl_name(b, "in") in name or acls.acl_name(b, "out") in name
                   for name in switch.state.acls)
    assert any("443" in line for line in _outbound(switch, a))

    await d.filter_ports({})
    assert switch.state.port_acls(a) == {} and switch.state.acls == {}


async def test_first_pass_clears_the_other_configured_ports(switch: SshSwitch) -> None:
    vendor = switch.state.device_type
    a, b = PORTS[vendor]
    await driver(switch, ports=[a, b]).filter_ports({a: SSH})
    assert switch.state.commands == _session(vendor, [
        *acls.unfilter_lines(vendor, b, ("in", "out")),
        *acls.filter_lines(vendor, a, SSH, ("in", "out"))])


async def test_a_refused_port_fails_alone_and_is_retried(switch: SshSwitch) -> None:
    vendor = switch.state.device_type
    a, b = PORTS[vendor]
    refused = acls.filter_lines(vendor, b, WEB, ("in", "out"))[-2]
    switch.state.refuse(refused)
    d = driver(switch)
    with pytest.raises(PermanentDriverError) as err:
        await d.filter_ports({a: SSH, b: WEB})
    assert f"port ACLs not set on {b}" in err.value.message and "tor1" in err.value.message
    assert a not in err.value.message.split("not set on", 1)[1]
    assert set(switch.state.port_acls(a))  # the other port is filtered, and saved
    assert switch.state.startup is not None
    if vendor == "juniper_junos":
        assert "rollback 0" in switch.state.commands
        assert switch.state.port_acls(b) == {}  # nothing of it committed
    switch.state.refusals.clear()
    before = len(switch.state.commands)
    await d.filter_ports({a: SSH, b: WEB})
    assert switch.state.commands[before:] == _session(vendor, acls.filter_lines(
        vendor, b, WEB, ("in", "out")))
    assert any("443" in line for line in _outbound(switch, b))


async def test_inbound_only_models(switch: SshSwitch) -> None:
    vendor = switch.state.device_type
    a = PORTS[vendor][0]
    await driver(switch, port_acls="in").filter_ports({a: SSH})
    assert set(switch.state.port_acls(a)) == (
        {"input"} if vendor == "juniper_junos" else {"ip in", "ipv6 in"})
    # The ingress rule holds through the answers the machine may send.
    assert any("22" in line and ("established" in line or "tcp-established" in line)
               for line in _inbound(switch, a))


async def test_a_model_without_port_acls_cannot_filter(switch: SshSwitch) -> None:
    a = PORTS[switch.state.device_type][0]
    d = driver(switch, port_acls="none")
    assert not can_filter(d)
    with pytest.raises(PermanentDriverError, match="port_acls = none"):
        await d.filter_ports({a: SSH})
    await d.filter_ports({})
    assert switch.state.logins == 0
    assert can_filter(driver(switch))
    with pytest.raises(InvalidParameter, match="port_acls must be one of both, in, none"):
        driver(switch, port_acls="egress")
