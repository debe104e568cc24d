"""Issue 18's seed experiment, end to end with the unmodified ``openstack`` CLI.

``barecloud serve --lab 4 --netns --hypervisors 1``: one machine is a shared
hypervisor (anyone's VMs), three are free.  The demo project leases two of
them, deploys them as its own hypervisors (``barecloud hypervisor create``),
and starts four VMs on one tenant network across them, plus a bare-metal
server on the third machine; another project's VM runs on the shared host,
on a network of its own with the same CIDR (only the segments keep them
apart: no router is involved in any "unreachable").  Every VM's console
shows its hostname and key; each VM's user data pings the bare-metal server
and the other VMs, which answer across hosts (hypervisor to hypervisor, and
through the switch's VTEP); the other project's VM reaches none of them.
Ending the lease deletes the VMs, then undeploys and cleans the machines.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from tests import preloaded, support

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(os.geteuid() != 0, reason="the netns lab needs root"),
]

BIN = Path(sys.executable).parent
PASSWORD = "seed-test-password"
CIDR = "10.60.0.0/24"
BM_IP = "10.60.0.10"
VM_IPS = ("10.60.0.11", "10.60.0.12", "10.60.0.13", "10.60.0.14")
RIVAL_IP = "10.60.0.30"
T = TypeVar("T")


class Cloud:
    """The ``openstack`` CLI (or ``barecloud``'s) as one cloud of a clouds.yaml."""

    def __init__(self, clouds: Path, name: str) -> None:
        self.name = name
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith("OS_")},
                    "OS_CLIENT_CONFIG_FILE": str(clouds), "OS_CLOUD": name,
                    "PYTHONWARNINGS": "ignore"}

    def __call__(self, *args: str, timeout: float = 300) -> Any:
        quiet = {"add", "delete", "set"} & set(args[1:3]) or args[:2] == ("console", "log")
        fmt = [] if quiet else ["-f", "json"]
        proc = preloaded.run([str(BIN / "openstack"), *args, *fmt], env=self.env,
                             capture_output=True, text=True, timeout=timeout, check=False)
        assert proc.returncode == 0, f"openstack {' '.join(args)}: {proc.stderr}"
        out = proc.stdout
        starts = [i for i in (out.find("{"), out.find("[")) if i >= 0]
        if fmt and starts:  # blazarclient's create prints a line before the document
            return json.loads(out[min(starts):])
        return out

    def barecloud(self, *args: str, timeout: float = 900) -> str:
        proc = subprocess.run([str(BIN / "barecloud"), *args, "--cloud", self.name],
                              env=self.env, capture_output=True, text=True, timeout=timeout,
                              check=False)
        assert proc.returncode == 0, f"barecloud {' '.join(args)}: {proc.stderr}"
        return proc.stdout


def until(what: str, probe: Callable[[], T], done: Callable[[T], bool],
          timeout: float = 300) -> T:
    deadline = time.monotonic() + timeout
    while True:
        found = probe()
        if done(found):
            return found
        assert time.monotonic() < deadline, f"{what}: not within {timeout:g} s: {found}"
        time.sleep(2)


def lab_exec(svc: support.Service, machine: str, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(BIN / "barecloud"), "lab", "exec", machine, "--lab-dir",
                           str(svc.data_dir / "lab"), "--", *argv],
                          capture_output=True, text=True, timeout=60, check=False)


def pings(svc: support.Service, machine: str, ip: str) -> bool:
    return lab_exec(svc, machine, "ping", "-n", "-c", "2", "-i", "0.3", "-W", "1",
                    ip).returncode == 0


def pinger(targets: list[str], tries: int) -> str:
    """User data: ping each target until it answers (at most ``tries`` seconds)."""
    return "\n".join([
        "#!/bin/sh",
        f"for ip in {' '.join(targets)}; do",
        "    n=0",
        "    until ping -c 1 -W 1 $ip >/dev/null 2>&1; do",
        f"        n=$((n + 1)); [ $n -ge {tries} ] && break; sleep 1",
        "    done",
        f"    if [ $n -lt {tries} ]; then echo \"reached $ip\"; "
        "else echo \"unreached $ip\"; fi",
        "done", ""])


def rival_cloud(svc: support.Service, admin: Cloud) -> Cloud:
    admin("project", "create", "--domain", "default", "rival")
    admin("user", "create", "--domain", "default", "--project", "rival",
          "--password", PASSWORD, "rival-user")
    admin("role", "add", "--project", "rival", "--user", "rival-user", "member")
    clouds = yaml.safe_load(svc.clouds_yaml.read_text())
    template = clouds["clouds"]["barecloud"]
    clouds["clouds"]["rival"] = {**template, "auth": {
        **template["auth"], "username": "rival-user", "password": PASSWORD,
        "project_name": "rival"}}
    path = svc.data_dir / "rival-clouds.yaml"
    path.write_text(yaml.safe_dump(clouds))
    path.chmod(0o600)
    return Cloud(path, "rival")


def test_the_seed_experiment(tmp_path: Path) -> None:
    svc = support.start_service(tmp_path / "svc", lab=4, netns=True, auth="keystone",
                                hypervisors=1, timeout=900,
                                extra_env={"BARECLOUD_HOST_REPORT_INTERVAL": "2",
                                           "BARECLOUD_LEASE_INTERVAL": "1"})
    try:
        _experiment(svc, tmp_path)
    finally:
        svc.stop()


def _experiment(svc: support.Service, tmp: Path) -> None:
    admin = Cloud(svc.clouds_yaml, "barecloud-admin")
    demo = Cloud(svc.clouds_yaml, "barecloud")
    rival = rival_cloud(svc, admin)
    free = sorted(n["name"] for n in admin("baremetal", "node", "list", "--provision-state",
                                           "available"))
    assert len(free) == 3, free
    pool, bm_machine = free[:2], free[2]
    [shared] = [h["Hypervisor Hostname"] for h in admin("hypervisor", "list")
                if h["Hypervisor Type"] == "QEMU"]

    # --- the project leases two machines and makes them its hypervisors ------------
    for name in pool:
        admin("reservation", "host", "create", name)
    end = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=3)).strftime("%Y-%m-%d %H:%M")
    demo("reservation", "lease", "create", "--reservation",
         "resource_type=physical:host,min=2,max=2", "--end-date", end, "seed")
    until("the lease starts", lambda: demo("reservation", "lease", "show", "seed"),
          lambda x: x["status"] == "ACTIVE", 120)
    out = demo.barecloud("hypervisor", "create", *pool)
    assert all(f"hypervisor {name} is up" in out for name in pool), out
    mine = {h["Hypervisor Hostname"] for h in admin("hypervisor", "list")}
    assert set(pool) | {shared} <= mine

    # --- networks, ports with known addresses, a key ------------------------------
    # The servers' addresses are fixed below the pools (whose first address goes to
    # each network's DHCP port).
    for cloud, pools in ((demo, ("10.60.0.20", "10.60.0.29")),
                         (rival, ("10.60.0.40", "10.60.0.49"))):
        cloud("network", "create", f"net-{cloud.name}")
        cloud("subnet", "create", "--network", f"net-{cloud.name}", "--subnet-range", CIDR,
              "--gateway", "none", "--allocation-pool", f"start={pools[0]},end={pools[1]}",
              f"sub-{cloud.name}")

    def port(cloud: Cloud, name: str, ip: str) -> str:
        made = cloud("port", "create", "--network", f"net-{cloud.name}", "--fixed-ip",
                     f"subnet=sub-{cloud.name},ip-address={ip}", name)
        return str(made["id"])

    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "seed@barecloud",
                    "-f", str(tmp / "key")], check=True)
    demo("keypair", "create", "--public-key", str(tmp / "key.pub"), "seed-key")
    rival("keypair", "create", "--public-key", str(tmp / "key.pub"), "rival-key")

    # --- one bare-metal server and four VMs on the project's network ----------------
    bm_port = port(demo, "bm-port", BM_IP)
    demo("server", "create", "--flavor", "bm.baremetal", "--image", "barecloud-demo",
         "--port", bm_port, "--key-name", "seed-key", "bm", timeout=120)
    vm_names = [f"seed-vm{i}" for i in range(len(VM_IPS))]

    def create_vm(i: int) -> None:
        others = [ip for ip in VM_IPS if ip != VM_IPS[i]]
        data = tmp / f"user-data-{i}"
        data.write_text(pinger([BM_IP, *others], tries=240))
        demo("server", "create", "--flavor", "vm.tiny", "--image", "barecloud-tiny",
             "--port", port(demo, f"vm-port{i}", VM_IPS[i]), "--key-name", "seed-key",
             "--user-data", str(data), vm_names[i])

    with concurrent.futures.ThreadPoolExecutor(4) as threads:
        list(threads.map(create_vm, range(len(VM_IPS))))
    data = tmp / "user-data-rival"
    data.write_text(pinger([BM_IP, *VM_IPS], tries=20))
    rival("server", "create", "--flavor", "vm.tiny", "--image", "barecloud-tiny",
          "--port", port(rival, "rival-port", RIVAL_IP), "--key-name", "rival-key",
          "--user-data", str(data), "rival-vm")

    servers = until("every server ACTIVE",
                    lambda: demo("server", "list", "--long"),
                    lambda xs: len(xs) == 5 and all(x["Status"] == "ACTIVE" for x in xs), 600)
    assert {x["Name"] for x in servers} == {"bm", *vm_names}
    until("the rival's VM ACTIVE", lambda: rival("server", "list"),
          lambda xs: bool(xs) and xs[0]["Status"] == "ACTIVE", 300)
    # VMs of the project land on its own hypervisors only, across both (hosts are
    # the operator's to see).
    hosts = {x["Name"]: x["Host"] for x in admin("server", "list", "--all-projects", "--long")}
    assert {hosts[n] for n in vm_names} == set(pool), hosts
    assert hosts["rival-vm"] == shared

    def console(cloud: Cloud, name: str, pattern: str, timeout: float = 400) -> str:
        text: str = until(f"{name}'s console shows {pattern!r}",
                          lambda: cloud("console", "log", "show", name),
                          lambda t: re.search(pattern, t) is not None, timeout)
        return text

    for i, name in enumerate(vm_names):
        text = console(demo, name, r"user-data: exited")
        assert f"barecloud-vm: hostname {name}" in text
        assert "barecloud-vm: ssh key ssh-ed25519 seed@barecloud" in text
        assert f"barecloud-vm: address {VM_IPS[i]}/24 on eth0" in text
        for ip in [BM_IP, *VM_IPS]:
            if ip != VM_IPS[i]:
                assert f"user-data: reached {ip}" in text, text[-3000:]
    text = console(rival, "rival-vm", r"user-data: exited")
    assert f"barecloud-vm: address {RIVAL_IP}/24 on eth0" in text
    for ip in [BM_IP, *VM_IPS]:
        assert f"user-data: unreached {ip}" in text, text[-3000:]
    # The bare-metal server answers the VMs and not the rival's.
    assert all(pings(svc, bm_machine, ip) for ip in VM_IPS)
    assert not pings(svc, bm_machine, RIVAL_IP)

    # --- the lease ends: VMs deleted, machines undeployed and cleaned ---------------
    soon = (dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)).strftime("%Y-%m-%d %H:%M")
    demo("reservation", "lease", "set", "--end-date", soon, "seed")  # the next minute
    until("the project's VMs deleted", lambda: demo("server", "list"),
          lambda xs: [x["Name"] for x in xs] == ["bm"], 400)
    for name in pool:
        until(f"{name} undeployed and cleaned",
              lambda name=name: admin("baremetal", "node", "show", name),
              lambda n: n["provision_state"] == "available" and not n["instance_uuid"], 600)
    left = {h["Hypervisor Hostname"] for h in admin("hypervisor", "list")}
    assert not set(pool) & left, left
    assert rival("server", "list")[0]["Status"] == "ACTIVE"
