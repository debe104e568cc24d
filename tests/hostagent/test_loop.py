"""The host agent against the service's side of the contract, with the fake hypervisor."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from barecloud.hostagent.driver import Capacity, VmSpec, VmState
from barecloud.hostagent.fake import FakeDriver
from barecloud.hostagent.http import Unauthorized
from barecloud.hostagent.network import NetworkingError, NicPlan, bridge_name, tap_name
from tests.hostagent.conftest import (
    CAPACITY,
    Running,
    credential,
    entry,
    eventually,
    image,
    vm_report,
)
from tests.hostagent.server import ApiServer, Host

VM1 = "11111111-1111-1111-1111-111111111111"
VM2 = "22222222-2222-2222-2222-222222222222"
VM3 = "33333333-3333-3333-3333-333333333333"


async def reported(host: Host, vm: str, state: str, seq: int, *,
                   error: bool = False, timeout: float = 5.0) -> dict[str, Any]:
    """Wait for a report that says ``vm`` is in ``state`` with ``seq``."""
    def check() -> dict[str, Any] | None:
        found = vm_report(host, vm)
        if found and found["state"] == state and found["seq"] == seq \
                and (found["error"] is not None) == error:
            return found
        return None
    result: dict[str, Any] = await eventually(
        check, timeout, f"{vm} {state} seq {seq}; last: {vm_report(host, vm)}")
    return result


def host_of(api: ApiServer) -> Host:
    return api.hosts[credential()]


async def test_first_report_registers_with_capacity_and_credential(
        api: ApiServer, start_agent: Callable[..., Running]) -> None:
    running = start_agent()
    host = host_of(api)
    await eventually(lambda: host.reports, what="a report")
    report = host.reports[0]
    assert report["capacity"] == {"vcpus": 8, "memory_mb": 16000, "disk_gb": 100}
    assert report["hypervisor_type"] == "fake" and report["hypervisor_version"] == 1000
    assert report["host_ip"] == "127.0.0.1"
    assert report["applied_generation"] == 0 and report["vms"] == []
    method, path, headers = api.requests[0]
    assert (method, path) == ("POST", "/compute/barecloud-host-agent/v1/report")
    assert headers["authorization"] == f"Bearer {credential()}"
    await eventually(lambda: running.agent.hypervisor, what="the answer taken in")
    assert running.agent.hypervisor == {"uuid": credential().split(".")[1], "hostname": "hv1"}
    assert running.agent.report_interval == api.report_interval
    # Reports go on every report_interval (0.2 s here), and the desired list is polled.
    await eventually(lambda: len(host.reports) >= 3, what="periodic reports")
    assert any(p.startswith("/compute/barecloud-host-agent/v1/desired?since=0&wait=2")
               for _, p, _ in api.requests)


async def test_desired_vm_is_created_and_reported_running(
        api: ApiServer, start_agent: Callable[..., Running], tmp_path: Path) -> None:
    driver = FakeDriver(CAPACITY, state_dir=tmp_path / "hv")
    running = start_agent(driver)
    host = host_of(api)
    generation = api.set_desired(credential(), [entry(api, VM1, 1)])
    await reported(host, VM1, "running", 1)
    await eventually(lambda: host.reports[-1]["applied_generation"] == generation)
    assert driver.count("create", VM1) == 1
    spec: VmSpec = driver.vms[VM1].spec
    assert (spec.name, spec.vcpus, spec.memory_mb, spec.disk_gb, spec.image_format) == (
        f"name-{VM1}", 1, 512, 1, "qcow2")
    assert spec.image == tmp_path / "state" / "images" / "img-1"
    assert spec.image.read_bytes() == api.files["img-1"]
    assert spec.nics[0].mac == "fa:16:3e:00:00:01" and spec.nics[0].mtu == 1450
    assert spec.nics[0].tap == tap_name(VM1, "fa:16:3e:00:00:01")
    assert len(spec.nics[0].tap) <= 15 and spec.nics[0].tap.startswith("tap")
    assert spec.nics[0].bridge == bridge_name("0123456789abcdef") == "brq0123456789a"
    drive = spec.config_drive
    assert json.loads(drive["openstack/latest/meta_data.json"])["hostname"] == f"host-{VM1}"
    assert drive["openstack/2012-08-10/meta_data.json"] == \
        drive["openstack/latest/meta_data.json"]
    assert drive["openstack/latest/user_data"] == b"#cloud-config\n"
    assert json.loads(drive["openstack/latest/network_data.json"]) == {"links": []}
    assert f"host-{VM1} login:" in driver.console_log(VM1).read_text()
    saved = json.loads((tmp_path / "state" / "agent-state.json").read_text())
    assert saved["vms"][VM1]["seq"] == 1 and saved["applied_generation"] == generation
    await running.stop()


async def test_each_change_is_carried_out_once(
        api: ApiServer, start_agent: Callable[..., Running], tmp_path: Path) -> None:
    driver = FakeDriver(CAPACITY, state_dir=tmp_path / "hv")
    start_agent(driver)
    host = host_of(api)
    cred = credential()
    api.set_desired(cred, [entry(api, VM1, 1)])
    await reported(host, VM1, "running", 1)
    api.set_desired(cred, [entry(api, VM1, 2, power="off")])
    await reported(host, VM1, "shutoff", 2)
    api.set_desired(cred, [entry(api, VM1, 3, power="on")])
    await reported(host, VM1, "running", 3)
    api.set_desired(cred, [entry(api, VM1, 4, reboot="hard")])
    await eventually(lambda: driver.count("reboot", VM1) == 1)
    await reported(host, VM1, "running", 4)
    new_drive = {"meta_data": {"hostname": "rebuilt"}, "user_data": None,
                 "network_data": None}
    api.set_desired(cred, [entry(api, VM1, 5, image=image(api, "img-2"),
                                 config_drive=new_drive)])
    await reported(host, VM1, "running", 5)
    assert driver.vms[VM1].spec.image.read_bytes() == api.files["img-2"]
    assert "openstack/latest/user_data" not in driver.vms[VM1].spec.config_drive
    bigger = {"vcpus": 2, "memory_mb": 1024, "disk_gb": 2}
    api.set_desired(cred, [entry(api, VM1, 6, image=image(api, "img-2"),
                                 config_drive=new_drive, flavor=bigger)])
    await reported(host, VM1, "running", 6)
    assert driver.vms[VM1].spec.vcpus == 2 and driver.vms[VM1].spec.disk_gb == 2
    generation = api.set_desired(cred, [entry(api, VM1, 7, power="absent")])
    await reported(host, VM1, "missing", 7)
    await eventually(lambda: host.reports[-1]["applied_generation"] == generation)
    # The same list again (a new generation, no new seq) changes nothing.
    api.set_desired(cred, [entry(api, VM1, 7, power="absent")])
    await asyncio.sleep(0.3)
    assert [op for op, vm in driver.calls if vm == VM1] == [
        "create", "stop", "start", "reboot", "rebuild", "resize", "delete"]
    assert VM1 not in driver.vms


async def test_vm_not_in_the_list_is_deleted(
        api: ApiServer, start_agent: Callable[..., Running], tmp_path: Path) -> None:
    driver = FakeDriver(CAPACITY, state_dir=tmp_path / "hv")
    base = tmp_path / "base.img"
    base.write_bytes(b"x")
    await driver.create(VmSpec(VM2, "stray", 1, 512, 1, base, "raw", {}))
    start_agent(driver)
    host = host_of(api)
    # Until a list says otherwise, a VM the agent finds is kept and reported.
    await reported(host, VM2, "running", 0)
    assert VM2 in driver.vms
    api.set_desired(credential(), [entry(api, VM1, 1)])
    await reported(host, VM1, "running", 1)
    await eventually(lambda: vm_report(host, VM2) is None, what="VM2 gone from reports")
    assert VM2 not in driver.vms and driver.count("delete", VM2) == 1
    assert driver.count("delete", VM1) == 0


async def test_restarted_agent_does_not_redo_applied_work(
        api: ApiServer, start_agent: Callable[..., Running], tmp_path: Path) -> None:
    driver = FakeDriver(CAPACITY, state_dir=tmp_path / "hv")  # the QEMUs that survive
    first = start_agent(driver)
    host = host_of(api)
    wanted = [entry(api, VM1, 2, reboot="soft"), entry(api, VM2, 1, power="off")]
    generation = api.set_desired(credential(), wanted)
    await reported(host, VM1, "running", 2)
    await reported(host, VM2, "shutoff", 1)
    await eventually(lambda: host.reports[-1]["applied_generation"] == generation)
    await first.stop()
    calls = list(driver.calls)
    reports = len(host.reports)

    start_agent(driver)
    await eventually(lambda: len(host.reports) > reports)
    again = host.reports[reports]
    assert again["applied_generation"] == generation
    assert {v["uuid"]: (v["state"], v["seq"]) for v in again["vms"]} == {
        VM1: ("running", 2), VM2: ("shutoff", 1)}
    api.set_desired(credential(), [*wanted, entry(api, VM3, 1)])
    await reported(host, VM3, "running", 1)
    await asyncio.sleep(0.2)
    assert driver.calls == [*calls, ("create", VM3)]
    assert driver.vms[VM1].state == VmState.RUNNING and driver.vms[VM2].state == \
        VmState.SHUTOFF


async def test_failed_operation_is_reported_with_its_seq(
        api: ApiServer, start_agent: Callable[..., Running], tmp_path: Path) -> None:
    driver = FakeDriver(CAPACITY, state_dir=tmp_path / "hv")
    driver.fail_next(VM1, "create", "no room for it")
    start_agent(driver)
    host = host_of(api)
    api.set_desired(credential(), [entry(api, VM1, 1)])
    failed = await reported(host, VM1, "missing", 1, error=True)
    assert "no room for it" in failed["error"]
    await asyncio.sleep(0.3)  # not tried again for the same seq
    assert driver.count("create", VM1) == 1
    api.set_desired(credential(), [entry(api, VM1, 2)])
    await reported(host, VM1, "running", 2)
    assert driver.count("create", VM1) == 2


async def test_operations_on_a_host_are_bounded(
        api: ApiServer, start_agent: Callable[..., Running], tmp_path: Path) -> None:
    driver = FakeDriver(CAPACITY, boot_seconds=0.1, state_dir=tmp_path / "hv")
    start_agent(driver, max_operations=3)
    host = host_of(api)
    vms = [f"{n:08d}-0000-0000-0000-000000000000" for n in range(9)]
    api.set_desired(credential(), [entry(api, vm, 1) for vm in vms])
    for vm in vms:
        await reported(host, vm, "running", 1)
    assert driver.max_busy == 3


async def test_unauthorized_stops_the_agent(
        api: ApiServer, start_agent: Callable[..., Running]) -> None:
    running = start_agent(cred=credential(7))
    del api.hosts[credential(7)]  # the service does not know (or revoked) it
    with pytest.raises(Unauthorized, match="bad credential"):
        await asyncio.wait_for(running.task, 5)
    assert [p for _, p, _ in api.requests] == ["/compute/barecloud-host-agent/v1/report"]


async def test_unavailable_service_is_retried(
        api: ApiServer, start_agent: Callable[..., Running]) -> None:
    api.fail_next("/compute/barecloud-host-agent/v1/report", 503)
    api.fail_next("/compute/barecloud-host-agent/v1/report", 502)
    api.fail_next("/compute/barecloud-host-agent/v1/desired", 500)
    running = start_agent()
    host = host_of(api)
    api.set_desired(credential(), [entry(api, VM1, 1)])
    await reported(host, VM1, "running", 1)
    assert api.served_faults == [("/compute/barecloud-host-agent/v1/report", 503),
                                 ("/compute/barecloud-host-agent/v1/report", 502),
                                 ("/compute/barecloud-host-agent/v1/desired", 500)]
    assert not running.task.done()


async def test_image_is_fetched_once_and_checked(
        api: ApiServer, start_agent: Callable[..., Running], tmp_path: Path) -> None:
    driver = FakeDriver(CAPACITY, boot_seconds=0.05, state_dir=tmp_path / "hv")
    running = start_agent(driver)
    host = host_of(api)
    bad = image(api, "img-2", sha512="0" * 128)
    api.set_desired(credential(), [entry(api, VM1, 1), entry(api, VM2, 1),
                                   entry(api, VM3, 1, image=bad),
                                   entry(api, "vm-4", 1, image=bad)])
    await reported(host, VM1, "running", 1)
    await reported(host, VM2, "running", 1)
    for vm in (VM3, "vm-4"):
        failed = await reported(host, vm, "missing", 1, error=True)
        assert "SHA-512" in failed["error"]
    assert api.downloads["img-1"] == 1
    assert running.agent.images.downloads == 1
    assert sorted(p.name for p in (tmp_path / "state" / "images").iterdir()) == [
        "img-1", "img-1.sha512"]
    assert driver.count("create", VM3) == 0


async def test_fleet_of_50_agents_in_one_process(api: ApiServer, tmp_path: Path) -> None:
    from barecloud.hostagent.cli import Fleet

    credentials = [credential(n) for n in range(100, 150)]
    for cred in credentials:
        api.add_host(cred)
    fleet = Fleet(api.url, credentials, tmp_path / "fleet",
                  lambda d: FakeDriver(Capacity(4, 8192, 50), state_dir=d / "fake"),
                  ramp=0.5, poll_wait=2.0, durable=False)
    task = asyncio.create_task(fleet.run())
    try:
        await eventually(lambda: all(api.hosts[c].reports for c in credentials), 5.0,
                         "every host reported")
        api.set_desired(credentials[0], [entry(api, VM1, 1)])
        api.set_desired(credentials[49], [entry(api, VM1, 1)])
        await reported(api.hosts[credentials[0]], VM1, "running", 1)
        await reported(api.hosts[credentials[49]], VM1, "running", 1)
        # Not durable (no write per operation), but on disk before a report says it.
        saved = tmp_path / "fleet" / credentials[49].split(".")[1] / "agent-state.json"
        assert json.loads(saved.read_text())["vms"][VM1]["seq"] == 1
    finally:
        fleet.stop()
        await asyncio.wait_for(task, 5)
    assert all(r["capacity"]["vcpus"] == 4 for c in credentials for r in api.hosts[c].reports)
    assert api.downloads["img-1"] == 1  # the fleet shares its image cache



async def test_stop_lets_operations_under_way_finish(
        api: ApiServer, start_agent: Callable[..., Running], tmp_path: Path) -> None:
    driver = FakeDriver(CAPACITY, boot_seconds=0.3, state_dir=tmp_path / "hv")
    running = start_agent(driver)
    api.set_desired(credential(), [entry(api, VM1, 1)])
    await eventually(lambda: driver.busy == 1, what="the create under way")
    await running.stop()
    assert driver.vms[VM1].state == VmState.RUNNING
    saved = json.loads((tmp_path / "state" / "agent-state.json").read_text())
    assert saved["vms"][VM1]["seq"] == 1
    start_agent(driver)
    await reported(host_of(api), VM1, "running", 1)
    assert driver.count("create", VM1) == 1


def test_a_desired_answer_is_taken_whole_or_not_at_all() -> None:
    from barecloud.hostagent.loop import DesiredError, _parse_desired

    # No list is no change; it must not read as an empty list (which deletes every VM).
    assert _parse_desired({"generation": 4}) == (4, None)
    assert _parse_desired({"generation": 4, "vms": []}) == (4, [])
    for bad in ({"vms": []}, {"generation": 4, "vms": {}},
                {"generation": 4, "vms": [{"uuid": VM1}]},
                {"generation": 4, "vms": [{"uuid": VM1, "seq": 1}, {"seq": 2}]}):
        with pytest.raises(DesiredError):
            _parse_desired(bad)


async def test_a_fleet_stops_while_the_service_is_down(tmp_path: Path) -> None:
    from barecloud.hostagent.cli import Fleet

    gone = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    url = f"http://127.0.0.1:{gone.sockets[0].getsockname()[1]}"
    gone.close()
    await gone.wait_closed()
    fleet = Fleet(url, [credential(n) for n in range(200, 260)], tmp_path / "fleet",
                  lambda d: FakeDriver(CAPACITY, state_dir=d / "fake"), max_backoff=0.01)
    task = asyncio.create_task(fleet.run())
    for _ in range(20):  # stop requests land while connections are being refused
        await asyncio.sleep(0.01)
    fleet.stop()
    await asyncio.wait_for(task, 3)
    assert all(agent.reports == 0 for agent in fleet.agents)


class RecordingNetworking:
    """A Networking that does nothing but say, in the driver's own call list, when it
    was called (so its order with the driver's operations shows)."""

    def __init__(self, driver: FakeDriver, *, refresh_fails: bool = False) -> None:
        self.driver = driver
        self.refresh_fails = refresh_fails
        self.plugged: dict[str, tuple[NicPlan, ...]] = {}
        self.refreshed: list[tuple[NicPlan, ...]] = []

    async def plug(self, vm_uuid: str, nics: Sequence[NicPlan]) -> None:
        self.driver.calls.append(("plug", vm_uuid))
        self.plugged[vm_uuid] = tuple(nics)

    async def refresh(self, nics: Sequence[NicPlan]) -> None:
        self.refreshed.append(tuple(nics))
        if self.refresh_fails:
            raise NetworkingError("`bridge fdb append` failed: RTNETLINK answers: no")

    async def unplug(self, vm_uuid: str) -> None:
        self.driver.calls.append(("unplug", vm_uuid))


async def test_networks_are_plugged_before_a_start_and_refreshed_with_each_list(
        api: ApiServer, start_agent: Callable[..., Running], tmp_path: Path) -> None:
    driver = FakeDriver(CAPACITY, state_dir=tmp_path / "hv")
    base = tmp_path / "base.img"
    base.write_bytes(b"x")
    await driver.create(VmSpec(VM2, "stopped", 1, 512, 1, base, "raw", {}))
    await driver.stop(VM2)  # on the host, stopped: as after the host rebooted
    driver.calls.clear()
    networking = RecordingNetworking(driver)
    start_agent(driver, networking=networking)
    host = host_of(api)
    vteps = ["10.97.0.254", "10.97.0.21"]
    on_net = [{"mac": "fa:16:3e:00:00:02", "network_id": "0123456789abcdef", "mtu": 1450,
               "segment": {"type": "vxlan", "id": 4242}, "vteps": vteps}]
    vlan = [{"mac": "fa:16:3e:00:00:03", "network_id": "0123456789abcdef", "mtu": 1450,
             "segment": {"type": "vlan", "id": 100}}]
    api.set_desired(credential(), [entry(api, VM2, 1, nics=on_net),
                                   entry(api, VM3, 1, nics=vlan)])
    await reported(host, VM2, "running", 1)
    failed = await reported(host, VM3, "missing", 1, error=True)
    assert "nics[0]: a vlan segment cannot reach this host (VXLAN only)" in failed["error"]
    # Not created (it is there): plugged, then started.
    assert [c for c in driver.calls if c[1] == VM2] == [("plug", VM2), ("start", VM2)]
    (plugged,) = networking.plugged[VM2]
    assert (plugged.bridge, plugged.vni, plugged.vteps) == ("brq0123456789a", 4242,
                                                            tuple(vteps))
    assert VM3 not in networking.plugged and driver.count("create", VM3) == 0
    # The list's NICs, the bad entry's left out (its worker reported it).
    assert [(n.mac, n.vni, n.vteps) for n in networking.refreshed[0]] == [
        ("fa:16:3e:00:00:02", 4242, tuple(vteps))]

    # Another host joins the network: VM2's seq does not change, the VTEPs do.
    api.set_desired(credential(), [entry(api, VM2, 1, nics=[{**on_net[0],
                                                            "vteps": [*vteps, "10.97.0.22"]}])])
    await eventually(lambda: any(n.vteps == (*vteps, "10.97.0.22")
                                 for nics in networking.refreshed for n in nics),
                     what="the new VTEP refreshed")
    assert [c for c in driver.calls if c[1] == VM2] == [("plug", VM2), ("start", VM2)]


async def test_a_failed_refresh_is_logged_and_the_list_carried_out(
        api: ApiServer, start_agent: Callable[..., Running], tmp_path: Path,
        caplog: pytest.LogCaptureFixture) -> None:
    driver = FakeDriver(CAPACITY, state_dir=tmp_path / "hv")
    networking = RecordingNetworking(driver, refresh_fails=True)
    running = start_agent(driver, networking=networking)
    generation = api.set_desired(credential(), [entry(api, VM1, 1)])
    await reported(host_of(api), VM1, "running", 1)
    await eventually(lambda: host_of(api).reports[-1]["applied_generation"] == generation)
    assert [c for c in driver.calls if c[1] == VM1] == [("plug", VM1), ("create", VM1)]
    assert networking.refreshed and not running.task.done()
    assert any(r.levelname == "WARNING" and "RTNETLINK answers: no" in r.getMessage()
               for r in caplog.records)
    api.set_desired(credential(), [entry(api, VM1, 2, power="absent")])
    await reported(host_of(api), VM1, "missing", 2)
    assert [c for c in driver.calls if c[1] == VM1][2:] == [("delete", VM1), ("unplug", VM1)]


class FilteringDriver(FakeDriver):
    """The fake hypervisor, noting whether a VM's taps were filtered when it was created."""

    filtered_at_create: dict[str, bool]

    async def create(self, spec: VmSpec) -> None:
        self.filtered_at_create = getattr(self, "filtered_at_create", {})
        self.filtered_at_create[spec.uuid] = all(n.tap in self.filters for n in spec.nics)
        await super().create(spec)


async def test_taps_are_filtered_before_their_vm_starts_and_again_with_each_list(
        api: ApiServer, start_agent: Callable[..., Running], tmp_path: Path) -> None:
    driver = FilteringDriver(CAPACITY, state_dir=tmp_path / "hv")
    start_agent(driver)
    host = host_of(api)
    rules = {"mac": "fa:16:3e:00:00:01", "addresses": ["10.0.0.5"], "stateful": True,
             "rules": [{"direction": "ingress", "ethertype": "IPv4", "protocol": "tcp",
                        "port_range_min": 8080, "port_range_max": 8080, "remote": None}]}
    nic = {"mac": "fa:16:3e:00:00:01", "network_id": "0123456789abcdef", "mtu": 1450,
           "segment": {"type": "vxlan", "id": 4242}, "firewall": rules}
    open_nic = {**nic, "mac": "fa:16:3e:00:00:02", "firewall": None}  # no port security
    api.set_desired(credential(), [entry(api, VM1, 1, nics=[nic]),
                                   entry(api, VM2, 1, nics=[open_nic])])
    await reported(host, VM1, "running", 1)
    await reported(host, VM2, "running", 1)
    tap = tap_name(VM1, nic["mac"])
    assert set(driver.filters) == {tap}  # VM2's port is not filtered
    assert driver.filters[tap].rules[0].port_range_min == 8080
    assert driver.filtered_at_create == {VM1: True, VM2: False}  # filtered before create

    # A rule changes: the list changes, not the entry's seq; the tap is filtered anew.
    changed = {**rules, "rules": [{**rules["rules"][0], "port_range_min": 22,  # type: ignore[index]
                                   "port_range_max": 22}]}
    sets = driver.filter_sets
    api.set_desired(credential(), [entry(api, VM1, 1, nics=[{**nic, "firewall": changed}]),
                                   entry(api, VM2, 1, nics=[open_nic])])
    await eventually(lambda: driver.filters[tap].rules[0].port_range_min == 22,
                     what="the new rule applied")
    assert driver.filter_sets == sets + 1 and driver.count("create") == 2

    # An entry whose rules cannot be read: its VM is not touched and its tap keeps
    # the rules it had (never opened by a bad list).
    api.set_desired(credential(), [entry(api, VM1, 2, nics=[{**nic, "firewall": "all"}]),
                                   entry(api, VM2, 1, nics=[open_nic])])
    failed = await reported(host, VM1, "running", 2, error=True)
    assert "nics[0]: firewall:" in failed["error"]
    assert driver.filters[tap].rules[0].port_range_min == 22

    # A VM gone: its tap is no longer filtered.
    api.set_desired(credential(), [entry(api, VM2, 1, nics=[open_nic])])
    await eventually(lambda: not driver.filters, what="the tap's rules removed")
