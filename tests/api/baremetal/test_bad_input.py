"""Every bad request gets the right 4xx in Ironic's error format and changes nothing.

Each case runs against the same small world (nodes in enroll and active, a
port, an allocation) and compares everything a client can read — nodes,
ports, allocations, and every node's history — before and after.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from tests import support
from tests.api.baremetal.ironic import LATEST, MAX_HEADER, MIN_HEADER, Ironic, fault

ALPHA_MAC = "52:54:00:aa:00:01"


@dataclass
class World:
    api: Ironic
    ids: dict[str, str]


@pytest.fixture(scope="module")
def world(module_service: support.Service) -> Iterator[World]:
    api = Ironic(module_service)
    alpha = api.create_node(name="alpha", driver_info={"fake_password": "pw-alpha"},
                            resource_class="rc-alpha")
    beta = api.create_node(name="beta")
    port = api.ok("POST", "/ports", 201, json={"node_uuid": alpha["uuid"], "address": ALPHA_MAC})
    port2 = api.ok("POST", "/ports", 201,
                   json={"node_uuid": beta["uuid"], "address": "52:54:00:bb:00:01"})
    gamma = api.create_node(name="gamma", resource_class="rc-gamma")
    api.to_state(gamma["uuid"], "active")
    alloc = api.ok("POST", "/allocations", 201, json={"resource_class": "rc-none",
                                                      "name": "alloc-1"})
    api.allocated(alloc["uuid"])  # settled: before/after snapshots compare
    try:
        yield World(api, {"alpha": alpha["uuid"], "beta": beta["uuid"], "gamma": gamma["uuid"],
                          "port": port["uuid"], "port2": port2["uuid"], "alloc": alloc["uuid"]})
    finally:
        api.close()


@dataclass
class Case:
    id: str
    method: str
    path: str
    status: int
    fragment: str
    version: str | None = None
    kw: dict[str, Any] = field(default_factory=dict)


def patch(*ops: dict[str, Any]) -> dict[str, Any]:
    return {"json": list(ops)}


def rep(path: str, value: Any) -> dict[str, Any]:
    return {"op": "replace", "path": path, "value": value}


RAW_JSON = {"headers": {"Content-Type": "application/json"}}

CASES = [
    # --- node create -----------------------------------------------------
    Case("create-unknown-field", "POST", "/nodes", 400, "Unknown attribute",
         kw={"json": {"driver": "fake-hardware", "name": "new-1", "bogus": 1}}),
    Case("create-properties-list", "POST", "/nodes", 400, "properties",
         kw={"json": {"driver": "fake-hardware", "name": "new-1", "properties": []}}),
    Case("create-driver-info-string", "POST", "/nodes", 400, "driver_info",
         kw={"json": {"driver": "fake-hardware", "driver_info": "ipmi"}}),
    Case("create-name-number", "POST", "/nodes", 400, "name",
         kw={"json": {"driver": "fake-hardware", "name": 7}}),
    Case("create-name-uuid-like", "POST", "/nodes", 400, "logical name",
         kw={"json": {"driver": "fake-hardware",
                      "name": "11111111-2222-3333-4444-555555555555"}}),
    Case("create-bad-uuid", "POST", "/nodes", 400, "UUID",
         kw={"json": {"driver": "fake-hardware", "uuid": "not-a-uuid"}}),
    Case("create-retired-maybe", "POST", "/nodes", 400, "retired",
         kw={"json": {"driver": "fake-hardware", "retired": "maybe"}}),
    Case("create-no-driver", "POST", "/nodes", 400, "driver",
         kw={"json": {"name": "new-1"}}),
    Case("create-unknown-driver", "POST", "/nodes", 400, "driver 'ipmi-nope'",
         kw={"json": {"driver": "ipmi-nope", "name": "new-1"}}),
    Case("create-unknown-interface", "POST", "/nodes", 400, "power interface 'ipmitool'",
         kw={"json": {"driver": "fake-hardware", "power_interface": "ipmitool"}}),
    Case("create-unknown-network-interface", "POST", "/nodes", 400, "network interface 'nope-net'",
         kw={"json": {"driver": "fake-hardware", "network_interface": "nope-net"}}),
    Case("create-duplicate-name", "POST", "/nodes", 409, "alpha already exists",
         kw={"json": {"driver": "fake-hardware", "name": "alpha"}}),
    Case("create-duplicate-uuid", "POST", "/nodes", 409, "already exists",
         kw={"json": {"driver": "fake-hardware", "uuid": "{alpha}"}}),
    Case("create-malformed-json", "POST", "/nodes", 400, "Malformed JSON",
         kw={"content": b'{"driver": "fake-hardware",', **RAW_JSON}),
    Case("create-empty-body", "POST", "/nodes", 400, "empty", kw={"content": b"", **RAW_JSON}),
    Case("create-array-body", "POST", "/nodes", 400, "JSON object",
         kw={"json": [{"driver": "fake-hardware"}]}),
    Case("create-name-at-1.1", "POST", "/nodes", 406, "name", version="1.1",
         kw={"json": {"driver": "fake-hardware", "name": "old-style"}}),
    Case("create-resource-class-at-1.20", "POST", "/nodes", 406, "resource_class",
         version="1.20", kw={"json": {"driver": "fake-hardware", "resource_class": "x"}}),
    Case("create-owner-at-1.49", "POST", "/nodes", 406, "owner", version="1.49",
         kw={"json": {"driver": "fake-hardware", "owner": "p1"}}),
    # --- node patch ------------------------------------------------------
    Case("patch-maintenance-maybe", "PATCH", "/nodes/{alpha}", 400, "maintenance",
         kw=patch(rep("/maintenance", "maybe"))),
    Case("patch-maintenance-number", "PATCH", "/nodes/{alpha}", 400, "maintenance",
         kw=patch(rep("/maintenance", 5))),
    Case("patch-maintenance-reason-dict", "PATCH", "/nodes/{alpha}", 400, "maintenance_reason",
         kw=patch(rep("/maintenance", True), rep("/maintenance_reason", {"a": 1}))),
    Case("patch-properties-list", "PATCH", "/nodes/{alpha}", 400, "properties",
         kw=patch(rep("/properties", []))),
    Case("patch-extra-string", "PATCH", "/nodes/{alpha}", 400, "extra",
         kw=patch(rep("/extra", "x"))),
    Case("patch-not-a-list", "PATCH", "/nodes/{alpha}", 400, "list",
         kw={"json": rep("/name", "x")}),
    Case("patch-bad-op", "PATCH", "/nodes/{alpha}", 400, "op",
         kw=patch({"op": "frobnicate", "path": "/name", "value": "x"})),
    Case("patch-missing-path", "PATCH", "/nodes/{alpha}", 400, "path",
         kw=patch({"op": "replace", "value": "x"})),
    Case("patch-missing-value", "PATCH", "/nodes/{alpha}", 400, "value",
         kw=patch({"op": "replace", "path": "/name"})),
    Case("patch-relative-path", "PATCH", "/nodes/{alpha}", 400, "path",
         kw=patch(rep("name", "x"))),
    Case("patch-provision-state", "PATCH", "/nodes/{alpha}", 400, "internal",
         kw=patch(rep("/provision_state", "active"))),
    Case("patch-power-state", "PATCH", "/nodes/{alpha}", 400, "internal",
         kw=patch(rep("/power_state", "power on"))),
    Case("patch-uuid", "PATCH", "/nodes/{alpha}", 400, "internal",
         kw=patch(rep("/uuid", "11111111-2222-3333-4444-555555555555"))),
    Case("patch-reservation", "PATCH", "/nodes/{alpha}", 400, "internal",
         kw=patch(rep("/reservation", "me"))),
    Case("patch-driver-internal-info", "PATCH", "/nodes/{alpha}", 400, "internal",
         kw=patch({"op": "add", "path": "/driver_internal_info/x", "value": 1})),
    Case("patch-traits", "PATCH", "/nodes/{alpha}", 400, "internal",
         kw=patch(rep("/traits", ["CUSTOM_X"]))),
    Case("patch-unknown-field", "PATCH", "/nodes/{alpha}", 400, "Unknown attribute",
         kw=patch({"op": "add", "path": "/colour", "value": "red"})),
    Case("patch-remove-driver", "PATCH", "/nodes/{alpha}", 400, "mandatory",
         kw=patch({"op": "remove", "path": "/driver"})),
    Case("patch-unknown-driver", "PATCH", "/nodes/{alpha}", 400, "driver",
         kw=patch(rep("/driver", "ipmi-nope"))),
    Case("patch-unknown-interface", "PATCH", "/nodes/{alpha}", 400, "deploy interface",
         kw=patch(rep("/deploy_interface", "ansible"))),
    Case("patch-remove-missing-key", "PATCH", "/nodes/{alpha}", 400, "JSON patch",
         kw=patch({"op": "remove", "path": "/extra/not-there"})),
    Case("patch-duplicate-name", "PATCH", "/nodes/{alpha}", 409, "already exists",
         kw=patch(rep("/name", "beta"))),
    # Atomic: the good first operation is not kept when a later one fails.
    Case("patch-good-then-bad", "PATCH", "/nodes/{alpha}", 400, "internal",
         kw=patch({"op": "add", "path": "/extra/kept", "value": "no"},
                  rep("/provision_state", "active"))),
    Case("patch-good-then-duplicate", "PATCH", "/nodes/{alpha}", 409, "already exists",
         kw=patch({"op": "add", "path": "/extra/kept", "value": "no"}, rep("/name", "beta"))),
    Case("patch-test-secret", "PATCH", "/nodes/{alpha}", 400, "secret",
         kw=patch({"op": "test", "path": "/driver_info/fake_password", "value": "guess"})),
    Case("patch-copy-secret", "PATCH", "/nodes/{alpha}", 400, "secret",
         kw=patch({"op": "copy", "from": "/driver_info/fake_password", "path": "/extra/x"})),
    Case("patch-name-at-1.1", "PATCH", "/nodes/{alpha}", 406, "name", version="1.1",
         kw=patch(rep("/name", "renamed"))),
    Case("patch-malformed-json", "PATCH", "/nodes/{alpha}", 400, "Malformed JSON",
         kw={"content": b"[{", **RAW_JSON}),
    Case("patch-unknown-node", "PATCH", "/nodes/no-such-node", 404, "could not be found",
         kw=patch(rep("/extra", {}))),
    # --- provision and power states --------------------------------------
    Case("deploy-from-enroll", "PUT", "/nodes/{alpha}/states/provision", 400,
         'can not be performed on node "{alpha}" while it is in state "enroll"',
         kw={"json": {"target": "active"}}),
    Case("provide-from-enroll", "PUT", "/nodes/{alpha}/states/provision", 400,
         "can not be performed", kw={"json": {"target": "provide"}}),
    Case("manage-active", "PUT", "/nodes/{gamma}/states/provision", 400,
         "can not be performed", kw={"json": {"target": "manage"}}),
    Case("provision-unknown-target", "PUT", "/nodes/{alpha}/states/provision", 400,
         "target", kw={"json": {"target": "explode"}}),
    Case("provision-no-target", "PUT", "/nodes/{alpha}/states/provision", 400, "target",
         kw={"json": {"configdrive": "x"}}),
    Case("provision-unknown-attribute", "PUT", "/nodes/{alpha}/states/provision", 400,
         "Unknown attribute", kw={"json": {"target": "manage", "colour": "red"}}),
    Case("rebuild-configdrive-unknown-key", "PUT", "/nodes/{gamma}/states/provision", 400,
         "Unknown config drive keys", kw={"json": {"target": "rebuild",
                                                   "configdrive": {"colour": "red"}}}),
    Case("rebuild-configdrive-url", "PUT", "/nodes/{gamma}/states/provision", 400,
         "URL is not supported", kw={"json": {"target": "rebuild",
                                              "configdrive": "http://x/cd.iso"}}),
    Case("rebuild-configdrive-number", "PUT", "/nodes/{gamma}/states/provision", 400,
         "configdrive must be", kw={"json": {"target": "rebuild", "configdrive": 5}}),
    Case("rebuild-configdrive-bad-meta", "PUT", "/nodes/{gamma}/states/provision", 400,
         "meta_data has the wrong type",
         kw={"json": {"target": "rebuild", "configdrive": {"meta_data": "x"}}}),
    Case("manage-with-configdrive", "PUT", "/nodes/{alpha}/states/provision", 400,
         "only be given", kw={"json": {"target": "manage", "configdrive": "abc"}}),
    Case("provision-deploy-verb-at-1.72", "PUT", "/nodes/{gamma}/states/provision", 406,
         "1.73", version="1.72", kw={"json": {"target": "undeploy"}}),
    Case("provision-manage-at-1.3", "PUT", "/nodes/{alpha}/states/provision", 406, "1.4",
         version="1.3", kw={"json": {"target": "manage"}}),
    Case("provision-unknown-node", "PUT", "/nodes/no-such-node/states/provision", 404,
         "could not be found", kw={"json": {"target": "manage"}}),
    Case("power-invalid-target", "PUT", "/nodes/{gamma}/states/power", 400, "power state",
         kw={"json": {"target": "power sideways"}}),
    Case("power-no-target", "PUT", "/nodes/{gamma}/states/power", 400, "target",
         kw={"json": {}}),
    Case("power-bad-timeout", "PUT", "/nodes/{gamma}/states/power", 400, "timeout",
         kw={"json": {"target": "power off", "timeout": -3}}),
    Case("power-timeout-string", "PUT", "/nodes/{gamma}/states/power", 400, "timeout",
         kw={"json": {"target": "power off", "timeout": "soon"}}),
    Case("power-soft-at-1.26", "PUT", "/nodes/{gamma}/states/power", 406, "1.27",
         version="1.26", kw={"json": {"target": "soft power off"}}),
    Case("boot-device-invalid", "PUT", "/nodes/{gamma}/management/boot_device", 400,
         "boot device", kw={"json": {"boot_device": "floppy"}}),
    Case("maintenance-reason-number", "PUT", "/nodes/{alpha}/maintenance", 400, "reason",
         kw={"json": {"reason": 42}}),
    Case("maintenance-body-list", "PUT", "/nodes/{alpha}/maintenance", 400, "reason",
         kw={"json": ["broken"]}),
    # --- delete ----------------------------------------------------------
    Case("delete-active-node", "DELETE", "/nodes/{gamma}", 409, 'provision state "active"'),
    Case("delete-unknown-node", "DELETE", "/nodes/no-such-node", 404, "could not be found"),
    Case("delete-unknown-allocation", "DELETE", "/allocations/no-such-allocation", 404,
         "could not be found"),
    # --- traits ----------------------------------------------------------
    Case("trait-lowercase", "PUT", "/nodes/{alpha}/traits/custom_lower", 400, "trait"),
    Case("traits-not-a-list", "PUT", "/nodes/{alpha}/traits", 400, "list",
         kw={"json": {"traits": "CUSTOM_A"}}),
    Case("traits-wrong-body", "PUT", "/nodes/{alpha}/traits", 400, "traits",
         kw={"json": ["CUSTOM_A"]}),
    Case("traits-one-bad", "PUT", "/nodes/{alpha}/traits", 400, "trait",
         kw={"json": {"traits": ["CUSTOM_OK", "bad trait"]}}),
    Case("traits-at-1.36", "PUT", "/nodes/{alpha}/traits/CUSTOM_A", 405, "not allowed",
         version="1.36"),
    Case("remove-missing-trait", "DELETE", "/nodes/{alpha}/traits/CUSTOM_NOPE", 404, "trait"),
    # --- ports -----------------------------------------------------------
    Case("port-duplicate-mac", "POST", "/ports", 409, "already exists",
         kw={"json": {"node_uuid": "{beta}", "address": ALPHA_MAC}}),
    Case("port-duplicate-mac-other-spelling", "POST", "/ports", 409, "already exists",
         kw={"json": {"node_uuid": "{beta}", "address": ALPHA_MAC.upper().replace(":", "-")}}),
    Case("port-bad-mac", "POST", "/ports", 400, "MAC",
         kw={"json": {"node_uuid": "{beta}", "address": "52:54:00:zz:00:01"}}),
    Case("port-no-node", "POST", "/ports", 400, "node_uuid",
         kw={"json": {"address": "52:54:00:cc:00:01"}}),
    Case("port-unknown-node", "POST", "/ports", 400, "could not be found",
         kw={"json": {"node_uuid": "11111111-2222-3333-4444-555555555555",
                      "address": "52:54:00:cc:00:01"}}),
    Case("port-unknown-field", "POST", "/ports", 400, "Unknown attribute",
         kw={"json": {"node_uuid": "{beta}", "address": "52:54:00:cc:00:01", "speed": 10}}),
    Case("port-pxe-enabled-maybe", "POST", "/ports", 400, "pxe_enabled",
         kw={"json": {"node_uuid": "{beta}", "address": "52:54:00:cc:00:01",
                      "pxe_enabled": "maybe"}}),
    Case("port-physnet-at-1.33", "POST", "/ports", 406, "physical_network", version="1.33",
         kw={"json": {"node_uuid": "{beta}", "address": "52:54:00:cc:00:01",
                      "physical_network": "physnet1"}}),
    Case("port-patch-duplicate-mac", "PATCH", "/ports/{port2}", 409, "already exists",
         kw=patch(rep("/address", ALPHA_MAC))),
    Case("port-patch-internal", "PATCH", "/ports/{port2}", 400, "internal",
         kw=patch(rep("/internal_info", {"a": 1}))),
    Case("port-bad-llc", "PATCH", "/ports/{port2}", 400, "local_link_connection",
         kw=patch(rep("/local_link_connection", {"switch_id": "x", "colour": "red"}))),
    # --- allocations -----------------------------------------------------
    Case("allocation-nothing-to-match", "POST", "/allocations", 400, "resource_class",
         kw={"json": {"name": "alloc-2"}}),
    Case("allocation-unknown-field", "POST", "/allocations", 400, "Unknown attribute",
         kw={"json": {"resource_class": "x", "size": "big"}}),
    Case("allocation-duplicate-name", "POST", "/allocations", 409, "already exists",
         kw={"json": {"resource_class": "x", "name": "alloc-1"}}),
    Case("allocation-bad-trait", "POST", "/allocations", 400, "trait",
         kw={"json": {"resource_class": "x", "traits": ["lower"]}}),
    Case("allocation-at-1.51", "POST", "/allocations", 405, "not allowed", version="1.51",
         kw={"json": {"resource_class": "x"}}),
    Case("allocation-patch-internal", "PATCH", "/allocations/{alloc}", 400, "internal",
         kw=patch(rep("/resource_class", "y"))),
    # --- listing ---------------------------------------------------------
    Case("fields-unknown", "GET", "/nodes", 400, "bogus", kw={"params": {"fields": "uuid,bogus"}}),
    Case("fields-unknown-on-show", "GET", "/nodes/{alpha}", 400, "bogus",
         kw={"params": {"fields": "bogus"}}),
    Case("fields-newer-than-version", "GET", "/nodes", 406, "traits", version="1.36",
         kw={"params": {"fields": "uuid,traits"}}),
    Case("fields-before-1.8", "GET", "/nodes", 406, "1.8", version="1.7",
         kw={"params": {"fields": "uuid"}}),
    Case("fields-on-detail", "GET", "/nodes/detail", 400, "fields",
         kw={"params": {"fields": "uuid"}}),
    Case("sort-key-unknown", "GET", "/nodes", 400, "sort_key",
         kw={"params": {"sort_key": "colour"}}),
    Case("sort-key-json-column", "GET", "/nodes", 400, "sort_key",
         kw={"params": {"sort_key": "driver_info"}}),
    Case("sort-dir-sideways", "GET", "/nodes", 400, "sort direction",
         kw={"params": {"sort_dir": "sideways"}}),
    Case("limit-negative", "GET", "/nodes", 400, "Limit", kw={"params": {"limit": "-1"}}),
    Case("limit-zero", "GET", "/nodes", 400, "Limit", kw={"params": {"limit": "0"}}),
    Case("limit-not-a-number", "GET", "/nodes", 400, "limit", kw={"params": {"limit": "ten"}}),
    Case("ports-limit-negative", "GET", "/ports", 400, "Limit", kw={"params": {"limit": "-5"}}),
    Case("marker-unknown", "GET", "/nodes", 400, "Marker",
         kw={"params": {"marker": "11111111-2222-3333-4444-555555555555"}}),
    Case("filter-bad-state", "GET", "/nodes", 400, "provision state",
         kw={"params": {"provision_state": "on fire"}}),
    Case("filter-bad-boolean", "GET", "/nodes", 400, "maintenance",
         kw={"params": {"maintenance": "perhaps"}}),
    Case("driver-type-bad", "GET", "/drivers", 400, "type", kw={"params": {"type": "vintage"}}),
    Case("history-at-1.77", "GET", "/nodes/{alpha}/history", 404, "not be found",
         version="1.77"),
    Case("unknown-node", "GET", "/nodes/no-such-node", 404, "Node no-such-node could not be found"),
    Case("unknown-port", "GET", "/ports/11111111-2222-3333-4444-555555555555", 404,
         "could not be found"),
    Case("unknown-driver", "GET", "/drivers/ipmi-nope", 404, "ipmi-nope"),
    Case("unknown-path", "GET", "/gadgets", 404, "could not be found"),
    Case("method-not-allowed", "POST", "/nodes/{alpha}/states", 405, "Method Not Allowed"),
    # --- microversions ---------------------------------------------------
    Case("version-1.99", "GET", "/nodes", 406, "[1.1, 1.92]", version="1.99"),
    Case("version-2.0", "GET", "/nodes", 406, "[1.1, 1.92]", version="2.0"),
    Case("version-1.0", "GET", "/nodes", 406, "[1.1, 1.92]", version="1.0"),
    Case("version-garbage", "GET", "/nodes", 400, "abc", version="abc"),
    Case("version-garbage-on-write", "POST", "/nodes", 400, "1.x", version="1.x",
         kw={"json": {"driver": "fake-hardware", "name": "new-1"}}),
    Case("version-too-high-on-write", "POST", "/nodes", 406, "1.93", version="1.93",
         kw={"json": {"driver": "fake-hardware", "name": "new-1"}}),
]


def _fill(value: Any, ids: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_request_is_refused_and_changes_nothing(world: World, case: Case) -> None:
    api = world.api
    before = api.snapshot()
    kw = dict(case.kw)
    for key in ("json", "params"):
        if key in kw:
            kw[key] = _fill(kw[key], world.ids)
    response = api.request(case.method, case.path.format(**world.ids), version=case.version,
                           **kw)
    message = fault(response, case.status)
    assert case.fragment.format(**world.ids).lower() in message.lower(), message
    # Every answer, errors included, says which versions the service speaks.
    assert response.headers[MIN_HEADER] == "1.1"
    assert response.headers[MAX_HEADER] == LATEST
    assert api.snapshot() == before


def test_case_ids_are_unique() -> None:
    assert len({c.id for c in CASES}) == len(CASES)


def test_a_locked_node_refuses_other_work_with_409(module_service: support.Service) -> None:
    """While a slow deploy holds the node's lock, other changes answer 409 (NodeLocked).

    Every fake hardware operation takes 0.5 s, so the deploy holds the lock
    for about 4 s: long enough for these few requests.
    """
    api = Ironic(module_service)
    try:
        node = api.create_node(name="slow-one")
        uuid = node["uuid"]
        api.to_state(uuid, "available")
        api.ok("PATCH", f"/nodes/{uuid}", json=[
            {"op": "add", "path": "/driver_info/fake_delay", "value": 0.5}])
        api.provision(uuid, "active")
        attempts = {
            "power": ("PUT", f"/nodes/{uuid}/states/power", {"json": {"target": "power off"}}),
            "patch": ("PATCH", f"/nodes/{uuid}", patch({"op": "add", "path": "/extra/a",
                                                        "value": 1})),
            "delete": ("DELETE", f"/nodes/{uuid}", {}),
            "trait": ("PUT", f"/nodes/{uuid}/traits/CUSTOM_LOCKED", {}),
            "boot-device": ("PUT", f"/nodes/{uuid}/management/boot_device",
                            {"json": {"boot_device": "pxe"}}),
            "deploy-again": ("PUT", f"/nodes/{uuid}/states/provision",
                             {"json": {"target": "active"}}),
        }
        for name, (method, path, kw) in attempts.items():
            before = api.node(uuid)
            message = fault(api.request(method, path, **kw), 409)
            assert "is locked by host" in message, (name, message)
            after = api.node(uuid)
            assert after["extra"] == before["extra"] and after["traits"] == before["traits"]
        final = api.wait(uuid, "active", timeout=90)
        assert final["extra"] == {} and final["traits"] == []
        assert final["power_state"] == "power on"
    finally:
        api.close()
