"""Benchmark (issue 20): from a floating IP's association to the first packet through.

A barecloud service with a netns lab of 2 machines (``serve --lab 2 --netns``,
root, SQLite); the tenant network behind a router with its gateway on the
lab's external network ``public``; two bare-metal servers, each answering
TCP on port 8000 with its name.  A prober runs in the lab's outside
namespace (the internet) and connects to the floating IP every 10 ms.

Per round: ``PUT /floatingips/{id}`` pointing the floating IP at the other
server (the first round associates it; later ones move it), and the seconds
from just before the request until the outside first gets an answer from
*that* server; also the request's own time, and (``--release``) the seconds
from a disassociation until connections are refused.  Both clocks are
CLOCK_MONOTONIC, one per system (the prober's namespace shares it).

The L3 agent runs in the service's process (the all-in-one serve), so the
API's change wakes it at once; in a cluster the agent's process sees it at
its next pass (``l3.INTERVAL``, 1 s).

Run (root, under the lab lock): ``flock /tmp/barecloud-netns.lock
.venv/bin/python bench/floating_ip.py [--rounds 20]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import support

BIN = Path(sys.executable).parent
WHOAMI = ("import socket,sys\n"
          "s=socket.socket();s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
          "s.bind(('0.0.0.0',8000));s.listen(64)\n"
          "while True:\n c,a=s.accept();c.sendall(sys.argv[1].encode());c.close()\n")
# Reads "<ip> <expected answer> <t0>" lines; prints the seconds from t0 until the
# answer came (or, for expected "-", until connections fail).
PROBER = ("import socket,sys,time\n"
          "for line in sys.stdin:\n"
          " ip,want,t0=line.split();t0=float(t0)\n"
          " while True:\n"
          "  try:\n"
          "   s=socket.create_connection((ip,8000),timeout=0.05);s.settimeout(0.5)\n"
          "   got=s.recv(100).decode();s.close()\n"
          "  except OSError:\n   got='-'\n"
          "  if got==want:\n   break\n"
          "  if time.monotonic()-t0>30:\n   print('timeout',flush=True);break\n"
          "  time.sleep(0.01)\n"
          " else:\n  continue\n"
          " print(time.monotonic()-t0,flush=True)\n")


def cli(svc: support.Service, *args: str) -> object:
    env = {**os.environ, "OS_CLIENT_CONFIG_FILE": str(svc.clouds_yaml), "OS_CLOUD": "barecloud"}
    fmt = [] if args[1] in ("add", "set") else ["-f", "json"]
    out = subprocess.run([str(BIN / "openstack"), *args, *fmt], env=env, capture_output=True,
                         text=True, timeout=900, check=True).stdout
    return json.loads(out) if out.strip() else None


def lab_exec(svc: support.Service, where: str, *argv: str, **kw: object
             ) -> subprocess.Popen[str]:
    return subprocess.Popen([str(BIN / "barecloud"), "lab", "exec", where, "--lab-dir",
                             str(svc.data_dir / "lab"), "--", *argv], text=True, **kw)  # type: ignore[call-overload]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--release", action="store_true", default=True)
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="bench-fip-"))
    svc = support.start_service(base / "svc", lab=2, netns=True, timeout=420)
    procs: list[subprocess.Popen[str]] = []
    try:
        cli(svc, "network", "create", "bench-net")
        cli(svc, "subnet", "create", "--network", "bench-net", "--subnet-range",
            "10.70.0.0/24", "bench-sub")
        cli(svc, "router", "create", "bench-r")
        cli(svc, "router", "set", "--external-gateway", "public", "bench-r")
        cli(svc, "router", "add", "subnet", "bench-r", "bench-sub")
        cli(svc, "server", "create", "--flavor", "bm.baremetal", "--image", "barecloud-demo",
            "--network", "bench-net", "--min", "2", "--max", "2", "--wait", "bench")
        servers = {}
        deadline = time.monotonic() + 600
        while len(servers) < 2 and time.monotonic() < deadline:
            listed = [s for s in cli(svc, "server", "list") if s["Status"] == "ACTIVE"]  # type: ignore[attr-defined]
            placed = {n["instance_uuid"]: n["name"] for n in httpx.get(
                f"{svc.baremetal}/v1/nodes", params={"fields": "name,instance_uuid"},
                headers={"X-OpenStack-Ironic-API-Version": "latest"}).json()["nodes"]
                if n["instance_uuid"]}
            servers = {s["Name"]: (s["ID"], placed.get(s["ID"])) for s in listed}
            time.sleep(2)
        assert len(servers) == 2, servers
        ports = {}
        for name, (sid, machine) in servers.items():
            [port] = cli(svc, "port", "list", "--server", sid)  # type: ignore[misc]
            ports[name] = port["ID"]
            procs.append(lab_exec(svc, str(machine), sys.executable, "-c", WHOAMI, name,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        fip = cli(svc, "floating", "ip", "create", "public")
        fip_id, address = fip["id"], fip["floating_ip_address"]  # type: ignore[index]
        prober = lab_exec(svc, "outside", sys.executable, "-u", "-c", PROBER,
                          stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        procs.append(prober)
        assert prober.stdin is not None and prober.stdout is not None
        net = httpx.Client(base_url=f"{svc.url}/network/v2.0", timeout=30)
        names = sorted(ports)
        through, api, released = [], [], []
        for i in range(args.rounds):
            name = names[i % 2]
            t0 = time.monotonic()
            r = net.put(f"/floatingips/{fip_id}", json={"floatingip": {"port_id": ports[name]}})
            r.raise_for_status()
            api.append(time.monotonic() - t0)
            prober.stdin.write(f"{address} {name} {t0}\n")
            prober.stdin.flush()
            through.append(float(prober.stdout.readline()))
            if args.release and i % 5 == 4:
                t0 = time.monotonic()
                net.put(f"/floatingips/{fip_id}", json={"floatingip": {"port_id": None}}
                        ).raise_for_status()
                prober.stdin.write(f"{address} - {t0}\n")
                prober.stdin.flush()
                released.append(float(prober.stdout.readline()))
        when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        print(f"machine: {os.cpu_count()} cores, {platform.platform()}, "
              f"Python {platform.python_version()}, {when}")
        print(f"rounds: {args.rounds} (association then moves between 2 servers)")
        for label, values in (("PUT /floatingips (API) s", api),
                              ("association/move -> first TCP answer s", through),
                              ("disassociation -> refused s", released)):
            if values:
                print(f"{label}: median {statistics.median(values):.3f}, "
                      f"min {min(values):.3f}, max {max(values):.3f} (n={len(values)})")
    finally:
        for proc in procs:
            proc.kill()
            proc.wait()
        svc.stop()


if __name__ == "__main__":
    main()
