"""A deploy batch as the operator reads it: one line per machine, OK or KO and why."""

from __future__ import annotations

from typing import Any

MIB = 2**20


def render(batch: dict[str, Any]) -> list[str]:
    phase = batch.get("image_phase_seconds")
    head = (f"batch {batch['uuid']}: {batch['delivery']}, {batch['state']}: "
            f"{batch['ok']} OK, {batch['ko']} KO of {batch['expected']}")
    if phase is not None:
        head += f"; image phase {phase:.1f} s"
    members = batch.get("members") or []
    names = {str(m["agent_url"]).rstrip("/"): m["node_name"] or m["node_uuid"]
             for m in members if m.get("agent_url")}
    rows = [("#", "node", "result", "delivery", "MiB", "seconds", "bytes from")]
    for m in members:
        delivery = (m.get("delivery") or "-") + (" (retry)" if m.get("retried") else "")
        rows.append((
            str(m["position"] + 1) if m.get("position") is not None else "-",
            m.get("node_name") or m["node_uuid"],
            {"ok": "OK", "ko": "KO"}.get(m["state"], m["state"]),
            delivery,
            f"{m['bytes'] / MIB:.0f}" if m.get("bytes") is not None else "-",
            f"{m['seconds']:.1f}" if m.get("seconds") is not None else "-",
            _sources(m.get("sources") or [], names),
        ))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [head, *("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
                     for r in rows)]
    for m in members:
        why = m.get("error") if m["state"] == "ko" else None
        for failure in m.get("failures") or []:
            lines.append(f"  {m.get('node_name') or m['node_uuid']}: {failure.get('delivery')} "
                         f"write failed: {failure.get('error')}")
        if why:
            lines.append(f"  {m.get('node_name') or m['node_uuid']}: KO: {why}")
    return lines


def _sources(sources: list[dict[str, Any]], names: dict[str, str]) -> str:
    """Where the bytes came from: "lab-00001", or "lab-00002 to 40%, then lab-00001"."""
    if not sources:
        return "-"
    total = max(int(s.get("to") or 0) for s in sources) or 1
    parts = []
    for index, source in enumerate(sources):
        url = str(source.get("url") or "").rstrip("/")
        who = names.get(url) or ("image server" if "/images/" in url else url)
        last = index == len(sources) - 1
        parts.append(who if last else f"{who} to {int(source.get('to') or 0) * 100 // total}%")
    return ", then ".join(parts)
