"""The UI with the keyboard alone, in Chromium: logging in, the navigation, a
key pair created from its dialog, a delete confirmation dismissed with Escape
and then confirmed; and the focus always visible."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from playwright.sync_api import Browser, Locator, Page, expect

from tests import support
from tests.api.ui import browser as chromium

pytestmark = pytest.mark.slow

STYLE = Path(__file__).parents[3] / "src/barecloud/api/ui/web/style.css"
TABS = 40  # more presses than any page here has stops before the one looked for


@pytest.fixture
def page(browser: Browser, ui_service: support.Service) -> Iterator[Page]:
    """A page on the login form, nobody logged in; a script error fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    errors: list[str] = []
    shown = context.new_page()
    shown.on("pageerror", lambda e: errors.append(f"{shown.url}: {e}"))
    shown.goto(f"{ui_service.url}/ui/")
    try:
        yield shown
    finally:
        context.close()
    assert not errors, errors


def focused(target: Locator) -> bool:
    return bool(target.evaluate("e => e === document.activeElement"))


def tab_to(page: Page, target: Locator, key: str = "Tab") -> None:
    """Press Tab (or Shift+Tab) until ``target`` has the focus, and check that it shows."""
    for _ in range(TABS):
        if focused(target):
            break
        page.keyboard.press(key)
    expect(target).to_be_focused()
    assert_focus_visible(page)


def assert_focus_visible(page: Page) -> None:
    """The focused element is drawn with an outline (style.css's :focus-visible)."""
    style = page.evaluate("""() => {
      const e = document.activeElement;
      const s = getComputedStyle(e);
      return {tag: e.tagName, visible: e.matches(":focus-visible"),
              outline: s.outlineStyle, width: parseFloat(s.outlineWidth)};
    }""")
    assert style["visible"], style
    assert style["outline"] != "none" and style["width"] > 0, style


def _public_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH,
                            serialization.PublicFormat.OpenSSH).decode() + " keys@board"


def test_the_stylesheet_draws_the_keyboards_focus() -> None:
    assert re.search(r"(^|[\s,}]):focus-visible\s*\{[^}]*outline:\s*\d", STYLE.read_text(),
                     re.M), "style.css has no :focus-visible outline"


def test_a_key_pair_from_login_to_delete_with_the_keyboard_alone(
        page: Page, ui_service: support.Service) -> None:
    auth = chromium.credentials(ui_service.clouds_yaml, "barecloud")
    keyboard = page.keyboard

    # Log in: the user name has the focus first; Shift+Tab goes back to it.
    user, password = page.get_by_label("User name"), page.get_by_label("Password")
    tab_to(page, user)
    keyboard.type(auth["username"])
    keyboard.press("Tab")
    expect(password).to_be_focused()
    keyboard.type(auth["password"])
    keyboard.press("Shift+Tab")
    expect(user).to_be_focused()
    expect(user).to_have_value(auth["username"])
    keyboard.press("Tab")
    keyboard.press("Enter")
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    expect(page.get_by_role("heading", name="Servers")).to_be_visible()

    # The navigation, to the key pairs.
    nav = page.get_by_role("navigation", name="Main")
    tab_to(page, nav.get_by_role("link", name="Key pairs"))
    keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"#/keypairs$"))
    expect(page.get_by_role("heading", name="Key pairs")).to_be_visible()
    expect(page.get_by_text("No key pairs yet.")).to_be_visible()

    # The create dialog: its name field takes the focus; Tab walks the form.
    create = page.get_by_role("button", name="Create key pair")
    tab_to(page, create)
    keyboard.press("Enter")
    dialog = page.get_by_role("dialog", name="Create key pair")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_label("Name")).to_be_focused()
    keyboard.type("by-keyboard")
    tab_to(page, dialog.get_by_label("Paste a public key"))
    expect(dialog.get_by_label("Paste a public key")).to_be_checked()
    tab_to(page, dialog.get_by_label(re.compile(r"^Public key")))
    public_key = _public_key()
    keyboard.type(public_key)
    submit = dialog.get_by_role("button", name="Create", exact=True)
    tab_to(page, submit)
    keyboard.press("Shift+Tab")
    expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    keyboard.press("Tab")
    expect(submit).to_be_focused()
    keyboard.press("Space")
    expect(dialog).to_be_hidden()
    row = page.locator("tbody tr").filter(has_text="by-keyboard")
    expect(row).to_have_count(1)
    expect(row.locator("code")).to_have_attribute("title", public_key)  # what was typed

    # The delete confirmation, dismissed with Escape: closed, nothing deleted,
    # and the focus back where it was, so the keyboard goes on from there.
    delete = page.get_by_role("button", name="Delete by-keyboard")
    tab_to(page, delete)
    keyboard.press("Enter")
    confirm = page.get_by_role("dialog", name="Delete key pair by-keyboard?")
    expect(confirm).to_be_visible()
    expect(confirm.locator(":focus")).to_have_count(1)  # the focus moved into the dialog
    keyboard.press("Escape")
    expect(confirm).to_be_hidden()
    expect(row).to_have_count(1)
    expect(delete).to_be_focused()
    assert_focus_visible(page)

    # Again, and confirmed from the keyboard this time.
    keyboard.press("Space")
    expect(confirm).to_be_visible()
    tab_to(page, confirm.get_by_role("button", name="Delete"))
    keyboard.press("Enter")
    expect(confirm).to_be_hidden()
    expect(row).to_have_count(0)
    expect(page.get_by_text("No key pairs yet.")).to_be_visible()
    # The focus is not lost with the row: Tab still reaches the page's button.
    tab_to(page, create)
