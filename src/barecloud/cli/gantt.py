"""The lease calendar as a text Gantt, for ``barecloud calendar``.

Operators ask "which machines are free when?" from a terminal, where a
table of dates is hard to scan. This module is kept pure: it takes the body
of ``GET /reservation/v1/barecloud-calendar`` and returns lines, so the
tests can check the drawing without a service. Times are naive UTC, as the
API returns them. Column ``i`` is the slot ``[b(i), b(i+1))`` with
``b(i) = start + span * i // width`` (exact integer microseconds), so a lease
that ends exactly on a slot boundary never spills into the next column.
"""

from __future__ import annotations

import datetime as dt
import string
from typing import Any

FREE, OTHERS, OUT_OF_SERVICE, NOW, MORE = ".", "#", "x", "|", "*"
# One symbol per lease of the caller's; "x" is kept for out-of-service slots.
LETTERS = string.ascii_uppercase + string.ascii_lowercase.replace(OUT_OF_SERVICE, "") \
    + string.digits
_US = dt.timedelta(microseconds=1)


def _time(value: str) -> dt.datetime:
    return dt.datetime.fromisoformat(value)


def _short(value: dt.datetime) -> str:
    return value.strftime("%Y-%m-%d %H:%M")


def _duration(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:.3g} h"
    if seconds >= 60:
        return f"{seconds / 60:.3g} min"
    return f"{seconds:.3g} s"


def render(calendar: dict[str, Any], width: int) -> list[str]:
    """Lines: a title, the time axis, one row per host, and a legend.

    A column shows the lease holding most of its slot: a letter for the
    caller's leases (the same lease the same letter on every row, lettered
    by start date), ``#`` for other projects' leases, ``.`` when free, ``x``
    when free but the machine is out of service. ``|`` on the axis marks now.
    """
    if width < 1:
        raise ValueError("width must be at least 1")
    start, end = _time(calendar["start"]), _time(calendar["end"])
    now = _time(calendar["now"])
    span = (end - start) // _US
    if span <= 0:
        raise ValueError(f"empty window {calendar['start']} .. {calendar['end']}")
    bounds = [start + _US * (span * i // width) for i in range(width + 1)]

    def column(t: dt.datetime) -> int | None:
        """The column whose slot holds the instant ``t``, if within the window."""
        offset = (t - start) // _US
        return offset * width // span if 0 <= offset < span else None

    hosts: list[dict[str, Any]] = calendar["hosts"]
    # A member's calendar has anonymous rows (the machines are the admin's to know).
    names = [str(h.get("hypervisor_hostname") or h.get("node_uuid") or h.get("id")
                 or f"host {row + 1}") for row, h in enumerate(hosts)]
    pad = max([4, *map(len, names)]) + 1

    # Letters: the caller's leases by first start date (then by row).
    firsts: dict[str, tuple[dt.datetime, int]] = {}
    leases: dict[str, dict[str, Any]] = {}
    for row, host in enumerate(hosts):
        for alloc in host["allocations"]:
            lid = alloc["lease_id"]
            if lid is None:
                continue
            a, e = _time(alloc["start_date"]), _time(alloc["end_date"])
            firsts[lid] = min(firsts.get(lid, (a, row)), (a, row))
            seen = leases.setdefault(lid, {**alloc, "start": a, "end": e})
            seen["start"], seen["end"] = min(seen["start"], a), max(seen["end"], e)
    order = sorted(firsts, key=lambda lid: firsts[lid])
    letter = {lid: LETTERS[i] if i < len(LETTERS) else MORE for i, lid in enumerate(order)}

    # The axis: "+" and a day label (if it fits) at each midnight's column; the
    # window's own day at column 0 when the window starts mid-day and there is room.
    labels, ticks = [" "] * width, ["-"] * width
    first = dt.datetime.combine(start.date(), dt.time())
    taken, first_label = 0, width
    for n in range((end - first).days + 1):
        day = first + dt.timedelta(days=n)
        col = column(day) if day >= start else None
        if col is None:
            continue
        ticks[col] = "+"
        text = day.strftime("%b %d")
        if col >= taken and col + len(text) <= width:
            labels[col:col + len(text)] = text
            taken, first_label = col + len(text) + 1, min(first_label, col)
    text = start.strftime("%b %d")
    if labels[0] == " " and len(text) < first_label:
        labels[:len(text)] = text
    now_col = column(now)
    if now_col is not None:
        ticks[now_col] = NOW

    lines = [f"{_short(start)} -> {_short(end)} UTC, one column = "
             f"{_duration(span / width / 1e6)}"
             + (f", now {_short(now)}" if now_col is not None else ""),
             " " * pad + "".join(labels).rstrip(), " " * pad + "".join(ticks)]
    for name, host in zip(names, hosts, strict=True):
        broken = host.get("out_of_service")
        cells = [OUT_OF_SERVICE if broken else FREE] * width
        held = [0] * width
        for alloc in host["allocations"]:
            a, e = _time(alloc["start_date"]), _time(alloc["end_date"])
            lid = alloc["lease_id"]
            symbol = OTHERS if lid is None else letter[lid]
            for i in range(width):
                overlap = (min(e, bounds[i + 1]) - max(a, bounds[i])) // _US
                if overlap > held[i]:
                    cells[i], held[i] = symbol, overlap
        note = f"  {broken}" if broken else ""
        if not host.get("reservable", True):
            note += "  (not reservable)"
        lines.append(f"{name:<{pad}}{''.join(cells)}{note}")
    if not hosts:
        lines.append("(no hosts in the reservable pool)")

    lines.append("")
    name_w = max((len(str(leases[lid]["lease_name"])) for lid in order), default=0)
    status_w = max((len(str(leases[lid]["status"])) for lid in order), default=0)
    for lid in order:
        info = leases[lid]
        lines.append(f"{letter[lid]}  {info['lease_name']!s:<{name_w}}  {lid}  "
                     f"{info['status']!s:<{status_w}}  "
                     f"{_short(info['start'])} -> {_short(info['end'])}")
    lines.append(f"{OTHERS} another project's lease   {FREE} free   "
                 f"{OUT_OF_SERVICE} out of service   {NOW} now")
    return lines
