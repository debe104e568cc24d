"""Leases in Chromium: a member reserves a machine and sees its lease on its
calendar, moves its end and deletes it; Blazar's refusal is shown in its
words; the operator's calendar shows every project's leases, a member's
only its own (another project's as busy, without a name)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests import support

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def pool(ui_service: support.Service) -> list[str]:
    """The lab's two machines in the reservable pool (the operator's step)."""
    admin = {"X-Auth-Token": ui_service.token()}
    nodes = httpx.get(f"{ui_service.url}/baremetal/v1/nodes?fields=name", timeout=30,
                      headers={**admin, "X-OpenStack-Ironic-API-Version": "1.78"}).json()
    names: list[str] = sorted(n["name"] for n in nodes["nodes"])
    assert len(names) == 2, names
    for name in names:
        r = httpx.post(f"{ui_service.url}/reservation/v1/os-hosts", json={"name": name},
                       headers=admin, timeout=30)
        assert r.status_code == 201, r.text
    return names


def _lease(svc: support.Service, cloud: str, name: str) -> dict[str, Any]:
    end = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%d %H:%M")
    r = httpx.post(f"{svc.url}/reservation/v1/leases", timeout=30,
                   headers={"X-Auth-Token": svc.token(cloud)},
                   json={"name": name, "start_date": "now", "end_date": end, "reservations": [
                       {"resource_type": "physical:host", "min": 1, "max": 1}]})
    assert r.status_code == 201, r.text
    lease: dict[str, Any] = r.json()["lease"]
    return lease


@pytest.fixture
def leases(ui_service: support.Service) -> Iterator[list[tuple[str, str]]]:
    """Leases a test made through the API, as (cloud, id): deleted after it."""
    made: list[tuple[str, str]] = []
    yield made
    for cloud, lease_id in made:
        httpx.delete(f"{ui_service.url}/reservation/v1/leases/{lease_id}", timeout=30,
                     headers={"X-Auth-Token": ui_service.token(cloud)})


def _leases_page(page: Page) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Leases").click()
    expect(page.get_by_role("heading", name="Leases", exact=True)).to_be_visible()


def test_a_member_leases_a_machine_and_sees_it_on_its_calendar(
        page_as: Callable[..., Page], pool: list[str]) -> None:
    page = page_as("barecloud")
    _leases_page(page)
    page.get_by_role("button", name="New lease").click()
    dialog = page.get_by_role("dialog", name="New lease")
    dialog.get_by_label("Name").fill("ui-lease")
    dialog.get_by_role("button", name="Create lease").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    row = page.get_by_role("table", name="Leases").get_by_role("row").filter(has_text="ui-lease")
    expect(row).to_contain_text("ACTIVE", timeout=20_000)
    expect(row).to_contain_text("1 machine, holds 1")
    calendar = page.get_by_role("group", name="Your project's lease calendar")
    bar = calendar.get_by_role(
        "button", name=re.compile(r"^ui-lease \(demo\), ACTIVE: .* UTC to .* UTC$"))
    expect(bar).to_be_visible()
    expect(bar).to_have_text("ui-lease · demo")
    bar.focus()  # keyboard: Enter on the bar goes to its lease
    page.keyboard.press("Enter")
    expect(row.get_by_text("ui-lease", exact=True)).to_be_focused()

    row.get_by_role("button", name="Change the end of ui-lease").click()
    dialog = page.get_by_role("dialog", name="End of ui-lease")
    field = dialog.get_by_label("New end (UTC)")
    new_end = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).replace(minute=0)
    field.fill(new_end.strftime("%Y-%m-%dT%H:%M"))
    dialog.get_by_role("button", name="Change end").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(row).to_contain_text(new_end.strftime("%Y-%m-%d %H:%M UTC"))

    row.get_by_role("button", name="Delete ui-lease").click()
    page.get_by_role("dialog", name="Delete lease ui-lease?").get_by_role(
        "button", name="Delete").click()
    expect(bar).to_have_count(0)
    # Deleting takes its servers down first (DELETING, said in the row), then it is gone.
    expect(page.get_by_role("table", name="Leases").get_by_text("ui-lease")).to_have_count(
        0, timeout=60_000)


def test_a_lease_that_cannot_be_met_is_refused_in_blazars_words(
        page_as: Callable[..., Page], pool: list[str]) -> None:
    page = page_as("barecloud")
    _leases_page(page)
    page.get_by_role("button", name="New lease").click()
    dialog = page.get_by_role("dialog", name="New lease")
    dialog.get_by_label("Name").fill("ui-too-big")
    dialog.get_by_label("Machines, at least").fill("3")
    dialog.get_by_label("At most").fill("3")
    dialog.get_by_role("button", name="Create lease").click()
    expect(dialog.get_by_role("alert")).to_contain_text(
        re.compile(r"Not enough hosts available: 2 host\(s\) match the properties"))
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.get_by_role("table", name="Leases").get_by_text("ui-too-big")).to_have_count(0)


def test_the_operator_sees_every_projects_lease_a_member_only_its_own(
        page_as: Callable[..., Page], ui_service: support.Service, pool: list[str],
        leases: list[tuple[str, str]]) -> None:
    for cloud, name in (("barecloud-admin", "ui-admins-lease"), ("barecloud", "ui-demos-lease")):
        leases.append((cloud, _lease(ui_service, cloud, name)["id"]))

    page = page_as("barecloud")
    _leases_page(page)
    table = page.get_by_role("table", name="Leases")
    expect(table).to_contain_text("ui-demos-lease")
    expect(table.get_by_text("ui-admins-lease")).to_have_count(0)
    calendar = page.get_by_role("group", name="Your project's lease calendar")
    mine = re.compile(r"^ui-demos-lease \(demo\)")
    expect(calendar.get_by_role("button", name=mine)).to_be_visible()
    busy = re.compile(r"^Busy \(another project\)")
    expect(calendar.get_by_role("img", name=busy)).to_be_visible()
    expect(calendar.get_by_text("ui-admins-lease")).to_have_count(0)
    for name in pool:  # the machines are not named to a member
        expect(calendar.get_by_text(name)).to_have_count(0)

    page = page_as("barecloud-admin")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Lease calendar").click()
    calendar = page.get_by_role("group", name="Every project's lease calendar")
    for bar in (r"^ui-demos-lease \(demo\), ACTIVE", r"^ui-admins-lease \(admin\), ACTIVE"):
        expect(calendar.get_by_role("img", name=re.compile(bar))).to_be_visible()
    for name in pool:
        expect(calendar.get_by_text(name, exact=True)).to_be_visible()
    all_leases = page.get_by_role("table", name="All leases")
    expect(all_leases.get_by_role("row").filter(has_text="ui-demos-lease")).to_contain_text("demo")
    # one project's leases only
    page.get_by_label("Project").nth(1).select_option(label="demo")
    expect(calendar.get_by_text("ui-admins-lease")).to_have_count(0)
    expect(calendar.get_by_role("img", name=re.compile(r"^ui-demos-lease"))).to_be_visible()
