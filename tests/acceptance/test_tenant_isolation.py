"""Tenant isolation proved with real packets, through the unmodified ``openstack`` CLI.

``barecloud serve --lab 6 --netns``: six lab machines, each in its own network
namespace cabled to a lab switch (linux-bridge driver), booting over real
DHCP from barecloud's dnsmasq on the provisioning network.  Three tenants
(projects with a member each) create a network and a subnet; the subnets
share one CIDR with disjoint allocation pools, so every machine is on-link
with every other one and only the switch keeps them apart (no router is
involved in any "unreachable").  Each tenant creates two servers with
``--network``; then a ping and TCP matrix, the addresses the machines got
by DHCP against their Neutron ports, a machine being cleaned reaching
nothing, a machine deleted and redeployed to another tenant, and the
top-talker report naming the tenant whose machine sends a bulk transfer.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from barecloud.drivers.switches.base import Segment
from tests import preloaded, support

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the netns lab needs root"),
]

BIN = Path(sys.executable).parent
TENANTS = ("red", "green", "blue")
CIDR = "10.50.0.0/24"
POOLS = {"red": ("10.50.0.10", "10.50.0.19"), "green": ("10.50.0.20", "10.50.0.29"),
         "blue": ("10.50.0.30", "10.50.0.39")}
PASSWORD = "isolation-test-password"


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Service]:
    base = tmp_path_factory.mktemp("isolation")
    service = support.start_service(
        base / "svc", lab=6, netns=True, auth="keystone", timeout=420,
        extra_env={"BARECLOUD_SWITCH_COUNTER_INTERVAL": "1"})
    try:
        yield service
    finally:
        service.stop()
    leftovers = [n for n in _namespaces() if n.startswith("qdhcp-")]
    assert not leftovers, f"namespaces left behind: {leftovers}"


def _namespaces() -> list[str]:
    out = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True,
                         check=True).stdout
    return [n["name"] for n in json.loads(out or "[]")]


class Cloud:
    """The ``openstack`` CLI as one cloud of a clouds.yaml."""

    def __init__(self, clouds: Path, name: str) -> None:
        self.env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(clouds), "OS_CLOUD": name}

    def __call__(self, *args: str, timeout: float = 120) -> Any:
        # Commands that print nothing take no output format.
        fmt = [] if args[1] in ("add", "delete", "remove", "set", "unset") else ["-f", "json"]
        proc = preloaded.run([str(BIN / "openstack"), *args, *fmt], env=self.env,
                             capture_output=True, text=True, timeout=timeout, check=False)
        assert proc.returncode == 0, f"openstack {' '.join(args)}: {proc.stderr}"
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    def fails(self, *args: str) -> str:
        proc = preloaded.run([str(BIN / "openstack"), *args], env=self.env,
                             capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode != 0, proc.stdout
        return proc.stderr


def _lab_exec(svc: support.Service, machine: str, *argv: str,
              timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "barecloud"), "lab", "exec", machine, "--lab-dir",
         str(svc.data_dir / "lab"), "--", *argv],
        capture_output=True, text=True, timeout=timeout, check=False)


def _tenant_token(svc: support.Service, tenant: str) -> str:
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": f"user-{tenant}", "domain": {"id": "default"}, "password": PASSWORD}}},
        "scope": {"project": {"name": f"proj-{tenant}", "domain": {"id": "default"}}}}}
    rsp = httpx.post(f"{svc.identity}/auth/tokens", json=body, timeout=30)
    assert rsp.status_code == 201, rsp.text
    return rsp.headers["X-Subject-Token"]


def _node(svc: support.Service, token: str, name: str) -> dict[str, Any]:
    rsp = httpx.get(f"{svc.baremetal}/v1/nodes/{name}", timeout=30, headers={
        "X-Auth-Token": token, "X-OpenStack-Ironic-API-Version": "latest"})
    assert rsp.status_code == 200, rsp.text
    node: dict[str, Any] = rsp.json()
    return node


def _bridge(svc: support.Service, network: str) -> str:
    """The lab switch's bridge for a network (the linux-bridge driver's name for it)."""
    show = Cloud(svc.clouds_yaml, "barecloud-admin")("network", "show", network)
    return Segment(show["provider:network_type"], show["provider:segmentation_id"],
                   show["id"]).key


def _switch_port(svc: support.Service, machine: str) -> str:
    """The lab switch port the machine's eth0 is cabled to."""
    status = json.loads(subprocess.run(
        [str(BIN / "barecloud"), "lab", "status", "--machines", "--json", "--lab-dir",
         str(svc.data_dir / "lab")], capture_output=True, text=True, check=True).stdout)
    port: str = next(m["ports"]["eth0"] for m in status["machine_list"]
                     if m["name"] == machine)
    return port


def _master(svc: support.Service, port: str) -> str | None:
    """The bridge a lab switch port is on (None: on no segment)."""
    out = _lab_exec(svc, "switch", "ip", "-j", "link", "show", "dev", port)
    master: str | None = json.loads(out.stdout)[0].get("master")
    return master


def _pings(svc: support.Service, machine: str, ip: str) -> bool:
    return _lab_exec(svc, machine, "ping", "-n", "-c", "2", "-i", "0.3", "-W", "1",
                     ip).returncode == 0


def _tcp(svc: support.Service, machine: str, ip: str, port: int = 22) -> bool:
    probe = ("import socket,sys\n"
             f"s=socket.create_connection(('{ip}',{port}),timeout=2)\n"
             "sys.exit(0 if s.recv(64) else 1)")
    return _lab_exec(svc, machine, sys.executable, "-c", probe).returncode == 0


def _eth0_ip(svc: support.Service, machine: str) -> str | None:
    out = _lab_exec(svc, machine, "ip", "-j", "-4", "addr", "show", "dev", "eth0")
    for info in json.loads(out.stdout or "[]"):
        for addr in info.get("addr_info", []):
            return str(addr["local"])
    return None


def tenant_clouds(svc: support.Service, names: Iterable[str], password: str
                  ) -> dict[str, Cloud]:
    """A project ``proj-<name>`` with its member ``user-<name>`` for each name, made by
    the admin with the CLI, and a cloud of each in a clouds.yaml of their own (0600)."""
    admin = Cloud(svc.clouds_yaml, "barecloud-admin")
    clouds = yaml.safe_load(svc.clouds_yaml.read_text())
    template = clouds["clouds"]["barecloud"]
    for name in names:
        admin("project", "create", "--domain", "default", f"proj-{name}")
        admin("user", "create", "--domain", "default", "--project", f"proj-{name}",
              "--password", password, f"user-{name}")
        admin("role", "add", "--project", f"proj-{name}", "--user", f"user-{name}", "member")
        clouds["clouds"][name] = {**template, "auth": {
            **template["auth"], "username": f"user-{name}", "password": password,
            "project_name": f"proj-{name}"}}
    path = svc.data_dir / "tenants-clouds.yaml"
    path.write_text(yaml.safe_dump(clouds))
    path.chmod(0o600)
    return {name: Cloud(path, name) for name in names}


@pytest.fixture(scope="module")
def tenants(svc: support.Service) -> dict[str, Cloud]:
    out = tenant_clouds(svc, TENANTS, PASSWORD)
    for name, cloud in out.items():
        cloud("network", "create", f"net-{name}")
        start, end = POOLS[name]
        cloud("subnet", "create", "--network", f"net-{name}", "--subnet-range", CIDR,
              "--gateway", "none", "--allocation-pool", f"start={start},end={end}",
              f"sub-{name}")
    return out


def _create(cloud: Cloud, name: str, tenant: str, count: int = 1) -> list[dict[str, Any]]:
    args = ["server", "create", "--flavor", "bm.baremetal", "--image", "barecloud-demo",
            "--network", f"net-{tenant}", "--wait"]
    if count > 1:
        args += ["--min", str(count), "--max", str(count)]
    cloud(*args, name, timeout=600)
    deadline = time.monotonic() + 600
    while True:  # --wait follows the first server only
        servers = [s for s in cloud("server", "list", "--long") if s["Name"].startswith(name)]
        if len(servers) == count and all(s["Status"] in ("ACTIVE", "ERROR") for s in servers):
            return servers
        assert time.monotonic() < deadline, servers
        time.sleep(2)


def _placements(svc: support.Service) -> dict[str, str]:
    """server id -> lab machine name (nodes are named after their machines)."""
    rsp = httpx.get(f"{svc.baremetal}/v1/nodes", params={"fields": "name,instance_uuid"},
                    headers={"X-Auth-Token": svc.token(),
                             "X-OpenStack-Ironic-API-Version": "latest"}, timeout=30)
    assert rsp.status_code == 200, rsp.text
    return {n["instance_uuid"]: n["name"] for n in rsp.json()["nodes"] if n["instance_uuid"]}


def _server_ips(cloud: Cloud, server_id: str) -> list[str]:
    show = cloud("server", "show", server_id)
    addresses = show["addresses"]
    return [ip for ips in addresses.values() for ip in ips]


def _wait_ip(svc: support.Service, machine: str, want: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = _eth0_ip(svc, machine)
        if got == want:
            return
        time.sleep(1)
    raise AssertionError(f"{machine}: eth0 has {got}, its Neutron port says {want}")


def _matrix(svc: support.Service, where: dict[str, tuple[str, str]]) -> dict[
    tuple[str, str], tuple[bool, bool]
]:
    """(from machine, to machine) -> (ping answered, TCP 22 answered), for every pair."""
    pairs = [(a, b) for a in where for b in where if a != b]

    def probe(pair: tuple[str, str]) -> tuple[bool, bool]:
        a, b = pair
        ip = where[b][1]
        return _pings(svc, a, ip), _tcp(svc, a, ip)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        return dict(zip(pairs, pool.map(probe, pairs), strict=True))


def _check_matrix(svc: support.Service, where: dict[str, tuple[str, str]]) -> None:
    results = _matrix(svc, where)
    wrong = []
    for (a, b), (ping, tcp) in results.items():
        same = where[a][0] == where[b][0]
        if (ping, tcp) != (same, same):
            wrong.append(f"{a}({where[a][0]}) -> {b}({where[b][0]} {where[b][1]}): "
                         f"ping {ping}, tcp {tcp}")
    assert not wrong, "\n".join(wrong)


def test_isolation_redeploy_and_top_talkers(svc: support.Service,
                                            tenants: dict[str, Cloud]) -> None:
    # --- every tenant gets two machines on its own network ----------------------
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        created = dict(zip(TENANTS, pool.map(
            lambda t: _create(tenants[t], f"srv-{t}", t, count=2), TENANTS), strict=True))
    placed = _placements(svc)
    where: dict[str, tuple[str, str]] = {}  # machine -> (tenant, ip)
    for tenant, servers in created.items():
        assert len(servers) == 2 and all(s["Status"] == "ACTIVE" for s in servers), servers
        for server in servers:
            [ip] = _server_ips(tenants[tenant], server["ID"])
            start, end = POOLS[tenant]
            assert int(start.rsplit(".", 1)[1]) <= int(ip.rsplit(".", 1)[1]) <= int(
                end.rsplit(".", 1)[1]), (tenant, ip)
            where[placed[server["ID"]]] = (tenant, ip)
    assert len(where) == 6

    # The address each machine got by DHCP on its tenant network is its port's.
    for machine, (tenant, ip) in where.items():
        _wait_ip(svc, machine, ip)
        ports = tenants[tenant]("port", "list", "--network", f"net-{tenant}", "--long")
        assert any(ip in json.dumps(p["Fixed IP Addresses"]) for p in ports), (ip, ports)

    _check_matrix(svc, where)

    # --- one machine leaves red; while it is cleaned it reaches nobody -------------
    victim_server = created["red"][0]
    victim = placed[victim_server["ID"]]
    others = {m: w for m, w in where.items() if m != victim}
    # A slow cable (8 kbit/s from the switch to the machine) stretches the cleaning:
    # its ramdisk takes half a minute to arrive, so the probe below surely runs
    # while the node waits for its agent, its NIC on the cleaning segment.
    port = _switch_port(svc, victim)
    slow = ("tc", "qdisc", "replace", "dev", port, "root", "tbf", "rate", "8kbit", "burst",
            "2kb", "latency", "60s")
    assert _lab_exec(svc, "switch", *slow).returncode == 0
    red = _tenant_token(svc, "red")
    token = svc.token()
    # The API rather than the CLI: the CLI's start-up alone outlasts a cleaning.
    rsp = httpx.delete(f"{svc.url}/compute/v2.1/servers/{victim_server['ID']}",
                       headers={"X-Auth-Token": red}, timeout=30)
    assert rsp.status_code == 204, rsp.text
    tenant_bridges = {_bridge(svc, f"net-{t}") for t in TENANTS}
    probed: list[tuple[str, str | None, str]] = []  # (state before, switch port master, after)
    node: dict[str, Any] = {}
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        node = _node(svc, token, victim)
        if node["provision_state"] == "clean wait" and not probed:
            master = _master(svc, port)
            # On-link to every tenant address (no route, no gateway): only a shared
            # segment could carry an answer.
            _lab_exec(svc, victim, "ip", "addr", "add", "10.50.0.250/24", "dev", "eth0")
            try:
                reached = [ip for _, ip in others.values() if _pings(svc, victim, ip)]
            finally:
                _lab_exec(svc, victim, "ip", "addr", "del", "10.50.0.250/24", "dev", "eth0")
            assert not reached, f"{victim} reached {reached} while being cleaned"
            probed.append((node["provision_state"], master,
                           _node(svc, token, victim)["provision_state"]))
            _lab_exec(svc, "switch", "tc", "qdisc", "del", "dev", port, "root")
        if node["provision_state"] == "available" and node["instance_uuid"] is None:
            break
        time.sleep(0.1)
    else:
        raise AssertionError(f"{victim} was not cleaned: {node}")
    [(_, master, after)] = probed
    assert after == "clean wait", probed  # the probe ran while the machine was cleaned
    assert master == _bridge(svc, "provisioning"), probed  # on the cleaning segment
    assert master not in tenant_bridges, probed

    # --- ... and is redeployed to green: it now talks to green only ---------------
    [moved] = _create(tenants["green"], "srv-green-3", "green")
    assert moved["Status"] == "ACTIVE"
    assert _placements(svc)[moved["ID"]] == victim  # the only free machine
    [ip] = _server_ips(tenants["green"], moved["ID"])
    where = {**others, victim: ("green", ip)}
    _wait_ip(svc, victim, ip)
    _check_matrix(svc, where)

    # --- blue's machine sends a bulk transfer: the report names blue ---------------
    blue = sorted(m for m, (t, _) in where.items() if t == "blue")
    target_ip = where[blue[1]][1]
    blast = ("import socket\n"
             "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
             f"[s.sendto(b'x'*1400,('{target_ip}',9)) for _ in range(30000)]")
    assert _lab_exec(svc, blue[0], sys.executable, "-c", blast, timeout=60).returncode == 0
    blue_servers = {s["ID"]: s["Name"] for s in created["blue"]}
    sender = next(name for sid, name in blue_servers.items() if placed[sid] == blue[0])
    rows: list[dict[str, Any]] = []
    deadline = time.monotonic() + 30
    sent = 30000 * 1400
    while time.monotonic() < deadline:
        rsp = httpx.get(f"{svc.url}/network/v2.0/barecloud-top-talkers",
                        params={"switch": "lab-switch", "minutes": 5, "limit": 20},
                        headers={"X-Auth-Token": token}, timeout=30)
        assert rsp.status_code == 200, rsp.text
        rows = rsp.json()["top_talkers"]
        if any(r["server_name"] == sender and r["rx_bytes"] > sent for r in rows):
            break
        time.sleep(1)
    # barecloud's own ports (its provisioning interface, which served every image,
    # and the DHCP servers) are named as such; of the tenants' machines, blue's
    # sender moved the most.
    machines = [r for r in rows if r["project_id"]]
    top = machines[0]
    assert top["project_name"] == "proj-blue", rows
    assert top["server_name"] == sender, rows
    assert top["network_name"] == "net-blue", rows
    assert top["rx_bytes"] > sent, rows  # what the machine sent into the switch
    own = {r["server_name"] for r in rows if not r["project_id"]}
    assert "barecloud (provisioning)" in own, rows
    # Ranked by what they received, the flood's target comes first.
    receiver = next(name for sid, name in blue_servers.items() if placed[sid] == blue[1])
    rsp = httpx.get(f"{svc.url}/network/v2.0/barecloud-top-talkers",
                    params={"switch": "lab-switch", "minutes": 5, "limit": 20,
                            "sort": "received"},
                    headers={"X-Auth-Token": token}, timeout=30)
    assert rsp.status_code == 200, rsp.text
    flooded = next(r for r in rsp.json()["top_talkers"] if r["project_id"])
    assert flooded["server_name"] == receiver and flooded["tx_bytes"] > sent, flooded

    # The operator's CLI finds the service and logs in through the clouds.yaml.
    cli = subprocess.run(
        [str(BIN / "barecloud"), "top-talkers", "--cloud", "barecloud-admin",
         "--switch", "lab-switch", "--minutes", "5", "--limit", "20"],
        env={**os.environ, "OS_CLIENT_CONFIG_FILE": str(svc.clouds_yaml)},
        capture_output=True, text=True, timeout=60, check=False)
    assert cli.returncode == 0, cli.stderr
    first = next(line for line in cli.stdout.splitlines() if "proj-" in line)
    assert "proj-blue" in first and sender in first and "net-blue" in first, cli.stdout

    # A tenant may not read it; an unknown switch is a 404 in Neutron's format.
    member = httpx.get(f"{svc.url}/network/v2.0/barecloud-top-talkers",
                       headers={"X-Auth-Token": svc.token("barecloud")}, timeout=30)
    assert member.status_code == 403, member.text
    unknown = httpx.get(f"{svc.url}/network/v2.0/barecloud-top-talkers",
                        params={"switch": "nope"}, headers={"X-Auth-Token": token}, timeout=30)
    assert unknown.status_code == 404 and "NeutronError" in unknown.json(), unknown.text
