"""The ``ipmi`` hardware type against IPMI 2.0 BMCs served in the test (barecloud.wire)."""

from __future__ import annotations

import asyncio
import logging
import socket
import time

import pytest

from barecloud import states
from barecloud.drivers import hardware, ipmi
from barecloud.drivers.ipmi import IpmitoolManagement, IpmitoolPower
from barecloud.errors import HardwareTimeout, InvalidParameter, PermanentDriverError
from barecloud.services.baremetal import drivers
from barecloud.wire.ipmi.commands import BootDevice, BootOptions
from barecloud.wire.ipmi.server import BmcServer
from tests.drivers.conftest import USERS, Machine, ipmi_info, view

POWER = IpmitoolPower()
MANAGEMENT = IpmitoolManagement()
PASSWORD = USERS["admin"]


def closed_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_power_changes_are_waited_for(bmcs: BmcServer) -> None:
    """Each change returns once the BMC reports it, not when the command is accepted."""
    machine = Machine(delay=0.15)
    bmc = await bmcs.add(machine, USERS)
    node = view("ipmi", ipmi_info(bmc.port))

    assert await POWER.get_power_state(node) == states.POWER_OFF
    started = time.monotonic()
    assert await POWER.set_power_state(node, states.POWER_ON, None) == states.POWER_ON
    assert time.monotonic() - started >= 0.15
    assert machine.power_state()
    assert await POWER.set_power_state(node, states.POWER_OFF, None) == states.POWER_OFF
    assert not machine.power_state()

    # reboot: "power on" when off, "power cycle" when on; a boot either way
    assert await POWER.set_power_state(node, states.REBOOT, None) == states.POWER_ON
    assert machine.actions[-1] == "on" and machine.boots == 2
    assert await POWER.set_power_state(node, states.REBOOT, None) == states.POWER_ON
    await asyncio.sleep(0.2)  # the cycle's effect lands after the delay
    assert machine.actions[-1] == "cycle" and machine.boots == 3

    # soft power off is an ACPI request; soft reboot is that, waited for, then on
    assert await POWER.set_power_state(node, states.SOFT_REBOOT, None) == states.POWER_ON
    assert machine.actions[-2:] == ["soft", "on"] and machine.boots == 4
    assert await POWER.set_power_state(node, states.SOFT_POWER_OFF, None) == states.POWER_OFF
    assert machine.actions[-1] == "soft" and not machine.power_on
    # already off: nothing to ask the OS
    assert await POWER.set_power_state(node, states.SOFT_POWER_OFF, None) == states.POWER_OFF
    assert machine.actions[-1] == "soft" and len(machine.actions) == 7

    # one session did all of it
    assert ipmi.session_of(node).logins == 1


async def test_power_state_not_reached_is_a_timeout(bmcs: BmcServer) -> None:
    bmc = await bmcs.add(Machine(power_on=True, ignores_acpi=True), USERS)
    node = view("ipmi", ipmi_info(bmc.port, ipmi_power_timeout=0.4))
    started = time.monotonic()
    with pytest.raises(HardwareTimeout, match=rf"127\.0\.0\.1:{bmc.port}.*power off within 0\.4 s"):
        await POWER.set_power_state(node, states.SOFT_POWER_OFF, None)
    assert 0.4 <= time.monotonic() - started < 1.0
    # The API request's own timeout wins over the setting (here: even shorter).
    node = view("ipmi", ipmi_info(bmc.port, ipmi_power_timeout=30),
                workflow_args={"target": states.SOFT_POWER_OFF, "timeout": 1})
    started = time.monotonic()
    with pytest.raises(HardwareTimeout, match="within 1 s"):
        await POWER.set_power_state(node, states.SOFT_POWER_OFF, None)
    assert time.monotonic() - started < 1.6


async def test_boot_device_persistent_once_and_boot_mode(bmcs: BmcServer) -> None:
    machine = Machine()
    bmc = await bmcs.add(machine, USERS)
    node = view("ipmi", ipmi_info(bmc.port))

    assert await MANAGEMENT.get_boot_device(node) == {"boot_device": None, "persistent": None}
    await MANAGEMENT.set_boot_device(node, "pxe", False)  # uefi by default, as Ironic
    assert machine.boot == BootOptions(BootDevice.PXE, persistent=False, uefi=True)
    assert await MANAGEMENT.get_boot_device(node) == {
        "boot_device": "pxe", "persistent": False, "boot_mode": "uefi"}
    await POWER.set_power_state(node, states.POWER_ON, None)  # the one-time override is used
    assert await MANAGEMENT.get_boot_device(node) == {"boot_device": None, "persistent": None}

    legacy = view("ipmi", ipmi_info(bmc.port),
                  properties={"capabilities": "boot_mode:bios,secure_boot:false"})
    await MANAGEMENT.set_boot_device(legacy, "disk", True)
    assert machine.boot == BootOptions(BootDevice.DISK, persistent=True, uefi=False)
    await POWER.set_power_state(node, states.REBOOT, None)
    assert await MANAGEMENT.get_boot_device(node) == {
        "boot_device": "disk", "persistent": True, "boot_mode": "bios"}
    for device in ("cdrom", "bios"):
        await MANAGEMENT.set_boot_device(view("ipmi", ipmi_info(bmc.port, boot_mode="bios")),
                                         device, False)
        assert machine.boot.device == BootDevice(device) and not machine.boot.uefi

    with pytest.raises(InvalidParameter, match="Invalid boot device 'floppy'"):
        await MANAGEMENT.set_boot_device(node, "floppy", True)
    with pytest.raises(InvalidParameter, match="Invalid boot mode 'efi'"):
        MANAGEMENT.validate(view("ipmi", ipmi_info(bmc.port),
                                 properties={"capabilities": {"boot_mode": "efi"}}))


async def test_wrong_credentials_fail_permanently_and_never_show_the_password(
    bmcs: BmcServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    bmc = await bmcs.add(Machine(), USERS)
    wrong = "Not-The-Pass!"
    node = view("ipmi", ipmi_info(bmc.port, ipmi_password=wrong))
    with pytest.raises(PermanentDriverError) as err:
        await POWER.get_power_state(node)
    text = err.value.message
    assert text.startswith(
        f"IPMI authentication to 127.0.0.1:{bmc.port} failed: wrong password or unauthorized name"
    ), text
    assert "user 'admin'" in text
    assert str(err.value) == text

    stranger = view("ipmi", ipmi_info(bmc.port, ipmi_username="mallory"))
    with pytest.raises(PermanentDriverError, match="wrong password or unauthorized name") as err2:
        await POWER.set_power_state(stranger, states.POWER_ON, None)
    assert "unauthorized name" in err2.value.message
    for secret in (wrong, PASSWORD):
        assert secret not in text and secret not in err2.value.message
        assert secret not in caplog.text
    assert bmc.sessions == {}


async def test_unreachable_bmc_times_out_within_its_timeout() -> None:
    # A closed port (ICMP port unreachable) and a socket that never answers.
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as silent:
        silent.bind(("127.0.0.1", 0))
        for port, why in ((closed_udp_port(), "port unreachable"),
                          (silent.getsockname()[1], "no answer")):
            node = view("ipmi", ipmi_info(port, ipmi_timeout=0.6, ipmi_retries=2))
            started = time.monotonic()
            with pytest.raises(HardwareTimeout) as err:
                await POWER.get_power_state(node)
            took = time.monotonic() - started
            assert 0.55 < took < 0.6 + 0.4, took
            assert err.value.message.startswith(f"IPMI power status on 127.0.0.1:{port} timed "
                                                "out"), err.value.message
            assert why in err.value.message and PASSWORD not in err.value.message


async def test_a_dead_bmc_does_not_slow_the_others(bmcs: BmcServer) -> None:
    """Per-call deadlines and no shared lock: live BMCs answer while a dead one times out."""
    live = [await bmcs.add(Machine(power_on=True), USERS) for _ in range(20)]
    dead = view("ipmi", ipmi_info(closed_udp_port(), ipmi_timeout=1.2))

    async def sweep() -> float:
        started = time.monotonic()
        results = await asyncio.gather(
            *(POWER.get_power_state(view("ipmi", ipmi_info(b.port))) for b in live))
        assert set(results) == {states.POWER_ON}
        return time.monotonic() - started

    dead_call = asyncio.create_task(POWER.get_power_state(dead))
    await asyncio.sleep(0.05)
    assert await sweep() < 0.5 and not dead_call.done()
    assert await sweep() < 0.5  # sessions are open now: one round trip each
    with pytest.raises(HardwareTimeout):
        await dead_call
    assert ipmi.open_sessions() == 21


async def test_sessions_follow_credential_changes(bmcs: BmcServer) -> None:
    bmc = await bmcs.add(Machine(), USERS)
    node = view("ipmi", ipmi_info(bmc.port))
    for _ in range(5):
        await POWER.get_power_state(node)
    assert ipmi.session_of(node).logins == 1
    with pytest.raises(PermanentDriverError):
        await POWER.get_power_state(view("ipmi", ipmi_info(bmc.port, ipmi_password="x")))
    # The right password works again at once (a new session; the bad one is gone).
    assert await POWER.get_power_state(node) == states.POWER_OFF
    # Suite 17 (SHA256) on the same BMC.
    strong = view("ipmi", ipmi_info(bmc.port, ipmi_cipher_suite="17"))
    assert await POWER.set_power_state(strong, states.POWER_ON, None) == states.POWER_ON


def test_validate_lists_missing_and_bad_settings() -> None:
    with pytest.raises(InvalidParameter) as err:
        POWER.validate(view("ipmi", {"ipmi_username": "admin"}))
    assert err.value.message == (
        "Missing the following IPMI settings in node's driver_info: ipmi_address.")
    cases = {
        "ipmi_port": ("623x", "must be an integer, not '623x'"),
        "ipmi_cipher_suite": (1, "must be 3 or 17, not 1"),
        "ipmi_timeout": (0, "must be positive"),
        "ipmi_retries": (-1, "must be 0-10"),
        "ipmi_username": ("u" * 17, "longer than IPMI's 16 bytes"),
        "ipmi_password": ("p" * 21, "longer than IPMI 2.0's 20 bytes"),
    }
    for key, (value, message) in cases.items():
        with pytest.raises(InvalidParameter, match=message) as err:
            MANAGEMENT.validate(view("ipmi", ipmi_info(623, **{key: value})))
        assert "p" * 21 not in err.value.message
    POWER.validate(view("ipmi", {"ipmi_address": "10.0.0.5"}))  # defaults do the rest


def test_hardware_type_settings_and_masking() -> None:
    hw = hardware.hardware_type("ipmi")
    assert hw.default("power") == "ipmitool" and hw.default("management") == "ipmitool"
    assert (hw.default("boot"), hw.default("deploy"), hw.default("inspect")) == (
        "ipxe", "agent", "no-inspect")
    props = drivers.properties("ipmi")
    assert props["ipmi_address"].endswith("Required.")
    assert props["ipmi_password"].endswith("Secret.")
    assert {"ipmi_port", "ipmi_username", "ipmi_cipher_suite", "ipmi_timeout", "ipmi_retries",
            "ipmi_power_timeout", "boot_mode"} <= set(props)
    masked = hardware.mask("ipmi", ipmi_info(623))
    assert masked["ipmi_password"] == "******" and masked["ipmi_address"] == "127.0.0.1"
