"""``barecloud calendar``: the text Gantt on hand-built calendars, then the real
command against a real service whose lease clock is pinned at 2027-03-01 08:00."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest

from barecloud.cli.gantt import render
from tests.support import start_service

BM = {"X-OpenStack-Ironic-API-Version": "1.78"}
T0 = "2027-03-01T00:00:00.000000"


def alloc(start: str, end: str, lease: str | None = None, name: str | None = None,
          status: str = "ACTIVE") -> dict[str, Any]:
    mine = lease is not None
    return {"lease_id": lease, "lease_name": name, "project_id": "p1" if mine else None,
            "reservation_id": f"r-{lease}" if mine else None, "status": status,
            "start_date": f"2027-03-{start}:00.000000", "end_date": f"2027-03-{end}:00.000000"}


def host(name: str, *allocs: dict[str, Any], broken: str | None = None,
         reservable: bool = True) -> dict[str, Any]:
    return {"id": name, "hypervisor_hostname": name, "node_uuid": f"uuid-{name}",
            "reservable": reservable, "out_of_service": broken, "allocations": list(allocs)}


def calendar(*hosts: dict[str, Any], start: str = T0, end: str = "2027-03-03T00:00:00.000000",
             now: str = "2027-02-01T00:00:00.000000") -> dict[str, Any]:
    return {"start": start, "end": end, "now": now, "hosts": list(hosts)}


def rows(lines: list[str]) -> dict[str, str]:
    """Host name -> its cells (the row's second field)."""
    return {line.split()[0]: line.split()[1] for line in lines[3:lines.index("")]}


def test_half_the_window_is_half_the_columns() -> None:
    # Window: 2 days; the lease covers exactly the first day.
    lines = render(calendar(host("n1", alloc("01T00:00", "02T00:00", "L1", "one"))), 48)
    assert rows(lines)["n1"] == "A" * 24 + "." * 24


def test_slot_boundaries_are_exact_for_uneven_widths() -> None:
    # 2 days over 7 columns: a slot is 6 h 51 m 25.7 s.  [00:00, 06:51) stays inside
    # column 0; one minute more reaches column 1.
    inside = render(calendar(host("n1", alloc("01T00:00", "01T06:51", "L1"))), 7)
    assert rows(inside)["n1"] == "A......"
    over = render(calendar(host("n1", alloc("01T00:00", "01T06:52", "L1"))), 7)
    assert rows(over)["n1"] == "AA....."


def test_letters_follow_the_lease_across_rows_and_others_are_hashes() -> None:
    cal = calendar(
        host("n1", alloc("01T12:00", "02T00:00", "late", "second"),
             alloc("02T12:00", "03T00:00", None)),
        host("n2", alloc("01T00:00", "01T12:00", "early", "first"),
             alloc("02T00:00", "02T12:00", "late", "second")),
    )
    got = rows(render(cal, 4))
    # Letters by start date: "early" is A though it appears on the second row.
    assert got == {"n1": ".B.#", "n2": "A.B."}


def test_a_slot_shows_the_lease_holding_most_of_it() -> None:
    cal = calendar(host("n1", alloc("01T00:00", "01T05:00", "L1"),
                        alloc("01T05:00", "01T12:00", "L2")))
    assert rows(render(cal, 4))["n1"] == "B..."  # L2 holds 7 of the slot's 12 hours


def test_out_of_service_row() -> None:
    cal = calendar(host("good"),
                   host("bad", alloc("01T00:00", "02T00:00", None),
                        broken="node bad is in maintenance"),
                   host("spare", reservable=False))
    lines = render(cal, 8)
    assert rows(lines) == {"good": "........", "bad": "####xxxx", "spare": "........"}
    bad = next(line for line in lines if line.startswith("bad "))
    assert bad.endswith("  node bad is in maintenance")
    assert next(line for line in lines if line.startswith("spare")).endswith("(not reservable)")


def test_now_marker_and_axis() -> None:
    lines = render(calendar(host("n1"), now="2027-03-01T12:00:00.000000"), 48)
    assert "now 2027-03-01 12:00" in lines[0]
    pad = lines[3].index(".")
    ticks = lines[2][pad:]
    # Midnights at columns 0 and 24, now (noon of the first day) at column 12.
    assert ticks == "+" + "-" * 11 + "|" + "-" * 11 + "+" + "-" * 23
    labels = lines[1][pad:]
    assert labels.index("Mar 01") == 0 and labels.index("Mar 02") == 24


def test_now_outside_the_window_draws_no_marker() -> None:
    lines = render(calendar(host("n1"), now="2027-03-05T00:00:00.000000"), 48)
    assert "|" not in lines[2] and "now" not in lines[0]


def test_a_window_starting_mid_day_labels_its_day_if_there_is_room() -> None:
    def axis(start_hour: int) -> tuple[str, str]:
        lines = render(calendar(host("n1"), start=f"2027-03-01T{start_hour}:00:00.000000",
                                end=f"2027-03-02T{start_hour}:00:00.000000"), 24)
        pad = lines[3].index(".")
        return lines[1][pad:], lines[2][pad:]

    # One column per hour: midnight is column 7 from 17:00, column 6 from 18:00.
    assert axis(17) == ("Mar 01 Mar 02", "-" * 7 + "+" + "-" * 16)
    assert axis(18) == (" " * 6 + "Mar 02", "-" * 6 + "+" + "-" * 17)


def test_legend() -> None:
    cal = calendar(host("n1", alloc("01T10:00", "02T10:00", "id-1", "l1", "PENDING")),
                   host("n2", alloc("01T10:00", "02T10:00", "id-1", "l1", "PENDING"),
                        alloc("02T12:00", "02T13:00", None)))
    lines = render(cal, 48)
    legend = lines[lines.index("") + 1:]
    assert legend[0].split() == ["A", "l1", "id-1", "PENDING", "2027-03-01", "10:00", "->",
                                 "2027-03-02", "10:00"]
    assert len(legend) == 2 and legend[1].startswith("# another project's lease")


def test_no_hosts_and_bad_width() -> None:
    assert "(no hosts in the reservable pool)" in render(calendar(), 10)
    with pytest.raises(ValueError):
        render(calendar(), 0)


# --- the command against a real service ---------------------------------------------

def test_calendar_command(tmp_path: Path) -> None:
    clock = tmp_path / "clock"
    clock.write_text("2027-03-01T08:00:00")
    svc = start_service(tmp_path / "svc", extra_env={"BARECLOUD_LEASE_CLOCK_FILE": str(clock)})
    try:
        with httpx.Client(base_url=svc.url, headers=BM, timeout=30) as c:
            for name in ("cal-1", "cal-2"):
                rsp = c.post("/baremetal/v1/nodes", json={"name": name,
                                                          "driver": "fake-hardware"})
                assert rsp.status_code == 201, rsp.text
                rsp = c.post("/reservation/v1/os-hosts", json={"name": name})
                assert rsp.status_code == 201, rsp.text
            rsp = c.post("/reservation/v1/leases", json={
                "name": "l1", "start_date": "2027-03-01 10:00", "end_date": "2027-03-02 10:00",
                "before_end_date": None, "events": [], "reservations": [{
                    "resource_type": "physical:host", "min": 1, "max": 1,
                    "hypervisor_properties": "", "resource_properties": ""}]})
            assert rsp.status_code == 201, rsp.text
            lease = rsp.json()["lease"]
            # The machine the lease did not take goes out of service.
            calendar_now = c.get("/reservation/v1/barecloud-calendar").json()
            busy = {h["hypervisor_hostname"] for h in calendar_now["hosts"] if h["allocations"]}
            assert len(busy) == 1, calendar_now
            (leased,) = busy
            (spare,) = {"cal-1", "cal-2"} - busy
            rsp = c.put(f"/baremetal/v1/nodes/{spare}/maintenance", json={"reason": "fan"})
            assert rsp.status_code == 202, rsp.text
        env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        out = subprocess.run([sys.executable, "-m", "barecloud", "calendar", "--url", svc.url,
                              "--days", "3", "--width", "72"],
                             capture_output=True, text=True, timeout=120, env=env)
        assert out.returncode == 0, out.stdout + out.stderr
    finally:
        svc.stop()
    lines = out.stdout.splitlines()
    assert lines[0] == ("2027-03-01 08:00 -> 2027-03-04 08:00 UTC, one column = 1 h, "
                        "now 2027-03-01 08:00")
    got = rows(lines)
    # One column per hour from 08:00: the lease holds 10:00 (col 2) to 10:00 next day.
    assert got[leased] == ".." + "A" * 24 + "." * 46
    assert got[spare] == "x" * 72
    assert lines[2].split()[0].startswith("|")  # now is the window's first column
    legend = [line.split() for line in lines if line.startswith("A  ")]
    assert legend == [["A", "l1", lease["id"], lease["status"], "2027-03-01", "10:00", "->",
                       "2027-03-02", "10:00"]]


def test_a_members_calendar_has_anonymous_rows() -> None:
    """A member's calendar names no machine (services/reservation/calendar.py): rows are
    numbered, its own leases lettered, others' busy time ``#``."""
    anonymous = [{**h, "id": None, "hypervisor_hostname": None, "node_uuid": None}
                 for h in (host("a", alloc("01T00:00", "02T00:00", "L1", "mine")),
                           host("b", alloc("01T12:00", "02T12:00")),
                           host("c", broken="out of service"))]
    lines = render(calendar(*anonymous), 8)
    assert lines[3:6] == ["host 1 AAAA....", "host 2 ..####..",
                          "host 3 xxxxxxxx  out of service"]
    assert "None" not in "\n".join(lines)
