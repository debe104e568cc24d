"""The ``redfish`` hardware type against a Redfish service served in the test."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import select

from barecloud import states
from barecloud.db.models import Port
from barecloud.drivers import hardware
from barecloud.drivers.redfish import RedfishInspect, RedfishManagement, RedfishPower
from barecloud.errors import (
    DriverError,
    HardwareTimeout,
    InvalidParameter,
    PermanentDriverError,
    RetryableDriverError,
)
from barecloud.services.baremetal import drivers, nodes, ports
from barecloud.services.context import Runtime
from tests.conductor.helpers import CTX, drive, history, load
from tests.drivers.conftest import view
from tests.drivers.redfish_service import GIB, RedfishService, System, serving
from tests.support import free_port

POWER, MANAGEMENT, INSPECT = RedfishPower(), RedfishManagement(), RedfishInspect()
USERS = {"root": "calvin-Pa55"}


@pytest.fixture
async def service() -> AsyncIterator[RedfishService]:
    async with serving(RedfishService(USERS)) as svc:
        svc.add(System("1"))
        yield svc


def info(svc: RedfishService, system: str = "1", **extra: Any) -> dict[str, Any]:
    return {"redfish_address": svc.url, "redfish_system_id": f"/redfish/v1/Systems/{system}",
            "redfish_username": "root", "redfish_password": USERS["root"], **extra}


def node(svc: RedfishService, system: str = "1", **extra: Any) -> Any:
    return view("redfish", info(svc, system, **extra))


async def test_power_actions_wait_for_the_power_state(service: RedfishService) -> None:
    system = service.systems["1"]
    system.delay = 0.1  # PoweringOn/PoweringOff meanwhile
    n = node(service)
    assert await POWER.get_power_state(n) == states.POWER_OFF

    started = time.monotonic()
    assert await POWER.set_power_state(n, states.POWER_ON, None) == states.POWER_ON
    assert time.monotonic() - started >= 0.1 and system.power == "On"
    assert await POWER.set_power_state(n, states.REBOOT, None) == states.POWER_ON
    assert await POWER.set_power_state(n, states.SOFT_REBOOT, None) == states.POWER_ON
    assert await POWER.set_power_state(n, states.SOFT_POWER_OFF, None) == states.POWER_OFF
    assert system.power == "Off"
    assert await POWER.set_power_state(n, states.REBOOT, None) == states.POWER_ON  # from off
    assert await POWER.set_power_state(n, states.POWER_OFF, None) == states.POWER_OFF
    assert system.resets == ["On", "ForceRestart", "GracefulRestart", "GracefulShutdown",
                             "On", "ForceOff"]
    assert system.boots == 4

    # A service offering no restart: off, wait, on.
    system.allowed_resets = ["On", "ForceOff", "GracefulShutdown"]
    await POWER.set_power_state(n, states.POWER_ON, None)
    assert await POWER.set_power_state(n, states.SOFT_REBOOT, None) == states.POWER_ON
    assert system.resets[-3:] == ["On", "GracefulShutdown", "On"]
    # Basic auth on every request, keep-alive connections: no session log-ins.
    assert service.logins == 0 and {k for _, _, k in service.requests} == {"basic"}


async def test_power_state_not_reached_is_a_timeout(service: RedfishService) -> None:
    system = service.systems["1"]
    system.power, system.obeys_acpi = "On", False
    started = time.monotonic()
    with pytest.raises(HardwareTimeout, match=r"PowerState did not become Off within 0\.5 s"):
        await POWER.set_power_state(node(service, redfish_power_timeout=0.5),
                                    states.SOFT_POWER_OFF, None)
    assert 0.5 <= time.monotonic() - started < 1.2


async def test_boot_override_target_enabled_and_mode(service: RedfishService) -> None:
    system = service.systems["1"]
    n = node(service)
    assert await MANAGEMENT.get_boot_device(n) == {"boot_device": None, "persistent": None}

    await MANAGEMENT.set_boot_device(n, "pxe", False)
    assert system.patches[-1] == {"Boot": {"BootSourceOverrideTarget": "Pxe",
                                           "BootSourceOverrideEnabled": "Once",
                                           "BootSourceOverrideMode": "UEFI"}}
    assert await MANAGEMENT.get_boot_device(n) == {
        "boot_device": "pxe", "persistent": False, "boot_mode": "uefi"}
    await POWER.set_power_state(n, states.POWER_ON, None)  # a one-time override is used up
    assert await MANAGEMENT.get_boot_device(n) == {"boot_device": None, "persistent": None}

    legacy = node(service, boot_mode="bios")
    for device, target in (("disk", "Hdd"), ("cdrom", "Cd"), ("bios", "BiosSetup")):
        await MANAGEMENT.set_boot_device(legacy, device, True)
        assert system.patches[-1]["Boot"] == {"BootSourceOverrideTarget": target,
                                              "BootSourceOverrideEnabled": "Continuous",
                                              "BootSourceOverrideMode": "Legacy"}
    assert await MANAGEMENT.get_boot_device(n) == {
        "boot_device": "bios", "persistent": True, "boot_mode": "bios"}

    # A service that does not show the mode is not sent one.
    system.has_boot_mode = False
    await MANAGEMENT.set_boot_device(n, "disk", True)
    assert system.patches[-1]["Boot"] == {"BootSourceOverrideTarget": "Hdd",
                                          "BootSourceOverrideEnabled": "Continuous"}
    with pytest.raises(InvalidParameter, match="Invalid boot device 'safe' for Redfish"):
        await MANAGEMENT.set_boot_device(n, "safe", True)
    system.boot["BootSourceOverrideTarget@Redfish.AllowableValues"] = ["None", "Hdd"]
    with pytest.raises(PermanentDriverError, match="cannot boot from Pxe; it offers None, Hdd"):
        await MANAGEMENT.set_boot_device(n, "pxe", True)


async def test_inspection_reads_cpus_memory_disks_and_nics(service: RedfishService) -> None:
    found = await _inspect(node(service))
    assert found == {"cpus": 16, "cpu_arch": "x86_64", "memory_mb": 32256, "local_gb": 960,
                     "macs": ["52:54:00:aa:00:01", "52:54:00:aa:00:02"]}
    # An older service with SimpleStorage only, and an ARM machine.
    service.add(System("2", simple_storage_only=True, drives=[500 * GIB, 2 * GIB],
                       cpus=[{"TotalThreads": 0, "InstructionSet": "ARM-A64"}]))
    found = await _inspect(node(service, "2"))
    # No thread counts anywhere: the processor count is what there is.
    assert (found["local_gb"], found["cpu_arch"], found["cpus"]) == (500, "aarch64", 1)


async def _inspect(n: Any) -> dict[str, Any]:
    found = await INSPECT.inspect(n)
    assert isinstance(found, dict)
    return found


async def test_wrong_credentials_are_permanent_and_never_shown(
    service: RedfishService, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "guessed-Pa55word"
    for auth in ("basic", "session"):
        with pytest.raises(PermanentDriverError) as err:
            await POWER.get_power_state(node(service, redfish_password=wrong,
                                             redfish_auth_type=auth))
        text = err.value.message
        assert text.startswith(f"Redfish authentication to {service.url} failed: wrong user "
                               "name or password"), text
        assert wrong not in text and USERS["root"] not in text
    assert wrong not in caplog.text and USERS["root"] not in caplog.text


async def test_session_auth_logs_in_once_and_again_when_the_token_expires(
    service: RedfishService,
) -> None:
    n = node(service, redfish_auth_type="session")
    await asyncio.gather(*(POWER.get_power_state(n) for _ in range(10)))
    assert service.logins == 1
    assert {k for m, p, k in service.requests if p.endswith("/Systems/1")} == {"token"}
    service.tokens.clear()  # the BMC restarted, or the session timed out
    assert await POWER.get_power_state(n) == states.POWER_OFF
    assert service.logins == 2 and len(service.tokens) == 1
    await hardware.close_connections()  # what a conductor does when it stops
    assert service.tokens == {}


async def test_timeouts_refusals_and_redfish_errors(service: RedfishService) -> None:
    service.stall = 1.0
    started = time.monotonic()
    with pytest.raises(HardwareTimeout, match=rf"GET {service.url}/redfish/v1/Systems/1: no "
                       r"answer within 0\.4 s"):
        await POWER.get_power_state(node(service, redfish_timeout=0.4))
    assert time.monotonic() - started < 1.0
    service.stall = 0

    refused = view("redfish", {**info(service), "redfish_address":
                               f"http://127.0.0.1:{free_port()}"})
    with pytest.raises(HardwareTimeout, match="cannot connect"):
        await POWER.get_power_state(refused)

    with pytest.raises(DriverError, match=r"HTTP 404: The resource at the URI "
                       r"/redfish/v1/Systems/9 was not found") as err:
        await POWER.get_power_state(node(service, "9"))
    assert not isinstance(err.value, RetryableDriverError | PermanentDriverError)
    service.systems["1"].allowed_resets = ["On"]
    with pytest.raises(DriverError, match="HTTP 400: The value ForceOff for the parameter "
                       "ResetType is not in the list"):
        await POWER.set_power_state(node(service), states.POWER_OFF, None)


def test_validate_and_settings() -> None:
    with pytest.raises(InvalidParameter) as err:
        POWER.validate(view("redfish", {"redfish_username": "root"}))
    assert err.value.message == ("Missing the following Redfish settings in node's "
                                 "driver_info: redfish_address, redfish_system_id.")
    ok = {"redfish_address": "10.0.0.5", "redfish_system_id": "/redfish/v1/Systems/1"}
    POWER.validate(view("redfish", ok))
    bad = {
        "redfish_address": ("ftp://x", r"not an http\(s\) URL"),
        "redfish_verify_ca": ("/no/such/bundle.pem", "existing CA bundle path"),
        "redfish_auth_type": ("kerberos", "basic or session"),
        "redfish_timeout": ("soon", "must be a number"),
    }
    for key, (value, message) in bad.items():
        with pytest.raises(InvalidParameter, match=message):
            MANAGEMENT.validate(view("redfish", {**ok, key: value}))
    with pytest.raises(InvalidParameter, match="must not carry credentials"):
        POWER.validate(view("redfish", {**ok, "redfish_address": "https://u:p@10.0.0.5"}))
    POWER.validate(view("redfish", {**ok, "redfish_verify_ca": "false"}))

    props = drivers.properties("redfish")
    assert props["redfish_address"].endswith("Required.")
    assert props["redfish_system_id"].endswith("Required.")
    assert props["redfish_password"].endswith("Secret.")
    assert hardware.mask("redfish", {**ok, "redfish_password": "x"})["redfish_password"] == (
        "******")
    assert hardware.hardware_type("redfish").default("inspect") == "redfish"


# --- through the conductor -------------------------------------------------------------------

async def test_inspection_workflow_sets_properties_and_creates_ports(
    rt: Runtime, service: RedfishService
) -> None:
    """enroll -> manage -> inspect -> manageable, with properties and ports persisted."""
    created = await nodes.create(rt, CTX, {
        "driver": "redfish", "name": f"rf-{uuid.uuid4().hex[:8]}", "driver_info": info(service),
        "properties": {"capabilities": "boot_mode:uefi"}}, initial=states.ENROLL)
    n = created.uuid
    # One NIC is already enrolled by hand on this node, one on another node.
    other = await nodes.create(rt, CTX, {"driver": "fake-hardware", "name": "other"},
                               initial=states.ENROLL)
    service.systems["1"].macs.append("52:54:00:aa:00:03")
    await ports.create(rt, CTX, {"address": "52:54:00:aa:00:02", "node_uuid": n,
                                 "pxe_enabled": False})
    await ports.create(rt, CTX, {"address": "52:54:00:aa:00:03", "node_uuid": other.uuid})

    node = await drive(rt, n, "manage", states.MANAGEABLE)
    assert node.power_state == states.POWER_OFF
    node = await drive(rt, n, "inspect", states.MANAGEABLE)
    assert node.last_error is None
    assert node.properties == {"capabilities": "boot_mode:uefi", "cpus": 16,
                               "cpu_arch": "x86_64", "memory_mb": 32256, "local_gb": 960}
    async with rt.db.session() as s:
        rows = (await s.execute(select(Port.address, Port.pxe_enabled).where(
            Port.node_id == node.id).order_by(Port.address))).tuples().all()
    assert rows == [("52:54:00:aa:00:01", True), ("52:54:00:aa:00:02", False)]
    events = [r.event for r in await history(rt.db, n) if r.event.startswith("inspection")]
    assert events == [
        "inspection enrolled port(s) 52:54:00:aa:00:01",
        "inspection did not enroll 52:54:00:aa:00:03 (port of another node)",
    ]

    # Inspecting again changes nothing but what the hardware now says.
    service.systems["1"].memory_gib = 64
    node = await drive(rt, n, "inspect", states.MANAGEABLE)
    assert node.properties["memory_mb"] == 65536
    async with rt.db.session() as s:
        assert len((await s.scalars(select(Port).where(Port.node_id == node.id))).all()) == 2


async def test_inspection_failure_is_recorded(rt: Runtime, service: RedfishService) -> None:
    created = await nodes.create(rt, CTX, {
        "driver": "redfish", "name": "rf-fail", "driver_info": info(service)},
        initial=states.ENROLL)
    await drive(rt, created.uuid, "manage", states.MANAGEABLE)
    service.users = {"root": "rotated"}  # the BMC's password changed under us
    node = await drive(rt, created.uuid, "inspect", states.INSPECTFAIL)
    assert node.last_error is not None
    assert node.last_error.startswith(f"Redfish authentication to {service.url} failed")
    assert (await load(rt.db, created.uuid)).properties == {}
