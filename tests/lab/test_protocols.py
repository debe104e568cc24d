"""A running lab's BMCs driven by third-party clients, and by one protocol seen through the other.

- ``ipmitool -I lanplus`` (Debian's) and pyghmi's client against the IPMI BMCs;
- sushy (what Ironic uses) and plain HTTP against the Redfish service;
- what IPMI does shows in Redfish, and the other way round, and on the console.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from barecloud.wire.ipmi.client import IpmiSession
from tests.lab.conftest import PASSWORD, Lab

ipmitool_missing = pytest.mark.skipif(
    shutil.which("ipmitool") is None, reason="ipmitool missing (scripts/system-packages)"
)


def ipmitool(lab: Lab, name: str, *args: str, password: str = PASSWORD) -> str:
    proc = subprocess.run(
        ["ipmitool", "-I", "lanplus", "-H", "127.0.0.1", "-p", str(lab.port(name)),
         "-U", "admin", "-P", password, "-N", "1", "-R", "2", *args],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    return proc.stdout + proc.stderr


def redfish_system(lab: Lab, name: str) -> dict[str, Any]:
    rsp = httpx.get(f"{lab.redfish}/redfish/v1/Systems/{name}", auth=("admin", PASSWORD))
    assert rsp.status_code == 200, rsp.text
    return dict(rsp.json())


async def redfish_system_async(lab: Lab, name: str) -> dict[str, Any]:
    async with httpx.AsyncClient(auth=("admin", PASSWORD)) as http:
        rsp = await http.get(f"{lab.redfish}/redfish/v1/Systems/{name}")
    assert rsp.status_code == 200, rsp.text
    return dict(rsp.json())


@pytest.fixture
def sushy_root(lab: Lab) -> Iterator[Any]:
    sushy = pytest.importorskip("sushy")
    root = sushy.Sushy(f"{lab.redfish}/redfish/v1", username="admin", password=PASSWORD)
    yield root
    root._auth.close()  # delete the session at the service


# --- IPMI ------------------------------------------------------------------------


@ipmitool_missing
def test_ipmitool_power_and_boot_device(lab: Lab) -> None:
    assert "Chassis Power is off" in ipmitool(lab, "lab-00001", "power", "status")
    assert "Up/On" in ipmitool(lab, "lab-00001", "power", "on")
    assert "Chassis Power is on" in ipmitool(lab, "lab-00001", "power", "status")
    assert "Chassis Power is on" in ipmitool(lab, "lab-00001", "-C", "17", "power", "status")
    assert "Set Boot Device to disk" in ipmitool(
        lab, "lab-00001", "chassis", "bootdev", "disk", "options=persistent,efiboot"
    )
    param = ipmitool(lab, "lab-00001", "chassis", "bootparam", "get", "5")
    assert "Force Boot from default Hard-Drive" in param
    assert "Options apply to all future boots" in param and "BIOS EFI boot" in param
    assert "Down/Off" in ipmitool(lab, "lab-00001", "power", "off")
    assert "Chassis Power is off" in ipmitool(lab, "lab-00001", "power", "status")
    guid = ipmitool(lab, "lab-00001", "mc", "guid")
    assert lab.machine("lab-00001")["uuid"] in guid  # system GUID = machine UUID = node UUID
    refused = ipmitool(lab, "lab-00001", "power", "status", password="wrong")
    assert "Unable to establish IPMI v2 / RMCP+ session" in refused


def test_pyghmi_client_reads_power(lab: Lab) -> None:
    """pyghmi's client proposes suite 17, which our BMCs speak: no pin needed.

    Run in its own process: pyghmi keeps a global I/O thread."""
    pytest.importorskip("pyghmi")
    script = textwrap.dedent(f"""
        import json
        from pyghmi.ipmi.command import Command
        c = Command(bmc="127.0.0.1", userid="admin", password={PASSWORD!r},
                    port={lab.port("lab-00002")}, keepalive=False)
        before = c.get_power()["powerstate"]
        c.set_power("on", wait=True)
        c.set_bootdev("network")
        print(json.dumps([before, c.get_power()["powerstate"], c.get_bootdev()["bootdev"]]))
        c.ipmi_session.logout()
    """)  # fmt: skip
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == ["off", "on", "network"]
    assert redfish_system(lab, "lab-00002")["PowerState"] == "On"


# --- Redfish -----------------------------------------------------------------------


def test_sushy_power_boot_and_inventory(lab: Lab, sushy_root: Any) -> None:
    import sushy  # type: ignore[import-untyped]

    system = sushy_root.get_system("/redfish/v1/Systems/lab-00003")
    assert system.power_state == sushy.PowerState.OFF
    assert system.uuid == lab.machine("lab-00003")["uuid"]
    values = {v.value for v in system.get_allowed_reset_system_values()}
    assert values == {"On", "ForceOff", "GracefulShutdown", "GracefulRestart", "ForceRestart",
                      "PowerCycle", "Nmi"}  # fmt: skip
    system.reset_system(sushy.ResetType.ON)
    system.refresh()
    assert system.power_state == sushy.PowerState.ON  # at once, not after a few seconds
    system.set_system_boot_options(
        sushy.BootSource.PXE,
        enabled=sushy.BootSourceOverrideEnabled.CONTINUOUS,
        mode=sushy.BootSourceOverrideMode.UEFI,
    )
    system.refresh()
    assert system.boot.target == sushy.BootSource.PXE
    assert system.boot.enabled == sushy.BootSourceOverrideEnabled.CONTINUOUS
    assert system.processors.summary.count == 2
    assert system.memory_summary.size_gib == 4
    assert system.simple_storage.disks_sizes_bytes == [10 << 30]
    macs = [nic.mac_address for nic in system.ethernet_interfaces.get_members()]
    assert macs == lab.machine("lab-00003")["macs"]
    assert [m.identity for m in system.managers] == ["lab-00003"]
    system.reset_system(sushy.ResetType.FORCE_OFF)
    system.refresh()
    assert system.power_state == sushy.PowerState.OFF
    with pytest.raises(sushy.exceptions.ResourceNotFoundError):
        sushy_root.get_system("/redfish/v1/Systems/lab-99999")


def test_redfish_refusals_are_redfish_errors(lab: Lab) -> None:
    base = f"{lab.redfish}/redfish/v1"
    system = f"{base}/Systems/lab-00004"
    root = httpx.get(f"{base}/")
    assert root.status_code == 200
    assert root.json()["Systems"] == {"@odata.id": "/redfish/v1/Systems"}
    unauthorized = httpx.get(system, auth=("admin", "wrong"))
    assert unauthorized.status_code == 401 and "WWW-Authenticate" in unauthorized.headers
    assert unauthorized.json()["error"]["code"] == "Base.1.8.ResourceAtUriUnauthorized"
    assert httpx.get(f"{base}/Systems").status_code == 401
    auth = ("admin", PASSWORD)
    bad = httpx.post(f"{system}/Actions/ComputerSystem.Reset", json={"ResetType": "Explode"},
                     auth=auth)  # fmt: skip
    assert bad.status_code == 400
    assert bad.json()["error"]["@Message.ExtendedInfo"][0]["MessageId"].endswith(
        "ActionParameterValueNotInList"
    )
    patch = httpx.patch(system, json={"Boot": {"BootSourceOverrideTarget": "Tape"}}, auth=auth)
    assert patch.status_code == 400 and "PropertyValueNotInList" in patch.json()["error"]["code"]
    ro = httpx.patch(system, json={"PowerState": "On"}, auth=auth)
    assert ro.status_code == 400 and "PropertyNotWritable" in ro.json()["error"]["code"]
    stale = httpx.patch(system, json={"Boot": {"BootSourceOverrideTarget": "Pxe"}}, auth=auth,
                        headers={"If-Match": '"stale"'})  # fmt: skip
    assert stale.status_code == 412
    assert httpx.delete(system, auth=auth).status_code == 405
    assert httpx.get(f"{system}/Bogus", auth=auth).status_code == 404
    malformed = httpx.post(f"{system}/Actions/ComputerSystem.Reset", content=b"{", auth=auth)
    assert malformed.status_code == 400 and "MalformedJSON" in malformed.json()["error"]["code"]


def test_redfish_sessions(lab: Lab) -> None:
    base = f"{lab.redfish}/redfish/v1"
    login = httpx.post(f"{base}/SessionService/Sessions",
                       json={"UserName": "admin", "Password": PASSWORD})  # fmt: skip
    assert login.status_code == 201
    token = {"X-Auth-Token": login.headers["X-Auth-Token"]}
    assert httpx.get(f"{base}/Systems/lab-00004", headers=token).status_code == 200
    by_uuid = httpx.get(f"{base}/Systems/{lab.machine('lab-00004')['uuid']}", headers=token)
    assert by_uuid.json()["Id"] == "lab-00004"  # the UUID is an alias of the name
    members = httpx.get(f"{base}/Systems", headers=token).json()["Members"]
    assert len(members) == 8
    logout = httpx.delete(f"{lab.redfish}{login.headers['Location']}", headers=token)
    assert logout.status_code == 204
    assert httpx.get(f"{base}/Systems/lab-00004", headers=token).status_code == 401
    refused = httpx.post(f"{base}/SessionService/Sessions",
                         json={"UserName": "admin", "Password": "wrong"})  # fmt: skip
    assert refused.status_code == 401


# --- one machine, two protocols ------------------------------------------------------


async def test_ipmi_power_shows_in_redfish_and_redfish_boot_in_ipmi(lab: Lab) -> None:
    name = "lab-00005"
    async with IpmiSession("127.0.0.1", lab.port(name), "admin", PASSWORD, timeout=5) as ipmi:
        await ipmi.set_power("on")
        assert (await redfish_system_async(lab, name))["PowerState"] == "On"
        auth = ("admin", PASSWORD)
        system = f"{lab.redfish}/redfish/v1/Systems/{name}"
        boot = {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once",
                "BootSourceOverrideMode": "Legacy"}  # fmt: skip
        async with httpx.AsyncClient(auth=auth) as http:
            assert (await http.patch(system, json={"Boot": boot})).status_code == 200
        flags = await ipmi.get_boot_device()
        assert (flags.device.value, flags.persistent, flags.uefi, flags.valid) == (
            "pxe", False, False, True,
        )  # fmt: skip
        async with httpx.AsyncClient(auth=auth) as http:
            reset = await http.post(f"{system}/Actions/ComputerSystem.Reset",
                                    json={"ResetType": "ForceRestart"})  # fmt: skip
        assert reset.status_code == 204
        assert (await ipmi.get_boot_device()).valid is False  # the one-time override was used
        await ipmi.set_boot_device("disk", persistent=True, uefi=True)
        boot_now = (await redfish_system_async(lab, name))["Boot"]
        assert boot_now["BootSourceOverrideTarget"] == "Hdd"
        assert boot_now["BootSourceOverrideEnabled"] == "Continuous"
        await ipmi.set_power("off")
        assert (await redfish_system_async(lab, name))["PowerState"] == "Off"
    log = lab.cli("console", name)
    assert "power on, booting from pxe (via ipmi, boot order: disk, pxe)" in log
    assert "reset, booting from pxe (via redfish)" in log
    assert "power off (via ipmi)" in log
