"""The lab SSH switch's port ACLs, typed as a person would: kept per dialect, and
malformed entries refused with the vendor's words (nothing of them kept)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from barecloud.lab.ssh_switch import EOS_INVALID, IOS_INVALID, SshSwitch
from tests.lab.test_ssh_switch import PASSWORD, login

Make = Callable[[str, str], Awaitable[SshSwitch]]


@pytest.fixture
async def make() -> AsyncIterator[Make]:
    started: list[SshSwitch] = []

    async def start(device_type: str, port: str) -> SshSwitch:
        sw = SshSwitch(device_type, "admin", PASSWORD, ports=[port])
        await sw.start()
        started.append(sw)
        return sw

    yield start
    for sw in started:
        await sw.close()


async def test_ios_extended_acls_on_a_port(make: Make) -> None:
    sw = await make("cisco_ios", "GigabitEthernet1/0/1")
    t = await login(sw)
    try:
        await t.cmd("enable")
        await t.cmd("configure terminal")
        assert (await t.cmd("ip access-list extended web-in")).endswith(
            "switch(config-ext-nacl)#")
        for line in ("permit tcp host 10.0.0.5 eq 22 10.1.0.0 0.0.255.255 established",
                     "permit udp any eq 68 any eq 67", "permit icmp any any 8 0",
                     "permit 47 any any", "deny ip any any"):
            assert IOS_INVALID not in await t.cmd(line), line
        # IOS wants a wildcard mask, not a prefix length, in IPv4 lists.
        for bad in ("permit tcp 10.1.0.0/16 any", "permit udp any established",
                    "permit tcp any any eq 70000", "permit bogus any any"):
            assert IOS_INVALID in await t.cmd(bad), bad
        await t.cmd("exit")
        assert IOS_INVALID in await t.cmd("ip access-list web-v4")  # extended|standard
        assert (await t.cmd("ipv6 access-list web6-in")).endswith("switch(config-ipv6-acl)#")
        assert IOS_INVALID not in await t.cmd("permit tcp 2001:db8::/64 any eq 443")
        await t.cmd("interface GigabitEthernet1/0/1")
        await t.cmd("ip access-group web-in in")
        await t.cmd("ipv6 traffic-filter web6-in out")
        assert IOS_INVALID in await t.cmd("ipv6 access-group web6-in out")  # EOS words
        await t.cmd("end")
    finally:
        t.conn.close()
    assert sw.state.port_acls("GigabitEthernet1/0/1") == {
        "ip in": ["permit tcp host 10.0.0.5 eq 22 10.1.0.0 0.0.255.255 established",
                  "permit udp any eq 68 any eq 67", "permit icmp any any 8 0",
                  "permit 47 any any", "deny ip any any"],
        "ipv6 out": ["permit tcp 2001:db8::/64 any eq 443"]}


async def test_ios_acl_removed_and_taken_off(make: Make) -> None:
    sw = await make("cisco_ios", "Gi1")
    t = await login(sw)
    try:
        for line in ("enable", "configure terminal", "ip access-list extended a",
                     "permit ip any any", "exit", "interface Gi1", "ip access-group a in",
                     "exit"):
            await t.cmd(line)
        assert sw.state.port_acls("Gi1") == {"ip in": ["permit ip any any"]}
        for line in ("interface Gi1", "no ip access-group a in", "exit",
                     "no ip access-list extended a", "no ip access-list extended absent"):
            assert IOS_INVALID not in await t.cmd(line), line
    finally:
        t.conn.close()
    assert sw.state.port_acls("Gi1") == {} and sw.state.acls == {}


async def test_eos_acls_take_prefixes(make: Make) -> None:
    sw = await make("arista_eos", "Ethernet1")
    t = await login(sw)
    try:
        await t.cmd("enable")
        await t.cmd("configure terminal")
        assert (await t.cmd("ip access-list web")).endswith("switch(config-acl-web)#")
        assert EOS_INVALID not in await t.cmd("permit tcp 10.1.0.0/16 any eq 22")
        assert EOS_INVALID in await t.cmd("permit tcp 10.1.0.0 0.0.255.255 any eq 22")
        await t.cmd("ipv6 access-list web6")
        assert EOS_INVALID not in await t.cmd("permit icmpv6 any any 128")
        assert EOS_INVALID in await t.cmd("permit icmp any any 128")  # EOS: icmpv6
        await t.cmd("interface Ethernet1")
        await t.cmd("ip access-group web out")
        await t.cmd("ipv6 access-group web6 in")
        assert EOS_INVALID in await t.cmd("ipv6 traffic-filter web6 in")
    finally:
        t.conn.close()
    assert sw.state.port_acls("Ethernet1") == {
        "ip out": ["permit tcp 10.1.0.0/16 any eq 22"],
        "ipv6 in": ["permit icmpv6 any any 128"]}


async def test_junos_filters_commit_only_when_defined(make: Make) -> None:
    sw = await make("juniper_junos", "ge-0/0/1")
    t = await login(sw)
    base = "set firewall family ethernet-switching filter f1"
    try:
        await t.cmd("configure private")
        await t.cmd("set interfaces ge-0/0/1 unit 0 family ethernet-switching filter input f1")
        out = await t.cmd("commit")
        assert "error: filter f1 is not defined" in out
        assert "configuration check-out failed" in out
        assert sw.state.port_acls("ge-0/0/1") == {}
        for line in (f"{base} term t1 from ip-source-address 10.0.0.5/32 ip-protocol tcp "
                     "source-port 22 tcp-established", f"{base} term t1 then accept",
                     f"{base} term deny then discard"):
            assert "syntax error" not in await t.cmd(line), line
        for bad in (f"{base} term t2 from ip-protocol tcp source-port 99999",
                    f"{base} term t2 from ip-source-address 2001:db8::1/128",
                    f"{base} term t2 then reject-all"):
            assert "syntax error" in await t.cmd(bad), bad
        assert "commit complete" in await t.cmd("commit")
        assert "warning: statement not found" in await t.cmd(
            "delete firewall family ethernet-switching filter absent")
    finally:
        t.conn.close()
    assert sw.state.port_acls("ge-0/0/1") == {"input": [
        "t1 from ip-source-address 10.0.0.5/32 ip-protocol tcp source-port 22 tcp-established",
        "t1 then accept", "deny then discard"]}
