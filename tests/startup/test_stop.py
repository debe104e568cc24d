"""A stop does not wait for the agents' long-polls: the HTTP server lets the
requests under way end before it exits, and a host agent's poll would hold it
for its whole wait (25 s), a service restart with it."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from tests import support
from tests.acceptance import vm_hosts


def test_sigterm_answers_a_long_poll_under_way_and_exits(tmp_path: Path) -> None:
    svc = support.start_service(tmp_path / "data")
    try:
        _, credential = vm_hosts.enrol(svc)
        http = httpx.Client(base_url=f"{svc.url}{vm_hosts.AGENT}", timeout=60,
                            headers={"Authorization": f"Bearer {credential}"})
        first = http.get("/desired", params={"since": 0, "wait": 0})
        assert first.status_code == 200, first.text
        generation = first.json()["generation"]
        answered: dict[str, Any] = {}

        def poll() -> None:
            r = http.get("/desired", params={"since": generation, "wait": 60})
            answered.update(status=r.status_code, body=r.json())

        poller = threading.Thread(target=poll)
        poller.start()
        time.sleep(1)  # the poll is waiting in the service
        assert poller.is_alive()
        signalled = time.monotonic()
        svc.proc.send_signal(signal.SIGTERM)
        assert svc.proc.wait(timeout=30) == 0, svc.log()[-2000:]
        stopped = time.monotonic() - signalled
        poller.join(5)
        http.close()
        # The poll's 60 s wait was cut short with what it would have answered at
        # its end: the same generation and the (empty) list.
        assert answered == {"status": 200, "body": {"generation": generation, "vms": []}}
        assert stopped < 15, f"the stop waited {stopped:.1f} s for the long-poll"
    finally:
        svc.kill()
