"""Every view at a phone's size (390 by 844), with something in it: no page is
wider than the screen, and each shows its heading."""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from playwright.sync_api import Page, expect

from tests import support

pytestmark = pytest.mark.slow

PHONE = {"width": 390, "height": 844}
MEMBER_VIEWS = [("overview", "Overview"), ("servers", "Servers"), ("networks", "Networks"),
                ("images", "Images"), ("keypairs", "Key pairs"), ("leases", "Leases")]
ADMIN_VIEWS = [("fleet", "Fleet"), ("hypervisors", "Hypervisors"), ("batches", "Deploy batches"),
               ("traffic", "Top talkers"), ("calendar", "Lease calendar"),
               ("switches", "Switches")]
NOVA = {"OpenStack-API-Version": "compute 2.96"}
BUILD_TIMEOUT = 240  # s: a lab machine's deploy, on a busy machine
IRONIC = {"X-OpenStack-Ironic-API-Version": "1.78"}


def _client(ui_service: support.Service, cloud: str) -> httpx.Client:
    return httpx.Client(base_url=ui_service.url, timeout=30, headers={
        **NOVA, **IRONIC, "X-Auth-Token": ui_service.token(cloud)})


def _server(member: httpx.Client, name: str) -> str:
    """A bare-metal server of the member's, ACTIVE."""
    flavors = member.get("/compute/v2.1/flavors").json()["flavors"]
    flavor = next(f["id"] for f in flavors if f["name"] == "bm.baremetal")
    images = member.get("/image/v2/images", params={"name": "barecloud-demo"}).json()["images"]
    r = member.post("/compute/v2.1/servers", json={"server": {
        "name": name, "flavorRef": flavor, "imageRef": images[0]["id"], "networks": "none"}})
    assert r.status_code == 202, r.text
    server: str = r.json()["server"]["id"]
    deadline = time.monotonic() + BUILD_TIMEOUT
    status = ""
    while time.monotonic() < deadline and status != "ACTIVE":
        status = member.get(f"/compute/v2.1/servers/{server}").json()["server"]["status"]
        assert status != "ERROR", status
        time.sleep(1)
    assert status == "ACTIVE", status
    return server


def _gone(member: httpx.Client, server: str) -> None:
    member.delete(f"/compute/v2.1/servers/{server}")
    deadline = time.monotonic() + BUILD_TIMEOUT
    while time.monotonic() < deadline:
        if member.get(f"/compute/v2.1/servers/{server}").status_code == 404:
            return
        time.sleep(1)
    raise AssertionError(f"server {server} not deleted after {BUILD_TIMEOUT} s")


@pytest.fixture(scope="module")
def content(ui_service: support.Service) -> Iterator[None]:
    """Rows in the views, with long words in them: a server on one machine, a lease
    of the other, a key pair, a network and its IPv6 subnet, a switch's port, a
    hypervisor."""
    undo: list[Callable[[], object]] = []
    with (_client(ui_service, "barecloud") as member,
          _client(ui_service, "barecloud-admin") as admin):
        try:
            server = _server(member, "a-rather-long-server-name-for-a-phone")
            undo.append(lambda: _gone(member, server))
            listed = admin.get("/baremetal/v1/nodes", params={
                "fields": "uuid,name,instance_uuid"}).json()["nodes"]
            assert len(listed) == 2, listed
            free = next(n for n in listed if n["instance_uuid"] != server)
            r = admin.post("/reservation/v1/os-hosts", json={"name": free["name"]})
            assert r.status_code == 201, r.text
            end = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%d %H:%M")
            r = member.post("/reservation/v1/leases", json={
                "name": "a-rather-long-lease-name-for-a-phone", "start_date": "now",
                "end_date": end, "reservations": [
                    {"resource_type": "physical:host", "min": 1, "max": 1}]})
            assert r.status_code == 201, r.text
            lease = r.json()["lease"]["id"]
            undo.append(lambda: member.delete(f"/reservation/v1/leases/{lease}"))
            key = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
                serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
            r = member.post("/compute/v2.1/os-keypairs", json={"keypair": {
                "name": "a-rather-long-key-pair-name-for-a-phone", "public_key": key}})
            assert r.status_code in (200, 201), r.text
            undo.append(lambda: member.delete(
                "/compute/v2.1/os-keypairs/a-rather-long-key-pair-name-for-a-phone"))
            r = member.post("/network/v2.0/networks", json={"network": {
                "name": "a-rather-long-network-name-for-a-phone"}})
            assert r.status_code == 201, r.text
            network = r.json()["network"]["id"]
            undo.append(lambda: member.delete(f"/network/v2.0/networks/{network}"))
            r = member.post("/network/v2.0/subnets", json={"subnet": {
                "network_id": network, "ip_version": 6, "cidr": "fd00:1234:5678:9abc::/64"}})
            assert r.status_code == 201, r.text
            r = admin.post("/baremetal/v1/ports", json={
                "node_uuid": free["uuid"], "address": "52:54:00:ee:00:39",
                "local_link_connection": {"switch_info": "a-rather-long-switch-name-for-a-phone",
                                          "port_id": "Ethernet1/1/39",
                                          "switch_id": "aa:bb:cc:dd:ee:39"}})
            assert r.status_code == 201, r.text
            port = r.json()["uuid"]
            undo.append(lambda: admin.delete(f"/baremetal/v1/ports/{port}"))
            r = admin.post("/compute/v2.1/barecloud-hypervisors", json={
                "hypervisor": {"hostname": "a-rather-long-hypervisor-host-name"}})
            assert r.status_code == 201, r.text
            hypervisor = r.json()["hypervisor"]["id"]
            undo.append(lambda: admin.delete(f"/compute/v2.1/barecloud-hypervisors/{hypervisor}"))
            yield
        finally:
            for step in reversed(undo):
                step()


def overflow(page: Page) -> dict[str, Any]:
    """How wide the page is against the screen, and what sticks out if it is wider."""
    found: dict[str, Any] = page.evaluate("""() => {
      const root = document.scrollingElement;
      const wide = [...document.querySelectorAll("main *")]
        .filter((e) => e.getBoundingClientRect().right > root.clientWidth + 1)
        .slice(0, 5).map((e) => `${e.tagName.toLowerCase()}.${e.className}`);
      return {scroll: root.scrollWidth, client: root.clientWidth, wide};
    }""")
    return found


def check_views(page: Page, views: list[tuple[str, str]]) -> None:
    base = page.url.split("#")[0]
    wider = {}
    for path, title in views:
        page.goto(f"{base}#/{path}")
        heading = page.get_by_role("heading", name=title, exact=True, level=1)
        expect(heading).to_be_visible()
        expect(heading).to_be_in_viewport()
        # Its data in, not its first "Loading…".
        expect(page.locator("main [role=status]").filter(has_text="Loading")).to_have_count(
            0, timeout=15_000)
        found = overflow(page)
        if found["scroll"] > found["client"] + 1:
            wider[path] = found
    assert not wider, wider


def test_the_members_views_fit_a_phone(page_as: Callable[..., Page], content: None) -> None:
    page = page_as("barecloud", **PHONE)
    expect(page.get_by_role("button", name="Menu")).to_be_visible()  # the phone's layout
    check_views(page, MEMBER_VIEWS)
    # They had rows to show: the server, the network, the key pair, the lease.
    base = page.url.split("#")[0]
    for path, name in (("servers", "server"), ("networks", "network"),
                       ("keypairs", "key-pair"), ("leases", "lease")):
        page.goto(f"{base}#/{path}")
        expect(page.locator("main tbody").get_by_text(
            f"a-rather-long-{name}-name-for-a-phone", exact=True).first).to_be_visible()


def test_the_operators_views_fit_a_phone(page_as: Callable[..., Page], content: None) -> None:
    page = page_as("barecloud-admin", **PHONE)
    expect(page.get_by_role("button", name="Menu")).to_be_visible()
    check_views(page, ADMIN_VIEWS)
    base = page.url.split("#")[0]
    page.goto(f"{base}#/switches")
    expect(page.get_by_role("region", name="Switch a-rather-long-switch-name-for-a-phone")
           ).to_contain_text("Ethernet1/1/39")
    page.goto(f"{base}#/hypervisors")
    expect(page.get_by_text("a-rather-long-hypervisor-host-name")).to_be_visible()
    page.goto(f"{base}#/calendar")
    bar = page.get_by_role("group", name="Every project's lease calendar").get_by_role(
        "img", name=re.compile(r"^a-rather-long-lease-name-for-a-phone \(demo\)"))
    expect(bar).to_be_attached()
