"""Debian's Chromium driven by Playwright, for the UI's tests and its benchmark.

Playwright's own browser download cannot run here (no internet but the
package registries); Debian's ``chromium`` (scripts/system-packages) is
launched instead, with the flags this kind of machine needs: without the
background-networking ones Chromium keeps trying Google's hosts, and as
root it needs ``--no-sandbox``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import yaml
from playwright.sync_api import Browser, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-dev-shm-usage"]


@contextlib.contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def credentials(clouds_yaml: Any, cloud: str) -> dict[str, str]:
    auth: dict[str, str] = yaml.safe_load(clouds_yaml.read_text())["clouds"][cloud]["auth"]
    return auth


def login(page: Page, base_url: str, username: str, password: str) -> None:
    """Log in through the UI's own form, as a person would."""
    page.goto(f"{base_url}/ui/")
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("button", name="Log out").wait_for()
