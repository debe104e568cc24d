"""Routers, SNAT and floating IPs proved with real packets, through the unmodified CLI.

``barecloud serve --lab 3 --netns``: the lab's outside namespace plays the
internet on the external network ``public`` (203.0.113.0/24, its address
203.0.113.1).  Two tenants each make a network, a router with a gateway on
``public`` and an interface on their subnet, and bare-metal servers.  Then:
a machine reaches the outside through SNAT (the outside sees the router's
gateway address); the outside reaches a machine through its floating IP
(ping and TCP) and sees the machine's own address as 1:1 SNAT; the floating
IP moved to the other server follows within seconds; disassociated, it
reaches nothing; the other tenant's floating IP is not reachable through the
wrong router; a router namespace deleted behind barecloud's back comes back
from the database.  Across a stop and start of the whole service (same data
directory): no router namespace outlives the stop, the start rebuilds them
from the rows (the floating IP answers again) and a router deleted then
loses its namespace.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import preloaded, support
from tests.acceptance.test_tenant_isolation import (
    Cloud,
    _create,
    _lab_exec,
    _placements,
    _server_ips,
    _wait_ip,
    tenant_clouds,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the netns lab needs root"),
]

BIN = Path(sys.executable).parent
PASSWORD = "floating-test-password"
TENANTS = {"red": "10.60.0.0/24", "blue": "10.61.0.0/24"}
OUTSIDE = "203.0.113.1"
# Answers every TCP connection, over IPv4 or IPv6, with NAME and the address it came from.
WHOAMI = ("import socket,sys\n"
          "s=socket.create_server(('',int(sys.argv[1])),family=socket.AF_INET6,"
          "dualstack_ipv6=True)\n"
          "while True:\n"
          " c,a=s.accept();c.sendall((sys.argv[2]+' '+a[0].removeprefix('::ffff:'))"
          ".encode());c.close()\n")


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Service]:
    base = tmp_path_factory.mktemp("floating")
    service = support.start_service(base / "svc", lab=3, netns=True, auth="keystone",
                                    timeout=420)
    try:
        yield service
    finally:
        service.stop()
    out = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True,
                         check=True).stdout
    left = [n["name"] for n in json.loads(out or "[]") if n["name"].startswith("qrouter-")]
    assert not left, f"router namespaces left behind: {left}"


@pytest.fixture(scope="module")
def tenants(svc: support.Service) -> dict[str, Cloud]:
    out = tenant_clouds(svc, TENANTS, PASSWORD)
    for name, cloud in out.items():
        cloud("network", "create", f"net-{name}")
        cloud("subnet", "create", "--network", f"net-{name}", "--subnet-range", TENANTS[name],
              f"sub-{name}")
        cloud("router", "create", f"r-{name}")
        cloud("router", "set", "--external-gateway", "public", f"r-{name}")
        cloud("router", "add", "subnet", f"r-{name}", f"sub-{name}")
    return out


class Servers:
    """Background ``WHOAMI`` servers (or another script taking the same arguments) in
    lab namespaces, ended by PID."""

    def __init__(self, svc: support.Service, script: str = WHOAMI) -> None:
        self.svc = svc
        self.script = script
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, where: str, port: int, name: str) -> None:
        self.procs.append(subprocess.Popen(
            [str(BIN / "barecloud"), "lab", "exec", where, "--lab-dir",
             str(self.svc.data_dir / "lab"), "--", sys.executable, "-c", self.script, str(port),
             name], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()


def _ask(svc: support.Service, where: str, ip: str, port: int) -> str | None:
    """What the WHOAMI server at ip:port answers to a connection from ``where``."""
    probe = ("import socket,sys\n"
             "try:\n"
             f" s=socket.create_connection(('{ip}',{port}),timeout=2);s.settimeout(2)\n"
             " sys.stdout.write(s.recv(200).decode())\n"
             "except OSError:\n sys.exit(1)")
    out = _lab_exec(svc, where, sys.executable, "-c", probe)
    return out.stdout.strip() if out.returncode == 0 else None


def _pings(svc: support.Service, where: str, ip: str) -> bool:
    return _lab_exec(svc, where, "ping", "-n", "-c", "2", "-i", "0.3", "-W", "1",
                     ip).returncode == 0


def _until(check: Any, timeout: float) -> float:
    """Seconds until ``check()`` is true (AssertionError after ``timeout``)."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if check():
            return time.monotonic() - start
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout} s")


def _quiet(cloud: Cloud, *args: str) -> None:
    """A command that prints nothing (``floating ip set/unset``): no output format."""
    proc = preloaded.run([str(BIN / "openstack"), *args], env=cloud.env, capture_output=True,
                         text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"openstack {' '.join(args)}: {proc.stderr}"


def _port_of(cloud: Cloud, server_id: str) -> str:
    [port] = cloud("port", "list", "--server", server_id)
    return str(port["ID"])


@pytest.fixture(scope="module")
def machines(svc: support.Service, tenants: dict[str, Cloud]) -> dict[str, tuple[str, str, str]]:
    """Two red servers and a blue one, up: server name -> (machine, IP, port id); each
    project's default group lets in ping and TCP 8000."""
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        made = dict(zip(TENANTS, pool.map(
            lambda t: _create(tenants[t], f"srv-{t}", t, count=2 if t == "red" else 1),
            TENANTS), strict=True))
    placed = _placements(svc)
    out: dict[str, tuple[str, str, str]] = {}
    for tenant, servers in made.items():
        for server in servers:
            assert server["Status"] == "ACTIVE", server
            [ip] = _server_ips(tenants[tenant], server["ID"])
            machine = placed[server["ID"]]
            _wait_ip(svc, machine, ip)
            out[server["Name"]] = (machine, ip, _port_of(tenants[tenant], server["ID"]))
    for t in TENANTS:  # as with Neutron: a project's default group admits only its members
        tenants[t]("security", "group", "rule", "create", "--protocol", "icmp", "default")
        tenants[t]("security", "group", "rule", "create", "--protocol", "tcp",
                   "--dst-port", "8000", "default")
    return out


def test_snat_out_floating_ip_in_moves_and_isolation(
        svc: support.Service, tenants: dict[str, Cloud],
        machines: dict[str, tuple[str, str, str]]) -> None:
    red, blue = tenants["red"], tenants["blue"]
    red1, red2 = sorted(n for n in machines if n.startswith("srv-red"))
    [blue1] = [n for n in machines if n.startswith("srv-blue")]
    routers = {t: tenants[t]("router", "show", f"r-{t}") for t in TENANTS}
    gateway = {t: r["external_gateway_info"]["external_fixed_ips"][0]["ip_address"]
               for t, r in routers.items()}

    servers = Servers(svc)
    try:
        servers.start("outside", 8080, "outside")
        for name, (machine, _, _) in machines.items():
            servers.start(machine, 8000, name)
        # --- out through SNAT: the outside sees the router's gateway address ----------
        _until(lambda: _ask(svc, machines[red1][0], OUTSIDE, 8080) is not None, 30)
        assert _ask(svc, machines[red1][0], OUTSIDE, 8080) == f"outside {gateway['red']}"
        assert _ask(svc, machines[blue1][0], OUTSIDE, 8080) == f"outside {gateway['blue']}"
        assert _pings(svc, machines[red2][0], OUTSIDE)
        # ... and nothing reaches a machine without a floating IP from outside.
        assert _ask(svc, "outside", machines[red1][1], 8000) is None

        # --- in through a floating IP: ping and TCP, 1:1 -------------------------------
        fip = red("floating", "ip", "create", "public")
        address = fip["floating_ip_address"]
        _quiet(red, "floating", "ip", "set", "--port", machines[red1][2], address)
        took = _until(lambda: _ask(svc, "outside", address, 8000) is not None, 10)
        assert _ask(svc, "outside", address, 8000) == f"{red1} {OUTSIDE}"
        assert _pings(svc, "outside", address)
        # The machine's own connections leave with its floating IP.
        assert _ask(svc, machines[red1][0], OUTSIDE, 8080) == f"outside {address}"
        assert red("floating", "ip", "show", address)["status"] == "ACTIVE"

        # --- moved to the other server: follows within seconds ------------------------
        _quiet(red, "floating", "ip", "set", "--port", machines[red2][2], address)
        moved = _until(lambda: _ask(svc, "outside", address, 8000) == f"{red2} {OUTSIDE}", 10)
        assert _ask(svc, machines[red1][0], OUTSIDE, 8080) == f"outside {gateway['red']}"

        # --- blue's floating IP: reachable, but not through red's router ---------------
        bfip = blue("floating", "ip", "create", "--port", machines[blue1][2], "public")
        baddr = bfip["floating_ip_address"]
        _until(lambda: _ask(svc, "outside", baddr, 8000) == f"{blue1} {OUTSIDE}", 10)
        wrong = ("ip", "route", "add", f"{baddr}/32", "via", gateway["red"])
        assert _lab_exec(svc, "outside", *wrong).returncode == 0
        try:
            assert _ask(svc, "outside", baddr, 8000) is None
            assert not _pings(svc, "outside", baddr)
        finally:
            _lab_exec(svc, "outside", "ip", "route", "del", f"{baddr}/32")
        assert _ask(svc, "outside", baddr, 8000) == f"{blue1} {OUTSIDE}"

        # --- disassociated: reaches nothing -------------------------------------------
        _quiet(red, "floating", "ip", "unset", "--port", address)
        _until(lambda: _ask(svc, "outside", address, 8000) is None, 10)
        assert not _pings(svc, "outside", address)
        assert red("floating", "ip", "show", address)["status"] == "DOWN"

        # --- a router's namespace deleted behind our back is rebuilt from the rows -------
        ns = f"qrouter-{routers['blue']['id']}"
        assert subprocess.run(["ip", "netns", "del", ns], check=False).returncode == 0
        _until(lambda: _ask(svc, "outside", baddr, 8000) == f"{blue1} {OUTSIDE}", 15)
        assert _ask(svc, machines[blue1][0], OUTSIDE, 8080) == f"outside {baddr}"
    finally:
        servers.stop()
    print(f"floating IP reachable {took:.2f} s after association, moved in {moved:.2f} s")
    assert took < 10 and moved < 10


def _router_namespaces() -> set[str]:
    out = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True,
                         check=True).stdout
    return {n["name"] for n in json.loads(out or "[]") if n["name"].startswith("qrouter-")}


def test_routers_across_a_restart_of_the_service(
        svc: support.Service, tenants: dict[str, Cloud],
        machines: dict[str, tuple[str, str, str]]) -> None:
    """Stopped, the service leaves no router namespace; started again on the same data
    directory it rebuilds them from the rows (the floating IP answers again), and a
    router deleted then loses its namespace."""
    red = tenants["red"]
    red1 = min(n for n in machines if n.startswith("srv-red"))
    machine, ip, port = machines[red1]
    spare = red("router", "create", "r-spare")  # a gateway only: a namespace all the same
    red("router", "set", "--external-gateway", "public", "r-spare")
    ours = {f"qrouter-{spare['id']}"} | {
        f"qrouter-{tenants[t]('router', 'show', f'r-{t}')['id']}" for t in TENANTS}
    address = red("floating", "ip", "create", "--port", port, "public")["floating_ip_address"]
    servers = Servers(svc)
    try:
        servers.start(machine, 8000, red1)
        _until(lambda: _ask(svc, "outside", address, 8000) == f"{red1} {OUTSIDE}", 30)
        _until(lambda: ours <= _router_namespaces(), 10)
    finally:
        servers.stop()

    start = time.monotonic()
    svc.stop()
    left = ours & _router_namespaces()
    assert not left, f"router namespaces left by the stopped service: {left}"
    svc.restart(timeout=420)
    # The lab is hardware that does not outlive the service: its switch comes back
    # blank and its machines off.  As after a rack's power loss, the server is
    # rebuilt (the switch port bound again, the machine booted); its port, fixed IP
    # and floating IP are the same rows.
    _quiet(red, "server", "rebuild", "--image", "barecloud-demo", "--wait", red1)
    servers = Servers(svc)
    try:
        _wait_ip(svc, machine, ip)
        servers.start(machine, 8000, red1)
        _until(lambda: _ask(svc, "outside", address, 8000) == f"{red1} {OUTSIDE}", 60)
        back = time.monotonic() - start
        assert _pings(svc, "outside", address)
        assert ours <= _router_namespaces()
        assert red("floating", "ip", "show", address)["status"] == "ACTIVE"

        red("router", "delete", "r-spare")
        _until(lambda: f"qrouter-{spare['id']}" not in _router_namespaces(), 10)
        assert _ask(svc, "outside", address, 8000) == f"{red1} {OUTSIDE}"
    finally:
        servers.stop()
    print(f"floating IP answering again {back:.1f} s after the stop began")
