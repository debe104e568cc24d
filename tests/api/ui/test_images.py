"""Images in Chromium: a member uploads a small image with its progress shown,
sees it go active, deletes it; Glance's refusal is shown in its words."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests import support

pytestmark = pytest.mark.slow


def _upload_dialog(page: Page, name: str, file: Path, visibility: str = "private") -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Images").click()
    page.get_by_role("button", name="Upload image").click()
    dialog = page.get_by_role("dialog", name="Upload an image")
    dialog.get_by_label("Name").fill(name)
    dialog.get_by_label("File").set_input_files(str(file))
    dialog.get_by_label("Visibility").select_option(visibility)
    dialog.get_by_role("button", name="Upload").click()


def test_a_member_uploads_an_image_sees_it_active_and_deletes_it(
        page_as: Callable[..., Page], ui_service: support.Service, tmp_path: Path) -> None:
    data = tmp_path / "tiny.img"
    data.write_bytes(bytes(range(256)) * 24)  # 6 KiB
    page = page_as("barecloud")
    _upload_dialog(page, "ui-image", data)
    expect(page.get_by_role("dialog")).to_have_count(0)
    progress = page.get_by_role("progressbar", name="Uploading ui-image")
    expect(progress).to_have_attribute("value", "100", timeout=15_000)
    expect(page.get_by_role("group", name="Uploading ui-image")).to_contain_text("Uploaded 6.0 KiB")
    row = page.get_by_role("table", name="Images").get_by_role("row").filter(has_text="ui-image")
    expect(row).to_contain_text("active", timeout=15_000)
    expect(row).to_contain_text("6.0 KiB")
    expect(row).to_contain_text("private")
    expect(row).to_contain_text("this project")

    token = ui_service.token("barecloud")
    images = httpx.get(f"{ui_service.url}/image/v2/images?name=ui-image", timeout=30,
                       headers={"X-Auth-Token": token}).json()["images"]
    assert [(i["status"], i["size"]) for i in images] == [("active", 6144)]

    row.get_by_role("button", name="Delete ui-image").click()
    page.get_by_role("dialog", name="Delete image ui-image?").get_by_role(
        "button", name="Delete").click()
    expect(page.get_by_role("table", name="Images").get_by_text("ui-image")).to_have_count(0)
    gone = httpx.get(f"{ui_service.url}/image/v2/images/{images[0]['id']}", timeout=30,
                     headers={"X-Auth-Token": token})
    assert gone.status_code == 404, gone.text


def test_glances_refusal_is_shown_in_its_words(page_as: Callable[..., Page],
                                               tmp_path: Path) -> None:
    data = tmp_path / "tiny.img"
    data.write_bytes(b"\0" * 4096)
    page = page_as("barecloud")
    _upload_dialog(page, "ui-public-image", data, visibility="public")
    alert = page.get_by_role("dialog", name="Upload an image").get_by_role("alert")
    expect(alert).to_contain_text("You are not authorized to complete publicize_image action.")
    expect(page.get_by_role("table", name="Images").get_by_text("ui-public-image")).to_have_count(0)
