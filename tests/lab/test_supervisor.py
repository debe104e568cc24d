"""The lab's life: up, down, up again with state intact, growing, crashing, purging."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import time
from pathlib import Path

import httpx

from barecloud.wire.ipmi.client import IpmiSession
from tests.lab.conftest import PASSWORD, Lab


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def wait_dead(pid: int, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)


async def power(lab: Lab, name: str, action: str | None = None) -> bool:
    async with IpmiSession("127.0.0.1", lab.port(name), "admin", PASSWORD, timeout=3) as s:
        if action:
            await s.set_power(action)
        return await s.get_power()


async def test_state_and_faults_survive_down_and_up(new_lab: Lab) -> None:
    lab = new_lab
    first = lab.up(3)
    assert first["machines"] == 3 and len(first["shards"]) == 1
    uuids = [lab.machine(f"lab-0000{i}")["uuid"] for i in (1, 2, 3)]
    assert await power(lab, "lab-00001", "on") is True
    boot = {"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Continuous"}}
    url = f"{lab.redfish}/redfish/v1/Systems/lab-00001"
    async with httpx.AsyncClient(auth=("admin", PASSWORD)) as http:
        assert (await http.patch(url, json=boot)).status_code == 200
    lab.cli("fault", "lab-00003", "slow", "--seconds", "0.2")  # set while running

    pid = first["shards"][0]["pid"]
    assert "stopped 1 shard process(es)" in lab.down()
    assert not alive(pid)
    assert "stopped, 3 machines" in lab.cli("status")
    lab.cli("fault", "lab-00002", "ignore-power")  # set while down: written to the file

    again = lab.up(3)
    assert again["shards"][0]["pid"] != pid
    assert [lab.machine(f"lab-0000{i}")["uuid"] for i in (1, 2, 3)] == uuids
    assert await power(lab, "lab-00001") is True
    async with httpx.AsyncClient(auth=("admin", PASSWORD)) as http:
        system = (await http.get(url)).json()
    assert system["PowerState"] == "On"
    assert system["Boot"]["BootSourceOverrideTarget"] == "Pxe"
    assert await power(lab, "lab-00002", "on") is False  # ignore-power, still
    status = lab.cli("status", "--machines")
    assert "lab-00003" in status and "faults slow" in status
    assert "power on, booting from" in lab.cli("console", "lab-00001")


async def test_up_grows_a_running_lab_and_restarts_dead_shards(new_lab: Lab) -> None:
    lab = new_lab
    pid0 = lab.up(2)["shards"][0]["pid"]
    assert await power(lab, "lab-00001", "on") is True
    grown = lab.up(4)  # the running shard loads the new machines, no restart
    assert grown["machines"] == 4 and grown["shards"][0]["pid"] == pid0
    assert await power(lab, "lab-00004") is False
    wider = lab.up(6, "--shards", "2")
    assert [s["machines"] for s in wider["shards"]] == [4, 2]
    assert wider["shards"][0]["pid"] == pid0
    assert lab.state()["shards"][1]["machines"] == ["lab-00005", "lab-00006"]
    rf1 = f"http://127.0.0.1:{lab.redfish_base + 1}/redfish/v1/Systems/lab-00006"
    async with httpx.AsyncClient(auth=("admin", PASSWORD)) as http:
        assert (await http.get(rf1)).status_code == 200

    os.kill(pid0, signal.SIGKILL)  # a crash loses nothing: state is written through
    await asyncio.to_thread(wait_dead, pid0)
    assert "stopped, 4 machines" in lab.cli("status")
    restarted = lab.up(6)
    assert restarted["shards"][0]["pid"] != pid0
    assert restarted["shards"][1]["pid"] == wider["shards"][1]["pid"]
    assert await power(lab, "lab-00001") is True


def test_up_refuses_to_move_what_was_enrolled(new_lab: Lab) -> None:
    lab = new_lab
    lab.up(2, "--shards", "2")
    # What an operator types into ipmitool (the README says status prints it).
    assert f"BMC user admin password {PASSWORD}," in lab.cli("status")
    out = lab.cli("up", "--nodes", "2", "--ipmi-base-port", str(lab.ipmi_base + 1), check=False)
    assert "--ipmi-base-port is fixed when the lab is built" in out
    out = lab.cli("up", "--nodes", "2", "--shards", "1", check=False)
    assert "shards are added, never removed" in out


def test_down_purge_deletes_only_a_lab(new_lab: Lab, tmp_path: Path) -> None:
    lab = new_lab
    pids = [s["pid"] for s in lab.up(2)["shards"]]
    assert "deleted" in lab.down("--purge")
    assert not lab.path.exists() and not any(alive(p) for p in pids)
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep").write_text("x")
    out = Lab(precious, 0, 0).cli("down", "--purge", check=False)
    assert "holds no lab.json" in out and (precious / "keep").exists()


def test_a_port_in_use_is_reported_and_nothing_is_left_running(new_lab: Lab) -> None:
    lab = new_lab
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", lab.ipmi_base + 3))  # lab-00004, in shard 1
        out = lab.cli("up", "--nodes", "4", "--shards", "2", "--ipmi-base-port",
                      str(lab.ipmi_base), "--redfish-base-port", str(lab.redfish_base),
                      check=False)  # fmt: skip
    assert f"lab-00004: cannot listen on UDP 127.0.0.1:{lab.ipmi_base + 3}" in out
    assert lab.pids() == []  # shard 0 had started: it was stopped again
    assert lab.up(4)["machines"] == 4  # the port is free again


async def test_labs_made_without_ports_take_free_ones(tmp_path: Path) -> None:
    """Two labs on one host, neither told its ports: each picks free ones at creation,
    keeps them, and `lab status` says which."""
    first, second = Lab(tmp_path / "a", 0, 0), Lab(tmp_path / "b", 0, 0)
    try:
        for lab in (first, second):
            lab.cli("up", "--nodes", "2")
            state = lab.state()
            lab.ipmi_base, lab.redfish_base = state["ipmi_base_port"], state["redfish_base_port"]
        assert {first.ipmi_base, first.ipmi_base + 1}.isdisjoint(
            {second.ipmi_base, second.ipmi_base + 1})
        assert first.redfish_base != second.redfish_base
        for lab in (first, second):
            assert await power(lab, "lab-00002", "on") is True
            out = lab.cli("status")
            assert f"UDP ports {lab.ipmi_base}-{lab.ipmi_base + 1}" in out, out
        first.down()
        first.cli("up", "--nodes", "2")  # its ports are kept, not picked again
        assert first.state()["ipmi_base_port"] == first.ipmi_base
        assert await power(first, "lab-00002") is True
    finally:
        for lab in (first, second):
            lab.cli("down", check=False)
            lab.kill()
