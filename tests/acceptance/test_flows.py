"""Flows, not only ports: a bulk TCP flow named, with its tenant and ports, as the top flow.

``barecloud serve --lab 2 --netns --switch openvswitch``: the lab switch is an
Open vSwitch bridge (userspace datapath) whose access ports carry the
segments as VLAN tags, exporting sFlow to barecloud's collector.  A tenant
creates a network and two servers with the unmodified ``openstack`` CLI; one
machine sends the other a bulk TCP stream (a Python socket sender and
receiver run in the machines' namespaces), and the top-talker report by flow
on the sender's switch port names that stream first: TCP, its addresses and
ports, the tenant's project, both servers and the network, with an estimate
whose error it states.  ``barecloud top-talkers --by flow`` prints it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests import support
from tests.acceptance.test_tenant_isolation import (
    PASSWORD,
    Cloud,
    _create,
    _lab_exec,
    _placements,
    _server_ips,
    _switch_port,
    _wait_ip,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0 or shutil.which("ovs-vswitchd") is None,
                       reason="the netns lab needs root; this one Open vSwitch"),
]

BIN = Path(sys.executable).parent
PORT = 5201

SINK = f"""
import socket
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", {PORT})); s.listen(); s.settimeout(60)
c, _ = s.accept()
while c.recv(1 << 16):
    pass
"""

SEND = f"""
import socket, sys, time
s = socket.create_connection((sys.argv[1], {PORT}), timeout=10)
end, chunk = time.monotonic() + float(sys.argv[2]), b"x" * 65536
while time.monotonic() < end:
    s.sendall(chunk)
print(s.getsockname()[1])
"""


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Service]:
    base = tmp_path_factory.mktemp("flows")
    service = support.start_service(
        base / "svc", lab=2, netns=True, auth="keystone", timeout=420, switch="openvswitch",
        extra_env={"BARECLOUD_FLOW_INTERVAL": "1"})
    try:
        yield service
    finally:
        service.stop()
    run = base / "svc" / "lab" / "ovs"
    alive = [d for d in ("ovsdb-server", "ovs-vswitchd")
             if (run / f"{d}.pid").exists()
             and Path(f"/proc/{(run / f'{d}.pid').read_text().strip()}").exists()]
    assert not alive, f"Open vSwitch daemons left running: {alive}"


def _tenant(svc: support.Service) -> Cloud:
    admin = Cloud(svc.clouds_yaml, "barecloud-admin")
    admin("project", "create", "--domain", "default", "proj-flows")
    admin("user", "create", "--domain", "default", "--project", "proj-flows",
          "--password", PASSWORD, "user-flows")
    admin("role", "add", "--project", "proj-flows", "--user", "user-flows", "member")
    clouds = yaml.safe_load(svc.clouds_yaml.read_text())
    template = clouds["clouds"]["barecloud"]
    clouds["clouds"]["flows"] = {**template, "auth": {
        **template["auth"], "username": "user-flows", "password": PASSWORD,
        "project_name": "proj-flows"}}
    path = svc.data_dir / "flows-clouds.yaml"
    path.write_text(yaml.safe_dump(clouds))
    path.chmod(0o600)
    return Cloud(path, "flows")


def _flows(svc: support.Service, port: str) -> list[dict[str, Any]]:
    rsp = httpx.get(f"{svc.url}/network/v2.0/barecloud-top-talkers",
                    params={"by": "flow", "switch": "lab-switch", "port": port,
                            "minutes": 5, "limit": 5},
                    headers={"X-Auth-Token": svc.token()}, timeout=30)
    assert rsp.status_code == 200, rsp.text
    rows: list[dict[str, Any]] = rsp.json()["top_talkers"]
    return rows


def test_bulk_tcp_flow_is_the_top_flow_on_its_port(svc: support.Service) -> None:
    cloud = _tenant(svc)
    # Open vSwitch cannot filter (docs/design/security-groups.md): no port security.
    cloud("network", "create", "--disable-port-security", "net-flows")
    cloud("subnet", "create", "--network", "net-flows", "--subnet-range", "10.51.0.0/24",
          "--gateway", "none", "sub-flows")
    network = Cloud(svc.clouds_yaml, "barecloud-admin")("network", "show", "net-flows")
    assert network["provider:network_type"] == "vlan"  # the OVS lab's default
    servers = _create(cloud, "flow", "flows", count=2)
    assert all(s["Status"] == "ACTIVE" for s in servers), servers
    placed = _placements(svc)
    (a_id, a_name), (b_id, b_name) = sorted((s["ID"], s["Name"]) for s in servers)
    a, b = placed[a_id], placed[b_id]
    [a_ip], [b_ip] = _server_ips(cloud, a_id), _server_ips(cloud, b_id)
    _wait_ip(svc, a, a_ip)
    _wait_ip(svc, b, b_ip)
    a_port, b_port = _switch_port(svc, a), _switch_port(svc, b)

    # The segment is an access VLAN: both machines' switch ports carry its tag.
    db = f"--db=unix:{svc.data_dir / 'lab' / 'ovs' / 'db.sock'}"
    for port in (a_port, b_port):
        tag = subprocess.run(["ovs-vsctl", db, "get", "port", port, "tag"],
                             capture_output=True, text=True, check=True).stdout.strip()
        assert tag == str(network["provider:segmentation_id"]), (port, tag)

    lab = str(svc.data_dir / "lab")
    sink = subprocess.Popen([str(BIN / "barecloud"), "lab", "exec", b, "--lab-dir", lab,
                             "--", sys.executable, "-c", SINK])
    try:
        time.sleep(1)
        sent = _lab_exec(svc, a, sys.executable, "-c", SEND, b_ip, "4", timeout=60)
        assert sent.returncode == 0, sent.stderr
        sport = int(sent.stdout.strip())
    finally:
        sink.kill()
        sink.wait()

    rows: list[dict[str, Any]] = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        rows = _flows(svc, a_port)
        if rows and rows[0]["dst_port"] == PORT and rows[0]["samples"] >= 20:
            break
        time.sleep(1)
    top = rows[0]
    assert (top["protocol"], top["src_ip"], top["src_port"], top["dst_ip"],
            top["dst_port"]) == ("tcp", a_ip, sport, b_ip, PORT), rows
    assert (top["in_port"], top["out_port"]) == (a_port, b_port), top
    assert top["source"]["project_name"] == "proj-flows", top
    assert top["source"]["server_name"] == a_name and top["source"]["server_id"] == a_id
    assert top["source"]["network_name"] == "net-flows"
    assert top["destination"]["server_name"] == b_name
    assert top["destination"]["project_name"] == "proj-flows"
    assert top["bytes"] > 10 * 2**20, top  # megabytes: a bulk stream
    assert 0 < top["error_percent"] <= 196 / 20**0.5 + 0.1, top
    assert top["bytes_low"] < top["bytes"] < top["bytes_high"]
    # On the receiver's port the stream is the top flow too (it leaves by it).
    assert _flows(svc, b_port)[0]["src_port"] == sport

    cli = subprocess.run(
        [str(BIN / "barecloud"), "top-talkers", "--cloud", "barecloud-admin", "--by", "flow",
         "--switch", "lab-switch", "--port", a_port, "--minutes", "5"],
        env={**os.environ, "OS_CLIENT_CONFIG_FILE": str(svc.clouds_yaml)},
        capture_output=True, text=True, timeout=60, check=False)
    assert cli.returncode == 0, cli.stderr
    first = cli.stdout.splitlines()[1]
    assert f"{a_ip}:{sport}" in first and f"{b_ip}:{PORT}" in first, cli.stdout
    assert f"proj-flows/{a_name}" in first and f"proj-flows/{b_name}" in first, cli.stdout
    # Port counters stay, for switches without flow export too.
    ports = httpx.get(f"{svc.url}/network/v2.0/barecloud-top-talkers",
                      params={"switch": "lab-switch", "port": a_port},
                      headers={"X-Auth-Token": svc.token()}, timeout=30)
    assert ports.status_code == 200 and json.loads(ports.text)["top_talkers"], ports.text
