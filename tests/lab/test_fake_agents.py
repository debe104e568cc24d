"""What fake agents and fault-injection checkers read of the lab: the machine list,
the BMC power-read log, an OS power-off, and the fake image record on the disk."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from barecloud.lab.fake_agents import fails, read_disk, write_disk
from barecloud.lab.machine import Machine, Profile
from barecloud.wire.ipmi.client import IpmiSession
from tests.lab.conftest import PASSWORD, Lab


def control(lab: Lab) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=lab.redfish, timeout=10,
                             headers={"X-Lab-Token": lab.state()["control_token"]})


async def test_power_reads_are_logged_per_bmc_and_the_machine_list_shows_the_boot(
    lab: Lab,
) -> None:
    name, other = "lab-00001", "lab-00002"
    since = time.time()
    async with IpmiSession("127.0.0.1", lab.port(name), "admin", PASSWORD, timeout=5) as s:
        for _ in range(3):
            assert await s.get_power() is False
        await s.set_boot_device("pxe", persistent=False)
        await s.set_power("on")
    async with control(lab) as http:
        reads = (await http.get("/lab/v1/power-reads", params={"since": since})).json()
        # set_power waits by reading the power too: at least the three reads, all after since.
        assert len(reads["reads"][name]) >= 3
        assert all(t > since for t in reads["reads"][name])
        assert reads["reads"][other] == []
        later = (await http.get("/lab/v1/power-reads", params={"since": reads["now"]})).json()
        assert later["reads"][name] == []
        assert (await http.get("/lab/v1/power-reads", params={"since": "x"})).status_code == 400

        machines = {m["name"]: m for m in (await http.get("/lab/v1/machines")).json()["machines"]}
        m = machines[name]
        assert (m["power_on"], m["booted"], m["boots"]) == (True, "pxe", 1)
        assert machines[other]["booted"] == ""

        # The machine's OS powers it off (a fake agent's power_off).
        rsp = await http.post(f"/lab/v1/machines/{name}/power", json={"action": "off"})
        assert rsp.json() == {"name": name, "power_on": False}
        machines = {m["name"]: m for m in (await http.get("/lab/v1/machines")).json()["machines"]}
        assert (machines[name]["power_on"], machines[name]["booted"]) == (False, "")
        rsp = await http.post("/lab/v1/machines/nope/power", json={"action": "off"})
        assert rsp.status_code == 400
    assert "power off (via os)" in lab.cli("console", name)


async def test_the_control_api_needs_the_token(lab: Lab) -> None:
    async with httpx.AsyncClient(base_url=lab.redfish) as http:
        assert (await http.get("/lab/v1/machines")).status_code == 401
        assert (await http.get("/lab/v1/power-reads")).status_code == 401


def test_a_written_image_makes_the_disk_bootable_and_an_erase_undoes_it(tmp_path: Path) -> None:
    m = Machine.create(tmp_path, name="m", index=1, shard=0, profile=Profile(disk_gb=1),
                       mac_prefix="52:54:00", ipmi_port=1, username="u", password="p")
    assert read_disk(m.disk_path) is None
    m.power("on", "test")
    assert m.booted == "pxe"  # an empty disk: the network
    record = {"image": "http://x/y.raw", "command": "c1", "node": "n1"}
    write_disk(m.disk_path, record)
    assert read_disk(m.disk_path) == record
    m.power("cycle", "test")
    assert m.booted == "disk"
    assert Machine.load(m.dir).booted == "disk"  # kept across a lab restart
    write_disk(m.disk_path, None)
    assert read_disk(m.disk_path) is None
    m.power("cycle", "test")
    assert m.booted == "pxe"
    m.power("off", "test")
    assert m.booted == ""


def test_told_failures_depend_on_the_command_only() -> None:
    ids = [f"cmd-{i}" for i in range(2000)]
    failing = [i for i in ids if fails(i, 0.1)]
    assert 120 < len(failing) < 280
    assert failing == [i for i in ids if fails(i, 0.1)]
    assert not any(fails(i, 0.0) for i in ids)
