"""Networks in Chromium: a member creates a network with a subnet, sees
Neutron's own refusal of a wrong CIDR, adds a port on its network page, and
never sees another project's network."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests import support

pytestmark = pytest.mark.slow


def _networks(page: Page) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Networks").click()
    expect(page.get_by_role("heading", name="Networks")).to_be_visible()


def _create(page: Page, name: str, cidr: str) -> None:
    page.get_by_role("button", name="New network").click()
    dialog = page.get_by_role("dialog", name="New network")
    dialog.get_by_label("Name").fill(name)
    dialog.get_by_label("CIDR").fill(cidr)
    dialog.get_by_role("button", name="Create network").click()


def test_a_member_creates_a_network_with_a_subnet_and_a_port(
        page_as: Callable[..., Page]) -> None:
    page = page_as("barecloud")
    _networks(page)
    _create(page, "ui-net", "10.20.0.0/24")
    expect(page.get_by_role("dialog")).to_have_count(0)
    table = page.get_by_role("table", name="Networks")
    row = table.get_by_role("row").filter(has_text="ui-net")
    expect(row).to_contain_text("10.20.0.0/24", timeout=10_000)
    expect(row).to_contain_text("this project")

    row.get_by_role("link", name="ui-net").click()
    expect(page.get_by_role("heading", name="Network ui-net")).to_be_visible()
    subnets = page.get_by_role("table", name="Subnets")
    expect(subnets).to_contain_text("10.20.0.1")  # Neutron's default gateway
    page.get_by_role("button", name="Create port").click()
    dialog = page.get_by_role("dialog", name="New port on ui-net")
    dialog.get_by_label("Name").fill("ui-port")
    dialog.get_by_label("IP address").fill("10.20.0.42")
    dialog.get_by_role("button", name="Create port").click()
    ports = page.get_by_role("table", name="Ports")
    expect(ports.get_by_role("row").filter(has_text="ui-port")).to_contain_text("10.20.0.42")
    page.get_by_role("button", name="Delete port ui-port").click()
    page.get_by_role("dialog", name="Delete port ui-port?").get_by_role(
        "button", name="Delete").click()
    expect(ports).to_have_count(0)  # no port left: the table gives way to its empty text
    expect(page.get_by_text("No port.")).to_be_visible()


def test_a_wrong_cidr_is_refused_in_neutrons_words(page_as: Callable[..., Page],
                                                   ui_service: support.Service) -> None:
    page = page_as("barecloud")
    _networks(page)
    _create(page, "ui-bad-net", "10.0.0.0/33")
    alert = page.get_by_role("dialog", name="New network").get_by_role("alert")
    expect(alert).to_contain_text("Invalid input for cidr. Reason: '10.0.0.0/33' is not a valid "
                                  "IP subnet.")
    # The network made before its subnet was refused is taken back.
    token = ui_service.token("barecloud")
    names = [n["name"] for n in httpx.get(
        f"{ui_service.url}/network/v2.0/networks", timeout=30,
        headers={"X-Auth-Token": token}).json()["networks"]]
    assert "ui-bad-net" not in names


def test_a_member_never_sees_another_projects_network(
        page_as: Callable[..., Page], ui_service: support.Service) -> None:
    admin = ui_service.token()
    r = httpx.post(f"{ui_service.url}/network/v2.0/networks", timeout=30,
                   headers={"X-Auth-Token": admin},
                   json={"network": {"name": "ui-admins-own-net"}})
    assert r.status_code == 201, r.text
    page = page_as("barecloud")
    _networks(page)
    _create(page, "ui-visible-net", "10.30.0.0/24")
    table = page.get_by_role("table", name="Networks")
    expect(table).to_contain_text("ui-visible-net")
    expect(table.get_by_text("ui-admins-own-net")).to_have_count(0)
    # the admin, who sees every project's, is shown it
    page = page_as("barecloud-admin")
    _networks(page)
    expect(page.get_by_role("table", name="Networks")).to_contain_text("ui-admins-own-net")


def test_a_network_is_deleted_and_the_list_fits_a_phone(page_as: Callable[..., Page]) -> None:
    page = page_as("barecloud", width=390, height=800)
    page.get_by_role("button", name="Menu").click()
    _networks(page)
    _create(page, "ui-phone-net", "10.40.0.0/24")
    row = page.get_by_role("table", name="Networks").get_by_role("row").filter(
        has_text="ui-phone-net")
    expect(row).to_contain_text("10.40.0.0/24")
    box = row.bounding_box()
    assert box is not None and box["width"] <= 390, box
    row.get_by_role("button", name="Delete ui-phone-net").click()
    page.get_by_role("dialog", name=re.compile("Delete network ui-phone-net")).get_by_role(
        "button", name="Delete").click()
    expect(page.get_by_role("table", name="Networks").get_by_text("ui-phone-net")).to_have_count(0)
