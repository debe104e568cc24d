"""The ``openstack baremetal`` CLI (python-ironicclient), unmodified, against barecloud.

Each call is a subprocess configured only by the clouds.yaml the service
writes (OS_CLIENT_CONFIG_FILE, OS_CLOUD=barecloud-admin: a token from
Identity).  A call costs about a second and a half of interpreter start-up,
so each test covers one area.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests import preloaded, support
from tests.api.baremetal.ironic import Ironic

OPENSTACK = Path(sys.executable).parent / "openstack"

# About 35 CLI calls at ~1.5 s of start-up each: over a minute in all.
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not OPENSTACK.exists(), reason="openstack CLI not installed")]


class Cli:
    def __init__(self, svc: support.Service) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        self.env.update({"OS_CLIENT_CONFIG_FILE": str(svc.clouds_yaml),
                         "OS_CLOUD": "barecloud-admin",
                         "PYTHONWARNINGS": "ignore"})
        self.outputs: list[str] = []

    def run(self, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = preloaded.run([str(OPENSTACK), "baremetal", *args], env=self.env,
                             capture_output=True, text=True, timeout=120)
        self.outputs.append(proc.stdout + proc.stderr)
        if ok:
            assert proc.returncode == 0, (args, proc.stdout, proc.stderr)
        else:
            assert proc.returncode != 0, (args, proc.stdout, proc.stderr)
        return proc

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "-f", "json").stdout)


@pytest.fixture
def service(keystone_service: support.Service) -> support.Service:
    """These tests speak as the clients do: with Identity."""
    return keystone_service


@pytest.fixture
def cli(service: support.Service) -> Cli:
    return Cli(service)


def test_node_lifecycle(cli: Cli) -> None:
    node = cli.json("node", "create", "--driver", "fake-hardware", "--name", "cli-1",
                    "--resource-class", "bm", "--property", "cpus=4")
    assert node["provision_state"] == "enroll" and node["properties"] == {"cpus": 4}
    uuid = node["uuid"]
    port = cli.json("port", "create", "52:54:00:c1:00:01", "--node", uuid)
    assert port["address"] == "52:54:00:c1:00:01" and port["node_uuid"] == uuid

    cli.run("node", "manage", "cli-1", "--wait", "60")
    cli.run("node", "provide", "cli-1", "--wait", "60")
    cli.run("node", "add", "trait", "cli-1", "CUSTOM_CLI")
    validation = {v["Interface"]: v["Result"]
                  for v in cli.json("node", "validate", "cli-1")}
    assert validation["power"] is True and validation["deploy"] is True

    cli.run("node", "deploy", "cli-1", "--wait", "60")
    shown = cli.json("node", "show", "cli-1")
    assert shown["provision_state"] == "active" and shown["power_state"] == "power on"
    assert shown["traits"] == ["CUSTOM_CLI"] and shown["uuid"] == uuid

    cli.run("node", "power", "off", "cli-1")
    assert _eventually(cli, "cli-1", "power_state") == "power off"
    cli.run("node", "power", "on", "cli-1")
    assert _eventually(cli, "cli-1", "power_state") == "power on"

    cli.run("node", "maintenance", "set", "cli-1", "--reason", "swap a fan")
    shown = cli.json("node", "show", "cli-1", "--fields", "maintenance", "maintenance_reason")
    assert shown == {"maintenance": True, "maintenance_reason": "swap a fan"}
    cli.run("node", "maintenance", "unset", "cli-1")

    cli.run("node", "undeploy", "cli-1", "--wait", "60")
    # Not while available (Ironic's 409): a retired node must not be allocated.
    proc = cli.run("node", "set", "cli-1", "--retired", ok=False)
    assert "can not have 'retired' set in provision state 'available'" in proc.stderr
    cli.run("node", "manage", "cli-1", "--wait", "60")
    # `node set --retired` sends the string "True", as Ironic accepts.
    cli.run("node", "set", "cli-1", "--retired", "--retired-reason", "end of life")
    listed = cli.json("node", "list")
    assert listed == [{"uuid": uuid, "name": "cli-1", "instance_uuid": None,
                       "power_state": "power off", "provision_state": "manageable",
                       "maintenance": False}]
    assert [n["uuid"] for n in cli.json("node", "list", "--retired")] == [uuid]

    history = cli.json("node", "history", "list", "cli-1")
    events = [h["event"] for h in history]
    assert events[0] == "create: -> enroll"
    for expected in ("manage: enroll -> verifying", "deploy: available -> deploying",
                     "delete: active -> deleting", "maintenance on: swap a fan"):
        assert expected in events, (expected, events)


def _eventually(cli: Cli, node: str, field: str, timeout: float = 20) -> Any:
    """The field once no change of it is pending (power actions return at once)."""
    deadline = time.monotonic() + timeout
    while True:
        shown = cli.json("node", "show", node, "--fields", field, f"target_{field}")
        if shown[f"target_{field}"] is None or time.monotonic() > deadline:
            return shown[field]


def test_secrets_are_masked(cli: Cli) -> None:
    secrets = ("Cli-Declared-Secret", "Cli-Undeclared-Secret")
    created = cli.json("node", "create", "--driver", "fake-hardware", "--name", "hush",
                       "--driver-info", f"fake_password={secrets[0]}",
                       "--driver-info", f"ipmi_password={secrets[1]}",
                       "--driver-info", "ipmi_username=admin")
    assert created["driver_info"] == {"fake_password": "******", "ipmi_password": "******",
                                      "ipmi_username": "admin"}
    shown = cli.json("node", "show", "hush")
    assert shown["driver_info"]["fake_password"] == "******"
    cli.run("node", "show", "hush")  # the table, too
    listed = cli.json("node", "list", "--long")
    assert listed[0]["driver_info"]["ipmi_password"] == "******"
    assert len(cli.outputs) == 4
    for output in cli.outputs:
        for secret in secrets:
            assert secret not in output


def test_drivers(cli: Cli) -> None:
    drivers = cli.json("driver", "list")
    assert [d["name"] for d in drivers] == ["fake-hardware", "ipmi", "redfish"]
    assert drivers[0]["hosts"].startswith("test-conductor-")
    props = {p["property"]: p["description"]
             for p in cli.json("driver", "property", "list", "fake-hardware")}
    assert {"fake_delay", "fake_fail", "fake_password"} <= set(props)
    assert props["fake_password"].endswith("Secret.")
    shown = cli.json("driver", "show", "fake-hardware")
    assert shown["name"] == "fake-hardware"
    assert shown["default_power_interface"] == "fake"


def test_allocations(cli: Cli, service: support.Service) -> None:
    api = Ironic(service)
    try:
        plain = api.create_node(name="alloc-plain", resource_class="cli-rc")["uuid"]
        fast = api.create_node(name="alloc-fast", resource_class="cli-rc")["uuid"]
        api.ok("PUT", f"/nodes/{fast}/traits/CUSTOM_FAST", 204)
        for uuid in (plain, fast):
            api.to_state(uuid, "available")
    finally:
        api.close()
    alloc = cli.json("allocation", "create", "--resource-class", "cli-rc", "--trait",
                     "CUSTOM_FAST", "--name", "cli-alloc", "--wait", "30")
    assert alloc["state"] == "active" and alloc["node_uuid"] == fast
    listed = cli.json("allocation", "list")
    assert [(a["name"], a["node_uuid"]) for a in listed] == [("cli-alloc", fast)]
    assert cli.json("node", "show", "alloc-fast")["allocation_uuid"] == alloc["uuid"]
    cli.run("allocation", "delete", "cli-alloc")
    assert cli.json("allocation", "list") == []


def test_chassis(cli: Cli) -> None:
    made = cli.json("chassis", "create", "--description", "rack 7", "--extra", "row=b")
    cid = made["uuid"]
    assert (made["description"], made["extra"]) == ("rack 7", {"row": "b"})
    assert [c["uuid"] for c in cli.json("chassis", "list")] == [cid]
    cli.run("chassis", "set", cid, "--description", "rack 8")
    assert cli.json("chassis", "show", cid)["description"] == "rack 8"
    node = cli.json("node", "create", "--driver", "fake-hardware", "--name", "racked",
                    "--chassis-uuid", cid)
    assert node["chassis_uuid"] == cid
    assert [n["name"] for n in cli.json("node", "list", "--chassis", cid)] == ["racked"]
    proc = cli.run("chassis", "delete", cid, ok=False)
    assert "contains nodes" in proc.stderr
    cli.run("node", "unset", "racked", "--chassis-uuid")
    cli.run("chassis", "delete", cid)
    assert cli.json("chassis", "list") == []


def test_deploy_templates_port_groups_and_volumes(cli: Cli) -> None:
    steps = '[{"interface": "bios", "step": "apply_configuration", "args": {}, "priority": 10}]'
    made = cli.json("deploy", "template", "create", "CUSTOM_BIOS", "--steps", steps)
    assert made["steps"][0]["step"] == "apply_configuration"
    assert [t["name"] for t in cli.json("deploy", "template", "list")] == ["CUSTOM_BIOS"]
    cli.run("deploy", "template", "delete", "CUSTOM_BIOS")

    node = cli.json("node", "create", "--driver", "fake-hardware", "--name", "bonded")
    group = cli.json("port", "group", "create", "--node", node["uuid"], "--name", "bond0",
                     "--address", "52:54:00:c2:00:01")
    port = cli.json("port", "create", "52:54:00:c2:00:02", "--node", node["uuid"],
                    "--port-group", group["uuid"])
    assert port["portgroup_uuid"] == group["uuid"]
    proc = cli.run("port", "group", "delete", "bond0", ok=False)
    assert "contains ports" in proc.stderr

    connector = cli.json("volume", "connector", "create", "--node", node["uuid"],
                         "--type", "iqn", "--connector-id", "iqn.2026-12.org:bonded")
    listed = cli.json("volume", "connector", "list", "--node", node["uuid"])
    assert [c["uuid"] for c in listed] == [connector["uuid"]]


def test_errors(cli: Cli) -> None:
    proc = cli.run("node", "show", "does-not-exist", ok=False)
    assert "Node does-not-exist could not be found" in proc.stderr
    proc = cli.run("node", "create", "--driver", "no-such-driver", ok=False)
    assert "no-such-driver" in proc.stderr
    cli.run("node", "create", "--driver", "fake-hardware", "--name", "err-1")
    proc = cli.run("node", "deploy", "err-1", ok=False)
    assert 'can not be performed on node' in proc.stderr and '"enroll"' in proc.stderr
    proc = cli.run("--os-baremetal-api-version", "1.99", "node", "list", ok=False)
    assert "1.92" in proc.stderr
