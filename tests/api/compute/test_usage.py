"""os-simple-tenant-usage: a launched server's hours and its flavor's, as Nova counts."""

from __future__ import annotations

import datetime as dt

from tests.api.compute.nova import Nova, fault

FMT = "%Y-%m-%dT%H:%M:%S"


def _when(delta_hours: float) -> str:
    return (dt.datetime.now(dt.UTC) + dt.timedelta(hours=delta_hours)).strftime(FMT)


def test_usage_of_a_launched_server(nova: Nova, rc: str) -> None:
    nova.node(rc)
    sid = nova.create("used", nova.image(), nova.flavor(rc))["server"]["id"]
    server = nova.wait_status(sid, "ACTIVE")
    project = server["tenant_id"]
    window = {"start": _when(-1), "end": _when(1)}

    mine = nova.ok("GET", f"/os-simple-tenant-usage/{project}", params=window)["tenant_usage"]
    [entry] = [u for u in mine["server_usages"] if u["instance_id"] == sid]
    assert entry["state"] == "active" and entry["ended_at"] is None
    assert (entry["vcpus"], entry["memory_mb"], entry["local_gb"]) == (1, 1024, 1)
    assert 0 < entry["hours"] < 0.5 and entry["flavor"].startswith("bm-")
    assert mine["tenant_id"] == project and mine["total_hours"] >= entry["hours"]
    assert mine["total_memory_mb_usage"] >= 1024 * entry["hours"]

    listed = nova.ok("GET", "/os-simple-tenant-usage", params=window)["tenant_usages"]
    ours = [u for u in listed if u["tenant_id"] == project]
    assert ours and "server_usages" not in ours[0]
    detailed = nova.ok("GET", "/os-simple-tenant-usage",
                       params={**window, "detailed": "1"})["tenant_usages"]
    assert any(u["instance_id"] == sid for t in detailed for u in t["server_usages"])

    assert fault(nova.request("GET", "/os-simple-tenant-usage/", params=window), 404)
    before = {"start": _when(-3), "end": _when(-2)}
    assert nova.ok("GET", f"/os-simple-tenant-usage/{project}", params=before) == \
        {"tenant_usage": {}}
    assert fault(nova.request("GET", "/os-simple-tenant-usage", params={
        "start": _when(1), "end": _when(-1)}), 400) == \
        "Invalid start time. The start time cannot occur after the end time."
    assert "invalid format" in fault(nova.request("GET", "/os-simple-tenant-usage",
                                                  params={"start": "yesterday"}), 400)

    page = nova.ok("GET", "/os-simple-tenant-usage", params={**window, "limit": 1})
    assert sum(len(t.get("server_usages", [None])) for t in page["tenant_usages"]) == 1
    assert "marker=" in page["tenant_usages_links"][0]["href"]

    nova.request("DELETE", f"/servers/{sid}")
    nova.wait_gone(sid)
    gone = nova.ok("GET", f"/os-simple-tenant-usage/{project}",
                   params={"start": _when(-1), "end": _when(1)})["tenant_usage"]
    [entry] = [u for u in gone["server_usages"] if u["instance_id"] == sid]
    assert entry["state"] == "terminated" and entry["ended_at"]


def test_usage_audit_log_reports_hosts_not_run(nova: Nova) -> None:
    """No usage audit task runs here: every compute host is "not run", as a Nova's with
    ``instance_usage_audit`` off."""
    listed = nova.ok("GET", "/os-instance_usage_audit_log")["instance_usage_audit_logs"]
    assert listed["num_hosts"] == listed["num_hosts_not_run"] == len(listed["hosts_not_run"])
    assert (listed["num_hosts_done"], listed["log"], listed["total_errors"]) == (0, {}, 0)
    shown = nova.ok("GET", "/os-instance_usage_audit_log/2026-03-15%2010:00:00")[
        "instance_usage_audit_log"]
    assert (shown["period_beginning"], shown["period_ending"]) == (
        "2026-02-01 00:00:00", "2026-03-01 00:00:00")
    january = nova.ok("GET", "/os-instance_usage_audit_log/2026-01-02%2000:00:00.5")[
        "instance_usage_audit_log"]
    assert january["period_beginning"] == "2025-12-01 00:00:00"
    assert fault(nova.request("GET", "/os-instance_usage_audit_log/invalid_time"), 400) == \
        "Invalid timestamp for date invalid_time"
