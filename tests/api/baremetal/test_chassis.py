"""Ironic's chassis resource (/v1/chassis), the nodes of a chassis, and the paths
without a version element (Ironic serves them as v1: the bookmark links)."""

from __future__ import annotations

import uuid

from tests import support
from tests.api.baremetal.ironic import LATEST, Ironic, fault


def test_chassis_crud(api: Ironic) -> None:
    made = api.ok("POST", "/chassis", 201, json={"description": "rack 1",
                                                 "extra": {"row": "a"}})
    cid = made["uuid"]
    assert made["description"] == "rack 1" and made["extra"] == {"row": "a"}
    assert made["created_at"] and made["updated_at"] is None
    assert made["nodes"][0]["href"].endswith(f"/v1/chassis/{cid}/nodes")
    assert made["links"][0]["href"].endswith(f"/v1/chassis/{cid}")
    assert api.ok("GET", f"/chassis/{cid}") == made

    listed = api.ok("GET", "/chassis")["chassis"]
    assert listed == [{"uuid": cid, "description": "rack 1", "links": made["links"]}]
    assert api.ok("GET", "/chassis/detail")["chassis"] == [made]
    assert api.ok("GET", "/chassis", params={"detail": "true"})["chassis"] == [made]
    only = api.ok("GET", f"/chassis/{cid}", params={"fields": "extra"})
    assert only == {"extra": {"row": "a"}, "links": made["links"]}

    patched = api.ok("PATCH", f"/chassis/{cid}", json=[
        {"op": "replace", "path": "/description", "value": "rack 2"},
        {"op": "add", "path": "/extra/slot", "value": 4}])
    assert patched["description"] == "rack 2" and patched["extra"] == {"row": "a", "slot": 4}
    assert "internal" in fault(api.patch(f"/chassis/{cid}", json=[
        {"op": "replace", "path": "/uuid", "value": str(uuid.uuid4())}]), 400)

    given = str(uuid.uuid4())
    assert api.ok("POST", "/chassis", 201, json={"uuid": given, "extra": None})["extra"] == {}
    assert "already exists" in fault(api.post("/chassis", json={"uuid": given}), 409)
    api.ok("DELETE", f"/chassis/{given}", 204)
    assert fault(api.get(f"/chassis/{given}"), 404) == f"Chassis {given} could not be found."


def test_chassis_bad_input(api: Ironic) -> None:
    assert "Unknown attribute" in fault(api.post("/chassis", json={"name": "x"}), 400)
    fault(api.post("/chassis", json={"description": "x" * 256}), 400)
    assert "Expected a UUID" in fault(api.get("/chassis/not-a-uuid"), 400)
    assert "invalid field for sorting" in fault(
        api.get("/chassis", params={"sort_key": "extra"}), 400)
    fault(api.get("/chassis", params={"fields": "uuid"}, version="1.7"), 406)
    fault(api.get("/chassis", params={"fields": "bogus"}), 400)
    assert api.ok("GET", "/chassis")["chassis"] == []


def test_pages(api: Ironic) -> None:
    made = sorted(api.ok("POST", "/chassis", 201, json={"description": f"c{i}"})["uuid"]
                  for i in range(3))
    first = api.ok("GET", "/chassis", params={"limit": 2, "sort_key": "uuid"})
    assert [c["uuid"] for c in first["chassis"]] == made[:2]
    assert "marker=" in first["next"] and "/v1/chassis?" in first["next"]
    rest = api.ok("GET", "/chassis", params={"limit": 2, "sort_key": "uuid",
                                             "marker": made[1]})
    assert [c["uuid"] for c in rest["chassis"]] == made[2:]
    down = api.ok("GET", "/chassis/detail", params={"sort_key": "uuid", "sort_dir": "desc"})
    assert [c["uuid"] for c in down["chassis"]] == made[::-1]


def test_nodes_of_a_chassis(api: Ironic) -> None:
    cid = api.ok("POST", "/chassis", 201, json={})["uuid"]
    missing = str(uuid.uuid4())
    msg = fault(api.post("/nodes", json={"driver": "fake-hardware", "chassis_uuid": missing}),
                400)
    assert msg == f"Chassis {missing} could not be found."
    inside = api.create_node(name="in-chassis", chassis_uuid=cid)
    assert inside["chassis_uuid"] == cid
    other = api.create_node(name="moved-in")
    moved = api.ok("PATCH", f"/nodes/{other['uuid']}", json=[
        {"op": "add", "path": "/chassis_uuid", "value": cid}])
    assert moved["chassis_uuid"] == cid
    api.create_node(name="elsewhere")

    names = sorted(n["name"] for n in api.ok("GET", f"/chassis/{cid}/nodes")["nodes"])
    assert names == ["in-chassis", "moved-in"]
    detail = api.ok("GET", f"/chassis/{cid}/nodes/detail")["nodes"]
    assert {n["chassis_uuid"] for n in detail} == {cid} and "driver_info" in detail[0]
    page = api.ok("GET", f"/chassis/{cid}/nodes", params={"limit": 1})
    assert len(page["nodes"]) == 1 and f"/v1/chassis/{cid}/nodes?" in page["next"]
    fault(api.get(f"/chassis/{missing}/nodes"), 404)

    # Ironic's ChassisNotEmpty is an Invalid: 400.
    msg = fault(api.delete(f"/chassis/{cid}"), 400)
    assert msg == f"Cannot complete the requested action because chassis {cid} contains nodes."
    # Unsetting a node's chassis needs 1.25.
    unset = [{"op": "remove", "path": "/chassis_uuid"}]
    fault(api.patch(f"/nodes/{other['uuid']}", json=unset, version="1.24"), 406)
    assert api.ok("PATCH", f"/nodes/{other['uuid']}", json=unset)["chassis_uuid"] is None
    api.ok("DELETE", f"/nodes/{inside['uuid']}", 204)
    api.ok("DELETE", f"/chassis/{cid}", 204)


def test_unversioned_paths_are_v1(api: Ironic, service: support.Service) -> None:
    """The bookmark links (``/baremetal/drivers/...``, ``/baremetal/chassis/...``)
    are served as their v1 paths, as Ironic's root controller does."""
    cid = api.ok("POST", "/chassis", 201, json={})["uuid"]
    chassis = api.ok("GET", f"/chassis/{cid}")
    bookmark = chassis["links"][1]
    assert bookmark["rel"] == "bookmark" and "/v1/" not in bookmark["href"]
    driver = api.ok("GET", "/drivers/fake-hardware")
    props = next(link["href"] for link in driver["properties"] if link["rel"] == "bookmark")
    assert props.endswith("/baremetal/drivers/fake-hardware/properties")
    for href, v1 in ((bookmark["href"], f"/chassis/{cid}"),
                     (props, "/drivers/fake-hardware/properties")):
        r = api.http.get(href)
        assert r.status_code == 200, (href, r.text)
        assert r.json() == api.ok("GET", v1)
        assert r.headers["X-OpenStack-Ironic-API-Version"] == LATEST
    assert fault(api.http.get(f"{service.baremetal}/no-such-thing"), 404)
