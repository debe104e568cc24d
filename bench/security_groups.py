"""Benchmark: a security-group rule change to enforcement at the switch, for 1 and 100 ports.

Builds a ``linux-bridge`` switch namespace with N ports on one bridge: port 0
is cabled to a "server" namespace listening on TCP 8080, the others are veth
pairs left in the switch (ports that are filtered but carry nothing); a
"client" namespace on an unfiltered port.  Every port is in one group.  Then,
RUNS times: a rule allowing TCP 8080 is added to the group (every port's rules
change) and the clock runs until the switch driver has loaded all N ports'
tables (``filter_ports``: one ``nft -f`` transaction per port) and the client's
connection to 8080 is answered; then the rule is removed and the clock runs
until the connection is refused by the filter again (each refused probe waits 0.3 s for an answer:
the last column is that much coarser).  Prints the medians.  What
comes before the driver in the service (the API request, the network agent's
wake-up, resolving the rules in the database) is not in these figures; the
netns test (tests/acceptance/test_security_groups_netns.py) prints the whole
path through the CLI.  Needs root.  Removes every namespace it made.

    .venv/bin/python bench/security_groups.py                 # 1 and 100 ports, 5 runs
    .venv/bin/python bench/security_groups.py --ports 1 10 --runs 3
"""

from __future__ import annotations

import argparse
import asyncio
import socket
import statistics
import subprocess
import sys
import time
import uuid

from barecloud.drivers.switches.linux_bridge import LinuxBridgeSwitch
from barecloud.hostagent.firewall import PortRules, Rule

SERVER = ("import socket\ns=socket.socket();s.setsockopt(socket.SOL_SOCKET,"
          "socket.SO_REUSEADDR,1);s.bind(('0.0.0.0',8080));s.listen(64)\n"
          "while True:\n c,_=s.accept();c.sendall(b'hi');c.close()\n")
PROBE = ("import socket,sys\ntry:\n s=socket.create_connection(('10.88.0.2',8080),"
         "timeout=0.3);sys.exit(0 if s.recv(2)==b'hi' else 1)\nexcept OSError:\n sys.exit(1)\n")


def sh(*argv: str) -> None:
    subprocess.run(argv, check=True, capture_output=True)


def build(tag: str, ports: int) -> tuple[str, list[str]]:
    sw, srv, cli = f"sgb-sw-{tag}", f"sgb-srv-{tag}", f"sgb-cli-{tag}"
    for ns in (sw, srv, cli):
        sh("ip", "netns", "add", ns)
    sh("ip", "-n", sw, "link", "add", "br0", "type", "bridge")
    sh("ip", "-n", sw, "link", "set", "br0", "up")
    names = []
    for i in range(ports):
        port = f"p{i}"
        if i == 0:
            sh("ip", "link", "add", f"sgbs{tag}", "type", "veth", "peer", "name", port,
               "netns", sw)
            sh("ip", "link", "set", f"sgbs{tag}", "netns", srv)
            sh("ip", "-n", srv, "addr", "add", "10.88.0.2/24", "dev", f"sgbs{tag}")
            sh("ip", "-n", srv, "link", "set", f"sgbs{tag}", "up")
        else:
            sh("ip", "-n", sw, "link", "add", port, "type", "veth", "peer", "name", f"q{i}")
        sh("ip", "-n", sw, "link", "set", port, "master", "br0", "up")
        names.append(port)
    sh("ip", "link", "add", f"sgbc{tag}", "type", "veth", "peer", "name", "client", "netns", sw)
    sh("ip", "link", "set", f"sgbc{tag}", "netns", cli)
    sh("ip", "-n", cli, "addr", "add", "10.88.0.3/24", "dev", f"sgbc{tag}")
    sh("ip", "-n", cli, "link", "set", f"sgbc{tag}", "up")
    sh("ip", "-n", sw, "link", "set", "client", "master", "br0", "up")
    return sw, names


def answered(tag: str) -> bool:
    return subprocess.run(["ip", "netns", "exec", f"sgb-cli-{tag}", sys.executable, "-c",
                           PROBE], check=False).returncode == 0


def run(ports: int, runs: int) -> tuple[list[float], list[float], list[float]]:
    tag = uuid.uuid4().hex[:4]
    sw, names = build(tag, ports)
    server = subprocess.Popen(["ip", "netns", "exec", f"sgb-srv-{tag}", sys.executable, "-c",
                               SERVER])
    switch = LinuxBridgeSwitch("bench", {"netns": sw, "timeout": 30.0})
    loop = asyncio.new_event_loop()  # one loop: the driver's lock belongs to it

    def apply(rules: dict[str, PortRules]) -> None:
        loop.run_until_complete(switch.filter_ports(rules))
    egress = (Rule("egress", "IPv4"), Rule("egress", "IPv6"))
    allow = Rule("ingress", "IPv4", "tcp", 8080, 8080)

    def wanted(rules: tuple[Rule, ...]) -> dict[str, PortRules]:
        out = {}
        for i, port in enumerate(names):
            address = "10.88.0.2" if i == 0 else f"10.89.{i // 250}.{i % 250 + 1}"
            out[port] = PortRules(mac="", addresses=(address,), rules=rules)
        return out

    opened, closed, driver = [], [], []
    try:
        apply(wanted(egress))
        time.sleep(0.5)
        assert not answered(tag), "8080 answered with no rule allowing it"
        for _ in range(runs):
            start = time.monotonic()
            apply(wanted((*egress, allow)))
            driver.append(time.monotonic() - start)
            while not answered(tag):
                pass
            opened.append(time.monotonic() - start)
            start = time.monotonic()
            apply(wanted(egress))
            while answered(tag):
                pass
            closed.append(time.monotonic() - start)
    finally:
        loop.close()
        server.terminate()
        server.wait()
        for ns in (sw, f"sgb-srv-{tag}", f"sgb-cli-{tag}"):
            subprocess.run(["ip", "netns", "delete", ns], check=False)
    return opened, closed, driver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ports", type=int, nargs="+", default=[1, 100])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    socket.setdefaulttimeout(5)
    print("ports  driver (all ports' tables)  rule added -> answered  rule removed -> "
          "refused   (medians of", args.runs, "runs, seconds)")
    for n in args.ports:
        opened, closed, driver = run(n, args.runs)
        print(f"{n:5d}  {statistics.median(driver):26.3f}  {statistics.median(opened):22.3f}"
              f"  {statistics.median(closed):23.3f}")


if __name__ == "__main__":
    main()
