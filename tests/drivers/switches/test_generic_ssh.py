"""generic-ssh against the lab's SSH switch: the exact lines typed, refusals, credentials."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from barecloud.drivers.switches import Segment, build
from barecloud.drivers.switches.generic_ssh import GenericSshSwitch
from barecloud.errors import InvalidParameter, PermanentDriverError, RetryableDriverError
from barecloud.lab.ssh_switch import IOS_INVALID, JUNOS_SYNTAX, SshSwitch

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


@pytest.fixture(params=VENDORS)
async def switch(request: pytest.FixtureRequest) -> AsyncIterator[SshSwitch]:
    sw = SshSwitch(request.param, "admin", PASSWORD, ports=PORTS[request.param])
    await sw.start("127.0.0.1", 0)
    try:
        yield sw
    finally:
        await sw.close()


def driver(sw: SshSwitch, **extra: Any) -> GenericSshSwitch:
    options = {"driver": "generic-ssh", "device_type": sw.state.device_type,
               "address": "127.0.0.1", "port": sw.port, "username": "admin",
               "password": PASSWORD, "timeout": 5, **extra}
    d = build("tor1", options)
    assert isinstance(d, GenericSshSwitch)
    return d


VLAN100 = Segment("vlan", 100, NET)


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


async def test_wrong_password_is_a_clear_permanent_error(switch: SshSwitch) -> None:
    wrong = "not-the-password-77"
    with pytest.raises(PermanentDriverError) as err:
        await driver(switch, password=wrong).bind(PORTS[switch.state.device_type][0], VLAN100)
    assert "authentication as 'admin' refused" in err.value.message
    assert wrong not in err.value.message and PASSWORD not in err.value.message
    assert switch.state.failed_logins >= 1 and switch.state.commands == []


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


async def test_enable_secret_is_typed_but_never_recorded() -> None:
    sw = SshSwitch("cisco_ios", "admin", PASSWORD, enable_secret="en-4a7b-secret")
    await sw.start()
    try:
        await driver(sw, enable_secret="en-4a7b-secret").bind("Gi1", VLAN100)
        assert sw.state.access_vlan("Gi1") == 100
        assert "en-4a7b-secret" not in sw.state.commands
        with pytest.raises(PermanentDriverError, match="`enable` refused") as err:
            await driver(sw, enable_secret="wrong-enable-55").bind("Gi1", VLAN100)
        assert "wrong-enable-55" not in err.value.message
    finally:
        await sw.close()


async def test_key_file_login(tmp_path: Path) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    key_file = tmp_path / "id_ed25519"
    key.write_private_key(str(key_file))
    sw = SshSwitch("arista_eos", "admin", PASSWORD, authorized_keys=[key])
    await sw.start()
    try:
        d = build("tor2", {"driver": "generic-ssh", "device_type": "arista_eos",
                           "address": "127.0.0.1", "port": sw.port, "username": "admin",
                           "key_file": str(key_file), "timeout": 5})
        await d.bind("Ethernet3", VLAN100)
        assert sw.state.access_vlan("Ethernet3") == 100
    finally:
        await sw.close()


async def test_unreachable_switch_is_retryable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = build("tor3", {"driver": "generic-ssh", "device_type": "cisco_ios",
                       "address": "127.0.0.1", "port": port, "username": "admin",
                       "password": PASSWORD, "timeout": 2})
    with pytest.raises(RetryableDriverError, match="cannot connect") as err:
        await d.unbind("Gi1")
    assert PASSWORD not in err.value.message


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


# --- batches: moves queued behind a session share the next one ----------------------------


def many_ports(vendor: str, n: int) -> list[str]:
    return [{"cisco_ios": f"GigabitEthernet1/0/{i}", "arista_eos": f"Ethernet{i}",
             "juniper_junos": f"ge-0/0/{i}"}[vendor] for i in range(1, n + 1)]


def vlan(i: int) -> Segment:
    return Segment("vlan", 100 + i)  # no network id: the VLAN is named vl<id>


def move_lines(vendor: str, port: str, vid: int | None) -> list[str]:
    """A bind's (or, for None, an unbind's) lines between entering config mode and saving."""
    full = (expected_bind(vendor, port, vid, f"vl{vid}") if vid is not None
            else expected_unbind(vendor, port))
    return full[len(LOGIN[vendor]) + 1: -len(SAVE[vendor])]


def session_of(vendor: str, *moves: list[str]) -> list[str]:
    return [*LOGIN[vendor], CONFIG[vendor], *(line for m in moves for line in m),
            *SAVE[vendor]]


async def logged_in(sw: SshSwitch) -> None:
    """Return once a session has logged in to ``sw`` (within 5 s)."""
    for _ in range(5000):
        if sw.state.logins:
            return
        await asyncio.sleep(0.001)
    raise AssertionError("no log-in within 5 s")


@pytest.fixture(params=VENDORS)
async def rack(request: pytest.FixtureRequest) -> AsyncIterator[SshSwitch]:
    """A switch with 8 ports."""
    sw = SshSwitch(request.param, "admin", PASSWORD, ports=many_ports(request.param, 8))
    await sw.start("127.0.0.1", 0)
    try:
        yield sw
    finally:
        await sw.close()


async def test_concurrent_binds_share_one_session(rack: SshSwitch) -> None:
    vendor = rack.state.device_type
    ports = many_ports(vendor, 8)
    d = driver(rack)
    await asyncio.gather(*(d.bind(p, vlan(i % 4)) for i, p in enumerate(ports)))
    assert rack.state.logins == 1
    # Config mode entered once and left once, one save, the moves in arrival order.
    assert rack.state.commands == session_of(
        vendor, *(move_lines(vendor, p, 100 + i % 4) for i, p in enumerate(ports)))
    startup = rack.state.startup
    assert startup is not None
    for i, p in enumerate(ports):
        assert rack.state.access_vlan(p) == 100 + i % 4
        assert startup.interfaces[p].vlan == 100 + i % 4

    rack.state.commands.clear()
    await asyncio.gather(*(d.unbind(p) for p in ports))
    assert rack.state.logins == 2
    assert rack.state.commands == session_of(vendor, *(move_lines(vendor, p, None)
                                                       for p in ports))
    assert all(rack.state.access_vlan(p) is None for p in ports)
    assert rack.state.startup is not None
    assert all(rack.state.startup.interfaces[p].vlan is None for p in ports)


async def test_moves_queued_during_a_session_share_the_next(rack: SshSwitch) -> None:
    vendor = rack.state.device_type
    first, *rest = many_ports(vendor, 6)
    d = driver(rack)
    running = asyncio.create_task(d.bind(first, vlan(0)))
    await logged_in(rack)  # the first session is under way
    await asyncio.gather(*(d.bind(p, vlan(1)) for p in rest))
    await running
    assert rack.state.logins == 2
    second = rack.state.commands[len(session_of(vendor, move_lines(vendor, first, 100))):]
    assert second == session_of(vendor, *(move_lines(vendor, p, 101) for p in rest))
    assert all(rack.state.access_vlan(p) == 101 for p in rest)


@pytest.mark.parametrize("rack", ["cisco_ios", "juniper_junos"], indirect=True)
async def test_max_batch_bounds_a_session(rack: SshSwitch) -> None:
    ports = many_ports(rack.state.device_type, 8)
    d = driver(rack, max_batch=3)
    await asyncio.gather(*(d.bind(p, vlan(0)) for p in ports))
    assert rack.state.logins == 3  # 3 + 3 + 2
    assert rack.state.commands.count(CONFIG[rack.state.device_type]) == 3
    assert all(rack.state.access_vlan(p) == 100 for p in ports)
    with pytest.raises(InvalidParameter, match="max_batch must be at least 1"):
        driver(rack, max_batch=0)


async def test_one_port_twice_in_a_batch_the_last_wins(rack: SshSwitch) -> None:
    vendor = rack.state.device_type
    p1, p2 = many_ports(vendor, 2)
    d = driver(rack, ports=[p1, p2])
    await asyncio.gather(d.bind(p1, vlan(0)), d.bind(p1, vlan(1)),
                         d.bind(p2, vlan(0)), d.unbind(p2))
    assert rack.state.logins == 1
    assert rack.state.commands == session_of(
        vendor, move_lines(vendor, p1, 100), move_lines(vendor, p1, 101),
        move_lines(vendor, p2, 100), move_lines(vendor, p2, None))
    assert rack.state.access_vlan(p1) == 101 and rack.state.access_vlan(p2) is None
    assert rack.state.startup is not None and rack.state.startup.interfaces[p1].vlan == 101
    assert await d.bindings() == {p1: vlan(1), p2: None}


@pytest.mark.parametrize("rack", ["cisco_ios", "arista_eos"], indirect=True)
async def test_refused_line_fails_only_its_move_on_ios_and_eos(rack: SshSwitch) -> None:
    vendor = rack.state.device_type
    ports = many_ports(vendor, 4)
    rack.state.refuse("switchport access vlan 102")
    d = driver(rack)
    results = await asyncio.gather(*(d.bind(p, vlan(i)) for i, p in enumerate(ports)),
                                   return_exceptions=True)
    ok = [r for i, r in enumerate(results) if i != 2]
    assert ok == [None, None, None]
    err = results[2]
    assert isinstance(err, PermanentDriverError)
    # The same words as a single call's refusal: the switch's, no secret.
    assert "tor1" in err.message and "refused `switchport access vlan 102`" in err.message
    assert {"cisco_ios": IOS_INVALID, "arista_eos": "% Invalid input"}[vendor] in err.message
    assert PASSWORD not in err.message
    assert rack.state.logins == 1
    # The refused move's lines after the refusal were not typed; the next move
    # started with its own global command, and the batch was saved once.
    refused_move = move_lines(vendor, ports[2], 102)
    cut = refused_move.index("switchport access vlan 102") + 1
    assert rack.state.commands == session_of(
        vendor, move_lines(vendor, ports[0], 100), move_lines(vendor, ports[1], 101),
        refused_move[:cut], move_lines(vendor, ports[3], 103))
    startup = rack.state.startup
    assert startup is not None
    for i in (0, 1, 3):
        assert rack.state.access_vlan(ports[i]) == 100 + i
        assert startup.interfaces[ports[i]].vlan == 100 + i
    assert startup.interfaces[ports[2]].vlan is None


@pytest.mark.parametrize("rack", ["juniper_junos"], indirect=True)
async def test_refused_line_on_junos_commits_the_batch_without_its_move(
    rack: SshSwitch,
) -> None:
    ports = many_ports("juniper_junos", 4)
    refused = f"set interfaces {ports[2]} unit 0 family ethernet-switching vlan members 102"
    rack.state.refuse(refused)
    d = driver(rack, ports=ports)
    results = await asyncio.gather(*(d.bind(p, vlan(i)) for i, p in enumerate(ports)),
                                   return_exceptions=True)
    assert [r for i, r in enumerate(results) if i != 2] == [None, None, None]
    err = results[2]
    assert isinstance(err, PermanentDriverError)
    assert f"refused `{refused}`" in err.message and JUNOS_SYNTAX in err.message
    assert PASSWORD not in err.message
    assert rack.state.logins == 1
    # One session: the first pass up to the refusal, `rollback 0`, the batch
    # again without the refused move, one commit.
    moves = [move_lines("juniper_junos", p, 100 + i) for i, p in enumerate(ports)]
    first_pass = [*moves[0], *moves[1], *moves[2][: moves[2].index(refused) + 1], *moves[3]]
    assert rack.state.commands == [
        *LOGIN["juniper_junos"], CONFIG["juniper_junos"], *first_pass, "rollback 0",
        *moves[0], *moves[1], *moves[3], *SAVE["juniper_junos"]]
    startup = rack.state.startup
    assert startup is not None
    for i in (0, 1, 3):
        assert rack.state.access_vlan(ports[i]) == 100 + i
        assert startup.interfaces[ports[i]].vlan == 100 + i
    # Nothing of the refused move was committed, not even its VLAN.
    assert startup.interfaces[ports[2]].vlan is None and 102 not in startup.vlans
    assert await d.bindings() == {ports[0]: vlan(0), ports[1]: vlan(1), ports[2]: None,
                                  ports[3]: vlan(3)}


async def test_batch_of_refused_moves_saves_nothing(rack: SshSwitch) -> None:
    vendor = rack.state.device_type
    p1, p2 = many_ports(vendor, 2)
    for p, vid in ((p1, 100), (p2, 101)):
        rack.state.refuse(move_lines(vendor, p, vid)[-2])
    d = driver(rack)
    results = await asyncio.gather(d.bind(p1, vlan(0)), d.bind(p2, vlan(1)),
                                   return_exceptions=True)
    assert all(isinstance(r, PermanentDriverError) for r in results)
    assert rack.state.logins == 1 and rack.state.startup is None
    assert not any(line in rack.state.commands for line in SAVE[vendor][:2])


async def test_failed_save_fails_every_move_of_the_batch(rack: SshSwitch) -> None:
    vendor = rack.state.device_type
    save = SAVE[vendor][0] if vendor == "juniper_junos" else SAVE[vendor][1]
    rack.state.refuse(save, None if vendor == "juniper_junos" else "% Error: flash full")
    d = driver(rack)
    results = await asyncio.gather(*(d.bind(p, vlan(0)) for p in many_ports(vendor, 3)),
                                   return_exceptions=True)
    assert rack.state.logins == 1
    assert len({id(r) for r in results}) == 3  # each caller its own exception
    for r in results:
        assert isinstance(r, PermanentDriverError)
        assert f"refused `{save}`" in r.message
        assert re.search(r"% Error: flash full|error: configuration check-out", r.message)


async def test_login_failure_fails_every_queued_move(rack: SshSwitch) -> None:
    vendor = rack.state.device_type
    d = driver(rack, password="not-the-password-77")
    results = await asyncio.gather(*(d.bind(p, vlan(0)) for p in many_ports(vendor, 5)),
                                   return_exceptions=True)
    for r in results:
        assert isinstance(r, PermanentDriverError)
        assert "authentication as 'admin' refused" in r.message
        assert "not-the-password-77" not in r.message
    assert rack.state.failed_logins >= 1 and rack.state.logins == 0
    assert rack.state.commands == []


async def test_unreachable_switch_fails_every_queued_move_retryable() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    d = build("tor3", {"driver": "generic-ssh", "device_type": "juniper_junos",
                       "address": "127.0.0.1", "port": port, "username": "admin",
                       "password": PASSWORD, "timeout": 2})
    results = await asyncio.gather(*(d.unbind(f"ge-0/0/{i}") for i in range(4)),
                                   return_exceptions=True)
    for r in results:
        assert isinstance(r, RetryableDriverError), r
        assert "cannot connect" in r.message and PASSWORD not in r.message


@pytest.mark.parametrize("rack", ["cisco_ios"], indirect=True)
async def test_cancelled_caller_drops_its_queued_move(rack: SshSwitch) -> None:
    p1, p2, p3 = many_ports("cisco_ios", 3)
    d = driver(rack)
    first = asyncio.create_task(d.bind(p1, vlan(0)))
    await logged_in(rack)
    gone = asyncio.create_task(d.bind(p2, vlan(1)))
    kept = asyncio.create_task(d.bind(p3, vlan(2)))
    await asyncio.sleep(0)  # both queued behind the running session
    gone.cancel()
    await asyncio.gather(first, kept)
    assert gone.cancelled()
    assert rack.state.access_vlan(p2) == 1 and rack.state.access_vlan(p3) == 102
    assert f"interface {p2}" not in rack.state.commands


@pytest.mark.parametrize("rack", ["cisco_ios"], indirect=True)
async def test_close_fails_queued_moves_retryable(rack: SshSwitch) -> None:
    d = driver(rack)
    tasks = [asyncio.create_task(d.bind(p, vlan(0))) for p in many_ports("cisco_ios", 3)]
    await asyncio.sleep(0)  # queued; their session has not started
    await d.close()
    for r in await asyncio.gather(*tasks, return_exceptions=True):
        assert isinstance(r, RetryableDriverError) and "driver closed" in r.message
    # The driver still works after close(): a new worker serves the next move.
    await d.bind(many_ports("cisco_ios", 1)[0], vlan(3))
    assert rack.state.access_vlan(many_ports("cisco_ios", 1)[0]) == 103
