"""The ``openstack reservation`` CLI and python-blazarclient, unmodified.

Both find the API through Identity's catalog (type ``reservation``,
``<base>/reservation/v1``).  ``barecloud-admin`` (project admin) offers the
machines; ``barecloud`` (demo, a member of project demo) leases them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from blazarclient import client as blazar_client
from blazarclient.exception import BlazarClientException
from keystoneauth1 import session
from keystoneauth1.identity import v3

from tests import preloaded
from tests.api.reservation.conftest import Blazar

OPENSTACK = Path(sys.executable).parent / "openstack"
ADM, DEMO = "barecloud-admin", "barecloud"
UNKNOWN = "6ee55c78-ac52-41a6-99af-2d2d73bcc466"
GPU = 'resource_properties=["=", "$gpu", "true"]'


class Cli:
    def __init__(self, blazar: Blazar) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
        self.env.update({"OS_CLIENT_CONFIG_FILE": str(blazar.svc.clouds_yaml),
                         "PYTHONWARNINGS": "ignore"})

    def run(self, cloud: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        proc = preloaded.run([str(OPENSTACK), "--os-cloud", cloud, "reservation", *args],
                             env=self.env, capture_output=True, text=True, timeout=120)
        assert (proc.returncode == 0) == ok, (args, proc.stdout, proc.stderr)
        return proc

    def json(self, cloud: str, *args: str) -> Any:
        out = self.run(cloud, *args, "-f", "json").stdout
        # `create` prints a line ("Created a new lease:") before the document.
        return json.loads(out[min(i for i in (out.find("{"), out.find("[")) if i >= 0):])


def _client(blazar: Blazar, cloud: str) -> Any:
    auth = yaml.safe_load(blazar.svc.clouds_yaml.read_text())["clouds"][cloud]["auth"]
    return blazar_client.Client(1, session=session.Session(auth=v3.Password(**auth)))


def _reservations(lease: dict[str, Any]) -> list[dict[str, Any]]:
    """The CLI prints a one-reservation list as that reservation's JSON text."""
    found = lease["reservations"]
    return [json.loads(found)] if isinstance(found, str) else list(found)


@pytest.mark.skipif(not OPENSTACK.exists(), reason="openstack CLI not installed")
def test_openstack_cli(blazar: Blazar) -> None:
    cli = Cli(blazar)
    one = cli.json(ADM, "host", "create", "--extra", "gpu=true", "rsv-1")
    assert one["hypervisor_hostname"] == "rsv-1" and one["gpu"] == "true"
    assert str(one["id"]).isdigit()  # the client resolves names unless the id is numeric
    cli.run(ADM, "host", "create", "rsv-2")
    _client(blazar, ADM).host.create("rsv-3")
    cli.run(ADM, "host", "set", "--extra", "gpu=true", "rsv-2")  # by name
    assert cli.json(ADM, "host", "show", "rsv-2")["gpu"] == "true"
    hosts = {h["hypervisor_hostname"]: str(h["id"]) for h in cli.json(ADM, "host", "list")}
    assert set(hosts) == {"rsv-1", "rsv-2", "rsv-3"}

    lease = cli.json(DEMO, "lease", "create", "--reservation",
                     f"resource_type=physical:host,min=2,max=2,{GPU}",
                     "--start-date", "2030-01-02 10:00", "--end-date", "2030-01-02 12:00",
                     "demo-lease")
    assert lease["status"] == "PENDING", lease
    assert (lease["start_date"], lease["end_date"]) == (
        "2030-01-02T10:00:00.000000", "2030-01-02T12:00:00.000000")
    [rsv] = _reservations(lease)
    assert (rsv["min"], rsv["max"], rsv["resource_type"]) == (2, 2, "physical:host")
    allocated = {a["resource_id"]: {r["id"] for r in a["reservations"]}
                 for a in cli.json(ADM, "allocation", "list", "host")}
    assert allocated.get(hosts["rsv-1"]) == allocated.get(hosts["rsv-2"]) == {rsv["id"]}
    assert not allocated.get(hosts["rsv-3"])

    # Both GPU machines are taken over the window.
    full = cli.run(ADM, "lease", "create", "--reservation",
                   f"resource_type=physical:host,min=1,max=1,{GPU}",
                   "--start-date", "2030-01-02 11:00", "--end-date", "2030-01-02 11:30",
                   "admin-lease", ok=False)
    assert "ERROR: Not enough hosts available" in full.stderr, full.stderr

    # --prolong-for is computed by the client from the end_date it reads.
    cli.run(DEMO, "lease", "set", "--prolong-for", "1h", "--reservation",
            f"id={rsv['id']},min=1,max=1", "demo-lease")
    shown = cli.json(DEMO, "lease", "show", "demo-lease")
    assert shown["end_date"] == "2030-01-02T13:00:00.000000", shown
    assert [(r["min"], r["max"]) for r in _reservations(shown)] == [(1, 1)]
    cli.run(DEMO, "lease", "set", "--end-date", "2030-01-02 14:00", "--name", "renamed",
            "demo-lease")
    # One GPU machine is free again.
    mine = cli.json(ADM, "lease", "create", "--reservation",
                    f"resource_type=physical:host,min=1,max=1,{GPU}",
                    "--start-date", "2030-01-02 11:00", "--end-date", "2030-01-02 11:30",
                    "admin-lease")
    assert mine["status"] == "PENDING"
    # The calendar names other projects' leases, and the machines, to the admin only.
    window = {"start": "2030-01-02 00:00", "end": "2030-01-03T00:00:00"}
    for token, names in ((blazar.demo, [None, "renamed"]),
                         (blazar.admin, ["admin-lease", "renamed"])):
        seen = blazar.call("GET", "/barecloud-calendar", token=token, params=window).json()
        assert seen["start"] == "2030-01-02T00:00:00.000000", seen
        assert sorted((a["lease_name"] for h in seen["hosts"] for a in h["allocations"]),
                      key=str) == names, seen
        if token == blazar.demo:
            assert all(h["id"] is None and h["hypervisor_hostname"] is None
                       and h["node_uuid"] is None for h in seen["hosts"]), seen
            continue
        held = {h["hypervisor_hostname"]: h["allocations"] for h in seen["hosts"]}
        assert held["rsv-3"] == [], held
    listed = cli.json(DEMO, "lease", "list")  # only demo's own
    assert [(x["name"], x["end_date"]) for x in listed] == [
        ("renamed", "2030-01-02T14:00:00.000000")]
    assert {x["name"] for x in cli.json(ADM, "lease", "list")} == {"renamed", "admin-lease"}

    missing = cli.run(DEMO, "lease", "show", UNKNOWN, ok=False)
    assert f"ERROR: Object with {{'lease_id': '{UNKNOWN}'}} not found" in missing.stderr
    assert "Deleted lease: renamed" in cli.run(DEMO, "lease", "delete", "renamed").stdout
    cli.run(ADM, "lease", "delete", "admin-lease")
    cli.run(ADM, "host", "delete", "rsv-3")
    assert cli.json(ADM, "lease", "list") == []
    assert {h["hypervisor_hostname"] for h in cli.json(ADM, "host", "list")} == {
        "rsv-1", "rsv-2"}


def test_python_client(blazar: Blazar) -> None:
    """python-blazarclient finds the endpoint in the catalog itself (no override)."""
    admin, demo = _client(blazar, ADM), _client(blazar, DEMO)
    host = admin.host.create("rsv-3", gpu="false")
    try:
        props = admin.host.list_properties(detail=True)
        gpu = next(p for p in props if p["property"] == "gpu")
        assert gpu["private"] is False and set(gpu["property_values"]) == {"false", "true"}, gpu
        assert admin.host.set_property("gpu", private=True)["private"] is True
        assert "gpu" not in {p["property"] for p in admin.host.list_properties()}
        assert "gpu" in {p["property"] for p in admin.host.list_properties(all=True)}
        admin.host.set_property("gpu", private=False)
        assert admin.allocation.get("os-hosts", host["id"])["resource_id"] == host["id"]
        with pytest.raises(BlazarClientException) as caught:
            demo.lease.get(UNKNOWN)
        assert caught.value.kwargs["code"] == 404
        with pytest.raises(BlazarClientException) as caught:
            demo.lease.create("too-many", "2030-01-03 10:00", "2030-01-03 11:00",
                              [{"resource_type": "physical:host", "min": 4, "max": 4,
                                "hypervisor_properties": "", "resource_properties": ""}],
                              [])
        assert caught.value.kwargs["code"] == 409
        assert "Not enough hosts available" in str(caught.value)
    finally:
        admin.host.delete(host["id"])
