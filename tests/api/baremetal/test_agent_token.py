"""The deploy channel as an outsider sees it: nothing but the API port and a MAC.

A fake-hardware node with the ``ipxe`` boot interface and the ``agent`` deploy
interface: the conductor writes its boot script as for a real machine, and the
test plays both the machine (one boot: one fetch of its script) and the
attacker, who asks for the same script, looks the MAC up and forges reports.
The attacker gets nothing usable; the real agent still deploys.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests import support
from tests.api.baremetal.ironic import Ironic, fault
from tests.api.baremetal.test_agent_commands import IMAGE, waiting

MAC = "52:54:00:be:ef:01"
SCRIPT = "/boot/nodes/52-54-00-be-ef-01.ipxe"
USER_DATA = "#cloud-config\npassword: tenant-secret-1234\n"
REFUSED = "agent-refused"


def _deploying(api: Ironic, mac: str = MAC) -> dict[str, Any]:
    node = api.create_node(boot_interface="ipxe", deploy_interface="agent",
                           instance_info=IMAGE, automated_clean=False)
    api.ok("POST", "/ports", 201, json={"address": mac, "node_uuid": node["uuid"]})
    api.to_state(node["uuid"], "available")
    api.provision(node["uuid"], "active", configdrive={
        "meta_data": {"hostname": "web-1", "public_keys": {"k": "ssh-ed25519 AAAA tenant"}},
        "user_data": USER_DATA})
    return waiting(api, node["uuid"], "wait call-back")


def _token_of(script: str) -> str:
    found = re.search(r"barecloud\.token=(\S+)", script)
    assert found, script
    return found.group(1)


def _history(api: Ironic, uuid: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = api.ok("GET", f"/nodes/{uuid}/history",
                                        params={"detail": "true"})["history"]
    return rows


def _refusals(api: Ironic, uuid: str) -> list[str]:
    return [h["event"] for h in _history(api, uuid) if h["event_type"] == REFUSED]


class Agent:
    """The real agent: the token from the one boot script its machine fetched."""

    def __init__(self, api: Ironic, uuid: str, token: str) -> None:
        self.api, self.uuid, self.token = api, uuid, token

    def poll(self) -> dict[str, Any]:
        body = self.api.ok("GET", f"/agent/{self.uuid}/command", params={"wait": 5},
                           headers={"X-Agent-Token": self.token})
        command: dict[str, Any] = body["command"]
        assert command is not None
        return command

    def report(self, command: dict[str, Any], status: str = "succeeded",
               expect: int = 202) -> httpx.Response:
        r = self.api.post(f"/agent/{self.uuid}/command/{command['id']}",
                          json={"status": status}, headers={"X-Agent-Token": self.token})
        assert r.status_code == expect, r.text
        return r


def test_an_outsider_with_a_mac_gets_nothing_usable(api: Ironic,
                                                    service: support.Service) -> None:
    token = _outsider_then_agent(api, service)
    with sqlite3.connect(service.data_dir / "barecloud.sqlite") as db:
        dump = "\n".join(db.iterdump())
        assert db.execute("SELECT agent_token FROM nodes").fetchall() == [(None,)]
    assert token not in dump


def test_an_outsider_gets_nothing_on_postgresql(pg_service: support.Service) -> None:
    api = Ironic(pg_service)
    try:
        _outsider_then_agent(api, pg_service)
    finally:
        api.close()


def _outsider_then_agent(api: Ironic, service: support.Service) -> str:
    """The attack, then the real deploy; the token, for the caller to look for."""
    node = _deploying(api)
    uuid = node["uuid"]
    boot = httpx.Client(base_url=service.url, timeout=10)
    # The machine boots: its firmware fetches its script, once.
    first = boot.get(SCRIPT)
    assert first.status_code == 200, first.text
    token = _token_of(first.text)
    agent = Agent(api, uuid, token)

    # (a) The same URL again gives no token: the script was for one boot.
    again = boot.get(SCRIPT)
    assert again.status_code == 404 and "token" not in again.text
    # (b) Lookup finds the node, and says nothing else.
    found = api.ok("GET", "/lookup", params={"addresses": MAC})
    assert found == {"node": {"uuid": uuid}, "config": {
        "heartbeat_timeout": found["config"]["heartbeat_timeout"],
        "agent_token": "******", "agent_token_required": True}}
    # (c) Without the token, no command is read and no report is taken, even with the
    # command's id (which the attacker could not learn any more).
    write = agent.poll()
    assert write["name"] == "write_image"
    url = f"/agent/{uuid}/command"
    assert "token" in fault(api.get(url), 401)
    for headers in ({}, {"X-Agent-Token": "guess"}, {"X-Agent-Token": token[:-1]}):
        r = api.post(f"{url}/{write['id']}", json={"status": "succeeded"}, headers=headers)
        assert "token" in fault(r, 401)
    for _ in range(20):  # a flood of forgeries
        assert api.post(f"{url}/{write['id']}", json={"status": "succeeded"}).status_code == 401
    r = api.post(f"/heartbeat/{uuid}", json={"agent_token": "guess"})
    assert "token" in fault(r, 401)
    # The node named in the body instead, as Ironic's controller also takes it.
    r = api.post("/heartbeat", json={"node_ident": uuid, "agent_token": "guess"})
    assert "token" in fault(r, 401)
    shown = api.node(uuid)
    assert shown["provision_state"] == "wait call-back"
    assert shown["driver_internal_info"]["agent_command"]["status"] == "pending"
    # All that is recorded: one history row a minute (the first refusal, with the
    # source address), so that the flood does not fill the history; a log line each.
    refused = _refusals(api, uuid)
    assert refused == [f"boot script request for {SCRIPT[12:-5]} from 127.0.0.1 refused: "
                       "served already, or not written"]
    log = service.log()
    assert log.count(f"agent report of command {write['id']} from 127.0.0.1 refused") == 23
    assert log.count("agent command read from 127.0.0.1 refused") == 1
    assert log.count("agent heartbeat from 127.0.0.1 refused") == 2

    # The real agent deploys.
    agent.report(write)
    drive = agent.poll()
    assert drive["name"] == "write_configdrive"
    assert "openstack/latest/user_data" in drive["params"]["files"]
    agent.report(drive)
    agent.report(agent.poll())  # power_off
    done = api.wait(uuid, "active")
    assert done["last_error"] is None

    # The token and its digest are nowhere to be read (the database kept only the
    # digest while the run lasted; clean-up forgot it).
    digest = hashlib.sha256(token.encode()).hexdigest()
    seen = (api.get(f"/nodes/{uuid}").text + api.get(f"/nodes/{uuid}/history",
                                                     params={"detail": "true"}).text
            + api.get("/nodes/detail").text + service.log())
    assert token not in seen and digest not in seen
    assert USER_DATA not in service.log()
    return token


def test_the_database_holds_a_digest_not_the_token(api: Ironic,
                                                   service: support.Service) -> None:
    uuid = _deploying(api)["uuid"]
    token = _token_of(httpx.get(f"{service.url}{SCRIPT}", timeout=10).text)
    with sqlite3.connect(service.data_dir / "barecloud.sqlite") as db:
        stored = db.execute("SELECT agent_token FROM nodes WHERE uuid = ?", (uuid,)).fetchone()
    assert stored == (hashlib.sha256(token.encode()).hexdigest(),)


def test_a_replayed_report_is_refused_and_recorded(api: Ironic,
                                                   service: support.Service) -> None:
    uuid = _deploying(api)["uuid"]
    token = _token_of(httpx.get(f"{service.url}{SCRIPT}", timeout=10).text)
    agent = Agent(api, uuid, token)
    write = agent.poll()
    agent.report(write)
    # Whether the next command is out yet or not, the old one is over.
    assert write["id"] in fault(agent.report(write, expect=409), 409)
    refused = _refusals(api, uuid)
    assert len(refused) == 1 and "from 127.0.0.1" in refused[0], refused
    assert token not in refused[0]


def test_a_new_preparation_gets_a_new_token_and_the_old_one_is_dead(
        api: Ironic, service: support.Service) -> None:
    uuid = _deploying(api)["uuid"]
    old = _token_of(httpx.get(f"{service.url}{SCRIPT}", timeout=10).text)
    agent = Agent(api, uuid, old)
    for _ in range(3):
        agent.report(agent.poll())
    api.wait(uuid, "active")
    api.provision(uuid, "rebuild")
    waiting(api, uuid, "wait call-back")
    new = _token_of(httpx.get(f"{service.url}{SCRIPT}", timeout=10).text)
    assert new != old
    assert "token" in fault(api.get(f"/agent/{uuid}/command",
                                    headers={"X-Agent-Token": old}), 401)
    assert Agent(api, uuid, new).poll()["name"] == "write_image"


@pytest.fixture
def short_ttl(tmp_path: Any) -> Iterator[support.Service]:
    svc = support.start_service(tmp_path / "svc", extra_env={
        "BARECLOUD_BOOT_SCRIPT_TTL": "1"})
    try:
        yield svc
    finally:
        svc.stop()


def test_a_script_not_fetched_in_time_is_gone(short_ttl: support.Service) -> None:
    api = Ironic(short_ttl)
    try:
        uuid = _deploying(api)["uuid"]
        time.sleep(1.5)
        r = httpx.get(f"{short_ttl.url}{SCRIPT}", timeout=10)
        assert r.status_code == 404 and "token" not in r.text
        refused = _refusals(api, uuid)
        assert len(refused) == 1 and "boot script" in refused[0], refused
        assert "from 127.0.0.1" in refused[0]
    finally:
        api.close()
