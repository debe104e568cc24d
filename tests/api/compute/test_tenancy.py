"""Compute with Identity: what a project member may see and do, and what only admins may.

The service runs with ``auth_strategy = "keystone"``; ``admin`` is the
admin of project admin, ``demo`` a member of project demo.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests import support
from tests.api.compute.nova import LATEST, Nova, fault


class Tokened(Nova):
    def __init__(self, svc: support.Service, cloud: str) -> None:
        super().__init__(svc)
        token = {"X-Auth-Token": svc.token(cloud)}
        for client in (self.http, self.bm, self.glance):
            client.headers.update(token)


@pytest.fixture(scope="module")
def keystone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Service]:
    svc = support.start_service(tmp_path_factory.mktemp("tenancy") / "svc", auth="keystone")
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture
def admin(keystone: support.Service) -> Iterator[Tokened]:
    client = Tokened(keystone, "barecloud-admin")
    yield client
    client.close()


@pytest.fixture
def demo(keystone: support.Service) -> Iterator[Tokened]:
    client = Tokened(keystone, "barecloud")
    yield client
    client.close()


def test_no_token_is_401_in_novas_format(keystone: support.Service) -> None:
    r = httpx.get(f"{keystone.url}/compute/v2.1/servers",
                  headers={"OpenStack-API-Version": f"compute {LATEST}"})
    assert fault(r, 401)
    assert r.headers["WWW-Authenticate"].startswith("Keystone uri=")
    assert httpx.get(f"{keystone.url}/compute/v2.1").status_code == 200  # versions: public


def test_members_see_their_project_only(admin: Tokened, demo: Tokened, rc: str) -> None:
    admin.node(rc)
    image, flavor = admin.image(), admin.flavor(rc)
    mine = demo.create("demo-1", image, flavor)["server"]["id"]
    theirs = admin.create("admin-1", image, flavor)["server"]["id"]
    s = demo.wait(mine, lambda s: s["status"] in ("ACTIVE", "ERROR"))
    assert s["status"] == "ACTIVE", s.get("fault")
    # A member sees no host details; the admin does.
    assert "OS-EXT-SRV-ATTR:host" not in s and "OS-EXT-SRV-ATTR:hostname" in s
    assert "OS-EXT-SRV-ATTR:host" in admin.server(mine)
    assert {x["id"] for x in demo.ok("GET", "/servers")["servers"]} == {mine}
    assert fault(demo.request("GET", f"/servers/{theirs}"), 404)
    assert fault(demo.request("DELETE", f"/servers/{theirs}"), 404)
    assert fault(demo.request("GET", "/servers", params={"all_tenants": "1"}), 403) == \
        "Policy doesn't allow compute:servers:list_all to be performed."
    every = {x["id"] for x in admin.ok("GET", "/servers", params={"all_tenants": "1"})[
        "servers"]}
    assert {mine, theirs} <= every
    assert mine not in {x["id"] for x in admin.ok("GET", "/servers")["servers"]}
    # Admin-only resources.
    for method, path, body in [
        ("POST", "/flavors", {"flavor": {"name": "x", "ram": 1, "vcpus": 1, "disk": 0}}),
        ("DELETE", f"/flavors/{flavor}", None),
        ("POST", f"/flavors/{flavor}/os-extra_specs", {"extra_specs": {"a": "b"}}),
        ("GET", "/os-hypervisors", None),
        ("GET", "/os-availability-zone/detail", None),
        ("PUT", "/os-quota-sets/x", {"quota_set": {"instances": 1}}),
    ]:
        r = demo.request(method, path, json=body)
        assert fault(r, 403).startswith("Policy doesn't allow compute:"), (path, r.text)
    assert demo.ok("GET", "/os-availability-zone")["availabilityZoneInfo"]
    assert demo.request("DELETE", f"/servers/{mine}").status_code == 204
    demo.wait_gone(mine)


def test_a_list_shows_each_server_as_its_own_page_does(admin: Tokened, demo: Tokened,
                                                      rc: str) -> None:
    """``/servers/detail`` renders a page of servers in one pass: each reads as ``GET
    /servers/{id}`` shows it (but ``server_groups``), key for key in the same order, to
    the admin (host details, a 500 fault's details) and to a member, at every
    microversion."""
    admin.node(rc)
    image, flavor, nowhere = admin.image(), admin.flavor(rc), admin.flavor(f"{rc}-none")
    ids = [demo.create(f"page-{rc}", image, flavor)["server"]["id"],
           demo.create(f"page-{rc}-err", image, nowhere)["server"]["id"]]
    for sid, status in zip(ids, ("ACTIVE", "ERROR"), strict=True):
        assert demo.wait_status(sid, status)["status"] == status
    for version in ("2.1", "2.3", "2.16", "2.47", "2.73", "2.90", LATEST):
        for who, params in ((admin, {"all_tenants": "1"}), (demo, {})):
            listed = {s["id"]: s for s in who.ok(
                "GET", "/servers/detail", params=params, version=version)["servers"]}
            for sid in ids:
                one = who.server(sid, version=version)
                assert "server_groups" not in listed[sid]  # 2.71's: GET's only, as Nova
                one.pop("server_groups", None)
                assert list(listed[sid].items()) == list(one.items()), (version, sid)
    for sid in ids:
        assert demo.request("DELETE", f"/servers/{sid}").status_code == 204


def test_keypairs_are_per_user(admin: Tokened, demo: Tokened) -> None:
    demo.ok("POST", "/os-keypairs", 201, version="2.10",
            json={"keypair": {"name": "shared-name"}})
    admin.ok("POST", "/os-keypairs", 201, version="2.10",
             json={"keypair": {"name": "shared-name"}})  # the same name, another user
    assert [k["keypair"]["name"] for k in demo.ok("GET", "/os-keypairs")["keypairs"]] == \
        ["shared-name"]
    demo_user = demo.ok("GET", "/os-keypairs/shared-name")["keypair"]["user_id"]
    admin_user = admin.ok("GET", "/os-keypairs/shared-name")["keypair"]["user_id"]
    assert demo_user != admin_user
    # An admin reads another user's key pairs with user_id (2.10).
    shown = admin.ok("GET", "/os-keypairs/shared-name", params={"user_id": demo_user})
    assert shown["keypair"]["user_id"] == demo_user
    r = demo.request("GET", "/os-keypairs", params={"user_id": admin_user})
    assert fault(r, 403).startswith("Policy doesn't allow compute:keypairs:list")


def test_a_project_sees_its_own_hypervisors_only(admin: Tokened, demo: Tokened) -> None:
    """barecloud's hypervisor list: the operator's whole fleet, a project the hosts it
    owns (its leased machines become them); Nova's os-hypervisors stays the operator's."""
    project = httpx.get(f"{admin.svc.url}/identity/v3/projects", params={"name": "demo"},
                        headers={"X-Auth-Token": admin.http.headers["X-Auth-Token"]}
                        ).json()["projects"][0]["id"]
    own = admin.ok("POST", "/barecloud-hypervisors", 201, json={"hypervisor": {
        "hostname": "demo-host", "owner": project}})["hypervisor"]
    other = admin.ok("POST", "/barecloud-hypervisors", 201, json={"hypervisor": {
        "hostname": "shared-host"}})["hypervisor"]
    assert [h["hostname"] for h in demo.ok("GET", "/barecloud-hypervisors")[
        "hypervisors"]] == ["demo-host"]
    assert demo.ok("GET", f"/barecloud-hypervisors/{own['id']}")["hypervisor"][
        "hostname"] == "demo-host"
    assert "credential" not in demo.ok("GET", "/barecloud-hypervisors/demo-host")["hypervisor"]
    assert fault(demo.request("GET", f"/barecloud-hypervisors/{other['id']}"), 404)
    assert {"demo-host", "shared-host"} <= {h["hostname"] for h in admin.ok(
        "GET", "/barecloud-hypervisors")["hypervisors"]}
    fault(demo.request("GET", "/os-hypervisors"), 403)
    fault(demo.request("PUT", f"/barecloud-hypervisors/{own['id']}", json={
        "hypervisor": {"status": "disabled"}}), 403)


def test_a_locked_server_refuses_its_owner_not_the_admin(admin: Tokened, demo: Tokened,
                                                         rc: str) -> None:
    """Nova's lock: 409 for the owner's actions, an admin's lock not the owner's to undo."""
    admin.node(rc)
    sid = demo.create(f"lock-{rc}", admin.image(), admin.flavor(rc))["server"]["id"]
    assert demo.wait_status(sid, "ACTIVE")["locked"] is False
    assert demo.action(sid, {"lock": {"locked_reason": "maintenance"}}).status_code == 202
    shown = demo.server(sid, version="2.73")
    assert (shown["locked"], shown["locked_reason"]) == (True, "maintenance")
    assert fault(demo.action(sid, {"os-stop": None}), 409) == f"Instance {sid} is locked"
    assert fault(demo.request("DELETE", f"/servers/{sid}"), 409)
    assert demo.action(sid, {"unlock": None}).status_code == 202
    assert demo.server(sid)["locked"] is False
    # An admin's lock: the owner cannot undo it, and the admin's own actions go through.
    assert admin.action(sid, {"lock": None}).status_code == 202
    assert fault(demo.action(sid, {"unlock": None}), 403)
    assert admin.action(sid, {"os-stop": None}).status_code == 202
    assert admin.action(sid, {"unlock": None}).status_code == 202
    assert fault(demo.request("POST", f"/servers/{sid}/action", version="2.72",
                              json={"lock": {"locked_reason": "x"}}), 400)
    demo.wait_status(sid, "SHUTOFF")
    assert demo.request("DELETE", f"/servers/{sid}").status_code == 204
    demo.wait_gone(sid)
