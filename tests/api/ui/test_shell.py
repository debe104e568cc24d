"""The UI's shell in Chromium: logging in through Identity, what a member and
an operator are shown, a token that stops working, logging out, a phone's
width."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from tests import support

pytestmark = pytest.mark.slow


def test_a_wrong_password_is_refused_in_identitys_words(
        browser: Browser, ui_service: support.Service) -> None:
    page = browser.new_page()
    try:
        page.goto(f"{ui_service.url}/ui/")
        page.get_by_label("User name").fill("demo")
        page.get_by_label("Password").fill("not-the-password")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("alert")).to_contain_text("requires authentication")
        expect(page.locator("nav.side")).to_have_count(0)
    finally:
        page.close()


def test_a_member_sees_no_operator_view(page_as: Callable[..., Page]) -> None:
    page = page_as("barecloud")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Servers")).to_be_visible()
    expect(nav.get_by_role("link", name="Fleet")).to_have_count(0)
    expect(page.get_by_label("Project").locator("option")).to_have_text(["demo"])
    page.goto(page.url.split("#")[0] + "#/fleet")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()


def test_an_operator_sees_the_operator_views(page_as: Callable[..., Page]) -> None:
    page = page_as("barecloud-admin")
    nav = page.get_by_role("navigation", name="Main")
    for name in ("Fleet", "Hypervisors", "Deploy batches", "Top talkers", "Lease calendar",
                 "Switches"):
        expect(nav.get_by_role("link", name=name)).to_be_visible()
    expect(page).to_have_url(re.compile(r"#/fleet$"))  # an operator lands there


def test_a_revoked_token_sends_the_user_back_to_log_in(
        page_as: Callable[..., Page], ui_service: support.Service) -> None:
    page = page_as("barecloud")
    token = page.evaluate("JSON.parse(sessionStorage.getItem('barecloud.session')).token")
    admin = ui_service.token()
    r = httpx.delete(f"{ui_service.identity}/auth/tokens", timeout=30,
                     headers={"X-Auth-Token": admin, "X-Subject-Token": token})
    assert r.status_code == 204, r.text
    page.reload()  # the next call with the token is answered 401
    expect(page.get_by_role("alert")).to_contain_text("Your session ended")
    expect(page.get_by_label("Password")).to_be_visible()


def test_logging_out_revokes_the_token(page_as: Callable[..., Page],
                                       ui_service: support.Service) -> None:
    page = page_as("barecloud")
    token = page.evaluate("JSON.parse(sessionStorage.getItem('barecloud.session')).token")
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("alert")).to_contain_text("You logged out")
    r = httpx.get(f"{ui_service.identity}/auth/tokens", timeout=30, headers={
        "X-Auth-Token": ui_service.token(), "X-Subject-Token": token})
    assert r.status_code == 404, r.text


def test_on_a_phone_the_navigation_folds_behind_the_menu(
        page_as: Callable[..., Page]) -> None:
    page = page_as("barecloud", width=390, height=800)
    nav = page.get_by_role("navigation", name="Main")
    expect(nav).to_be_hidden()
    page.get_by_role("button", name="Menu").click()
    expect(nav.get_by_role("link", name="Key pairs")).to_be_visible()
    nav.get_by_role("link", name="Key pairs").click()
    expect(nav).to_be_hidden()
    expect(page).to_have_url(re.compile(r"#/keypairs$"))


def test_the_project_switcher_trades_the_token_for_another_projects(
        page_as: Callable[..., Page], ui_service: support.Service) -> None:
    """demo, given a role on a second project, switches to it: the session's token
    is a new one scoped there, and the views show that project's resources."""
    admin = httpx.Client(base_url=ui_service.identity, timeout=30,
                         headers={"X-Auth-Token": ui_service.token()})
    with admin:
        project = admin.post("/projects", json={"project": {
            "name": "ui-second", "domain_id": "default"}}).json()["project"]
        demo = admin.get("/users", params={"name": "demo"}).json()["users"][0]
        member = admin.get("/roles", params={"name": "member"}).json()["roles"][0]
        r = admin.put(f"/projects/{project['id']}/users/{demo['id']}/roles/{member['id']}")
        assert r.status_code == 204, r.text
        r = httpx.post(f"{ui_service.url}/network/v2.0/networks", timeout=30,
                       headers={"X-Auth-Token": ui_service.token()},
                       json={"network": {"name": "second-net", "project_id": project["id"]}})
        assert r.status_code == 201, r.text
    page = page_as("barecloud")
    before = page.evaluate("JSON.parse(sessionStorage.getItem('barecloud.session'))")
    page.goto(page.url.split("#")[0] + "#/networks")
    expect(page.get_by_text("second-net")).to_have_count(0)
    switcher = page.get_by_label("Project")
    expect(switcher.locator("option")).to_have_text(["demo", "ui-second"], timeout=15_000)
    switcher.select_option(label="ui-second")
    expect(page.get_by_role("link", name="second-net")).to_be_visible(timeout=15_000)
    after = page.evaluate("JSON.parse(sessionStorage.getItem('barecloud.session'))")
    assert after["project"]["id"] == project["id"] and after["token"] != before["token"]
