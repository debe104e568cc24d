"""The ipmi and redfish drivers against a running lab (``python -m barecloud.lab up``).

The lab's machines answer IPMI and Redfish from other processes, for the
same machine state: what one protocol does, the other sees.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from barecloud import states
from barecloud.db.models import Port
from barecloud.drivers.base import NodeView
from barecloud.drivers.ipmi import IpmitoolManagement, IpmitoolPower
from barecloud.drivers.redfish import RedfishManagement, RedfishPower
from barecloud.errors import PermanentDriverError
from barecloud.services.baremetal import nodes
from barecloud.services.context import Runtime
from tests.conductor.helpers import CTX, drive
from tests.drivers.conftest import view
from tests.lab.conftest import Lab, make_lab


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = make_lab(Path(tmp_path_factory.mktemp("lab")) / "lab", 4)
    lab.up(4)
    try:
        yield lab
    finally:
        lab.cli("down", check=False)
        lab.kill()


def ipmi_node(lab: Lab, name: str, **extra: Any) -> NodeView:
    m = lab.machine(name)
    return view("ipmi", {"ipmi_address": "127.0.0.1", "ipmi_port": m["ipmi_port"],
                         "ipmi_username": m["username"], "ipmi_password": m["password"],
                         **extra})


def redfish_info(lab: Lab, name: str) -> dict[str, Any]:
    m = lab.machine(name)
    return {"redfish_address": lab.redfish, "redfish_system_id": f"/redfish/v1/Systems/{name}",
            "redfish_username": m["username"], "redfish_password": m["password"]}


async def test_one_machine_through_both_protocols(lab: Lab) -> None:
    by_ipmi, by_redfish = ipmi_node(lab, "lab-00001"), view("redfish",
                                                            redfish_info(lab, "lab-00001"))
    ipmi_power, redfish_power = IpmitoolPower(), RedfishPower()

    assert await ipmi_power.set_power_state(by_ipmi, states.POWER_ON, None) == states.POWER_ON
    assert await redfish_power.get_power_state(by_redfish) == states.POWER_ON
    assert await redfish_power.set_power_state(by_redfish, states.SOFT_POWER_OFF, None) == (
        states.POWER_OFF)
    assert await ipmi_power.get_power_state(by_ipmi) == states.POWER_OFF
    assert await ipmi_power.set_power_state(by_ipmi, states.REBOOT, None) == states.POWER_ON
    assert lab.machine("lab-00001")["power_on"] is True

    await RedfishManagement().set_boot_device(by_redfish, "pxe", True)
    assert await IpmitoolManagement().get_boot_device(by_ipmi) == {
        "boot_device": "pxe", "persistent": True, "boot_mode": "uefi"}
    await IpmitoolManagement().set_boot_device(by_ipmi, "disk", False)
    assert await RedfishManagement().get_boot_device(by_redfish) == {
        "boot_device": "disk", "persistent": False, "boot_mode": "uefi"}

    with pytest.raises(PermanentDriverError, match=r"IPMI authentication to 127\.0\.0\.1"):
        await ipmi_power.get_power_state(ipmi_node(lab, "lab-00001", ipmi_password="nope"))
    with pytest.raises(PermanentDriverError, match="Redfish authentication"):
        await redfish_power.get_power_state(view("redfish", {
            **redfish_info(lab, "lab-00001"), "redfish_password": "nope"}))


async def test_inspection_of_a_lab_machine_through_the_conductor(
    rt: Runtime, lab: Lab
) -> None:
    machine = lab.machine("lab-00002")
    n = (await nodes.create(rt, CTX, {
        "driver": "redfish", "name": f"lab-{uuid.uuid4().hex[:8]}",
        "driver_info": redfish_info(lab, "lab-00002")}, initial=states.ENROLL)).uuid
    await drive(rt, n, "manage", states.MANAGEABLE)
    node = await drive(rt, n, "inspect", states.MANAGEABLE)
    p = machine["profile"]
    assert node.properties == {"cpus": p["cpus"], "memory_mb": p["memory_mb"],
                               "local_gb": p["disk_gb"], "cpu_arch": p["cpu_arch"]}
    async with rt.db.session() as s:
        ports = (await s.execute(select(Port.address, Port.pxe_enabled).where(
            Port.node_id == node.id).order_by(Port.id))).tuples().all()
    assert [a for a, _ in ports] == machine["macs"]
    assert [pxe for _, pxe in ports] == [True] + [False] * (len(ports) - 1)
