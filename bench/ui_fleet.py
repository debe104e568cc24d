"""Benchmark (issue 19): the web UI's fleet view with 10,000 nodes, in Chromium.

A ``barecloud serve`` on SQLite (Keystone tokens, as the UI logs in) whose
database gets ``--nodes`` fake-hardware nodes written directly (as
bench/server_list.py writes its servers): names ``node-00000``…, mostly
``active`` and powered on, some ``available``, ``manageable``, ``deploy
failed`` with a ``last_error``, and every 50th in maintenance.  The power
sync is pushed to an hour, so the service does not poll them meanwhile.

Debian's Chromium (tests/api/ui/browser.py), driven by Playwright, logs in as
the admin through the UI's own form, then loads ``/ui/#/fleet`` afresh
``--loads`` times, and each time measures in the page (``performance.now()``,
from the navigation's start, by a MutationObserver injected before the page's
scripts):

- **first rows**: the first row of nodes in the DOM (the first page of 1,000
  rendered);
- **fully loaded**: every page read (the view's ``data-loaded="true"``);
- the requests the page made until then: how many, how many to the APIs,
  and the bytes of their bodies (Playwright's ``request.sizes()``).

Then, on the loaded view, ``--filters`` times each: a click on a state chip
(``deploy failed``), on the ``maintenance`` chip, and text typed in the
search box (an ``input`` event with ``node-012``), each timed in the page from
the event to the frame after the list changed (its "N shown" count), then
cleared.  And how many rows the DOM holds (only the rows in view).

Targets: first rows under 2 s, a filter under 300 ms.

    .venv/bin/python bench/ui_fleet.py
    .venv/bin/python bench/ui_fleet.py --nodes 2000 --loads 3
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import support
from tests.api.ui import browser as chromium

import barecloud
from barecloud.db.models import Base

# Runs before the page's scripts: when the first row and the loaded flag appear.
OBSERVE = """
window.__fleet = {};
new MutationObserver(() => {
  const f = window.__fleet;
  if (f.firstRows === undefined && document.querySelector('.fleet-scroll [role=row]'))
    f.firstRows = performance.now();
  if (f.loaded === undefined && document.querySelector('.fleet[data-loaded=true]'))
    f.loaded = performance.now();
}).observe(document, {subtree: true, childList: true, attributes: true});
"""

# From an event to the frame after the list's "N shown" changed.
TIMED = """
async ([kind, arg]) => {
  const shown = () => document.querySelector('.fleet-tools [aria-live]').textContent;
  const before = shown();
  const start = performance.now();
  if (kind === 'chip') {
    [...document.querySelectorAll('.fleet-chips button')]
      .find((b) => b.textContent.trim().startsWith(arg + ' ')).click();
  } else {
    const box = document.querySelector('.fleet-search input');
    box.value = arg;
    box.dispatchEvent(new Event('input', {bubbles: true}));
  }
  await new Promise((done) => {
    const check = () => (shown() !== before ? requestAnimationFrame(() => done()) :
                         requestAnimationFrame(check));
    check();
  });
  return [performance.now() - start, shown()];
}
"""

STATES = [("active", "power on", 0.70), ("available", "power off", 0.20),
          ("manageable", "power off", 0.05), ("deploy failed", "power on", 0.05)]


def pick(share: float) -> tuple[str, str]:
    """The state and power of a node at ``share`` (0..1) of the fleet."""
    for state, power, part in STATES:
        share -= part
        if share < 0:
            return state, power
    return STATES[-1][0], STATES[-1][1]


def fill(database: Path, count: int) -> dict[str, int]:
    """``count`` nodes straight into the service's database; how many per state."""
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    rows: list[dict[str, Any]] = []
    per: dict[str, int] = {}
    for i in range(count):
        state, power = pick((i * 7919 % count) / count)  # the states spread over the ids
        failed = state == "deploy failed"
        per[state] = per.get(state, 0) + 1
        rows.append({
            "uuid": str(uuid.UUID(int=i + 1, version=4)), "name": f"node-{i:05d}",
            "driver": "fake-hardware", "resource_class": "baremetal" if i % 10 else "gpu",
            "conductor_group": "", "provision_state": state, "power_state": power,
            "maintenance": i % 50 == 0,
            "maintenance_reason": "bench" if i % 50 == 0 else None,
            "last_error": f"deploy step failed on node-{i:05d}" if failed else None,
            "driver_info": {}, "driver_internal_info": {}, "instance_info": {}, "extra": {},
            "network_data": {}, "properties": {"cpus": 16, "memory_mb": 65536, "local_gb": 500,
                                               "cpu_arch": "x86_64"},
            "created_at": now,
        })
    engine = sa.create_engine(f"sqlite:///{database}")
    with engine.begin() as conn:
        conn.execute(sa.insert(Base.metadata.tables["nodes"]), rows)
    engine.dispose()
    return per


def summary(values: list[float]) -> str:
    return (f"median {statistics.median(values):7.1f} ms, min {min(values):7.1f}, "
            f"max {max(values):7.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10000)
    parser.add_argument("--loads", type=int, default=5, help="fresh loads of the view")
    parser.add_argument("--filters", type=int, default=5, help="times each filter is applied")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-ui-fleet-"))
    svc = support.start_service(tmp / "svc", auth="keystone", extra_env={
        "BARECLOUD_POWER_SYNC_INTERVAL": "3600"})
    try:
        t = time.perf_counter()
        per = fill(svc.data_dir / "barecloud.sqlite", args.nodes)
        print(f"barecloud: {Path(barecloud.__file__).parent}")
        print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, "
              f"load {os.getloadavg()[0]:.2f}, Python {platform.python_version()}, "
              f"SQLite, {args.nodes} nodes "
              f"({', '.join(f'{n} {s}' for s, n in per.items())}), "
              f"written in {time.perf_counter() - t:.1f} s")
        with chromium.chromium() as browser:
            print(f"browser: Chromium {browser.version}")
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            auth = chromium.credentials(svc.clouds_yaml, "barecloud-admin")
            chromium.login(page, svc.url, auth["username"], auth["password"])
            page.add_init_script(OBSERVE)
            first: list[float] = []
            loaded: list[float] = []
            calls: list[tuple[int, int, int, int]] = []
            for _ in range(args.loads):
                finished: list[Any] = []

                def on(request: Any, finished: list[Any] = finished) -> None:
                    finished.append(request)

                page.on("requestfinished", on)
                page.goto("about:blank")
                page.goto(f"{svc.url}/ui/#/fleet")
                page.wait_for_selector(".fleet[data-loaded=true]", timeout=120000)
                marks = page.evaluate("window.__fleet")
                page.remove_listener("requestfinished", on)
                first.append(marks["firstRows"])
                loaded.append(marks["loaded"])
                api = [r for r in finished if "/baremetal/" in r.url]
                body = {id(r): max(0, r.sizes()["responseBodySize"]) for r in finished}
                calls.append((len(finished), sum(body.values()),
                              len(api), sum(body[id(r)] for r in api)))
            shown = page.locator(".fleet-tools [aria-live]").text_content()
            in_dom = page.locator(".fleet-scroll [role=row]").count()
            timings: dict[str, list[float]] = {}
            results: dict[str, str] = {}
            for label, kind, arg in (("chip 'deploy failed'", "chip", "deploy failed"),
                                     ("chip 'maintenance'", "chip", "maintenance"),
                                     ("search 'node-012'", "text", "node-012")):
                for _ in range(args.filters):
                    ms, after = page.evaluate(TIMED, [kind, arg])
                    timings.setdefault(label, []).append(ms)
                    results[label] = after
                    # Back to every node (the chip again, or an empty search).
                    page.evaluate(TIMED, [kind, arg if kind == "chip" else ""])
            context.close()
        print(f"fleet view, {args.loads} fresh loads of /ui/#/fleet (logged in as the admin):")
        print(f"  first rows shown           {summary(first)}")
        print(f"  fully loaded               {summary(loaded)}")
        total, size, api_n, api_size = calls[-1]
        print(f"  requests until loaded      {total} ({size / 1024:.0f} KiB of bodies), "
              f"of which {api_n} to the Bare Metal API ({api_size / 1024:.0f} KiB)")
        print(f"  after loading: {shown}; rows in the DOM: {in_dom}")
        print(f"filters on {args.nodes} nodes, {args.filters} times each:")
        for label, values in timings.items():
            print(f"  {label:26} {summary(values)}  -> {results[label]}")
        if errors:
            print(f"script errors: {errors}")
        print(f"load at the end: {os.getloadavg()[0]:.2f}")
    finally:
        svc.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
