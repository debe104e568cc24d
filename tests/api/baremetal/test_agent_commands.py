"""The agent's side of the Bare Metal API: lookup, heartbeat, the command channel.

The test plays the agent over HTTP for a fake-hardware node whose deploy
interface is ``agent``: the conductor's commands arrive by long-poll in
order, progress shows in the history, success moves the workflow on, a
failure fails the node with the agent's words, and nothing is accepted
without the node's token.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from tests.api.baremetal.ironic import Ironic, fault

IMAGE = {"image_source": "http://127.0.0.1:9/image.raw",
         "image_os_hash_algo": "sha512", "image_os_hash_value": "ab" * 64}


class AgentPlayer:
    """What the agent sends, with the token it got at lookup."""

    def __init__(self, api: Ironic, node: dict[str, Any], mac: str) -> None:
        self.api = api
        self.uuid = node["uuid"]
        found = api.ok("GET", "/lookup", params={"addresses": mac})
        assert found["node"]["uuid"] == self.uuid
        self.token = found["config"]["agent_token"]
        assert self.token != "******"

    def poll(self, wait: float = 5) -> dict[str, Any] | None:
        body = self.api.ok("GET", f"/agent/{self.uuid}/command", params={"wait": wait},
                           headers={"X-Agent-Token": self.token})
        command: dict[str, Any] | None = body["command"]
        return command

    def report(self, command: dict[str, Any], status: str, **body: Any) -> None:
        self.api.ok("POST", f"/agent/{self.uuid}/command/{command['id']}", 202,
                    json={"status": status, **body}, headers={"X-Agent-Token": self.token})


def waiting(api: Ironic, ident: str, state: str, timeout: float = 30) -> dict[str, Any]:
    """Poll until the node waits for its agent in ``state``."""
    deadline = time.monotonic() + timeout
    while (node := api.node(ident))["provision_state"] != state:
        assert time.monotonic() < deadline, f"never reached {state}: {node}"
        time.sleep(0.05)
    return node


def _deploying(api: Ironic, mac: str = "52:54:00:aa:00:01", **extra: Any) -> dict[str, Any]:
    # No automated cleaning: it would ask the agent to erase first.
    node = api.create_node(deploy_interface="agent", instance_info=IMAGE,
                           automated_clean=False)
    api.ok("POST", "/ports", 201, json={"address": mac, "node_uuid": node["uuid"]})
    api.to_state(node["uuid"], "available")
    api.provision(node["uuid"], "active", **extra)
    return waiting(api, node["uuid"], "wait call-back")


def test_deploy_runs_the_agent_s_commands_in_order(api: Ironic) -> None:
    node = _deploying(api, configdrive={"meta_data": {"hostname": "web-1"},
                                        "user_data": "#cloud-config\n"})
    agent = AgentPlayer(api, node, "52:54:00:aa:00:01")
    write = agent.poll()
    assert write is not None and write["name"] == "write_image"
    assert write["params"] == {"url": IMAGE["image_source"], "os_hash_algo": "sha512",
                               "os_hash_value": "ab" * 64}
    # Until the agent reports, the same command is offered again (an agent
    # that restarted picks it up), and a heartbeat does not skip it.
    assert agent.poll(0) == write
    api.ok("POST", f"/heartbeat/{agent.uuid}", 202, json={"agent_token": agent.token})
    assert api.node(agent.uuid)["provision_state"] == "wait call-back"

    agent.report(write, "running", progress={"bytes": 60 << 20, "total": 100 << 20})
    events = [h["event"] for h in api.ok("GET", f"/nodes/{agent.uuid}/history",
                                         params={"detail": "true"})["history"]]
    assert "agent write_image: 60% (60 of 100 MiB)" in events
    agent.report(write, "succeeded", result={"bytes": 100 << 20, "seconds": 2.0})

    drive = agent.poll()
    assert drive is not None and drive["name"] == "write_configdrive"
    files = drive["params"]["files"]
    assert {"openstack/latest/meta_data.json", "openstack/latest/user_data",
            "openstack/latest/network_data.json"} <= set(files)
    # The node's API view shows the command, but not the user data it carries.
    shown = api.node(agent.uuid)["driver_internal_info"]["agent_command"]
    assert (shown["name"], shown["params"]["files"]) == ("write_configdrive", "******")
    agent.report(drive, "succeeded", result={"partition": 2})
    off = agent.poll()
    assert off is not None and off["name"] == "power_off"
    agent.report(off, "succeeded")
    done = api.wait(agent.uuid, "active")
    assert done["last_error"] is None
    history = api.ok("GET", f"/nodes/{agent.uuid}/history", params={"detail": "true"})
    texts = [h["event"] for h in history["history"]]
    assert any(t.startswith("agent write_image: succeeded (100 MiB in 2.0 s, 50 MiB/s)")
               for t in texts), texts
    assert "deploy step write image: sent to the agent" in texts


def test_an_agent_failure_fails_the_deploy_with_its_words(api: Ironic) -> None:
    node = _deploying(api)
    agent = AgentPlayer(api, node, "52:54:00:aa:00:01")
    write = agent.poll()
    assert write is not None
    agent.report(write, "failed", error="image checksum mismatch: expected sha512 ab...")
    failed = waiting(api, agent.uuid, "deploy failed")
    assert failed["last_error"] == ("Agent command write_image failed: image checksum "
                                    "mismatch: expected sha512 ab...")
    # Nothing more is offered, and a late report of the same command is refused.
    assert agent.poll(0) is None
    r = api.post(f"/agent/{agent.uuid}/command/{write['id']}", json={"status": "succeeded"},
                 headers={"X-Agent-Token": agent.token})
    assert "no longer waiting" in fault(r, 409)


def test_a_long_poll_returns_as_soon_as_a_command_is_issued(api: Ironic) -> None:
    node = api.create_node(deploy_interface="agent", instance_info=IMAGE,
                           automated_clean=False, driver_info={"fake_delay": 1.0})
    api.ok("POST", "/ports", 201, json={"address": "52:54:00:aa:00:02",
                                         "node_uuid": node["uuid"]})
    api.to_state(node["uuid"], "available")
    api.provision(node["uuid"], "active")
    # The lookup works as soon as the ramdisk is prepared, before any command exists
    # (each preparation makes a new token: the one of an earlier lookup is dead).
    deadline = time.monotonic() + 10
    while (api.node(node["uuid"])["deploy_step"] or {}).get("step") != "prepare ramdisk":
        assert time.monotonic() < deadline
    agent = AgentPlayer(api, node, "52:54:00:aa:00:02")
    got: list[Any] = []
    started = time.monotonic()
    t = threading.Thread(target=lambda: got.append((agent.poll(30), time.monotonic())))
    t.start()
    t.join(40)
    command, at = got[0]
    assert command is not None and command["name"] == "write_image"
    # Steps with a 1 s fake delay come before it; the poll ends with them, not at 30 s.
    assert at - started < 15


def test_the_command_channel_refuses_what_it_should(api: Ironic) -> None:
    node = _deploying(api)
    agent = AgentPlayer(api, node, "52:54:00:aa:00:01")
    command = agent.poll()
    assert command is not None
    url = f"/agent/{agent.uuid}/command"
    assert "token" in fault(api.get(url), 401)
    assert "token" in fault(api.get(url, headers={"X-Agent-Token": "wrong"}), 401)
    r = api.post(f"{url}/{command['id']}", json={"status": "succeeded"},
                 headers={"X-Agent-Token": "wrong"})
    assert "token" in fault(r, 401)
    r = api.post(f"/heartbeat/{agent.uuid}", json={"agent_token": "wrong"})
    assert "token" in fault(r, 401)
    ok = {"X-Agent-Token": agent.token}
    for bad in ("nan", "-1", "soon"):
        assert "wait" in fault(api.get(url, params={"wait": bad}, headers=ok), 400)
    assert "not the current command" in fault(
        api.post(f"{url}/00000000-0000-0000-0000-000000000000", json={"status": "running"},
                 headers=ok), 409)
    assert "status" in fault(api.post(f"{url}/{command['id']}", json={"status": "done"},
                                      headers=ok), 400)
    assert "JSON object" in fault(api.post(f"{url}/{command['id']}", json=[1],
                                           headers=ok), 400)
    for key, value in (("result", "done"), ("progress", 5), ("error", {"x": 1})):
        r = api.post(f"{url}/{command['id']}", json={"status": "failed", key: value},
                     headers=ok)
        assert f"{key} must be" in fault(r, 400)
    assert fault(api.get("/agent/no-such-node/command", headers=ok), 404)
    # Unknown MACs find nothing; a second lookup no longer hands out the token.
    assert fault(api.get("/lookup", params={"addresses": "52:54:00:ff:ff:ff"}), 404)
    assert api.ok("GET", "/lookup", params={"addresses": "52:54:00:aa:00:01"})[
        "config"]["agent_token"] == "******"
    # None of that moved the node.
    assert api.node(agent.uuid)["provision_state"] == "wait call-back"
    assert agent.poll(0) == command


@pytest.mark.parametrize("steps,mode", [
    (None, "quick"),
    ([{"interface": "deploy", "step": "erase_devices"}], "full"),
    ([{"interface": "deploy", "step": "erase_devices_metadata"}], "quick"),
])
def test_cleaning_asks_the_agent_to_erase(api: Ironic, steps: Any, mode: str) -> None:
    node = api.create_node(deploy_interface="agent")
    api.ok("POST", "/ports", 201, json={"address": "52:54:00:aa:00:03",
                                         "node_uuid": node["uuid"]})
    api.to_state(node["uuid"], "manageable")
    if steps is None:
        api.provision(node["uuid"], "provide")
    else:
        api.provision(node["uuid"], "clean", clean_steps=steps)
    waiting(api, node["uuid"], "clean wait")
    agent = AgentPlayer(api, node, "52:54:00:aa:00:03")
    erase = agent.poll()
    assert erase is not None and erase == {**erase, "name": "erase",
                                           "params": {"mode": mode}}
    agent.report(erase, "succeeded", result={"mode": mode, "bytes": 4 << 20})
    off = agent.poll()
    assert off is not None and off["name"] == "power_off"
    agent.report(off, "succeeded")
    api.wait(node["uuid"], "available" if steps is None else "manageable")


def test_in_band_inspection_reads_the_agent_s_inventory(api: Ironic) -> None:
    node = api.create_node(inspect_interface="agent")
    api.ok("POST", "/ports", 201, json={"address": "52:54:00:aa:00:04",
                                         "node_uuid": node["uuid"]})
    api.to_state(node["uuid"], "manageable")
    api.provision(node["uuid"], "inspect")
    waiting(api, node["uuid"], "inspect wait")
    agent = AgentPlayer(api, node, "52:54:00:aa:00:04")
    command = agent.poll()
    assert command is not None and command["name"] == "get_inventory"
    inventory = {
        "cpu": {"count": 16, "architecture": "aarch64"},
        "memory": {"physical_mb": 65536},
        "disks": [{"name": "vda", "size": 480 * 2**30}],
        "interfaces": [{"name": "eth0", "mac_address": "52:54:00:aa:00:04"},
                       {"name": "eth1", "mac_address": "52:54:00:aa:00:05"}],
    }
    agent.report(command, "succeeded", result={"inventory": inventory})
    off = agent.poll()
    assert off is not None and off["name"] == "power_off"
    agent.report(off, "succeeded")
    done = api.wait(node["uuid"], "manageable")
    assert {k: done["properties"][k] for k in ("cpus", "cpu_arch", "memory_mb", "local_gb")} \
        == {"cpus": 16, "cpu_arch": "aarch64", "memory_mb": 65536, "local_gb": 479}
    macs = {p["address"] for p in api.ok("GET", "/ports",
                                         params={"node": node["uuid"]})["ports"]}
    assert macs == {"52:54:00:aa:00:04", "52:54:00:aa:00:05"}
    # Kept as the node's inventory (1.81).
    assert api.ok("GET", f"/nodes/{node['uuid']}/inventory") == {"inventory": inventory,
                                                                  "plugin_data": {}}


def test_continue_inspection_posts_the_inventory(api: Ironic) -> None:
    """Ironic's ramdisk callback (1.84): the inventory instead of the command's report,
    the node found by its MACs, the token required; the rest is plugin data."""
    node = api.create_node(inspect_interface="agent")
    api.ok("POST", "/ports", 201, json={"address": "52:54:00:aa:00:06",
                                         "node_uuid": node["uuid"]})
    api.to_state(node["uuid"], "manageable")
    api.provision(node["uuid"], "inspect")
    waiting(api, node["uuid"], "inspect wait")
    agent = AgentPlayer(api, node, "52:54:00:aa:00:06")
    assert agent.poll() is not None
    inventory = {"cpu": {"count": 2, "architecture": "x86_64"}, "memory": {"physical_mb": 4096},
                 "disks": [], "interfaces": [{"name": "eth0", "mac_address": "52:54:00:aa:00:06"}]}
    body = {"inventory": inventory, "boot_interface": "52:54:00:aa:00:06"}
    fault(api.post("/continue_inspection", version="1.83", json=body), 404)
    fault(api.post("/continue_inspection", json=body), 401)  # no token
    fault(api.post("/continue_inspection", json={"inventory": {
        "interfaces": [{"mac_address": "52:54:00:ff:ff:ff"}]}, "agent_token": agent.token}), 404)
    found = api.ok("POST", "/continue_inspection", 202, json={**body,
                                                               "agent_token": agent.token})
    assert found == {"uuid": node["uuid"]}
    off = agent.poll()
    assert off is not None and off["name"] == "power_off"
    agent.report(off, "succeeded")
    assert api.wait(node["uuid"], "manageable")["properties"]["cpus"] == 2
    assert api.ok("GET", f"/nodes/{node['uuid']}/inventory") == {
        "inventory": inventory, "plugin_data": {"boot_interface": "52:54:00:aa:00:06"}}


def test_a_deploy_of_an_unknown_image_is_refused_and_changes_nothing(api: Ironic) -> None:
    node = api.create_node(deploy_interface="agent", automated_clean=False, instance_info={
        "image_source": "8d2a4c07-5b0e-4f3e-9d3c-000000000000"})
    api.to_state(node["uuid"], "available")
    before = api.node(node["uuid"])
    r = api.put(f"/nodes/{node['uuid']}/states/provision", json={"target": "active"})
    assert "8d2a4c07-5b0e-4f3e-9d3c-000000000000" in fault(r, 404)
    after = api.node(node["uuid"])
    assert after == before and after["provision_state"] == "available"
