"""The switch registry (options checked, secrets masked, drivers cached) and the fake switch."""

from __future__ import annotations

import pytest

from barecloud.config import Settings
from barecloud.drivers.switches import PortCounters, Segment, registry, switch_driver
from barecloud.drivers.switches.fake import FakeSwitch
from barecloud.drivers.switches.generic_ssh.driver import GenericSshSwitch
from barecloud.drivers.switches.linux_bridge import LinuxBridgeSwitch
from barecloud.errors import InvalidParameter, PermanentDriverError

SSH = {"driver": "generic-ssh", "device_type": "cisco_ios", "address": "192.0.2.1",
       "username": "admin", "password": "hunter2-secret"}


def settings(**switches: dict[str, object]) -> Settings:
    return Settings(switches=switches)


async def test_drivers_are_built_by_name_and_cached() -> None:
    s = settings(tor=SSH, lab={"driver": "linux-bridge", "netns": "sw"},
                 f={"driver": "fake", "ports": "a,b"})
    tor = switch_driver("tor", s)
    assert isinstance(tor, GenericSshSwitch) and tor.port == 22 and tor.timeout == 30.0
    assert switch_driver("tor", s) is tor
    assert isinstance(switch_driver("lab", s), LinuxBridgeSwitch)
    fake = switch_driver("f", s)
    assert isinstance(fake, FakeSwitch) and fake.ports == ("a", "b")
    # Options changed: a new driver; the old one is closed by close_all.
    s.switches["f"] = {"driver": "fake", "ports": ["a"]}
    fake2 = switch_driver("f", s)
    assert fake2 is not fake and isinstance(fake2, FakeSwitch)
    await registry.close_all()
    assert fake.closed and fake2.closed
    assert switch_driver("tor", s) is not tor  # closed drivers are not handed out again


@pytest.mark.parametrize(("config", "error"), [
    ({"driver": "nope"}, "unknown driver 'nope'"),
    ({"netns": "x"}, "missing option driver"),
    ({"driver": "linux-bridge"}, "missing option\\(s\\) netns"),
    ({"driver": "linux-bridge", "netns": "x", "netnss": "y"}, "unknown option\\(s\\) netnss"),
    ({"driver": "linux-bridge", "netns": "x", "timeout": "soon"}, "timeout must be a number"),
    ({"driver": "linux-bridge", "netns": "x", "vxlan_local": "nowhere"}, "not an IP address"),
    ({**SSH, "port": "ssh"}, "port must be an integer"),
    ({**SSH, "password": ["not", "a", "string"], "port": 0}, "port must be 1-65535"),
])
async def test_bad_options_are_clear(config: dict[str, object], error: str) -> None:
    with pytest.raises(InvalidParameter, match=error) as err:
        switch_driver("s1", settings(s1=config))
    assert "'s1'" in err.value.message


async def test_unknown_switch_and_secrets_never_echoed() -> None:
    with pytest.raises(InvalidParameter, match=r"Unknown switch 'x' \(configured switches: a\)"):
        switch_driver("x", settings(a={"driver": "fake"}))
    with pytest.raises(InvalidParameter) as err:
        registry.build("s", {**SSH, "enable_secret": {"a": 1}, "timeout": "x"})
    assert "hunter2" not in err.value.message
    shown = registry.masked(SSH)
    assert shown["password"] == "******" and shown["address"] == "192.0.2.1"
    assert {s.name for s in registry.driver_options("generic-ssh") if s.secret} == {
        "password", "enable_secret"}


async def test_configured_switches_for_callers_without_settings() -> None:
    before = dict(registry._CONFIGURED)
    try:
        registry.configure(settings(f={"driver": "fake"}))
        registry.check_switch("f")
        with pytest.raises(InvalidParameter, match="Unknown switch 'g'"):
            registry.check_switch("g")
        assert isinstance(registry.switch("f"), FakeSwitch)
    finally:
        registry._CONFIGURED.clear()
        registry._CONFIGURED.update(before)


async def test_fake_switch() -> None:
    fake = registry.build("f", {"driver": "fake", "ports": ["p1", "p2"],
                                "refuse_ports": ["p2"]})
    assert isinstance(fake, FakeSwitch)
    seg = Segment("vxlan", 5001)
    await fake.bind("p1", seg)
    assert await fake.bindings() == {"p1": seg, "p2": None}
    with pytest.raises(PermanentDriverError, match="refused"):
        await fake.bind("p2", seg)
    with pytest.raises(PermanentDriverError, match="no port 'p9'"):
        await fake.unbind("p9")
    fake.set_counters("p1", PortCounters(rx_bytes=10, tx_bytes=20))
    assert (await fake.counters())["p1"].tx_bytes == 20
    await fake.unbind("p1")
    assert fake.calls == [("bind", "p1", "vx5001"), ("bind", "p2", "vx5001"),
                          ("unbind", "p9"), ("unbind", "p1")]
