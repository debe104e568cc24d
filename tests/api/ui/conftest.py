"""Fixtures of the UI's browser tests: a lab service with Identity, and Chromium."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page

from tests import support
from tests.api.ui import browser as chromium
from tests.api.ui.apis import IRONIC


@pytest.fixture(scope="module")
def ui_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Service]:
    """``serve --lab 2`` with Identity: the demo member and the admin log in."""
    svc = support.start_service(tmp_path_factory.mktemp("ui") / "svc", lab=2,
                                auth="keystone", timeout=180)
    try:
        yield svc
    finally:
        svc.stop()


@pytest.fixture(scope="module")
def admin(ui_service: support.Service) -> Iterator[httpx.Client]:
    """The service's APIs as its admin (what a test checks the UI against)."""
    with httpx.Client(base_url=ui_service.url, timeout=30, headers={
            **IRONIC, "X-Auth-Token": ui_service.token()}) as client:
        yield client


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium.chromium() as b:
        yield b


@pytest.fixture
def page_as(browser: Browser, ui_service: support.Service,
            tmp_path: Path) -> Iterator[Callable[..., Page]]:
    """A new browser context logged in as a cloud of the clouds.yaml
    (``barecloud``: demo, a member; ``barecloud-admin``: the admin).  A script
    error on any page fails the test."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    def open_page(cloud: str = "barecloud", width: int = 1280, height: int = 800) -> Page:
        context = browser.new_context(viewport={"width": width, "height": height})
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda e: errors.append(f"{page.url}: {e}"))
        auth = chromium.credentials(ui_service.clouds_yaml, cloud)
        chromium.login(page, ui_service.url, auth["username"], auth["password"])
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert not errors, errors
