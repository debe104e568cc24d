"""Servers on fake-hardware nodes over HTTP: the life of a server, lists, faults, bad input.

Every test enrolls its own nodes with a resource class no other test uses,
and a flavor asking for it, so tests sharing the module's service never
compete for nodes.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import uuid
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.api.compute.nova import Nova, console_file, fault


def _mac(seed: str, i: int = 0) -> str:
    h = hashlib.sha1(seed.encode()).digest()
    return f"52:54:{h[0]:02x}:{h[1]:02x}:{h[2]:02x}:{i:02x}"


def test_server_life(nova: Nova, rc: str, tmp_path: Path) -> None:
    log = console_file(tmp_path, 30)
    node = nova.node(rc, mac=_mac(rc), driver_info={"console_log": str(log)},
                     properties={"availability_zone": f"az-{rc}", "local_gb": 40})
    image, other_image = nova.image(), nova.image(b"\x02" * 4096)
    flavor = nova.flavor(rc)
    nova.ok("POST", "/os-keypairs", 201, version="2.10",
            json={"keypair": {"name": f"key-{rc}"}})
    user_data = base64.b64encode(b"#cloud-config\nhostname: web\n").decode()
    created = nova.create("Web Server_1", image, flavor, key_name=f"key-{rc}",
                          user_data=user_data, metadata={"role": "web"},
                          availability_zone=f"az-{rc}")
    sid = created["server"]["id"]
    assert created["server"]["links"][0]["href"].endswith(f"/compute/v2.1/servers/{sid}")
    s = nova.wait_status(sid, "ACTIVE")
    assert s["OS-EXT-STS:vm_state"] == "active" and s["OS-EXT-STS:power_state"] == 1
    assert s["OS-EXT-SRV-ATTR:hypervisor_hostname"] == node["uuid"]
    assert s["OS-EXT-SRV-ATTR:host"] == node["name"]
    assert s["OS-EXT-SRV-ATTR:hostname"] == "web-server-1"  # Nova's sanitize_hostname
    assert s["OS-EXT-AZ:availability_zone"] == f"az-{rc}"
    assert s["pinned_availability_zone"] == f"az-{rc}"
    assert s["metadata"] == {"role": "web"} and s["key_name"] == f"key-{rc}"
    assert s["OS-EXT-SRV-ATTR:user_data"] == user_data
    assert s["image"]["id"] == image
    assert s["flavor"]["original_name"] and s["flavor"]["extra_specs"][
        f"resources:CUSTOM_{rc.upper().replace('-', '_')}"] == "1"
    # A NIC with no IP address: the network, no address (as Nova shows a port with no
    # fixed IP); there is no security group, so no "security_groups".
    assert s["addresses"] == {"provisioning": []} and "security_groups" not in s
    assert s["OS-SRV-USG:launched_at"] and s["hostId"]
    assert s["host_status"] == "UP" and "fault" not in s
    old = nova.server(sid, headers={"OpenStack-API-Version": "compute 2.46"})
    assert old["flavor"]["id"] == flavor and "OS-EXT-SRV-ATTR:hostname" in old
    assert "pinned_availability_zone" not in old and "description" in old
    n = nova.node_of(node["uuid"])
    assert n["instance_uuid"] == sid and n["provision_state"] == "active"
    assert n["instance_info"]["image_source"] == image
    assert n["instance_info"]["display_name"] == "Web Server_1"
    assert n["instance_info"]["local_gb"] == "40"

    # Rename and describe.
    upd = nova.ok("PUT", f"/servers/{sid}", json={"server": {"name": "web2",
                                                             "description": "front"}})
    assert upd["server"]["name"] == "web2" and upd["server"]["description"] == "front"

    # Power: stop, start, reboot; each follows the node's power state.
    assert nova.action(sid, {"os-stop": None}).status_code == 202
    s = nova.wait_status(sid, "SHUTOFF")
    assert s["OS-EXT-STS:power_state"] == 4
    assert nova.node_of(node["uuid"])["power_state"] == "power off"
    r = nova.action(sid, {"os-stop": None})
    assert fault(r, 409) == f"Cannot 'stop' instance {sid} while it is in vm_state stopped"
    assert nova.action(sid, {"os-start": None}).status_code == 202
    nova.wait_status(sid, "ACTIVE")
    assert nova.node_of(node["uuid"])["power_state"] == "power on"
    assert nova.action(sid, {"reboot": {"type": "HARD"}}).status_code == 202
    assert nova.wait_status(sid, "ACTIVE")["OS-EXT-STS:power_state"] == 1
    assert nova.action(sid, {"reboot": {"type": "SOFT"}}).status_code == 202
    nova.wait_status(sid, "ACTIVE")

    # Console output: the tail of the node's console log.
    out = nova.ok("POST", f"/servers/{sid}/action",
                  json={"os-getConsoleOutput": {"length": 3}})["output"]
    assert out == "line 29\nline 30\n"  # Nova's: the final newline's empty piece counts
    whole = nova.ok("POST", f"/servers/{sid}/action",
                    json={"os-getConsoleOutput": {}})["output"]
    assert whole.count("\n") == 30
    assert nova.ok("POST", f"/servers/{sid}/action",
                   json={"os-getConsoleOutput": {"length": "-1"}})["output"] == whole
    r = nova.action(sid, {"os-getConsoleOutput": {"length": -2}})
    assert "less than the minimum" in fault(r, 400)

    # Rebuild with another image: the same node, the new image, a new config drive.
    r = nova.action(sid, {"rebuild": {"imageRef": other_image, "name": "web3"}})
    assert r.status_code == 202 and r.json()["server"]["status"] == "REBUILD"
    s = nova.wait_status(sid, "ACTIVE")
    assert s["image"]["id"] == other_image and s["name"] == "web3"
    n = nova.node_of(node["uuid"])
    assert n["instance_info"]["image_source"] == other_image and n["instance_uuid"] == sid

    # Unsupported and unknown actions say so.
    assert "createBackup is not supported" in fault(
        nova.action(sid, {"createBackup": {"name": "b", "backup_type": "daily",
                                           "rotation": 1}}), 400)
    assert fault(nova.action(sid, {"fly": None}), 400) == "There is no such action: fly"

    # Delete: gone from the API once the node is undeployed; the node is cleaned and
    # only then free again.
    assert nova.request("DELETE", f"/servers/{sid}").status_code == 204
    nova.wait_gone(sid)
    assert sid not in [x["id"] for x in nova.ok("GET", "/servers")["servers"]]
    n = nova.wait_node(node["uuid"], lambda n: n["provision_state"] == "available"
                       and n["instance_uuid"] is None)
    history = nova.bm.get(f"/nodes/{node['uuid']}/history").json()["history"]
    assert any("cleaning" in h["event"] for h in history)
    assert n["instance_info"] == {}


def test_console_without_a_log_is_409(nova: Nova, rc: str) -> None:
    nova.node(rc)
    sid = nova.create("quiet", nova.image(), nova.flavor(rc))["server"]["id"]
    nova.wait_status(sid, "ACTIVE")
    assert fault(nova.action(sid, {"os-getConsoleOutput": {"length": 5}}), 409) == \
        "Guest does not have a console available."


def test_multi_create_and_reservation(nova: Nova, rc: str) -> None:
    nodes = {nova.node(rc)["uuid"] for _ in range(3)}
    image, flavor = nova.image(), nova.flavor(rc)
    body = {"server": {"name": "multi", "imageRef": image, "flavorRef": flavor,
                       "networks": "auto", "min_count": 3, "max_count": 3,
                       "return_reservation_id": True}}
    rid = nova.ok("POST", "/servers", 202, json=body)["reservation_id"]
    assert rid.startswith("r-")
    found = nova.ok("GET", "/servers/detail", params={"reservation_id": rid})["servers"]
    assert sorted(s["name"] for s in found) == ["multi-1", "multi-2", "multi-3"]
    assert sorted(s["OS-EXT-SRV-ATTR:hostname"] for s in found) == ["multi-1", "multi-2",
                                                                    "multi-3"]
    assert sorted(s["OS-EXT-SRV-ATTR:launch_index"] for s in found) == [0, 1, 2]
    active = [nova.wait_status(s["id"], "ACTIVE") for s in found]
    assert {s["OS-EXT-SRV-ATTR:hypervisor_hostname"] for s in active} == nodes
    for s in active:
        nova.request("DELETE", f"/servers/{s['id']}")


# What tempest checks of a server (tempest/lib/api_schema/response/compute/v2_1/
# servers.py and parameter_types.py): the constraints the view must meet.
_ADDRESSES = {"type": "object", "patternProperties": {"^[a-zA-Z0-9-_.]+$": {
    "type": "array", "items": {
        "type": "object",
        "properties": {"version": {"type": "integer"},
                       "addr": {"type": "string",
                                "oneOf": [{"format": "ipv4"}, {"format": "ipv6"}]},
                       "OS-EXT-IPS:type": {"type": "string"},
                       "OS-EXT-IPS-MAC:mac_addr": {
                           "type": "string", "pattern": "(?:[a-f0-9]{2}:){5}[a-f0-9]{2}"}},
        "additionalProperties": False, "required": ["version", "addr"]}}}}
_SERVER = {"type": "object", "properties": {
    "addresses": _ADDRESSES, "security_groups": {"type": "array"},
    "accessIPv4": {"type": "string", "oneOf": [{"format": "ipv4"}, {"enum": [""]}]},
    "accessIPv6": {"type": "string", "oneOf": [{"format": "ipv6"}, {"enum": [""]}]}},
    "required": ["id", "name", "status", "image", "flavor", "user_id", "tenant_id",
                 "created", "updated", "metadata", "links", "addresses", "hostId"]}
_CREATED = {"type": "object", "properties": {"server": {
    "type": "object", "properties": {"id": {"type": "string"},
                                     "security_groups": {"type": "array"},
                                     "links": {"type": "array"},
                                     "OS-DCF:diskConfig": {"type": "string"}},
    "additionalProperties": False, "required": ["id", "links"]}},
    "additionalProperties": False, "required": ["server"]}


def _valid(schema: dict[str, Any], body: Any) -> None:
    jsonschema.Draft4Validator(schema, format_checker=jsonschema.FormatChecker()).validate(
        body)


def test_servers_pass_novas_response_schema(nova: Nova, rc: str) -> None:
    """A client that validates responses (tempest, strict SDKs) reads every server: a
    NIC without an IP address is no ``"addr": ""``, and no security group is claimed."""
    nova.node(rc, mac=_mac(rc, 1))
    r = nova.request("POST", "/servers", json={"server": {
        "name": "strict", "imageRef": nova.image(), "flavorRef": nova.flavor(rc),
        "networks": "none"}})
    assert r.status_code == 202, r.text
    _valid(_CREATED, r.json())
    sid = r.json()["server"]["id"]
    shown = nova.wait_status(sid, "ACTIVE")
    _valid(_SERVER, shown)
    for s in nova.ok("GET", "/servers/detail")["servers"]:
        _valid(_SERVER, s)
    assert shown["addresses"] == {"provisioning": []}
    assert "security_groups" not in shown and "security_groups" not in r.json()["server"]
    nova.request("DELETE", f"/servers/{sid}")


def _multi(nova: Nova, rc: str, lo: int, hi: int) -> list[dict[str, Any]]:
    body = {"server": {"name": f"m{lo}-{hi}", "imageRef": nova.image(),
                       "flavorRef": nova.flavor(rc), "networks": "none", "min_count": lo,
                       "max_count": hi, "return_reservation_id": True}}
    rid = nova.ok("POST", "/servers", 202, json=body)["reservation_id"]
    found = nova.ok("GET", "/servers/detail", params={"reservation_id": rid})["servers"]
    return [nova.wait(s["id"], lambda x: x["status"] in ("ACTIVE", "ERROR")) for s in found]


def test_a_multi_create_that_does_not_fit_fails_whole(nova: Nova, rc: str) -> None:
    """Nova's NoValidHost: with 3 free machines, ``--min 4 --max 4`` is 4 servers in
    ERROR and no machine deployed, not 3 ACTIVE and 1 ERROR.  ``min_count`` counts
    against the quota only: ``--min 2 --max 4`` makes 4 servers, which must all fit."""
    nodes = [nova.node(rc)["uuid"] for _ in range(3)]
    for lo, hi in ((4, 4), (2, 4)):
        servers = _multi(nova, rc, lo, hi)
        assert len(servers) == 4
        assert [s["status"] for s in servers] == ["ERROR"] * 4
        assert {s["fault"]["message"] for s in servers} == {
            "No valid host was found. There are not enough hosts available."}
        for n in nodes:
            node = nova.node_of(n)
            assert (node["provision_state"], node["instance_uuid"]) == ("available", None)
        for s in servers:
            nova.request("DELETE", f"/servers/{s['id']}")
    # Three fit three.
    servers = _multi(nova, rc, 3, 3)
    assert [s["status"] for s in servers] == ["ACTIVE"] * 3
    assert {s["OS-EXT-SRV-ATTR:hypervisor_hostname"] for s in servers} == set(nodes)
    for s in servers:
        nova.request("DELETE", f"/servers/{s['id']}")


def test_no_valid_host_fault_and_delete(nova: Nova, rc: str) -> None:
    sid = nova.create("nowhere", nova.image(), nova.flavor(rc))["server"]["id"]
    s = nova.wait_status(sid, "ERROR")
    assert s["fault"]["message"] == ("No valid host was found. There are not enough hosts "
                                     "available.")
    assert s["fault"]["code"] == 500 and s["fault"]["created"].endswith("Z")
    assert "OS-EXT-SRV-ATTR:hypervisor_hostname" in s and s["hostId"] == ""
    assert nova.request("DELETE", f"/servers/{sid}").status_code == 204
    assert fault(nova.request("GET", f"/servers/{sid}"), 404) == \
        f"Instance {sid} could not be found."


def test_list_filters_sort_and_pages(nova: Nova, rc: str) -> None:
    host = nova.node(rc)
    image, flavor = nova.image(), nova.flavor(rc)
    before = dt.datetime.now(dt.UTC).replace(microsecond=0) - dt.timedelta(seconds=1)
    on_node = nova.create(f"alpha-{rc}", image, flavor)["server"]["id"]
    nova.wait_status(on_node, "ACTIVE")
    lonely = [nova.create(f"beta-{rc}-{i}", image, flavor)["server"]["id"] for i in range(2)]
    for sid in lonely:
        nova.wait_status(sid, "ERROR")
    mine = {on_node, *lonely}

    def ids(**params: Any) -> list[str]:
        return [s["id"] for s in nova.ok("GET", "/servers", params=params)["servers"]
                if s["id"] in mine]

    assert set(ids(name=f"^beta-{rc}")) == set(lonely)
    assert ids(name=f"alpha-{rc}$") == [on_node]
    assert ids(status="ACTIVE", flavor=flavor) == [on_node]
    assert set(ids(status="error", flavor=flavor)) == set(lonely)
    assert set(ids(image=image)) == mine
    assert ids(host=host["name"]) == [on_node]
    assert set(ids(**{"changes-since": before.isoformat()})) == mine
    assert ids(**{"changes-since": "2999-01-01T00:00:00Z"}) == []
    assert set(ids(all_tenants="1", flavor=flavor)) == mine
    by_name = [s["name"] for s in nova.ok("GET", "/servers", params={
        "flavor": flavor, "sort_key": "display_name", "sort_dir": "asc"})["servers"]]
    assert by_name == sorted(by_name) and len(by_name) == 3
    page = nova.ok("GET", "/servers", params={"flavor": flavor, "limit": 2})
    assert len(page["servers"]) == 2 and page["servers_links"][0]["rel"] == "next"
    rest = nova.ok("GET", "/servers", params={"flavor": flavor, "limit": 2,
                                              "marker": page["servers"][-1]["id"]})
    assert len(rest["servers"]) == 1 and "servers_links" not in rest
    assert {s["id"] for s in page["servers"] + rest["servers"]} == mine
    detail = nova.ok("GET", "/servers/detail", params={"flavor": flavor})["servers"]
    assert {s["status"] for s in detail} == {"ACTIVE", "ERROR"}
    for bad, words in [({"status": "DANCING"}, "Invalid status value"),
                       ({"marker": "nope"}, "marker [nope] not found"),
                       ({"sort_key": "colour"}, "sort_key"),
                       ({"sort_dir": "up"}, "sort_dir"),
                       ({"limit": "-1"}, "limit param must be positive"),
                       ({"changes-since": "yesterday"}, "is not a 'date-time'"),
                       ({"name": "("}, "Invalid regular expression")]:
        assert words in fault(nova.request("GET", "/servers", params=bad), 400), bad
    deleted = nova.request("DELETE", f"/servers/{lonely[0]}")
    assert deleted.status_code == 204
    # changes-since shows deleted servers too, as Nova's.
    since = nova.ok("GET", "/servers/detail", params={
        "changes-since": before.isoformat(), "flavor": flavor})["servers"]
    assert {s["status"] for s in since if s["id"] == lonely[0]} == {"DELETED"}


def test_actions_refused_in_the_wrong_state(nova: Nova, rc: str) -> None:
    sid = nova.create("err", nova.image(), nova.flavor(rc))["server"]["id"]
    nova.wait_status(sid, "ERROR")
    assert fault(nova.action(sid, {"os-start": None}), 409) == \
        f"Cannot 'start' instance {sid} while it is in vm_state error"
    assert fault(nova.action(sid, {"reboot": {"type": "SOFT"}}), 409) == \
        f"Cannot 'reboot' instance {sid} while it is in vm_state error"
    assert "is not one of" in fault(nova.action(sid, {"reboot": {"type": "GENTLE"}}), 400)
    assert "too many body keys" in fault(nova.action(sid, {"os-start": None,
                                                           "os-stop": None}), 400)
    assert fault(nova.action("00000000-0000-0000-0000-000000000000", {"os-start": None}),
                 404)
    assert "'imageRef' is a required property" in fault(nova.action(sid, {"rebuild": {}}), 400)
    r = nova.action(sid, {"rebuild": {"imageRef": "00000000-0000-0000-0000-000000000000"}})
    assert "could not be found" in fault(r, 400)
    assert nova.server(sid)["status"] == "ERROR"


def test_bad_create_is_400_and_creates_nothing(nova: Nova, rc: str) -> None:
    image, flavor = nova.image(), nova.flavor(rc)
    ok: dict[str, Any] = {"name": "x", "imageRef": image, "flavorRef": flavor,
                          "networks": "none"}
    cases: list[tuple[Any, int, str]] = [
        ({}, 400, "'server' is a required property"),
        ({"server": {**ok, "name": ""}}, 400, "is too short"),
        ({"server": {k: v for k, v in ok.items() if k != "name"}}, 400,
         "'name' is a required property"),
        ({"server": {**ok, "imageRef": "not-a-uuid"}}, 400, "Invalid imageRef provided."),
        ({"server": {**ok, "imageRef": "00000000-0000-0000-0000-000000000000"}}, 400,
         "Image 00000000-0000-0000-0000-000000000000 could not be found."),
        ({"server": {**ok, "flavorRef": "nope"}}, 400, "Flavor nope could not be found."),
        ({"server": {**ok, "key_name": "nope"}}, 400, "Invalid key_name provided."),
        ({"server": {**ok, "user_data": "not base64!"}}, 400,
         "User data needs to be valid base 64."),
        ({"server": {**ok, "metadata": {"k": 1}}}, 400, "metadata value"),
        ({"server": {**ok, "min_count": 3, "max_count": 2}}, 400,
         "min_count must be <= max_count"),
        ({"server": {**ok, "min_count": 0}}, 400, "less than the minimum of 1"),
        ({"server": {k: v for k, v in ok.items() if k != "networks"}}, 400,
         "'networks' is a required property"),
        ({"server": {**ok, "networks": "everything"}}, 400, "not valid under any"),
        ({"server": {**ok, "networks": [{"uuid": "x"}]}}, 400, "is not a 'uuid'"),
        ({"server": {**ok, "availability_zone": "atlantis"}}, 400,
         "The requested availability zone is not available"),
        ({"server": {**ok, "colour": "red"}}, 400, "('colour' was unexpected)"),
        ({"server": {**ok, "personality": [{"path": "/x", "contents": ""}]}}, 400,
         "('personality' was unexpected)"),
        ({"server": {**ok, "block_device_mapping_v2": [{"source_type": "volume",
                                                        "uuid": image}]}}, 400,
         "Block device mapping is not supported"),
        ({"server": {**ok, "imageRef": ""}}, 400, "Invalid imageRef provided"),
    ]
    before = len(nova.ok("GET", "/servers")["servers"])
    for body, status, words in cases:
        message = fault(nova.request("POST", "/servers", json=body), status)
        assert words in message, (body, message)
    assert len(nova.ok("GET", "/servers")["servers"]) == before
    assert "Malformed JSON" in fault(nova.request(
        "POST", "/servers", content=b"{", headers={"Content-Type": "application/json"}), 400)


@pytest.mark.parametrize("path", ["/servers/nope", "/servers/00000000-0000-0000-0000-0000"
                                  "00000000"])
def test_unknown_server_is_404(nova: Nova, path: str) -> None:
    ident = path.rsplit("/", 1)[1]
    assert fault(nova.request("GET", path), 404) == f"Instance {ident} could not be found."
    assert fault(nova.request("DELETE", path), 404)
    assert fault(nova.request("PUT", path, json={"server": {"name": "x"}}), 404)


def test_reset_state_and_inject_network_info(nova: Nova, rc: str) -> None:
    """An admin's os-resetState writes the state and nothing else; injectNetworkInfo has
    nothing to do on a machine, as Nova's Ironic driver."""
    nova.node(rc, mac=_mac(rc, 3))
    sid = nova.create("reset", nova.image(), nova.flavor(rc))["server"]["id"]
    nova.wait_status(sid, "ACTIVE")
    assert nova.action(sid, {"os-resetState": {"state": "error"}}).status_code == 202
    s = nova.server(sid)
    assert (s["status"], s["OS-EXT-STS:vm_state"], s["OS-EXT-STS:task_state"]) == \
        ("ERROR", "error", None)
    assert nova.action(sid, {"os-resetState": {"state": "active"}}).status_code == 202
    assert nova.server(sid)["status"] == "ACTIVE"
    assert "is not one of" in fault(nova.action(sid, {"os-resetState": {"state": "gone"}}),
                                    400)
    assert nova.action(sid, {"injectNetworkInfo": None}).status_code == 202
    assert nova.action(sid, {"injectNetworkInfo": {}}).status_code == 202  # tempest's
    assert nova.request("DELETE", f"/servers/{sid}").status_code == 204
    r = nova.action(sid, {"os-resetState": {"state": "active"}})
    if r.status_code != 404:  # gone already, or still deleting: then refused
        assert fault(r, 409).startswith(f"Cannot 'os-resetState' instance {sid}")
    nova.wait_gone(sid)


def test_restore_and_force_delete_find_no_soft_deleted_server(nova: Nova, rc: str) -> None:
    """barecloud deletes at once (Nova's reclaim_instance_interval 0): 409, as Nova's."""
    nova.node(rc)
    sid = nova.create(f"restore-{rc}", nova.image(), nova.flavor(rc))["server"]["id"]
    nova.wait_status(sid, "ACTIVE")
    for action in ("restore", "forceDelete"):
        assert fault(nova.action(sid, {action: None}), 409) == \
            f"Cannot '{action}' instance {sid} while it is in vm_state active"
    assert fault(nova.action(str(uuid.uuid4()), {"restore": None}), 404)
    assert nova.request("DELETE", f"/servers/{sid}").status_code == 204
    nova.wait_gone(sid)
