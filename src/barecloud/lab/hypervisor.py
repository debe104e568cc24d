"""A netns lab machine deployed as a hypervisor: its "OS" runs barecloud's host agent.

What the hypervisor image's /init does on a real machine
(scripts/hypervisor-image/init), read from the same config drive with the
same code (hostagent/firstboot.py): the static address of its NIC on the
hypervisor network, then ``python -m barecloud.hostagent`` with the
service's URL and the host's credential, driving QEMU.  It runs inside the
machine's namespace, so its VMs' QEMUs (and their taps) are the machine's:
they reach only what its cables reach, and die with its power
(firmware.NetnsFirmware.stop kills every process of the namespace, since
QEMU daemonizes out of the boot's process group).

The agent's state (cached images, VM overlays) lives in the machine's
directory, keyed by the deploy's instance: a machine deployed again is a
new hypervisor and starts from nothing, as a wiped disk would.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from typing import Any

from barecloud.hostagent import firstboot
from barecloud.lab.machine import Machine

STATE_DIR = "hypervisor"


def static_address(network: Any, mac: str) -> tuple[str, str | None] | None:
    """(address/prefix, gateway) the config drive gives the NIC with ``mac``."""
    for found_mac, address, gateway in firstboot.static_addresses(network):
        if found_mac == mac.lower():
            return address, gateway
    return None


def start_host_agent(m: Machine, meta: dict[str, Any],
                     agent: tuple[str, str]) -> subprocess.Popen[bytes]:
    """Start the host agent the config drive asks for (``firstboot.agent_config``:
    the service's URL and the host's credential); its process."""
    url, credential = agent
    root = m.dir / STATE_DIR
    instance = str(meta.get("uuid") or "")
    marker = root / "instance"
    if root.exists() and (not marker.exists() or marker.read_text().strip() != instance):
        shutil.rmtree(root)
    root.mkdir(mode=0o700, exist_ok=True)
    marker.write_text(instance + "\n")
    credential_file = root / "credential"
    credential_file.touch(mode=0o600)
    credential_file.write_text(credential + "\n")
    argv = [sys.executable, "-m", "barecloud.hostagent", "--url", url,
            "--credential-file", str(credential_file), "--state-dir", str(root / "agent"),
            "--driver", "qemu"]
    with (m.dir / "host-agent.log").open("ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                cwd=root)
    m.console(f"barecloud-hypervisor: host agent for {url} started (pid {proc.pid})")
    return proc
