"""Screenshots of the UI's main views for docs/ui/ (``scripts/ui-screenshots``).

Starts ``serve --lab 4`` with Identity, gives it something to show (the demo
project's key pair, network, server and lease; a hypervisor for the
operator), then opens each view in Chromium at 1,280 px and a few at a
phone's 390 px.  A view that shows a script error stops the run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page

from tests import support
from tests.api.ui import browser as chromium

NOVA = {"OpenStack-API-Version": "compute 2.96"}
IRONIC = {"X-OpenStack-Ironic-API-Version": "1.78"}


def _client(svc: support.Service, cloud: str) -> httpx.Client:
    return httpx.Client(base_url=svc.url, timeout=120,
                        headers={"X-Auth-Token": svc.token(cloud), **NOVA, **IRONIC})


def _wait(check: Any, what: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not happen in {timeout:g} s")
        time.sleep(1)


def _content(svc: support.Service) -> None:
    """What the views show: made through the APIs, as a tenant and an operator would."""
    with _client(svc, "barecloud-admin") as admin, _client(svc, "barecloud") as demo:
        nodes = admin.get("/baremetal/v1/nodes").json()["nodes"]
        _wait(lambda: sum(n["provision_state"] == "available" for n in admin.get(
            "/baremetal/v1/nodes").json()["nodes"]) == len(nodes), "the lab's cleaning")
        pool = [n["name"] for n in nodes[-2:]]
        for name in pool:
            admin.post("/reservation/v1/os-hosts", json={"name": name}).raise_for_status()
        net = demo.post("/network/v2.0/networks", json={"network": {"name": "web"}}).json()
        demo.post("/network/v2.0/subnets", json={"subnet": {
            "network_id": net["network"]["id"], "cidr": "10.20.0.0/24", "ip_version": 4,
            "name": "web-v4"}}).raise_for_status()
        key = demo.post("/compute/v2.1/os-keypairs", headers={
            "OpenStack-API-Version": "compute 2.91"}, json={"keypair": {"name": "laptop"}})
        key.raise_for_status()
        flavor = next(f["id"] for f in demo.get("/compute/v2.1/flavors").json()["flavors"]
                      if f["name"] == "bm.baremetal")
        image = demo.get("/image/v2/images", params={"name": "barecloud-demo"}).json()
        server = demo.post("/compute/v2.1/servers", json={"server": {
            "name": "web-1", "imageRef": image["images"][0]["id"], "flavorRef": flavor,
            "key_name": "laptop", "networks": "none"}}).json()["server"]["id"]
        _wait(lambda: demo.get(f"/compute/v2.1/servers/{server}").json()["server"][
            "status"] == "ACTIVE", "web-1 ACTIVE")
        end = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).strftime("%Y-%m-%d %H:%M")
        later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3)).strftime("%Y-%m-%d %H:%M")
        for name, start, stop in (("experiment", "now", end), ("next-week", end, later)):
            demo.post("/reservation/v1/leases", json={
                "name": name, "start_date": start, "end_date": stop, "reservations": [{
                    "resource_type": "physical:host", "min": 1, "max": 1}],
            }).raise_for_status()
        admin.put(f"/baremetal/v1/nodes/{nodes[0]['name']}/maintenance",
                  json={"reason": "fan replaced, checking temperatures"}).raise_for_status()


def _shoot(page: Page, base: str, path: str, out: Path, settle: str | None = None) -> None:
    page.goto(f"{base}/ui/#{path}")
    if settle:
        page.get_by_text(settle).first.wait_for(timeout=60_000)
    page.wait_for_timeout(800)
    page.screenshot(path=str(out))
    print(f"wrote {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("out", type=Path, nargs="?", default=Path("docs/ui"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        svc = support.start_service(Path(tmp) / "svc", lab=4, auth="keystone", timeout=300)
        try:
            _content(svc)
            errors: list[str] = []
            with chromium.chromium() as browser:
                for cloud, width, views in (
                    ("barecloud", 1280, [("/servers", "web-1", "servers"),
                                         ("/networks", "web-v4", "networks"),
                                         ("/images", "barecloud-demo", "images"),
                                         ("/leases", "experiment", "leases"),
                                         ("/overview", "Instances", "overview")]),
                    ("barecloud-admin", 1280, [("/fleet", "lab-00001", "fleet"),
                                               ("/nodes/lab-00001", "History", "node"),
                                               ("/calendar", "experiment", "calendar"),
                                               ("/hypervisors", "Hypervisors", "hypervisors")]),
                    ("barecloud", 390, [("/servers", "web-1", "phone-servers")]),
                    ("barecloud-admin", 390, [("/fleet", "lab-00001", "phone-fleet")]),
                ):
                    context = browser.new_context(viewport={"width": width, "height": 800})
                    page = context.new_page()
                    page.on("pageerror", lambda e: errors.append(str(e)))
                    auth = chromium.credentials(svc.clouds_yaml, cloud)
                    if cloud == "barecloud" and width == 1280:
                        page.goto(f"{svc.url}/ui/")
                        page.wait_for_timeout(500)
                        page.screenshot(path=str(args.out / "login.png"))
                        print(f"wrote {args.out / 'login.png'}")
                    chromium.login(page, svc.url, auth["username"], auth["password"])
                    for path, settle, name in views:
                        _shoot(page, svc.url, path, args.out / f"{name}.png", settle)
                    if cloud == "barecloud" and width == 1280:
                        _server_console(page, svc.url, args.out)
                    context.close()
            if errors:
                raise SystemExit(f"script errors: {errors}")
        finally:
            svc.stop()


def _server_console(page: Page, base: str, out: Path) -> None:
    """web-1's page with its serial console open, logged in, a command typed."""
    page.goto(f"{base}/ui/#/servers")
    page.get_by_role("link", name="web-1").click()
    page.get_by_role("tab", name="Serial console").click()
    page.get_by_role("button", name="Connect").click()
    page.get_by_role("status").filter(has_text="Connected").wait_for(timeout=30_000)
    page.locator(".xterm").click()
    page.keyboard.press("Enter")
    page.keyboard.type("tester")
    page.keyboard.press("Enter")
    page.get_by_text("tester@web-1").first.wait_for(timeout=30_000)
    page.keyboard.type("hostname")
    page.keyboard.press("Enter")
    page.wait_for_timeout(1500)
    page.screenshot(path=str(out / "server-console.png"))
    print(f"wrote {out / 'server-console.png'}")


if __name__ == "__main__":
    main()
