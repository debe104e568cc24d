"""Every interface of a node (Ironic's 13): fake-hardware's ``fake`` ones, the real
hardware types' ``no-*``, ``reset_interfaces`` (1.45), RAID and the fake console."""

from __future__ import annotations

from tests.api.baremetal.ironic import Ironic, fault

OPTIONAL = ("bios", "console", "firmware", "inspect", "raid", "rescue", "storage", "vendor")


def test_fake_hardware_defaults_to_fake_and_records_them(api: Ironic) -> None:
    node = api.create_node(name="n1")
    for iface in (*OPTIONAL, "boot", "deploy", "management", "power"):
        assert node[f"{iface}_interface"] == "fake", iface
    for iface in ("raid", "vendor", "bios", "storage"):
        api.ok("PATCH", "/nodes/n1", json=[
            {"op": "replace", "path": f"/{iface}_interface",
             "value": "noop" if iface == "storage" else f"no-{iface}"}])
        api.ok("PATCH", "/nodes/n1", json=[{"op": "remove", "path": f"/{iface}_interface"}])
        assert api.node("n1")[f"{iface}_interface"] == "fake"
    assert "firmware_interface" not in api.ok("GET", "/nodes/n1", version="1.85")
    msg = fault(api.patch("/nodes/n1", json=[
        {"op": "replace", "path": "/raid_interface", "value": "agent"}]), 400)
    assert "raid" in msg and "agent" in msg


def test_real_hardware_lists_only_what_it_does(api: Ironic) -> None:
    detail = api.ok("GET", "/drivers/ipmi")
    for iface, impl in (("bios", "no-bios"), ("raid", "no-raid"), ("vendor", "no-vendor"),
                        ("storage", "noop"), ("firmware", "no-firmware")):
        assert detail[f"enabled_{iface}_interfaces"] == [impl]
    assert "enabled_firmware_interfaces" not in api.ok("GET", "/drivers/ipmi", version="1.85")
    node = api.create_node(name="i1", driver="ipmi")
    valid = api.ok("GET", f"/nodes/{node['uuid']}/validate")
    assert valid["raid"] == {"result": False,
                             "reason": "Driver ipmi does not support raid (disabled or not "
                                       "implemented)."}
    assert valid["storage"]["result"] is True


def test_driver_change_needs_reset_interfaces(api: Ironic) -> None:
    api.create_node(name="n1")
    to_ipmi = [{"op": "replace", "path": "/driver", "value": "ipmi"}]
    msg = fault(api.patch("/nodes/n1", json=to_ipmi), 400)
    assert "ipmi" in msg
    assert api.node("n1")["driver"] == "fake-hardware"
    fault(api.patch("/nodes/n1", params={"reset_interfaces": "true"}, version="1.44",
                    json=to_ipmi), 406)
    fault(api.patch("/nodes/n1", params={"reset_interfaces": "true"}, json=[
        {"op": "add", "path": "/extra/a", "value": 1}]), 400)
    node = api.ok("PATCH", "/nodes/n1", params={"reset_interfaces": "true"}, json=[
        *to_ipmi, {"op": "replace", "path": "/console_interface", "value": "ipmi-sol"}])
    assert node["driver"] == "ipmi" and node["power_interface"] == "ipmitool"
    assert node["console_interface"] == "ipmi-sol" and node["raid_interface"] == "no-raid"


def test_target_raid_config_on_fake_raid(api: Ironic) -> None:
    node = api.create_node(name="n1")
    props = api.ok("GET", "/drivers/fake-hardware/raid/logical_disk_properties")
    assert props["raid_level"].startswith("RAID level for the logical disk")
    config = {"logical_disks": [{"size_gb": 100, "raid_level": "1", "is_root_volume": True}]}
    api.ok("PUT", f"/nodes/{node['uuid']}/states/raid", 204, json=config)
    assert api.node("n1")["target_raid_config"] == config
    assert api.ok("GET", "/nodes/n1/states")["target_raid_config"] == config
    msg = fault(api.put("/nodes/n1/states/raid", json={"logical_disks": [
        {"size_gb": 1, "raid_level": "7"}]}), 400)
    assert msg.startswith("RAID config validation error:")
    two_roots = {"logical_disks": [{"size_gb": 1, "raid_level": "0", "is_root_volume": True}] * 2}
    assert "more than one root volume" in fault(api.put("/nodes/n1/states/raid",
                                                        json=two_roots), 400)
    api.ok("PUT", "/nodes/n1/states/raid", 204, json={})
    assert api.node("n1")["target_raid_config"] == {}


def test_fake_console_records_its_mode(api: Ironic) -> None:
    api.create_node(name="n1")
    api.ok("PUT", "/nodes/n1/states/console", 202, json={"enabled": True})
    assert api.ok("GET", "/nodes/n1/states/console") == {"console_enabled": True,
                                                         "console_info": {}}
    api.ok("PUT", "/nodes/n1/states/console", 202, json={"enabled": False})
    assert api.node("n1")["console_enabled"] is False
    api.ok("PATCH", "/nodes/n1", json=[
        {"op": "replace", "path": "/console_interface", "value": "no-console"}])
    assert "no-console" in fault(api.put("/nodes/n1/states/console",
                                         json={"enabled": True}), 400)
