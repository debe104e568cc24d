"""The operator's batch report: a line per machine, its bytes' origin, KO reasons."""

from __future__ import annotations

from typing import Any

from barecloud.cli.batch_report import render

MIB = 2**20


def _member(name: str, position: int | None, state: str, **extra: Any) -> dict[str, Any]:
    return {"node_uuid": f"uuid-{name}", "node_name": name, "position": position,
            "state": state, "delivery": "chain", "retried": False, "bytes": 256 * MIB,
            "seconds": 11.0,
            "agent_url": f"http://10.97.0.{10 + position if position is not None else 99}:9999",
            "sources": [], "failures": [], "error": None, **extra}


def test_report_names_predecessors_failovers_and_ko_reasons() -> None:
    image = "http://10.97.0.1:6385/boot/images/abc"
    batch = {"uuid": "b1", "delivery": "chain", "state": "done", "ok": 2, "ko": 1,
             "expected": 3, "image_phase_seconds": 12.25, "members": [
                 _member("m1", 0, "ok", sources=[{"url": image, "from": 0, "to": 100}]),
                 _member("m2", 1, "ok", sources=[
                     {"url": "http://10.97.0.9:9999", "from": 0, "to": 40},
                     {"url": "http://10.97.0.10:9999", "from": 40, "to": 100}]),
                 _member("m3", None, "ko", delivery="http", retried=True, bytes=None,
                         seconds=None, error="disk on fire",
                         failures=[{"delivery": "chain", "error": "stalled"}]),
             ]}
    lines = render(batch)
    assert lines[0] == "batch b1: chain, done: 2 OK, 1 KO of 3; image phase 12.2 s"
    rows = {line.split()[1]: line for line in lines[2:5]}
    assert rows["m1"].split()[2:] == ["OK", "chain", "256", "11.0", "image", "server"]
    # m2 got 40% from an agent not in the batch's table (shown by URL), then from m1.
    assert rows["m2"].endswith("http://10.97.0.9:9999 to 40%, then m1")
    assert rows["m3"].split()[:5] == ["-", "m3", "KO", "http", "(retry)"]
    assert "  m3: chain write failed: stalled" in lines
    assert "  m3: KO: disk on fire" in lines
