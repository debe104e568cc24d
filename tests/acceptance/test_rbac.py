"""Who sees and does what on the Bare Metal, Image and Compute APIs, with real tokens.

The admin; a member of project A, which owns node N1 and leases N3; a reader
of A; a member of B, which owns N3; no token; an expired token.  Nothing
leaks across projects (an invisible node is "not found"), readers never
write, owners' members power, provision and put their nodes in maintenance.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from barecloud.services.identity import fernet
from barecloud.services.identity.subjects import Scope
from barecloud.services.identity.tokens import Token, new_audit_id
from tests import support
from tests.api.baremetal.ironic import fault
from tests.api.compute.nova import fault as nova_fault
from tests.api.image.glance import error as glance_error

BM = {"X-OpenStack-Ironic-API-Version": "1.78"}


@dataclass
class World:
    svc: support.Service
    tokens: dict[str, str]
    projects: dict[str, str]
    nodes: dict[str, str]
    ports: dict[str, str]

    def bm(self, who: str | None, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = dict(BM)
        if who is not None:
            headers["X-Auth-Token"] = self.tokens.get(who, who)
        return httpx.request(method, f"{self.svc.baremetal}/v1{path}", headers=headers,
                             timeout=60, **kw)

    def image(self, who: str | None, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = dict(kw.pop("headers", {}))
        if who is not None:
            headers["X-Auth-Token"] = self.tokens.get(who, who)
        return httpx.request(method, f"{self.svc.url}/image/v2{path}", headers=headers,
                             timeout=60, **kw)

    def nova(self, who: str | None, method: str, path: str, **kw: Any) -> httpx.Response:
        headers = {"X-OpenStack-Nova-API-Version": "2.79"}
        if who is not None:
            headers["X-Auth-Token"] = self.tokens.get(who, who)
        return httpx.request(method, f"{self.svc.url}/compute/v2.1{path}", headers=headers,
                             timeout=60, **kw)

    def node_names(self, who: str) -> list[str]:
        rsp = self.bm(who, "GET", "/nodes")
        assert rsp.status_code == 200, rsp.text
        return sorted(n["name"] for n in rsp.json()["nodes"])


def _identity(svc: support.Service, admin: str, method: str, path: str, **kw: Any) -> Any:
    rsp = httpx.request(method, f"{svc.identity}{path}", headers={"X-Auth-Token": admin},
                        timeout=60, **kw)
    assert rsp.status_code < 300, rsp.text
    return rsp.json() if rsp.content else None


def _login(svc: support.Service, user: str, project: str) -> str:
    rsp = httpx.post(f"{svc.identity}/auth/tokens", json={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": "pw"}}},
        "scope": {"project": {"id": project}}}})
    assert rsp.status_code == 201, rsp.text
    return rsp.headers["X-Subject-Token"]


def expired_token(svc: support.Service, user_id: str, project_id: str) -> str:
    """A token sealed with the service's own keys whose time has passed."""
    now = time.time()
    token = Token(user_id, ("password",), Scope("project", project_id), now - 7200,
                  now - 3600, (new_audit_id(),))
    return fernet.load(svc.data_dir).encrypt(token.encode()).decode()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    svc = support.start_service(tmp_path_factory.mktemp("rbac") / "svc", auth="keystone")
    try:
        admin = svc.token()
        roles = {r["name"]: r["id"] for r in _identity(svc, admin, "GET", "/roles")["roles"]}
        projects, users = {}, {}
        for name in ("A", "B"):
            projects[name] = _identity(svc, admin, "POST", "/projects", json={
                "project": {"name": f"project-{name}"}})["project"]["id"]
        for user, project, role in (("member-a", "A", "member"), ("reader-a", "A", "reader"),
                                    ("member-b", "B", "member")):
            users[user] = _identity(svc, admin, "POST", "/users", json={
                "user": {"name": user, "password": "pw"}})["user"]["id"]
            _identity(svc, admin, "PUT", f"/projects/{projects[project]}/users/"
                                         f"{users[user]}/roles/{roles[role]}")
        tokens = {"admin": admin,
                  **{u: _login(svc, u, projects[u[-1].upper()]) for u in users},
                  "expired": expired_token(svc, users["member-a"], projects["A"])}
        w = World(svc, tokens, projects, {}, {})
        for name, owner, lessee in (("N1", "A", None), ("N2", None, None), ("N3", "B", "A")):
            body = {"name": name, "driver": "fake-hardware", "resource_class": "rbac",
                    "owner": projects[owner] if owner else None,
                    "lessee": projects[lessee] if lessee else None}
            rsp = w.bm("admin", "POST", "/nodes", json=body)
            assert rsp.status_code == 201, rsp.text
            w.nodes[name] = rsp.json()["uuid"]
            port = w.bm("admin", "POST", "/ports", json={
                "node_uuid": w.nodes[name], "address": f"52:54:00:00:0a:0{len(w.nodes)}"})
            assert port.status_code == 201, port.text
            w.ports[name] = port.json()["uuid"]
        yield w
    finally:
        svc.stop()


def test_who_sees_which_nodes(world: World) -> None:
    assert world.node_names("admin") == ["N1", "N2", "N3"]
    assert world.node_names("member-a") == ["N1", "N3"]  # owner of N1, lessee of N3
    assert world.node_names("reader-a") == ["N1", "N3"]
    assert world.node_names("member-b") == ["N3"]
    detail = world.bm("member-b", "GET", "/nodes/detail").json()["nodes"]
    assert [n["name"] for n in detail] == ["N3"]
    for who, name in (("member-b", "N1"), ("member-a", "N2"), ("reader-a", "N2")):
        for ident in (name, world.nodes[name]):
            assert "could not be found" in fault(world.bm(who, "GET", f"/nodes/{ident}"), 404)
        fault(world.bm(who, "GET", f"/nodes/{name}/states"), 404)
        fault(world.bm(who, "PATCH", f"/nodes/{name}",
                       json=[{"op": "add", "path": "/extra/x", "value": 1}]), 404)
        fault(world.bm(who, "PUT", f"/nodes/{name}/states/power",
                       json={"target": "power on"}), 404)
    assert world.bm("reader-a", "GET", "/nodes/N1").json()["owner"] == world.projects["A"]
    # Filtering by another project's owner finds nothing, rather than leaking.
    leak = world.bm("member-b", "GET", f"/nodes?owner={world.projects['A']}").json()
    assert leak["nodes"] == []


def test_who_changes_nodes(world: World) -> None:
    patch = [{"op": "add", "path": "/extra/touched", "value": True}]
    fault(world.bm("member-a", "PATCH", "/nodes/N1", json=patch), 403)
    fault(world.bm("member-a", "DELETE", "/nodes/N1"), 403)
    fault(world.bm("member-a", "POST", "/nodes", json={"driver": "fake-hardware"}), 403)
    fault(world.bm("member-a", "PUT", "/nodes/N1/traits", json={"traits": ["CUSTOM_X"]}), 403)
    assert world.bm("admin", "PATCH", "/nodes/N2", json=patch).status_code == 200
    # An owner's member acts on its node; a reader does not; a lessee member
    # does not either (Ironic wants a lessee admin).
    assert world.bm("member-a", "PUT", "/nodes/N1/maintenance",
                    json={"reason": "mine"}).status_code == 202
    assert world.bm("admin", "GET", "/nodes/N1").json()["maintenance_reason"] == "mine"
    assert world.bm("member-a", "DELETE", "/nodes/N1/maintenance").status_code == 202
    fault(world.bm("reader-a", "PUT", "/nodes/N1/maintenance", json={}), 403)
    assert world.bm("member-a", "PUT", "/nodes/N1/states/provision",
                    json={"target": "manage"}).status_code == 202
    fault(world.bm("reader-a", "PUT", "/nodes/N1/states/provision",
                   json={"target": "provide"}), 403)
    fault(world.bm("reader-a", "PUT", "/nodes/N1/states/power",
                   json={"target": "power off"}), 403)
    fault(world.bm("member-a", "PUT", "/nodes/N3/states/power",
                   json={"target": "power off"}), 403)
    assert world.bm("member-b", "PUT", "/nodes/N3/states/power",
                    json={"target": "power off"}).status_code == 202
    assert world.bm("member-a", "GET", "/nodes/N1/validate").status_code == 200
    fault(world.bm("reader-a", "GET", "/nodes/N1/validate"), 403)


def test_ports_follow_their_node(world: World) -> None:
    def addresses(who: str) -> list[str]:
        return sorted(p["uuid"] for p in world.bm(who, "GET", "/ports").json()["ports"])

    assert addresses("admin") == sorted(world.ports.values())
    assert addresses("member-a") == sorted([world.ports["N1"], world.ports["N3"]])
    assert addresses("member-b") == [world.ports["N3"]]
    fault(world.bm("member-b", "GET", f"/ports/{world.ports['N1']}"), 404)
    fault(world.bm("member-b", "GET", f"/ports?node={world.nodes['N1']}"), 404)
    assert world.bm("reader-a", "GET", f"/ports/{world.ports['N1']}").status_code == 200
    fault(world.bm("member-a", "POST", "/ports", json={
        "node_uuid": world.nodes["N1"], "address": "52:54:00:00:0b:01"}), 403)
    fault(world.bm("member-a", "DELETE", f"/ports/{world.ports['N1']}"), 403)
    fault(world.bm("member-b", "DELETE", f"/ports/{world.ports['N1']}"), 404)
    # A node the caller cannot see is answered as one that does not exist: 400, as
    # Ironic answers a port's unknown node (ironic-tempest-plugin asserts it).
    assert "could not be found" in fault(world.bm("reader-a", "POST", "/ports", json={
        "node_uuid": world.nodes["N2"], "address": "52:54:00:00:0b:02"}), 400)


def test_allocations_stay_in_their_project(world: World) -> None:
    mine = world.bm("member-b", "POST", "/allocations", json={"resource_class": "none"})
    assert mine.status_code == 201, mine.text
    assert mine.json()["owner"] == world.projects["B"]
    fault(world.bm("member-b", "POST", "/allocations", json={
        "resource_class": "rbac", "owner": world.projects["A"]}), 403)
    fault(world.bm("reader-a", "POST", "/allocations", json={"resource_class": "rbac"}), 403)
    assert [a["uuid"] for a in world.bm("member-b", "GET", "/allocations").json()[
        "allocations"]] == [mine.json()["uuid"]]
    assert world.bm("member-a", "GET", "/allocations").json()["allocations"] == []
    fault(world.bm("member-a", "GET", f"/allocations/{mine.json()['uuid']}"), 404)
    assert world.bm("member-b", "DELETE", f"/allocations/{mine.json()['uuid']}"
                    ).status_code == 204


def test_no_token_or_expired_token(world: World) -> None:
    for who in (None, "expired", "not-a-token"):
        rsp = world.bm(who, "GET", "/nodes")
        assert "requires authentication" in fault(rsp, 401)
        assert rsp.headers["WWW-Authenticate"].startswith("Keystone uri=")
        glance_error(world.image(who, "GET", "/images"), 401)
        glance_error(world.image(who, "POST", "/images", json={"name": "x"}), 401)
    fault(world.bm(None, "PUT", "/nodes/N1/states/power", json={"target": "power on"}), 401)


def test_images(world: World) -> None:
    def create(who: str, **body: Any) -> httpx.Response:
        return world.image(who, "POST", "/images", json={
            "disk_format": "raw", "container_format": "bare", **body})

    public = create("admin", name="rbac-public", visibility="public").json()
    private_a = create("member-a", name="rbac-a").json()
    assert private_a["owner"] == world.projects["A"]
    shared_b = create("member-b", name="rbac-b", visibility="shared").json()
    glance_error(create("reader-a", name="by-reader"), 403)
    glance_error(create("member-a", name="as-b", owner=world.projects["B"]), 403)
    glance_error(create("member-a", name="public-a", visibility="public"), 403)

    def names(who: str) -> list[str]:
        rsp = world.image(who, "GET", "/images")
        assert rsp.status_code == 200, rsp.text
        return sorted(i["name"] for i in rsp.json()["images"] if i["name"].startswith("rbac"))

    assert names("admin") == ["rbac-a", "rbac-b", "rbac-public"]
    assert names("reader-a") == ["rbac-a", "rbac-public"]
    assert names("member-b") == ["rbac-b", "rbac-public"]
    glance_error(world.image("member-b", "GET", f"/images/{private_a['id']}"), 404)
    glance_error(world.image("member-b", "DELETE", f"/images/{private_a['id']}"), 404)
    ops = [{"op": "replace", "path": "/name", "value": "rbac-renamed"}]
    patch = {"Content-Type": "application/openstack-images-v2.1-json-patch"}
    glance_error(world.image("reader-a", "PATCH", f"/images/{private_a['id']}", json=ops,
                             headers=patch), 403)
    glance_error(world.image("reader-a", "DELETE", f"/images/{private_a['id']}"), 403)
    glance_error(world.image("reader-a", "PUT", f"/images/{private_a['id']}/file",
                             content=b"data",
                             headers={"Content-Type": "application/octet-stream"}), 403)
    glance_error(world.image("member-a", "DELETE", f"/images/{public['id']}"), 403)
    assert world.image("member-a", "PATCH", f"/images/{private_a['id']}", json=ops,
                       headers=patch).status_code == 200
    # Sharing: B offers its image to A; A's member accepts; A's reader then sees it.
    offer = world.image("member-b", "POST", f"/images/{shared_b['id']}/members",
                        json={"member": world.projects["A"]})
    assert offer.status_code == 200, offer.text
    glance_error(world.image("reader-a", "PUT",
                             f"/images/{shared_b['id']}/members/{world.projects['A']}",
                             json={"status": "accepted"}), 403)
    accept = world.image("member-a", "PUT",
                         f"/images/{shared_b['id']}/members/{world.projects['A']}",
                         json={"status": "accepted"})
    assert accept.status_code == 200, accept.text
    assert names("reader-a") == ["rbac-b", "rbac-public", "rbac-renamed"]
    glance_error(world.image("member-a", "DELETE", f"/images/{shared_b['id']}"), 403)
    assert world.image("member-a", "DELETE", f"/images/{private_a['id']}").status_code == 204


def test_compute(world: World) -> None:
    """Servers and keypairs stay in their project (or user); readers never write;
    flavors, quotas of others and hypervisors are the admin's."""
    image = world.image("admin", "POST", "/images", json={
        "name": "rbac-boot", "disk_format": "raw", "container_format": "bare",
        "visibility": "public"}).json()
    assert world.image("admin", "PUT", f"/images/{image['id']}/file", content=bytes(1024),
                       headers={"Content-Type": "application/octet-stream"}
                       ).status_code == 204
    flavor = {"flavor": {"name": "rbac.small", "ram": 1024, "vcpus": 1, "disk": 1}}
    nova_fault(world.nova("member-a", "POST", "/flavors", json=flavor), 403)
    made = world.nova("admin", "POST", "/flavors", json=flavor)
    assert made.status_code == 200, made.text
    flavor_id = made.json()["flavor"]["id"]
    assert any(f["id"] == flavor_id for f in world.nova("reader-a", "GET", "/flavors")
               .json()["flavors"])

    key = world.nova("member-a", "POST", "/os-keypairs", json={"keypair": {"name": "a-key"}})
    assert key.status_code == 201, key.text  # 201 since 2.2, as Nova
    assert world.nova("member-b", "GET", "/os-keypairs").json()["keypairs"] == []
    nova_fault(world.nova("member-b", "GET", "/os-keypairs/a-key"), 404)

    server = {"server": {"name": "rbac-a", "imageRef": image["id"], "flavorRef": flavor_id,
                         "networks": "none"}}
    nova_fault(world.nova("reader-a", "POST", "/servers", json=server), 403)
    created = world.nova("member-a", "POST", "/servers", json=server)
    assert created.status_code == 202, created.text
    sid = created.json()["server"]["id"]

    def names(who: str) -> list[str]:
        rsp = world.nova(who, "GET", "/servers")
        assert rsp.status_code == 200, rsp.text
        return [x["name"] for x in rsp.json()["servers"]]

    assert names("member-a") == ["rbac-a"] and names("reader-a") == ["rbac-a"]
    assert names("member-b") == []
    all_tenants = world.nova("member-b", "GET", "/servers?all_tenants=1")
    assert all_tenants.status_code in (200, 403)
    if all_tenants.status_code == 200:  # Nova ignores the flag for non-admins
        assert all_tenants.json()["servers"] == []
    assert "rbac-a" in [x["name"] for x in world.nova("admin", "GET", "/servers?all_tenants=1")
                        .json()["servers"]]
    for method, path, body in (("GET", f"/servers/{sid}", None),
                               ("PUT", f"/servers/{sid}", {"server": {"name": "mine"}}),
                               ("POST", f"/servers/{sid}/action", {"os-stop": None}),
                               ("DELETE", f"/servers/{sid}", None)):
        nova_fault(world.nova("member-b", method, path, json=body), 404)
    nova_fault(world.nova("reader-a", "PUT", f"/servers/{sid}",
                          json={"server": {"name": "renamed"}}), 403)
    nova_fault(world.nova("reader-a", "DELETE", f"/servers/{sid}"), 403)

    a, b = world.projects["A"], world.projects["B"]
    assert world.nova("member-a", "GET", f"/os-quota-sets/{a}").status_code == 200
    nova_fault(world.nova("member-a", "GET", f"/os-quota-sets/{b}"), 403)
    nova_fault(world.nova("member-a", "PUT", f"/os-quota-sets/{a}",
                          json={"quota_set": {"instances": 100}}), 403)
    nova_fault(world.nova("member-a", "GET", "/os-hypervisors"), 403)
    assert world.nova("admin", "GET", "/os-hypervisors").status_code == 200
    for who in (None, "expired"):
        nova_fault(world.nova(who, "GET", "/servers"), 401)
    assert world.nova("member-a", "DELETE", f"/servers/{sid}").status_code == 204
