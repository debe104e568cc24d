"""generic-ssh batches: moves queued behind a session share the next one."""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import AsyncIterator

import pytest

from barecloud.drivers.switches import Segment, build
from barecloud.errors import InvalidParameter, PermanentDriverError, RetryableDriverError
from barecloud.lab.ssh_switch import IOS_INVALID, JUNOS_SYNTAX, SshSwitch
from tests.drivers.switches.generic_ssh.helpers import (
    CONFIG,
    LOGIN,
    PASSWORD,
    SAVE,
    VENDORS,
    driver,
    expected_bind,
    expected_unbind,
)


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
