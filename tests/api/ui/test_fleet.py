"""The operator's views in Chromium: the fleet (maintenance from a bulk action,
the chips and the search that filter, the filter kept in the link), a node's
page and its history, the hypervisors (one disabled and removed from the UI),
deploy batches, top talkers and switches; and a member refused all of it."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests import support
from tests.api.ui.apis import IRONIC, nodes

pytestmark = pytest.mark.slow





def node(admin: httpx.Client, uuid: str) -> dict[str, Any]:
    r = admin.get(f"/baremetal/v1/nodes/{uuid}")
    assert r.status_code == 200, r.text
    shown: dict[str, Any] = r.json()
    return shown


def fleet(page: Page, query: str = "") -> Page:
    page.goto(page.url.split("#")[0] + "#/fleet" + query)
    status = page.get_by_role("status").filter(has_text="nodes, updated")
    expect(status).to_be_visible(timeout=15000)
    return page


def rows(page: Page) -> Any:
    return page.get_by_role("table", name="Nodes").locator(".fleet-scroll [role=row]")


def test_the_admin_puts_a_node_in_maintenance_from_the_fleet(
        page_as: Callable[..., Page], admin: httpx.Client) -> None:
    first = nodes(admin)[0]
    assert not first["maintenance"]
    page = fleet(page_as("barecloud-admin"))
    row = rows(page).filter(has=page.get_by_role("link", name=first["name"], exact=True))
    expect(row.locator(".c-maint")).to_have_text("")
    page.get_by_label(f"Select {first['name']}").check()
    bar = page.get_by_role("toolbar", name="Bulk actions")
    expect(bar).to_contain_text("1 selected")
    bar.get_by_role("button", name="Maintenance on…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Reason").fill("disk swap, from the UI")
    dialog.get_by_role("button", name="Maintenance on").click()
    expect(page.locator(".bulk-report")).to_contain_text("1 of 1 done.")
    expect(row.locator(".c-maint")).to_have_text("maintenance", timeout=10000)
    expect(page.get_by_role("button", name=re.compile(r"^maintenance 1$"))).to_be_visible()
    shown = node(admin, first["uuid"])
    assert shown["maintenance"] is True
    assert shown["maintenance_reason"] == "disk swap, from the UI"

    # And off again, the same way.
    bar.get_by_role("button", name="Maintenance off").click()
    expect(row.locator(".c-maint")).to_have_text("", timeout=10000)
    assert node(admin, first["uuid"])["maintenance"] is False


def test_a_bulk_action_reports_each_nodes_error_in_the_apis_words(
        page_as: Callable[..., Page], admin: httpx.Client) -> None:
    page = fleet(page_as("barecloud-admin"))
    page.get_by_label("Select all shown").check()
    expect(page.get_by_role("toolbar", name="Bulk actions")).to_contain_text("2 selected")
    # Available nodes cannot be provided again: the API says why, per node.
    page.get_by_role("toolbar", name="Bulk actions").get_by_role("button", name="Provide").click()
    report = page.locator(".bulk-report")
    expect(report).to_contain_text("0 of 2 done, 2 failed:")
    expect(report.locator("li")).to_have_count(2)
    expect(report.locator("li").first).to_contain_text(re.compile(r"provide|available", re.I))


def test_the_chips_and_the_search_narrow_the_list_and_the_link_keeps_them(
        page_as: Callable[..., Page], admin: httpx.Client) -> None:
    listed = nodes(admin)
    second = listed[1]
    r = admin.put(f"/baremetal/v1/nodes/{second['uuid']}/maintenance", json={"reason": "chip"})
    assert r.status_code == 202, r.text
    try:
        page = fleet(page_as("barecloud-admin"))
        expect(rows(page)).to_have_count(len(listed))
        page.get_by_role("button", name=re.compile(r"^maintenance 1$")).click()
        expect(rows(page)).to_have_count(1)
        expect(rows(page).first).to_contain_text(second["name"])
        expect(page).to_have_url(re.compile(r"#/fleet\?maintenance=1$"))
        page.get_by_role("button", name=re.compile(r"^maintenance 1$")).click()
        expect(rows(page)).to_have_count(len(listed))

        page.get_by_role("button", name=re.compile(r"^available \d+$")).click()
        expect(rows(page)).to_have_count(len(listed))
        page.get_by_role("button", name="errors 0").click()
        expect(rows(page)).to_have_count(0)
        page.get_by_role("button", name=re.compile(r"^All \d+$")).click()
        expect(rows(page)).to_have_count(len(listed))

        page.get_by_label("Search nodes").fill(listed[0]["name"])
        expect(rows(page)).to_have_count(1)
        expect(rows(page).first).to_contain_text(listed[0]["name"])
        page.get_by_label("Search nodes").fill("no-such-node")
        expect(rows(page)).to_have_count(0)
        expect(page.get_by_text("No node matches.")).to_be_visible()

        # A link with the filter opens on the filtered list.
        page = fleet(page, "?maintenance=1")
        page.reload()
        expect(rows(page)).to_have_count(1)
        expect(page.get_by_role("button", name=re.compile(r"^maintenance 1$"))).to_have_attribute(
            "aria-pressed", "true")
    finally:
        admin.delete(f"/baremetal/v1/nodes/{second['uuid']}/maintenance")


def test_the_node_page_shows_its_facts_ports_and_history(
        page_as: Callable[..., Page], admin: httpx.Client) -> None:
    first = nodes(admin)[0]
    r = admin.get(f"/baremetal/v1/nodes/{first['uuid']}/history")
    events = r.json()["history"]
    assert events
    page = page_as("barecloud-admin")
    fleet(page).get_by_role("link", name=first["name"], exact=True).click()
    expect(page).to_have_url(re.compile(rf"#/nodes/{first['uuid']}$"))
    expect(page.get_by_role("heading", name=f"Node {first['name']}")).to_be_visible()
    expect(page.locator("dl.facts")).to_contain_text(first["uuid"])
    timeline = page.get_by_role("list", name="History")
    expect(timeline.locator("li")).to_have_count(len(events), timeout=10000)
    expect(timeline.locator("li").first).to_contain_text(events[0]["event"])
    expect(timeline.locator("li").last).to_contain_text(events[-1]["event"])
    expect(timeline.locator("time").first).to_have_attribute("datetime", events[0]["created_at"])
    ports = admin.get(f"/baremetal/v1/nodes/{first['uuid']}/ports").json()["ports"]
    expect(page.get_by_role("table", name="Ports")).to_contain_text(ports[0]["address"])
    expect(page.get_by_role("group", name="Provision").get_by_role("button")).to_have_text(
        ["Manage", "Deploy"])  # what an available node may be given
    maintenance = page.get_by_role("group", name="Maintenance")
    maintenance.get_by_label("Maintenance reason").fill("node page")
    maintenance.get_by_role("button", name="Maintenance on").click()
    expect(page.locator("dl.facts")).to_contain_text("node page", timeout=10000)
    assert node(admin, first["uuid"])["maintenance"] is True
    page.get_by_role("button", name="Maintenance off").click()
    expect(page.get_by_label("Maintenance reason")).to_be_visible(timeout=10000)
    assert node(admin, first["uuid"])["maintenance"] is False


def test_a_hypervisor_is_shown_with_its_usage_and_removed(
        page_as: Callable[..., Page], admin: httpx.Client) -> None:
    r = admin.post("/compute/v2.1/barecloud-hypervisors",
                   json={"hypervisor": {"hostname": "hv-ui-test"}})
    assert r.status_code == 201, r.text
    ident = r.json()["hypervisor"]["id"]
    page = page_as("barecloud-admin")
    page.goto(page.url.split("#")[0] + "#/hypervisors")
    table = page.get_by_role("table", name="Hypervisors")
    row = table.locator("tr").filter(has_text="hv-ui-test")
    expect(row).to_contain_text("new")
    expect(row.get_by_role("meter", name="vCPUs used")).to_have_attribute(
        "aria-valuetext", "0 of 0")
    # Enabled: removal is refused in the API's words.
    row.get_by_role("button", name="Remove hv-ui-test").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    expect(page.get_by_role("dialog").get_by_role("alert")).to_contain_text("disable it first")
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    row.get_by_role("button", name="Disable hv-ui-test").click()
    expect(row).to_contain_text("disabled")
    row.get_by_role("button", name="Remove hv-ui-test").click()
    page.get_by_role("dialog").get_by_role("button", name="Remove").click()
    expect(table.locator("tr").filter(has_text="hv-ui-test")).to_have_count(0)
    assert admin.get(f"/compute/v2.1/barecloud-hypervisors/{ident}").status_code == 404
    # The dialog that turns nodes into hypervisors lists the available nodes.
    page.get_by_role("button", name="Turn nodes into hypervisors").click()
    dialog = page.get_by_role("dialog")
    for n in nodes(admin):
        expect(dialog.get_by_label(n["name"])).to_be_visible()
    expect(dialog.get_by_role("button", name=re.compile("^Make"))).to_be_disabled()


def test_switches_batches_and_top_talkers_render_the_apis_data(
        page_as: Callable[..., Page], admin: httpx.Client) -> None:
    first = nodes(admin)[0]
    r = admin.post("/baremetal/v1/ports", json={
        "node_uuid": first["uuid"], "address": "52:54:00:ee:00:07",
        "local_link_connection": {"switch_info": "sw-ui", "port_id": "Ethernet7",
                                  "switch_id": "aa:bb:cc:dd:ee:ff"}})
    assert r.status_code == 201, r.text
    try:
        page = page_as("barecloud-admin")
        base = page.url.split("#")[0]
        page.goto(base + "#/switches")
        section = page.get_by_role("region", name="Switch sw-ui")
        expect(section).to_contain_text("Ethernet7")
        expect(section.get_by_role("link", name=first["name"])).to_be_visible()
        expect(section).to_contain_text("52:54:00:ee:00:07")

        page.goto(base + "#/batches")
        expect(page.get_by_role("heading", name="Deploy batches")).to_be_visible()
        expect(page.get_by_text("No deploy batch yet.")).to_be_visible()
        page.get_by_role("button", name="Deploy a batch").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_label("Nodes").fill("no-such-node")
        dialog.get_by_role("button", name="Deploy").click()
        expect(dialog.get_by_role("alert")).to_contain_text("image_source")
        dialog.get_by_role("button", name="Cancel").click()

        page.goto(base + "#/traffic")
        expect(page.get_by_role("heading", name="Top talkers")).to_be_visible()
        expect(page.get_by_text("No traffic sampled in this window")).to_be_visible()
        page.get_by_label("Switch").fill("no-such-switch")
        page.get_by_label("Switch").press("Enter")
        expect(page.get_by_role("alert")).to_contain_text(
            "Switch no-such-switch could not be found")
    finally:
        admin.delete(f"/baremetal/v1/ports/{r.json()['uuid']}")


def test_the_fleet_on_a_phone(page_as: Callable[..., Page], admin: httpx.Client) -> None:
    page = fleet(page_as("barecloud-admin", width=390, height=800))
    first = nodes(admin)[0]
    expect(rows(page)).to_have_count(len(nodes(admin)))
    expect(page.get_by_role("link", name=first["name"], exact=True)).to_be_visible()
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width


def test_a_member_is_refused_the_operator_views_and_their_apis(
        page_as: Callable[..., Page], ui_service: support.Service, admin: httpx.Client) -> None:
    page = page_as("barecloud")
    base = page.url.split("#")[0]
    for path in ("/fleet", "/nodes/x", "/hypervisors", "/batches", "/traffic", "/switches"):
        page.goto(base + "#" + path)
        expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    first = nodes(admin)[0]
    token = ui_service.token("barecloud")
    with httpx.Client(base_url=ui_service.url, timeout=30,
                      headers={**IRONIC, "X-Auth-Token": token}) as member:
        for path in ("/network/v2.0/barecloud-top-talkers",
                     "/baremetal/v1/barecloud-deploy-batches"):
            r = member.get(path)
            assert r.status_code == 403, (path, r.status_code, r.text)
        # The fleet's nodes are not the member's: not listed, not to be put in maintenance.
        r = member.get("/baremetal/v1/nodes", params={"fields": "uuid"})
        assert r.status_code == 200, r.text
        assert first["uuid"] not in {n["uuid"] for n in r.json()["nodes"]}
        r = member.put(f"/baremetal/v1/nodes/{first['uuid']}/maintenance", json={"reason": "x"})
        assert r.status_code in (403, 404), r.text
    assert node(admin, first["uuid"])["maintenance"] is False
