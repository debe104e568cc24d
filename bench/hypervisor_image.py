"""Check (issue 18): the hypervisor image boots and its host agent registers.

What a real machine does after barecloud deployed the hypervisor image onto
it, under QEMU (TCG) on this host:

1. ``scripts/build-hypervisor-image`` builds the image (skipped when its
   inputs are unchanged);
2. a real ``barecloud serve`` (noauth) starts; a hypervisor ``hv-check`` is
   enrolled (``POST /compute/v2.1/barecloud-hypervisors``), whose answer
   carries its credential;
3. a config drive (ISO 9660, label ``config-2``) holds ``meta_data.json``
   and ``vendor_data.json`` with the service's URL as the guest sees it
   (QEMU's user networking: the host is 10.0.2.2, which slirp connects to
   the host's 127.0.0.1, where the service listens) and the credential,
   and ``network_data.json`` the NIC's static address (10.0.2.20, not the
   lease slirp would give: the service must see the host at that address;
   ``--dhcp`` leaves it out, and the image takes a lease);
4. QEMU boots a copy of the image with that drive as its CD-ROM; the
   check waits (300 s at most) until ``GET .../barecloud-hypervisors/hv-check``
   shows ``state: up`` and ``hypervisor_type: QEMU``.

Printed: seconds from QEMU's start to the first console line, to the host
agent's start, to the registration; the image's size.  Exit status 1, with
the tail of the console log, when it does not register in time.

While ``src/barecloud/hostagent`` is not in this tree (it is being written on
other branches) the image is built from a copy of the tree with a stand-in
``barecloud.hostagent`` that makes the protocol's report call only (capacity
from /proc, QEMU's version from ``qemu-system-x86_64 --version`` in the
image) -- the image's /init runs it exactly as it will run the real one.
``--stand-in`` forces it, ``--source DIR`` builds from another tree.

Run: ``.venv/bin/python bench/hypervisor_image.py [--deadline 300] [--stand-in]``
(root: the build installs its tools with apt when missing).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests import support

from barecloud.agent import iso9660

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "scripts" / "build-hypervisor-image"
CACHE = REPO / ".cache" / "hypervisor-image"
# The real agent's image is the script's default one; the stand-in's is kept
# apart, so that neither rebuild undoes the other.
IMAGE = CACHE / "barecloud-hypervisor.img"
STAND_IN_IMAGE = CACHE / "check-stand-in.img"
HOSTNAME = "hv-check"
GUEST_MAC = "52:54:00:bc:00:01"
# Not the address QEMU's DHCP hands out (10.0.2.15): seen as the host's IP,
# it shows the image took the config drive's address, not a lease.
STATIC_IP = "10.0.2.20"
# QEMU's user network: the guest reaches the host's loopback at this address.
HOST_FROM_GUEST = "10.0.2.2"

# The stand-in host agent: the protocol's report call, every report_interval,
# with the real agent's command line.  Standard library only, like the real one.
STAND_IN = '''\
"""Stand-in for barecloud.hostagent (bench/hypervisor_image.py): reports only."""

import argparse
import contextlib
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.request


def log(message):
    print(time.strftime("%H:%M:%S"), "barecloud-host-agent (stand-in)", message,
          file=sys.stderr, flush=True)


def qemu_version():
    out = subprocess.run(["qemu-system-x86_64", "--version"], capture_output=True,
                         text=True, check=True).stdout
    major, minor, micro = re.search(r"version (\\d+)\\.(\\d+)\\.(\\d+)", out).groups()
    return int(major) * 1000000 + int(minor) * 1000 + int(micro)


def memory_mb():
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) // 1024
    return 0


def main():
    p = argparse.ArgumentParser(prog="barecloud host-agent (stand-in)")
    p.add_argument("--url", required=True)
    p.add_argument("--credential-file", required=True)
    p.add_argument("--state-dir", required=True)
    p.add_argument("--driver", default="qemu")
    args = p.parse_args()
    with open(args.credential_file) as f:
        credential = f.read().strip()
    st = os.statvfs(args.state_dir)
    body = {"hypervisor_type": "QEMU", "hypervisor_version": qemu_version(),
            "capacity": {"vcpus": os.cpu_count() or 1, "memory_mb": memory_mb(),
                         "disk_gb": st.f_bavail * st.f_frsize // 2**30},
            "applied_generation": 0, "vms": []}
    log(f"QEMU {body['hypervisor_version']}, capacity {body['capacity']}")
    while True:
        request = urllib.request.Request(
            args.url.rstrip("/") + "/compute/barecloud-host-agent/v1/report",
            data=json.dumps(body).encode(), method="POST",
            headers={"Authorization": f"Bearer {credential}",
                     "Content-Type": "application/json"})
        interval = 10.0
        try:
            with urllib.request.urlopen(request, timeout=30) as rsp:
                answer = json.load(rsp)
            interval = float(answer.get("report_interval") or interval)
            log(f"reported as {answer['hypervisor']['hostname']} "
                f"(generation {answer.get('generation')})")
        except urllib.error.HTTPError as exc:
            log(f"report refused: {exc.code} {exc.read()[:200]!r}")
            if exc.code == 401:
                return 2
        except OSError as exc:
            log(f"report failed: {exc}")
        time.sleep(interval)


sys.exit(main())
'''


@dataclass
class Timings:
    """Seconds from QEMU's start."""

    first_line: float | None = None
    agent_started: float | None = None
    registered: float | None = None
    marks: dict[str, float] = field(default_factory=dict)


def stand_in_tree(src: Path, where: Path) -> Path:
    """A copy of the barecloud packages the image takes, with the stand-in agent."""
    pkg = where / "barecloud"
    pkg.mkdir(parents=True)
    shutil.copy2(src / "barecloud" / "__init__.py", pkg / "__init__.py")
    if (src / "barecloud" / "agent").is_dir():
        shutil.copytree(src / "barecloud" / "agent", pkg / "agent",
                        ignore=shutil.ignore_patterns("__pycache__"))
    (pkg / "hostagent").mkdir()
    (pkg / "hostagent" / "__init__.py").write_text('"""Stand-in (bench)."""\n')
    # The image's /init reads its config drive with the real module.
    shutil.copy2(src / "barecloud" / "hostagent" / "firstboot.py",
                 pkg / "hostagent" / "firstboot.py")
    (pkg / "hostagent" / "__main__.py").write_text(STAND_IN)
    return where


def build(source: Path, output: Path, force: bool) -> float:
    started = time.monotonic()
    cmd = [str(BUILD), "--output", str(output), "--source", str(source)]
    subprocess.run(cmd + (["--force"] if force else []), check=True)
    return time.monotonic() - started


def enrol(svc: support.Service) -> str:
    rsp = httpx.post(f"{svc.url}/compute/v2.1/barecloud-hypervisors",
                     json={"hypervisor": {"hostname": HOSTNAME}}, timeout=30)
    if rsp.status_code != 201:
        raise SystemExit(f"enrolling {HOSTNAME}: {rsp.status_code} {rsp.text}")
    credential: str = rsp.json()["hypervisor"]["credential"]
    return credential


def config_drive(url: str, credential: str, static: bool) -> bytes:
    """The OpenStack layout drivers/agent.configdrive_files writes for a deploy;
    ``static``: with the NIC's address in network_data.json, as a deploy onto
    a node gives a hypervisor (services/compute/hypervisor_nodes.py)."""
    meta = {"uuid": "00000000-0000-4000-8000-000000000001", "hostname": HOSTNAME,
            "name": HOSTNAME, "launch_index": 0, "availability_zone": "nova",
            "public_keys": {}, "files": []}
    network: dict[str, list[object]] = {"links": [], "networks": [], "services": []}
    if static:
        network["links"] = [{"id": "tap0", "type": "phy", "ethernet_mac_address": GUEST_MAC,
                             "mtu": 1500}]
        network["networks"] = [{
            "id": "network0", "link": "tap0", "type": "ipv4", "ip_address": STATIC_IP,
            "netmask": "255.255.255.0", "services": [],
            "routes": [{"network": "0.0.0.0", "netmask": "0.0.0.0",
                        "gateway": HOST_FROM_GUEST}]}]
    vendor = {"barecloud_host_agent": {"url": url, "credential": credential}}
    files = {
        "openstack/latest/meta_data.json": json.dumps(meta, sort_keys=True).encode(),
        "openstack/latest/network_data.json": json.dumps(network).encode(),
        "openstack/latest/vendor_data.json": json.dumps(vendor).encode(),
        "openstack/latest/vendor_data2.json": b"{}",
    }
    return iso9660.build(files, "config-2")


def hypervisor(svc: support.Service) -> dict[str, object]:
    rsp = httpx.get(f"{svc.url}/compute/v2.1/barecloud-hypervisors/{HOSTNAME}", timeout=10)
    rsp.raise_for_status()
    found: dict[str, object] = rsp.json()["hypervisor"]
    return found


def boot(image: Path, iso: Path, tmp: Path) -> tuple[subprocess.Popen[bytes], Path, Path]:
    console = tmp / "console.log"
    pidfile = tmp / "qemu.pid"
    cmd = [
        "qemu-system-x86_64", "-accel", "tcg", "-m", "1024", "-smp", "2",
        "-nodefaults", "-display", "none",
        "-serial", f"file:{console}",
        "-drive", f"file={image},format=raw,if=virtio",
        "-cdrom", str(iso),
        "-netdev", "user,id=n0", "-device", f"virtio-net-pci,netdev=n0,mac={GUEST_MAC}",
        "-pidfile", str(pidfile),
    ]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=(tmp / "qemu.stderr").open("wb"))
    return proc, console, pidfile


def wait(svc: support.Service, proc: subprocess.Popen[bytes], console: Path,
         started: float, deadline: float) -> Timings:
    t = Timings()
    agent_line = re.compile(rb"barecloud-hypervisor: host agent for \S+ started")
    seen: set[str] = set()
    while time.monotonic() < started + deadline:
        now = time.monotonic() - started
        text = console.read_bytes() if console.exists() else b""
        text = text[:text.rfind(b"\n") + 1]  # whole lines only: QEMU may be mid-line
        if t.first_line is None and text.strip():
            t.first_line = now
        for line in text.decode(errors="replace").splitlines():
            # /init's lines and the agent's own log (the real one's and the stand-in's)
            if (line.startswith("barecloud-hypervisor: ") or "barecloud-host-agent" in line) \
                    and line not in seen:
                seen.add(line)
                t.marks[line] = now
                print(f"  {now:6.1f} s  {line}", flush=True)
        if t.agent_started is None and agent_line.search(text):
            t.agent_started = now
        if proc.poll() is not None:
            print(f"QEMU exited with status {proc.returncode}", file=sys.stderr)
            return t
        if t.agent_started is not None:
            found = hypervisor(svc)
            if found["state"] == "up" and found["hypervisor_type"] == "QEMU":
                t.registered = now
                print(f"  {now:6.1f} s  service: {HOSTNAME} up, {found['hypervisor_type']} "
                      f"{found['hypervisor_version']}, {found['vcpus']} vCPUs, "
                      f"{found['memory_mb']} MB, {found['local_gb']} GB, "
                      f"host_ip {found['host_ip']}", flush=True)
                return t
        time.sleep(0.2)
    return t


def stop_qemu(proc: subprocess.Popen[bytes], pidfile: Path) -> None:
    """By the PID QEMU wrote itself (LAB-NOTES), then the child we hold is reaped."""
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        pid = None
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        if pid is not None:
            os.kill(pid, signal.SIGKILL)
        proc.wait(timeout=10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--deadline", type=float, default=300.0,
                    help="seconds from QEMU's start to registration (default %(default)s)")
    ap.add_argument("--source", type=Path, default=REPO / "src",
                    help="tree holding barecloud/ (default: this checkout's src)")
    ap.add_argument("--stand-in", action="store_true",
                    help="use the stand-in host agent even when barecloud.hostagent exists")
    ap.add_argument("--force", action="store_true", help="rebuild the image")
    ap.add_argument("--dhcp", action="store_true",
                    help="no address on the config drive: the image takes a DHCP lease")
    ap.add_argument("--output", type=Path, help=f"where the image is built (default {IMAGE}, "
                                                  f"with the stand-in {STAND_IN_IMAGE})")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="barecloud-hvimage-"))
    proc: subprocess.Popen[bytes] | None = None
    pidfile = tmp / "qemu.pid"
    console = tmp / "console.log"
    svc: support.Service | None = None
    try:
        source: Path = args.source.resolve()
        real = (source / "barecloud" / "hostagent" / "__main__.py").is_file()
        if args.stand_in or not real:
            source = stand_in_tree(source, tmp / "src")
            output: Path = args.output or STAND_IN_IMAGE
            print("host agent: the stand-in (report calls only)")
        else:
            output = args.output or IMAGE
            print(f"host agent: barecloud.hostagent from {source}")
        built = build(source, output, args.force)
        size = output.stat().st_size
        print(f"image: {output} {size / 2**20:.0f} MiB "
              f"({output.stat().st_blocks * 512 / 2**20:.0f} MiB on disk); "
              f"build step {built:.0f} s")

        svc = support.start_service(tmp / "data", auth="noauth")
        port = svc.url.rsplit(":", 1)[1]
        credential = enrol(svc)
        iso = tmp / "config.iso"
        iso.write_bytes(config_drive(f"http://{HOST_FROM_GUEST}:{port}", credential,
                                     static=not args.dhcp))
        disk = tmp / "disk.img"
        # QEMU opens its disk read-write: it boots a copy, the built image
        # stays as the build made it (and up to date for the next run).
        subprocess.run(["cp", "--sparse=always", str(output), str(disk)], check=True)

        started = time.monotonic()
        proc, console, pidfile = boot(disk, iso, tmp)
        t = wait(svc, proc, console, started, args.deadline)
        print(f"QEMU start to first console line: {t.first_line or float('nan'):.1f} s")
        print(f"QEMU start to host agent start:   {t.agent_started or float('nan'):.1f} s")
        print(f"QEMU start to registration:       {t.registered or float('nan'):.1f} s")
        print(f"image size: {size / 2**20:.0f} MiB")
        if t.registered is None:
            tail = console.read_text(errors="replace").splitlines()[-40:] \
                if console.exists() else []
            print(f"FAILED: {HOSTNAME} not up within {args.deadline:g} s; console tail:",
                  file=sys.stderr)
            print("\n".join(tail), file=sys.stderr)
            return 1
        host_ip = hypervisor(svc)["host_ip"]
        want = None if args.dhcp else STATIC_IP
        print(f"host IP as the service sees it: {host_ip}"
              + ("" if want is None else f" (the config drive's: {want})"))
        if want is not None and host_ip != want:
            print(f"FAILED: the image did not take the config drive's address {want}",
                  file=sys.stderr)
            return 1
        print("OK")
        return 0
    finally:
        if proc is not None:
            stop_qemu(proc, pidfile)
        if svc is not None:
            svc.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
