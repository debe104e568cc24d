"""Ironic's deploy templates (/v1/deploy_templates, API 1.55): named after a trait,
a non-empty list of deploy steps, and ``extra``."""

from __future__ import annotations

import uuid

from tests.api.baremetal.ironic import Ironic, fault

STEP = {"interface": "bios", "step": "apply_configuration", "args": {}, "priority": 10}


def test_deploy_template_crud(api: Ironic) -> None:
    made = api.ok("POST", "/deploy_templates", 201, json={
        "name": "CUSTOM_RAID1", "steps": [STEP], "extra": {"k": "v"}})
    tid = made["uuid"]
    assert made["name"] == "CUSTOM_RAID1" and made["steps"] == [STEP]
    assert made["extra"] == {"k": "v"} and made["created_at"] and made["updated_at"] is None
    assert made["links"][0]["href"].endswith(f"/v1/deploy_templates/{tid}")
    assert api.ok("GET", f"/deploy_templates/{tid}") == made
    assert api.ok("GET", "/deploy_templates/CUSTOM_RAID1") == made
    listed = api.ok("GET", "/deploy_templates")["deploy_templates"]
    assert listed == [{"uuid": tid, "name": "CUSTOM_RAID1", "links": made["links"]}]
    assert api.ok("GET", "/deploy_templates/detail")["deploy_templates"] == [made]
    assert api.ok("GET", "/deploy_templates", params={"detail": "true"})[
        "deploy_templates"] == [made]

    second = {"interface": "raid", "step": "create_configuration",
              "args": {"bmc_password": "hunter2"}, "priority": 20}
    patched = api.ok("PATCH", f"/deploy_templates/{tid}", json=[
        {"op": "replace", "path": "/name", "value": "CUSTOM_RAID5"},
        {"op": "add", "path": "/steps/1", "value": second}])
    assert patched["name"] == "CUSTOM_RAID5"
    assert patched["steps"][1]["args"] == {"bmc_password": "******"}  # as Ironic masks it
    fault(api.patch(f"/deploy_templates/{tid}", json=[{"op": "remove", "path": "/name"}]), 400)
    fault(api.patch(f"/deploy_templates/{tid}", json=[
        {"op": "remove", "path": "/steps"}]), 400)
    fault(api.patch(f"/deploy_templates/{tid}", json=[
        {"op": "replace", "path": "/name", "value": ""}]), 400)
    assert "internal" in fault(api.patch(f"/deploy_templates/{tid}", json=[
        {"op": "replace", "path": "/uuid", "value": str(uuid.uuid4())}]), 400)
    assert api.ok("GET", f"/deploy_templates/{tid}")["name"] == "CUSTOM_RAID5"

    api.ok("DELETE", "/deploy_templates/CUSTOM_RAID5", 204)
    assert fault(api.get(f"/deploy_templates/{tid}"), 404) == \
        f"Deploy template {tid} could not be found."


def test_deploy_template_bad_input(api: Ironic) -> None:
    assert "trait" in fault(api.post("/deploy_templates", json={
        "name": "invalid-name", "steps": [STEP]}), 400)
    fault(api.post("/deploy_templates", json={"name": None, "steps": [STEP]}), 400)
    fault(api.post("/deploy_templates", json={"name": "CUSTOM_A"}), 400)
    fault(api.post("/deploy_templates", json={"name": "CUSTOM_A", "steps": []}), 400)
    fault(api.post("/deploy_templates", json={"name": "CUSTOM_A", "steps": {"k": "v"}}), 400)
    fault(api.post("/deploy_templates", json={
        "name": "CUSTOM_A", "steps": [{**STEP, "interface": "console"}]}), 400)
    assert "Duplicate deploy steps" in fault(api.post("/deploy_templates", json={
        "name": "CUSTOM_A", "steps": [STEP, {**STEP, "priority": 20}]}), 400)
    assert "Expected a UUID" in fault(api.post("/deploy_templates", json={
        "name": "CUSTOM_A", "steps": [STEP], "uuid": "malformed:uuid"}), 400)
    assert "invalid field for sorting" in fault(
        api.get("/deploy_templates", params={"sort_key": "steps"}), 400)
    fault(api.get("/deploy_templates", params={"fields": "bogus"}), 400)

    api.ok("POST", "/deploy_templates", 201, json={"name": "CUSTOM_A", "steps": [STEP]})
    assert "already exists" in fault(api.post("/deploy_templates", json={
        "name": "CUSTOM_A", "steps": [STEP]}), 409)
    other = api.ok("POST", "/deploy_templates", 201, json={"name": "CUSTOM_B", "steps": [STEP]})
    assert "already exists" in fault(api.patch(f"/deploy_templates/{other['uuid']}", json=[
        {"op": "replace", "path": "/name", "value": "CUSTOM_A"}]), 409)


def test_older_versions(api: Ironic) -> None:
    """Before 1.55 the resource is not there: reads 404, writes 405 (as Ironic)."""
    fault(api.get("/deploy_templates", version="1.54"), 404)
    fault(api.post("/deploy_templates", version="1.54",
                   json={"name": "CUSTOM_A", "steps": [STEP]}), 405)
    fault(api.delete("/deploy_templates/CUSTOM_A", version="1.54"), 405)
    assert api.ok("GET", "/deploy_templates")["deploy_templates"] == []


def test_pages(api: Ironic) -> None:
    made = [api.ok("POST", "/deploy_templates", 201,
                   json={"name": f"CUSTOM_T{i}", "steps": [STEP]})["uuid"] for i in range(3)]
    first = api.ok("GET", "/deploy_templates", params={"limit": 2})
    assert [t["uuid"] for t in first["deploy_templates"]] == made[:2]
    assert f"marker={made[1]}" in first["next"]
    rest = api.ok("GET", "/deploy_templates", params={"limit": 2, "marker": made[1]})
    assert [t["uuid"] for t in rest["deploy_templates"]] == made[2:]
