"""Security groups enforced on bare metal at the lab switch port, with real packets.

``barecloud serve --lab 3 --netns``: one tenant, three servers on one network.
Two are put in group ``inner`` (TCP 8080 from members of ``inner``, TCP 9090
from anywhere), the third in ``outer`` (egress only), with the unmodified
CLI's ``port set --security-group``.  Then a matrix from inside and outside
the group: the allowed port answers, the others do not; a rule added (ICMP)
or removed (9090) changes it within seconds; and a port with port security
off is reached on any port.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests import preloaded, support
from tests.acceptance.test_tenant_isolation import (
    BIN,
    Cloud,
    _eth0_ip,
    _lab_exec,
    _pings,
    _placements,
    _server_ips,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the netns lab needs root"),
]

PORTS = (7070, 8080, 9090)
LISTEN = ("import socket, threading, time\n"
          "def serve(port):\n"
          "    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
          "    s.bind(('0.0.0.0', port)); s.listen(16)\n"
          "    while True:\n"
          "        c, _ = s.accept(); c.sendall(b'hi'); c.close()\n"
          f"for p in {PORTS!r}:\n"
          "    threading.Thread(target=serve, args=(p,), daemon=True).start()\n"
          "time.sleep(900)\n")  # ends by itself if the test is killed


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Service]:
    base = tmp_path_factory.mktemp("secgroups")
    service = support.start_service(base / "svc", lab=3, netns=True, auth="keystone",
                                    timeout=420)
    try:
        yield service
    finally:
        service.stop()


class SgCloud(Cloud):
    """``Cloud`` for three-word commands too (``security group rule delete``)."""

    def __call__(self, *args: str, timeout: float = 120) -> Any:
        if any(a in ("add", "delete", "set", "unset") for a in args[:4]):
            proc = preloaded.run([str(BIN / "openstack"), *args], env=self.env,
                                 capture_output=True, text=True, timeout=timeout,
                                 check=False)
            assert proc.returncode == 0, f"openstack {' '.join(args)}: {proc.stderr}"
            return None
        return super().__call__(*args, timeout=timeout)


def _tcp(svc: support.Service, machine: str, ip: str, port: int) -> bool:
    probe = ("import socket,sys\n"
             f"s=socket.create_connection(('{ip}',{port}),timeout=1.5)\n"
             "sys.exit(0 if s.recv(8) == b'hi' else 1)")
    return _lab_exec(svc, machine, sys.executable, "-c", probe).returncode == 0


def _within(seconds: float, check: Callable[[], bool]) -> float:
    """How long ``check`` took to hold (AssertionError after ``seconds``)."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < seconds, f"not within {seconds} s"
        time.sleep(0.3)
    return time.monotonic() - start


def test_security_group_matrix_on_bare_metal(svc: support.Service) -> None:
    cloud = SgCloud(svc.clouds_yaml, "barecloud")
    cloud("network", "create", "sg-net")
    cloud("subnet", "create", "--network", "sg-net", "--subnet-range", "10.60.0.0/24",
          "--gateway", "none", "sg-sub")
    servers = _servers(cloud)
    assert all(s["Status"] == "ACTIVE" for s in servers), servers
    placed = _placements(svc)
    machine = {s["Name"]: placed[s["ID"]] for s in servers}
    ip = {s["Name"]: _server_ips(cloud, s["ID"])[0] for s in servers}
    names = sorted(machine)  # sg-1, sg-2, sg-3
    a, b, c = names
    for name in names:
        _within(90, lambda n=name: _eth0_ip(svc, machine[n]) == ip[n])  # type: ignore[misc]

    inner = cloud("security", "group", "create", "inner")
    cloud("security", "group", "create", "outer")
    cloud("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port", "8080",
          "--remote-group", "inner", "inner")
    open_9090 = cloud("security", "group", "rule", "create", "--protocol", "tcp",
                      "--dst-port", "9090", "--remote-ip", "0.0.0.0/0", "inner")
    port_of = {s["Name"]: cloud("port", "list", "--server", s["ID"])[0]["ID"]
               for s in servers}
    for name, group in ((a, "inner"), (b, "inner"), (c, "outer")):
        cloud("port", "set", "--no-security-group", "--security-group", group, port_of[name])

    listener = subprocess.Popen(
        [sys.executable, "-m", "barecloud", "lab", "exec", machine[a], "--lab-dir",
         str(svc.data_dir / "lab"), "--", sys.executable, "-c", LISTEN],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        # The switch gets the rules within seconds of the last port set.
        _within(15, lambda: not _tcp(svc, machine[c], ip[a], 8080)
                and _tcp(svc, machine[b], ip[a], 8080))
        matrix = {
            ("inside", 8080): _tcp(svc, machine[b], ip[a], 8080),
            ("inside", 9090): _tcp(svc, machine[b], ip[a], 9090),
            ("inside", 7070): _tcp(svc, machine[b], ip[a], 7070),
            ("outside", 8080): _tcp(svc, machine[c], ip[a], 8080),
            ("outside", 9090): _tcp(svc, machine[c], ip[a], 9090),
            ("outside", 7070): _tcp(svc, machine[c], ip[a], 7070),
            ("outside", "ping"): _pings(svc, machine[c], ip[a]),
        }
        assert matrix == {
            ("inside", 8080): True, ("inside", 9090): True, ("inside", 7070): False,
            ("outside", 8080): False, ("outside", 9090): True, ("outside", 7070): False,
            ("outside", "ping"): False}, matrix
        # Stateful: c's connections out were answered above (their replies pass c's
        # port with no ingress rule); a's pings to c are not.
        assert not _pings(svc, machine[a], ip[c])  # outer takes nothing in

        # A rule added: ping from anywhere to inner, within seconds.
        cloud("security", "group", "rule", "create", "--protocol", "icmp", "inner")
        took_add = _within(10, lambda: _pings(svc, machine[c], ip[a]))
        # A rule removed: 9090 closes to outer within seconds.
        cloud("security", "group", "rule", "delete", open_9090["id"])
        took_remove = _within(10, lambda: not _tcp(svc, machine[c], ip[a], 9090))
        assert _tcp(svc, machine[b], ip[a], 8080)
        print(f"rule added -> enforced {took_add:.1f} s; removed -> {took_remove:.1f} s")

        # Port security off: nothing filtered at a's port.
        cloud("port", "set", "--no-security-group", "--disable-port-security", port_of[a])
        _within(10, lambda: _tcp(svc, machine[c], ip[a], 7070))
        cloud("port", "set", "--enable-port-security", "--security-group", inner["id"],
              port_of[a])
        _within(10, lambda: not _tcp(svc, machine[c], ip[a], 7070))
    finally:
        listener.terminate()
        listener.wait(10)
    for s in servers:
        cloud("server", "delete", "--wait", s["ID"], timeout=600)


def _servers(cloud: Cloud) -> list[dict[str, object]]:
    args = ["server", "create", "--flavor", "bm.baremetal", "--image", "barecloud-demo",
            "--network", "sg-net", "--min", "3", "--max", "3", "--wait", "sg"]
    cloud(*args, timeout=900)
    deadline = time.monotonic() + 900
    while True:
        listed = [s for s in cloud("server", "list", "--long")
                  if str(s["Name"]).startswith("sg")]
        if len(listed) == 3 and all(s["Status"] in ("ACTIVE", "ERROR") for s in listed):
            return listed
        assert time.monotonic() < deadline, listed
        time.sleep(2)
