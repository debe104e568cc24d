"""The compute views in Chromium, as the demo member: key pairs, a bare-metal
server from create to console to delete (its live status in the list, its
console log, its serial console typed into, the graphics console Nova refuses
for bare metal), a create the API refuses shown in its words, the overview's
usage moving with the servers, and a phone's width."""

from __future__ import annotations

import re
from collections.abc import Callable

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from playwright.sync_api import Locator, Page, expect

from tests import support

pytestmark = pytest.mark.slow

BUILD_TIMEOUT = 180_000  # ms: a lab machine's deploy, on a busy machine
NOVA = {"OpenStack-API-Version": "compute 2.96"}


def _public_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH,
                            serialization.PublicFormat.OpenSSH).decode() + " ui@test"


def _row(page: Page, name: str) -> Locator:
    return page.locator("tbody tr").filter(has=page.get_by_role("link", name=name, exact=True))


def _instances_used(ui_service: support.Service) -> int:
    r = httpx.get(f"{ui_service.url}/compute/v2.1/limits", timeout=30,
                  headers={"X-Auth-Token": ui_service.token("barecloud"), **NOVA})
    assert r.status_code == 200, r.text
    used: int = r.json()["limits"]["absolute"]["totalInstancesUsed"]
    return used


def _create_server(page: Page, name: str, key: str = "", count: str = "1") -> Locator:
    """Fill in the create dialog (bm.baremetal, barecloud-demo, no network) and submit;
    the dialog is returned (it closes when the API takes the create)."""
    page.get_by_role("button", name="Create server").click()
    dialog = page.get_by_role("dialog", name="Create server")
    dialog.get_by_label("Name").fill(name)
    flavor = dialog.get_by_label("Flavor")
    bare_metal = flavor.locator("optgroup[label='Bare metal'] option", has_text="bm.baremetal")
    flavor.select_option(value=bare_metal.get_attribute("value"))
    dialog.get_by_label("Image").select_option(label="barecloud-demo")
    dialog.get_by_label("Network").select_option(label="None")
    if key:
        dialog.get_by_label("Key pair").select_option(label=key)
    dialog.get_by_label(re.compile(r"^Count")).fill(count)
    dialog.get_by_role("button", name="Create", exact=True).click()
    return dialog


def test_key_pairs_are_imported_generated_refused_and_deleted(
        page_as: Callable[..., Page]) -> None:
    page = page_as("barecloud")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Key pairs").click()
    expect(page.get_by_role("heading", name="Key pairs")).to_be_visible()

    # Nova's refusal of a key that is no key, in the dialog.
    page.get_by_role("button", name="Create key pair").click()
    dialog = page.get_by_role("dialog", name="Create key pair")
    dialog.get_by_label("Name").fill("ui-bad")
    dialog.get_by_label(re.compile(r"^Public key")).fill("ssh-ed25519 not-a-key")
    dialog.get_by_role("button", name="Create").click()
    expect(dialog.get_by_role("alert")).to_contain_text("Keypair data is invalid")

    # Imported: listed with its fingerprint.
    dialog.get_by_label("Name").fill("ui-imported")
    dialog.get_by_label(re.compile(r"^Public key")).fill(_public_key())
    dialog.get_by_role("button", name="Create").click()
    expect(dialog).to_be_hidden()
    row = page.locator("tbody tr").filter(has_text="ui-imported")
    expect(row).to_contain_text(re.compile(r"SHA256:|[0-9a-f]{2}(:[0-9a-f]{2}){15}"))

    # Generated: the private key once, with a download link.
    page.get_by_role("button", name="Create key pair").click()
    dialog = page.get_by_role("dialog", name="Create key pair")
    dialog.get_by_label("Name").fill("ui-generated")
    dialog.get_by_label("Generate a new key").check()
    expect(dialog.get_by_label(re.compile(r"^Public key"))).to_have_count(0)
    dialog.get_by_role("button", name="Create").click()
    secret = page.get_by_role("dialog", name="Private key of ui-generated")
    expect(secret.get_by_label("Private key")).to_contain_text("PRIVATE KEY-----")
    link = secret.get_by_role("link", name="Download ui-generated.pem")
    expect(link).to_have_attribute("download", "ui-generated.pem")
    expect(link).to_have_attribute("href", re.compile(r"^blob:"))
    secret.get_by_role("button", name="I saved it").click()
    expect(secret).to_be_hidden()
    expect(page.locator("tbody tr").filter(has_text="ui-generated")).to_have_count(1)

    # Deleted, after a confirmation.
    page.get_by_role("button", name="Delete ui-generated").click()
    confirm = page.get_by_role("dialog", name="Delete key pair ui-generated?")
    confirm.get_by_role("button", name="Delete").click()
    expect(page.locator("tbody tr").filter(has_text="ui-generated")).to_have_count(0)
    expect(page.locator("tbody tr").filter(has_text="ui-imported")).to_have_count(1)


def test_a_create_the_api_refuses_is_shown_in_its_words(page_as: Callable[..., Page]) -> None:
    page = page_as("barecloud")
    expect(page.get_by_role("heading", name="Servers")).to_be_visible()
    dialog = _create_server(page, "too-many", count="11")
    expect(dialog.get_by_role("alert")).to_contain_text(
        "Quota exceeded for cores, instances: Requested 22, 11")
    expect(dialog).to_be_visible()  # the form stays, to be corrected
    dialog.get_by_role("button", name="Cancel").click()
    expect(page.get_by_text("too-many")).to_have_count(0)


def test_a_bare_metal_server_from_create_to_console_to_delete(
        page_as: Callable[..., Page], ui_service: support.Service) -> None:
    page = page_as("barecloud")
    nav = page.get_by_role("navigation", name="Main")
    base = _instances_used(ui_service)
    nav.get_by_role("link", name="Overview").click()
    instances = page.locator(".quota").filter(has_text="Instances")
    expect(instances).to_contain_text(f"{base} of 10")

    # A key pair for it, then the server, from the list's dialog.
    nav.get_by_role("link", name="Key pairs").click()
    page.get_by_role("button", name="Create key pair").click()
    dialog = page.get_by_role("dialog", name="Create key pair")
    dialog.get_by_label("Name").fill("ui-metal-key")
    dialog.get_by_label(re.compile(r"^Public key")).fill(_public_key())
    dialog.get_by_role("button", name="Create").click()
    expect(dialog).to_be_hidden()

    nav.get_by_role("link", name="Servers").click()
    page.evaluate("window.sameDocument = true")  # gone if the page reloads
    dialog = _create_server(page, "ui-metal", key="ui-metal-key")
    expect(dialog).to_be_hidden()
    row = _row(page, "ui-metal")
    expect(row).to_be_visible()
    expect(row.locator(".badge")).to_have_text("BUILD")
    # Live: it goes ACTIVE in the list, no reload.
    expect(row.locator(".badge")).to_have_text("ACTIVE", timeout=BUILD_TIMEOUT)
    expect(row).to_contain_text("bm.baremetal")
    expect(row).to_contain_text("barecloud-demo")
    expect(row).to_contain_text("running")
    assert page.evaluate("window.sameDocument") is True

    nav.get_by_role("link", name="Overview").click()
    expect(instances).to_contain_text(f"{base + 1} of 10")
    nav.get_by_role("link", name="Servers").click()

    # Its page: facts, then the console log.
    _row(page, "ui-metal").get_by_role("link", name="ui-metal").click()
    expect(page.get_by_role("heading", name="ui-metal")).to_be_visible()
    facts = page.locator("dl.facts")
    expect(facts).to_contain_text("Bare metal")
    expect(facts).to_contain_text("ui-metal-key")
    expect(facts).to_contain_text("barecloud-demo")
    page.get_by_label("Follow").check()
    log = page.get_by_label("Console output")
    expect(log).to_contain_text("cloud-init: hostname ui-metal", timeout=60_000)
    expect(log).to_contain_text("ssh key ui-metal-key: ssh-ed25519")

    # The serial console: log in and type; the machine's answer shows.
    page.get_by_role("tab", name="Serial console").click()
    page.get_by_role("button", name="Connect").click()
    expect(page.get_by_role("status").filter(has_text="Connected")).to_be_visible(timeout=30_000)
    screen = page.locator(".xterm-rows")
    page.locator(".console-screen").click()
    page.keyboard.press("Enter")
    expect(screen).to_contain_text("ui-metal login:", timeout=30_000)
    page.keyboard.type("tester")
    page.keyboard.press("Enter")
    expect(screen).to_contain_text("tester@ui-metal", timeout=30_000)
    page.keyboard.type("echo typed-in-chromium")
    page.keyboard.press("Enter")
    answered = re.compile(r"echo typed-in-chromium\s*typed-in-chromium\s*tester@ui-metal")
    expect(screen).to_contain_text(answered, timeout=30_000)

    # A second browser on the same console is told it is in use, in words.
    other = page_as("barecloud")
    other.goto(page.url)
    other.get_by_role("tab", name="Serial console").click()
    other.get_by_role("button", name="Connect").click()
    expect(other.get_by_role("alert")).to_contain_text("Someone else has this console open",
                                                       timeout=30_000)
    expect(other.get_by_role("alert")).to_contain_text("in use")
    other.close()

    # Bare metal has no graphics console: Nova's words.
    page.get_by_role("tab", name="Graphics console").click()
    page.get_by_role("button", name="Open graphics console").click()
    expect(page.get_by_role("alert")).to_have_text("Unavailable console type novnc.")
    expect(page.locator("iframe.vnc")).to_have_count(0)

    # Stop, start and reboot from its page; its facts follow.
    status = facts.locator(".badge")
    page.get_by_role("button", name="Stop ui-metal").click()
    expect(status).to_have_text("SHUTOFF", timeout=60_000)
    expect(facts).to_contain_text("shut down")
    page.get_by_role("button", name="Start ui-metal").click()
    expect(status).to_have_text("ACTIVE", timeout=60_000)
    expect(facts).to_contain_text("running")
    page.get_by_role("button", name="Reboot ui-metal").click()
    reboot = page.get_by_role("dialog", name="Reboot ui-metal")
    reboot.get_by_role("button", name="Hard reboot").click()
    expect(reboot).to_be_hidden()
    expect(page.get_by_role("status").filter(has_text="Hard rebooting ui-metal")).to_be_visible()
    expect(status).to_have_text("ACTIVE", timeout=60_000)

    # Delete from the list, confirmed; it goes, and the usage with it.
    page.get_by_role("link", name="All servers").click()
    page.get_by_role("button", name="Delete ui-metal").click()
    confirm = page.get_by_role("dialog", name="Delete ui-metal?")
    confirm.get_by_role("button", name="Delete").click()
    expect(confirm).to_be_hidden()
    expect(_row(page, "ui-metal")).to_have_count(0, timeout=BUILD_TIMEOUT)
    nav.get_by_role("link", name="Overview").click()
    expect(instances).to_contain_text(f"{base} of 10")


def test_on_a_phone_servers_are_cards_and_the_dialog_fits(
        page_as: Callable[..., Page]) -> None:
    page = page_as("barecloud", width=390, height=800)
    expect(page.get_by_role("heading", name="Servers")).to_be_visible()
    page.get_by_role("button", name="Create server").click()
    dialog = page.get_by_role("dialog", name="Create server")
    expect(dialog.get_by_label("Flavor")).to_be_visible()
    box = dialog.bounding_box()
    assert box is not None and box["width"] <= 390, box
    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
