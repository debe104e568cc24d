"""Deploy batches in Chromium, as the operator: a batch of the lab's machines
started from the view's dialog and watched member by member until it is done
(what the view showed matches the API's report), then the machines undeployed;
a batch the API refuses, in its words in the dialog."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, Page, expect

from tests.api.ui.apis import nodes

pytestmark = pytest.mark.slow

DEPLOY_TIMEOUT = 240  # s: two lab machines' deploy (or clean), on a busy machine
BATCHES = "/baremetal/v1/barecloud-deploy-batches"

# Records, on every change of the page, what each batch section shows: the
# batch's state and, per member (by node name), its write state and progress.
# The view polls every 3 s; this sees each render, with no sampling of ours.
RECORDER = """() => {
  const seen = {batches: {}, members: {}};
  const push = (list, value) => { if (list[list.length - 1] !== value) list.push(value); };
  const record = () => {
    for (const section of document.querySelectorAll("section.batch")) {
      const ref = section.getAttribute("aria-label") || "";
      const state = section.querySelector("h2 .badge")?.textContent?.trim() ?? "";
      push(seen.batches[ref] ??= [], state);
      for (const row of section.querySelectorAll("tbody tr")) {
        const name = row.querySelector("td[data-label=Node]")?.textContent?.trim() ?? "";
        const write = row.querySelector("td[data-label=Write] .badge")?.textContent?.trim() ?? "";
        const progress = row.querySelector("progress")?.value ?? -1;
        push(seen.members[name] ??= [], `${write} ${progress}`);
      }
    }
  };
  new MutationObserver(record).observe(document.body,
    {subtree: true, childList: true, characterData: true, attributes: true});
  record();
  window.batchesSeen = seen;
}"""




def image_id(admin: httpx.Client, name: str = "barecloud-demo") -> str:
    r = admin.get("/image/v2/images", params={"name": name})
    assert r.status_code == 200, r.text
    found = [i["id"] for i in r.json()["images"]]
    assert len(found) == 1, found
    return str(found[0])


def wait_for_states(admin: httpx.Client, uuids: list[str], wanted: str) -> None:
    """Until every node is ``wanted``; a failed state on the way fails at once."""
    deadline = time.monotonic() + DEPLOY_TIMEOUT
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        states = {n["uuid"]: n["provision_state"] for n in nodes(admin) if n["uuid"] in uuids}
        if all(s == wanted for s in states.values()):
            return
        failed = {u: s for u, s in states.items() if "fail" in s or s == "error"}
        assert not failed, failed
        time.sleep(1)
    raise AssertionError(f"not {wanted} after {DEPLOY_TIMEOUT} s: {states}")


def undeploy(admin: httpx.Client, uuids: list[str]) -> None:
    """Back to available (undeployed, then cleaned), for the tests after this one."""
    for uuid in uuids:
        state = admin.get(f"/baremetal/v1/nodes/{uuid}").json()["provision_state"]
        if state != "available":
            r = admin.put(f"/baremetal/v1/nodes/{uuid}/states/provision",
                          json={"target": "deleted"})
            assert r.status_code == 202, r.text
    wait_for_states(admin, uuids, "available")


def batches_view(page: Page) -> Page:
    page.goto(page.url.split("#")[0] + "#/batches")
    expect(page.get_by_role("heading", name="Deploy batches")).to_be_visible()
    return page


def member_cell(section: Locator, name: str, column: str) -> Locator:
    row = section.locator("tbody tr").filter(
        has=section.page.get_by_role("link", name=name, exact=True))
    return row.locator(f"td[data-label='{column}']")


def test_a_batch_the_api_refuses_is_shown_in_its_words(
        page_as: Callable[..., Page], admin: httpx.Client) -> None:
    listed = nodes(admin)
    page = batches_view(page_as("barecloud-admin"))
    page.get_by_role("button", name="Deploy a batch").click()
    dialog = page.get_by_role("dialog", name="Deploy a batch")

    # An image that is not there: Glance's words, through Ironic's error body.
    dialog.get_by_label("Nodes").fill(" ".join(n["name"] for n in listed))
    dialog.get_by_label("Image").fill("no-such-image")
    dialog.get_by_role("button", name="Deploy").click()
    expect(dialog.get_by_role("alert")).to_have_text("No image found with ID no-such-image")
    expect(dialog).to_be_visible()  # the form stays, to be corrected

    # A node that is not there, with a good image: the API names it.
    dialog.get_by_label("Nodes").fill(f"{listed[0]['name']}, no-such-node")
    dialog.get_by_label("Image").fill(image_id(admin))
    dialog.get_by_role("button", name="Deploy").click()
    expect(dialog.get_by_role("alert")).to_have_text("No such node(s): no-such-node.")

    # No node at all: the browser asks for them before anything is sent.
    dialog.get_by_label("Nodes").fill("")
    dialog.get_by_role("button", name="Deploy").click()
    assert dialog.get_by_label("Nodes").evaluate("e => e.validity.valueMissing") is True
    expect(dialog).to_be_visible()

    dialog.get_by_role("button", name="Cancel").click()
    expect(dialog).to_be_hidden()
    expect(page.get_by_text("No deploy batch yet.")).to_be_visible()
    r = admin.get(BATCHES)
    assert r.status_code == 200, r.text
    assert r.json()["deploy_batches"] == []
    assert {n["provision_state"] for n in nodes(admin)} == {"available"}


def test_a_batch_from_the_dialog_is_watched_member_by_member_until_done(
        page_as: Callable[..., Page], admin: httpx.Client) -> None:
    listed = nodes(admin)
    assert [n["provision_state"] for n in listed] == ["available", "available"], listed
    names = [n["name"] for n in listed]
    uuids = [n["uuid"] for n in listed]
    page = batches_view(page_as("barecloud-admin"))
    expect(page.get_by_text("No deploy batch yet.")).to_be_visible()
    page.evaluate(RECORDER)
    try:
        page.get_by_role("button", name="Deploy a batch").click()
        dialog = page.get_by_role("dialog", name="Deploy a batch")
        dialog.get_by_label("Nodes").fill(" ".join(names))
        dialog.get_by_label("Image").fill(image_id(admin))
        dialog.get_by_label("Delivery").select_option("chain")
        dialog.get_by_role("button", name="Deploy").click()
        expect(dialog).to_be_hidden()
        expect(page.get_by_role("status").filter(has_text=re.compile(r"Batch \S+ started\."))
               ).to_be_visible()

        section = page.get_by_role("region", name=re.compile(r"^Batch "))
        expect(section).to_have_count(1)
        label = section.get_attribute("aria-label") or ""
        ref = label.removeprefix("Batch ")
        r = admin.get(f"{BATCHES}/{ref}")
        assert r.status_code == 200, r.text
        expect(section.locator(".summary")).to_contain_text("chain")
        expect(section.locator(".summary")).to_contain_text("of 2")

        # While it runs: each member's row, live, until the batch is done.
        badge = section.locator("h2 .badge")
        expect(badge).to_have_text(re.compile(r"^(gathering|broadcasting|done)$"))
        expect(badge).to_have_text("done", timeout=DEPLOY_TIMEOUT * 1000)
        seen: dict[str, Any] = page.evaluate("window.batchesSeen")
        shown = seen["batches"][label]
        assert shown[-1] == "done", shown
        assert any(s in ("gathering", "broadcasting") for s in shown[:-1]), shown
        for name in names:
            member = seen["members"][name]
            assert member[-1] == "ok 100", (name, member)
            running = [m for m in member if m.split()[0] in ("waiting", "ready", "writing",
                                                              "retrying")]
            assert running, (name, member)  # it was shown on its way, not only done
            assert all(int(m.split()[1]) < 100 for m in running), (name, member)

        # Done: the members fold into a summary; opened, they are the API's report.
        section.get_by_text("2 members").click()
        wait_for_states(admin, uuids, "active")
        report = admin.get(f"{BATCHES}/{ref}").json()
        assert report["state"] == "done", report
        assert report["ok"] == 2 and report["ko"] == 0, report
        expect(section.locator(".summary")).to_contain_text("2 ok, 0 failed of 2")
        assert sorted(m["node_name"] for m in report["members"]) == sorted(names)
        for m in report["members"]:
            name = m["node_name"]
            expect(member_cell(section, name, "Write")).to_have_text(m["state"])
            expect(member_cell(section, name, "#")).to_have_text(str(m["position"]))
            expect(member_cell(section, name, "Provision state")).to_have_text(
                m["provision_state"], timeout=15_000)  # the view's next poll
            expect(section.get_by_role("progressbar", name=f"{name} progress")
                   ).to_have_attribute("value", "100")
            expect(member_cell(section, name, "Error")).to_have_text(m["error"] or "")
        assert [m["provision_state"] for m in report["members"]] == ["active", "active"]

        # The finished batch on a phone: the members' table fits as cards.
        phone = batches_view(page_as("barecloud-admin", width=390, height=844))
        small = phone.get_by_role("region", name=label)
        small.get_by_text("2 members").click()
        expect(member_cell(small, names[0], "Write")).to_be_visible()
        width = phone.evaluate("[document.scrollingElement.scrollWidth, "
                               "document.scrollingElement.clientWidth]")
        assert width[0] <= width[1] + 1, width
    finally:
        undeploy(admin, uuids)
    assert {n["provision_state"] for n in nodes(admin)} == {"available"}
