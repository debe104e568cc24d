"""A VM's SNAT, floating IP and security groups, with real packets and the unmodified CLI.

``barecloud serve --lab 2 --netns --hypervisors 1``: one lab machine is a
hypervisor whose QEMU VM reaches the network host's switch (where the
router's namespace has its legs) over VXLAN; the other is a bare-metal
server.  The tenant makes a network, a router with its gateway on ``public``
and an interface on the subnet, and a group ``web`` (TCP 8000 from
anywhere, TCP 9000 from members of ``web``) for both servers.  Then:

- the VM's user data reaches the outside (203.0.113.1) through SNAT: the
  outside sees the router's gateway address;
- a floating IP on the VM's port: the outside reaches the VM on 8000 and sees
  its own address (1:1), not on 9000 and not by ping (the tap's filter);
  the bare-metal member of ``web`` reaches the VM on 9000 too;
- rules added and removed with the CLI open ping and close 9000 within
  seconds;
- the floating IP moved to the bare-metal server and back follows within
  seconds; disassociated, it reaches nothing.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import preloaded, support
from tests.acceptance.test_floating_ips import Servers, _until
from tests.acceptance.test_security_groups_netns import SgCloud
from tests.acceptance.test_tenant_isolation import (
    BIN,
    _lab_exec,
    _pings,
    _placements,
    _server_ips,
    _wait_ip,
)
from tests.startup.test_serve_processes import left_after

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the netns lab needs root"),
]

OUTSIDE = "203.0.113.1"
OPEN, MEMBERS = 8000, 9000  # web: OPEN from anywhere, MEMBERS from web's members
# An HTTP/1.0 answer "NAME <peer address>" to every connection, like the VM's httpd.
WHOAMI = ("import socket,sys\n"
          "s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
          "s.bind(('0.0.0.0',int(sys.argv[1])));s.listen(16)\n"
          "while True:\n"
          " c,a=s.accept();c.settimeout(2)\n"
          " try:\n  c.recv(1024)\n  c.sendall(('HTTP/1.0 200 OK\\r\\n\\r\\n'+sys.argv[2]+' '+a[0]"
          "+'\\n').encode())\n except OSError:\n  pass\n"
          " c.close()\n")
# The VM's user data: busybox httpd on both ports answering "vm <peer address>" (a
# CGI's REMOTE_ADDR, which busybox gives IPv4-mapped), then a request to the
# outside twice a second for a while, each new answer (the address it came from)
# on the console.
USER_DATA = f"""#!/bin/sh
mkdir -p /www/cgi-bin
cat >/www/cgi-bin/who <<'END'
#!/bin/sh
a="${{REMOTE_ADDR#\\[::ffff:}}"
printf 'Content-Type: text/plain\\r\\n\\r\\nvm %s\\n' "${{a%]}}"
END
chmod 755 /www/cgi-bin/who
httpd -p {OPEN} -h /www && httpd -p {MEMBERS} -h /www && echo "listening"
last=""
i=0
while [ $i -lt 900 ]; do
    out="$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | timeout 3 nc {OUTSIDE} 8080 2>/dev/null \\
        | tail -n 1)"
    if [ -n "$out" ] && [ "$out" != "$last" ]; then
        echo "out: $out"
        if [ -z "$last" ]; then
            if p="$(ping -c 3 -W 3 {OUTSIDE} 2>&1)"; then echo "ping outside: ok"
            else echo "ping outside: lost: $(echo "$p" | grep transmitted)"; fi
        fi
        last="$out"
    fi
    i=$((i + 1)); sleep 0.5
done
"""


@pytest.fixture(scope="module")
def svc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[support.Service]:
    base = tmp_path_factory.mktemp("vmfloating")
    service = support.start_service(base / "svc", lab=2, netns=True, auth="keystone",
                                    hypervisors=1, timeout=600,
                                    extra_env={"BARECLOUD_HOST_REPORT_INTERVAL": "2"})
    try:
        yield service
    finally:
        service.stop()
    left = left_after(service.data_dir)  # the VM's QEMU among them
    assert not left, f"processes left behind: {left}"
    out = subprocess.run(["ip", "-j", "netns", "list"], capture_output=True, text=True,
                         check=True).stdout
    routers = [n["name"] for n in json.loads(out or "[]") if n["name"].startswith("qrouter-")]
    assert not routers, f"router namespaces left behind: {routers}"


def _get(svc: support.Service, where: str, ip: str, port: int) -> str | None:
    """The last line of the answer to an HTTP request from ``where`` (None: no answer)."""
    probe = ("import socket,sys\n"
             "try:\n"
             f" s=socket.create_connection(('{ip}',{port}),timeout=2);s.settimeout(2)\n"
             " s.sendall(b'GET /cgi-bin/who HTTP/1.0\\r\\n\\r\\n');b=b''\n"
             " while True:\n"
             "  d=s.recv(4096)\n"
             "  if not d: break\n"
             "  b+=d\n"
             " sys.stdout.write(b.decode().strip().splitlines()[-1])\n"
             "except (OSError, IndexError):\n sys.exit(1)")
    out = _lab_exec(svc, where, sys.executable, "-c", probe)
    return out.stdout.strip() if out.returncode == 0 else None


def _console(cloud: SgCloud, server: str) -> str:
    proc = preloaded.run([str(BIN / "openstack"), "console", "log", "show", server],
                         env=cloud.env, capture_output=True, text=True, timeout=120,
                         check=False)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _console_shows(cloud: SgCloud, server: str, text: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        out = _console(cloud, server)
        if text in out:
            return out
        assert time.monotonic() < deadline, f"{text!r} not on the console:\n{out[-3000:]}"
        time.sleep(2)


def test_vm_snat_floating_ip_and_security_groups(svc: support.Service,
                                                 tmp_path: Path) -> None:
    cloud = SgCloud(svc.clouds_yaml, "barecloud")
    cloud("network", "create", "vm-net")
    cloud("subnet", "create", "--network", "vm-net", "--subnet-range", "10.62.0.0/24",
          "vm-sub")
    cloud("router", "create", "vm-r")
    cloud("router", "set", "--external-gateway", "public", "vm-r")
    cloud("router", "add", "subnet", "vm-r", "vm-sub")
    gateway = cloud("router", "show", "vm-r")["external_gateway_info"][
        "external_fixed_ips"][0]["ip_address"]
    cloud("security", "group", "create", "web")
    cloud("security", "group", "rule", "create", "--protocol", "tcp", "--dst-port",
          str(OPEN), "--remote-ip", "0.0.0.0/0", "web")
    members = cloud("security", "group", "rule", "create", "--protocol", "tcp",
                    "--dst-port", str(MEMBERS), "--remote-group", "web", "web")

    listeners = Servers(svc, WHOAMI)
    try:
        listeners.start("outside", 8080, "outside")
        data = tmp_path / "user-data"
        data.write_text(USER_DATA)
        started = time.monotonic()
        vm = cloud("server", "create", "--flavor", "vm.tiny", "--image", "barecloud-tiny",
                   "--network", "vm-net", "--security-group", "web", "--user-data",
                   str(data), "--wait", "vm", timeout=600)
        bm = cloud("server", "create", "--flavor", "bm.baremetal", "--image",
                   "barecloud-demo", "--network", "vm-net", "--security-group", "web",
                   "--wait", "bm", timeout=900)
        assert (vm["status"], bm["status"]) == ("ACTIVE", "ACTIVE"), (vm, bm)
        machine = _placements(svc)[bm["id"]]
        [vm_ip] = _server_ips(cloud, vm["id"])
        [bm_ip] = _server_ips(cloud, bm["id"])
        _wait_ip(svc, machine, bm_ip)
        vm_port = cloud("port", "list", "--server", vm["id"])[0]["ID"]
        bm_port = cloud("port", "list", "--server", bm["id"])[0]["ID"]
        listeners.start(machine, OPEN, "bm")

        # --- out through SNAT: the outside saw the router's gateway address ---------------
        text = _console_shows(cloud, "vm", "user-data: ping outside", 400)
        booted = time.monotonic() - started
        assert f"barecloud-vm: address {vm_ip}/24 on eth0" in text
        assert "user-data: listening" in text, text[-3000:]
        assert f"user-data: out: outside {gateway}" in text, text[-3000:]
        assert "user-data: ping outside: ok" in text
        # Nothing reaches the VM from outside without a floating IP (no route to it).
        assert _get(svc, "outside", vm_ip, OPEN) is None

        # --- a floating IP on the VM's port: in on OPEN, 1:1; not on MEMBERS nor ping -----
        address = cloud("floating", "ip", "create", "public")["floating_ip_address"]
        cloud("floating", "ip", "set", "--port", vm_port, address)
        took = _until(lambda: _get(svc, "outside", address, OPEN) is not None, 10)
        assert _get(svc, "outside", address, OPEN) == f"vm {OUTSIDE}"
        assert cloud("floating", "ip", "show", address)["status"] == "ACTIVE"
        # The VM's own connections now leave with its floating IP.
        _console_shows(cloud, "vm", f"user-data: out: outside {address}", 15)
        matrix = {
            ("outside", OPEN): _get(svc, "outside", address, OPEN) is not None,
            ("outside", MEMBERS): _get(svc, "outside", address, MEMBERS) is not None,
            ("outside", "ping"): _pings(svc, "outside", address),
            ("member", OPEN): _get(svc, machine, vm_ip, OPEN) is not None,
            ("member", MEMBERS): _get(svc, machine, vm_ip, MEMBERS) is not None,
            ("member", "ping"): _pings(svc, machine, vm_ip),
        }
        assert matrix == {
            ("outside", OPEN): True, ("outside", MEMBERS): False, ("outside", "ping"): False,
            ("member", OPEN): True, ("member", MEMBERS): True, ("member", "ping"): False,
        }, matrix
        assert _get(svc, machine, vm_ip, MEMBERS) == f"vm {bm_ip}"

        # --- rules through the CLI: ICMP opens ping, the remote-group rule's removal ------
        # closes MEMBERS to the member, within seconds.
        cloud("security", "group", "rule", "create", "--protocol", "icmp", "web")
        took_add = _until(lambda: _pings(svc, "outside", address), 10)
        assert _pings(svc, machine, vm_ip)
        cloud("security", "group", "rule", "delete", members["id"])
        took_remove = _until(lambda: _get(svc, machine, vm_ip, MEMBERS) is None, 10)
        assert _get(svc, machine, vm_ip, OPEN) == f"vm {bm_ip}"

        # --- moved to the bare-metal server and back: follows within seconds -------------
        cloud("floating", "ip", "set", "--port", bm_port, address)
        moved = _until(lambda: _get(svc, "outside", address, OPEN) == f"bm {OUTSIDE}", 10)
        # ... and the VM's leave with the router's address again.
        _until(lambda: _console(cloud, "vm").count(f"user-data: out: outside {gateway}") == 2,
               15)
        cloud("floating", "ip", "set", "--port", vm_port, address)
        back = _until(lambda: _get(svc, "outside", address, OPEN) == f"vm {OUTSIDE}", 10)
        # --- disassociated: reaches nothing ------------------------------------------
        cloud("floating", "ip", "unset", "--port", address)
        _until(lambda: _get(svc, "outside", address, OPEN) is None, 10)
        assert not _pings(svc, "outside", address)
        assert cloud("floating", "ip", "show", address)["status"] == "DOWN"
    finally:
        listeners.stop()
    cloud("server", "delete", "--wait", "vm", timeout=300)
    print(f"VM up and out through SNAT {booted:.0f} s after create; floating IP in "
          f"{took:.1f} s, moved {moved:.1f} s, back {back:.1f} s; rule added -> "
          f"enforced {took_add:.1f} s, removed -> {took_remove:.1f} s")
